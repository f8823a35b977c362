"""DDL of the OMOP CDM v5.4 tables oncoline reads and writes (portable to DuckDB and PostgreSQL).

Columns, order and NOT NULL constraints follow the OMOP CDM v5.4 specification
(https://ohdsi.github.io/CommonDataModel/cdm54.html); primary/foreign keys are left out so that the
tables accept the messy real-world rows oncoline is built to count and report. Used by
``oncoline omop init`` and the tests; a real CDM created by the OHDSI DDL works the same.
"""

from __future__ import annotations

from oncoline.io.omop.db import OmopDatabase, connect

__all__ = ["CDM_TABLES", "EPISODE_TABLES", "create_tables", "init_cdm"]

CDM_TABLES: dict[str, str] = {
    "person": """
        person_id BIGINT NOT NULL,
        gender_concept_id INTEGER NOT NULL,
        year_of_birth INTEGER NOT NULL,
        month_of_birth INTEGER,
        day_of_birth INTEGER,
        birth_datetime TIMESTAMP,
        race_concept_id INTEGER NOT NULL,
        ethnicity_concept_id INTEGER NOT NULL,
        location_id BIGINT,
        provider_id BIGINT,
        care_site_id BIGINT,
        person_source_value VARCHAR(50),
        gender_source_value VARCHAR(50),
        gender_source_concept_id INTEGER,
        race_source_value VARCHAR(50),
        race_source_concept_id INTEGER,
        ethnicity_source_value VARCHAR(50),
        ethnicity_source_concept_id INTEGER""",
    "observation_period": """
        observation_period_id BIGINT NOT NULL,
        person_id BIGINT NOT NULL,
        observation_period_start_date DATE NOT NULL,
        observation_period_end_date DATE NOT NULL,
        period_type_concept_id INTEGER NOT NULL""",
    "condition_occurrence": """
        condition_occurrence_id BIGINT NOT NULL,
        person_id BIGINT NOT NULL,
        condition_concept_id INTEGER NOT NULL,
        condition_start_date DATE NOT NULL,
        condition_start_datetime TIMESTAMP,
        condition_end_date DATE,
        condition_end_datetime TIMESTAMP,
        condition_type_concept_id INTEGER NOT NULL,
        condition_status_concept_id INTEGER,
        stop_reason VARCHAR(20),
        provider_id BIGINT,
        visit_occurrence_id BIGINT,
        visit_detail_id BIGINT,
        condition_source_value VARCHAR(50),
        condition_source_concept_id INTEGER,
        condition_status_source_value VARCHAR(50)""",
    "drug_exposure": """
        drug_exposure_id BIGINT NOT NULL,
        person_id BIGINT NOT NULL,
        drug_concept_id INTEGER NOT NULL,
        drug_exposure_start_date DATE NOT NULL,
        drug_exposure_start_datetime TIMESTAMP,
        drug_exposure_end_date DATE NOT NULL,
        drug_exposure_end_datetime TIMESTAMP,
        verbatim_end_date DATE,
        drug_type_concept_id INTEGER NOT NULL,
        stop_reason VARCHAR(20),
        refills INTEGER,
        quantity NUMERIC,
        days_supply INTEGER,
        sig TEXT,
        route_concept_id INTEGER,
        lot_number VARCHAR(50),
        provider_id BIGINT,
        visit_occurrence_id BIGINT,
        visit_detail_id BIGINT,
        drug_source_value VARCHAR(50),
        drug_source_concept_id INTEGER,
        route_source_value VARCHAR(50),
        dose_unit_source_value VARCHAR(50)""",
    "measurement": """
        measurement_id BIGINT NOT NULL,
        person_id BIGINT NOT NULL,
        measurement_concept_id INTEGER NOT NULL,
        measurement_date DATE NOT NULL,
        measurement_datetime TIMESTAMP,
        measurement_time VARCHAR(10),
        measurement_type_concept_id INTEGER NOT NULL,
        operator_concept_id INTEGER,
        value_as_number NUMERIC,
        value_as_concept_id INTEGER,
        unit_concept_id INTEGER,
        range_low NUMERIC,
        range_high NUMERIC,
        provider_id BIGINT,
        visit_occurrence_id BIGINT,
        visit_detail_id BIGINT,
        measurement_source_value VARCHAR(50),
        measurement_source_concept_id INTEGER,
        unit_source_value VARCHAR(50),
        unit_source_concept_id INTEGER,
        value_source_value VARCHAR(50),
        measurement_event_id BIGINT,
        meas_event_field_concept_id INTEGER""",
    "concept": """
        concept_id INTEGER NOT NULL,
        concept_name VARCHAR(255) NOT NULL,
        domain_id VARCHAR(20) NOT NULL,
        vocabulary_id VARCHAR(20) NOT NULL,
        concept_class_id VARCHAR(20) NOT NULL,
        standard_concept VARCHAR(1),
        concept_code VARCHAR(50) NOT NULL,
        valid_start_date DATE NOT NULL,
        valid_end_date DATE NOT NULL,
        invalid_reason VARCHAR(1)""",
    "concept_ancestor": """
        ancestor_concept_id INTEGER NOT NULL,
        descendant_concept_id INTEGER NOT NULL,
        min_levels_of_separation INTEGER NOT NULL,
        max_levels_of_separation INTEGER NOT NULL""",
    "episode": """
        episode_id BIGINT NOT NULL,
        person_id BIGINT NOT NULL,
        episode_concept_id INTEGER NOT NULL,
        episode_start_date DATE NOT NULL,
        episode_start_datetime TIMESTAMP,
        episode_end_date DATE,
        episode_end_datetime TIMESTAMP,
        episode_parent_id BIGINT,
        episode_number INTEGER,
        episode_object_concept_id INTEGER NOT NULL,
        episode_type_concept_id INTEGER NOT NULL,
        episode_source_value VARCHAR(50),
        episode_source_concept_id INTEGER""",
    "episode_event": """
        episode_id BIGINT NOT NULL,
        event_id BIGINT NOT NULL,
        episode_event_field_concept_id INTEGER NOT NULL""",
}
"""Table name → column definitions (OMOP CDM v5.4)."""

EPISODE_TABLES = ("episode", "episode_event")
"""The oncology-extension tables :func:`oncoline.io.omop.write_episodes` writes."""


def create_tables(db: OmopDatabase, /, names: tuple[str, ...] = tuple(CDM_TABLES)) -> list[str]:
    """Create the schema (when set) and each missing table of ``names``.

    Parameters
    ----------
    db
        An open database (:func:`oncoline.io.omop.db.connect`).
    names
        CDM tables to create; keys of :data:`CDM_TABLES`.

    Returns
    -------
    list of str
        The tables that were created (those already present are left untouched).

    Raises
    ------
    BackendError
        When the database refuses the DDL.
    KeyError
        When a name is not in :data:`CDM_TABLES`.
    """
    if db.schema:
        db.execute(f"CREATE SCHEMA IF NOT EXISTS {db.schema}")
    present = db.tables()
    created = []
    for name in names:
        columns = CDM_TABLES[name]
        if name in present:
            continue
        db.execute(f"CREATE TABLE {db.table(name)} ({columns}\n)")
        created.append(name)
    return created


def init_cdm(url: str, /, *, schema: str | None = None) -> list[str]:
    """Create the OMOP CDM v5.4 tables oncoline uses (PERSON, OBSERVATION_PERIOD, CONDITION_OCCURRENCE,
    DRUG_EXPOSURE, MEASUREMENT, CONCEPT, CONCEPT_ANCESTOR, EPISODE, EPISODE_EVENT) where missing.

    Parameters
    ----------
    url
        Where: a DuckDB file (created when absent) or a database URL; ``?schema=`` creates that schema.
    schema
        CDM schema; overrides the URL's.

    Returns
    -------
    list of str
        Tables created (existing ones are left untouched).

    Raises
    ------
    InputError
        When the schema name is not a plain identifier.
    BackendError
        When the database cannot be reached or refuses the DDL.
    """
    with connect(url, schema=schema, must_exist=False) as db:
        return create_tables(db)
