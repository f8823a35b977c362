"""OMOP CDM in and oncology episodes out, on an embedded DuckDB file and on a real PostgreSQL server.

The same demo CDM (oncoline.io.omop.demo: HER2+ MBC sequences plus defects) is loaded into both back ends;
PostgreSQL tests need ONCOLINE_PG_URL (CI starts a server with ``eval "$(scripts/start-postgres)"``).
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest

from oncoline.engines.lines.duckdb_engine import derive_lines_cohort
from oncoline.engines.lines.params import load_line_params
from oncoline.engines.lines.reference import derive_lines_reference_cohort
from oncoline.errors import BackendError, InputError
from oncoline.io.omop import (
    episodes_from_lines,
    exposure_event_id,
    init_cdm,
    read_biomarkers,
    read_cohort,
    read_episodes,
    write_episodes,
)
from oncoline.io.omop.concepts import load_omop_concepts
from oncoline.io.omop.db import connect
from oncoline.io.omop.demo import DEMO_AS_OF, demo_tables, load_demo
from oncoline.io.omop.tables import CDM_TABLES

PARAMS = load_line_params()
N_DRUG_EXPOSURES = demo_tables()["drug_exposure"].num_rows


def _duckdb_cdm(path: Path, *, vocabulary: bool = True) -> str:
    url = str(path)
    init_cdm(url)
    with connect(url) as db:
        load_demo(db, vocabulary=vocabulary)
    return url


@pytest.fixture(scope="module")
def duckdb_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _duckdb_cdm(tmp_path_factory.mktemp("omop") / "cdm.duckdb")


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    base = os.environ.get("ONCOLINE_PG_URL")
    if not base:
        message = 'ONCOLINE_PG_URL is not set; start a server with: eval "$(scripts/start-postgres)"'
        if os.environ.get("CI"):  # .ci/run starts the server: a missing URL there is a failure, not a skip
            pytest.fail(message)
        pytest.skip(message)
    import psycopg

    schema = f"oncoline_test_{uuid.uuid4().hex[:10]}"
    url = f"{base}{'&' if '?' in base else '?'}schema={schema}"
    init_cdm(url)
    with connect(url) as db:
        load_demo(db)
    yield url
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


BACKENDS = ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def cdm_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{request.param}_url"))


def _rows(table: pa.Table, *cols: str) -> list[tuple[object, ...]]:
    return sorted(tuple(r[c] for c in cols) for r in table.to_pylist())


def _drugs_of(exposures: pa.Table, exposure_id: int) -> list[str]:
    return sorted(r["drug"] for r in exposures.to_pylist() if r["exposure_id"].split(":")[0] == str(exposure_id))


def _demo_id(person: int, source: str, nth: int = 0) -> int:
    rows = [r for r in demo_tables()["drug_exposure"].to_pylist() if r["person_id"] == person]
    return int([r for r in rows if r["drug_source_value"] == source][nth]["drug_exposure_id"])


# ------------------------------------------------------------------------------------------------ reading
def test_index_dates_come_from_secondary_malignancy_conditions(cdm_url: str) -> None:
    _, index, report = read_cohort(cdm_url)
    assert index.to_pylist() == [
        # SNOMED bone metastasis, found through CONCEPT_ANCESTOR under 'secondary malignant neoplastic disease'
        {"person_id": "1001", "metastatic_diagnosis": dt.date(2021, 3, 1)},
        # condition_concept_id 0 with ICD-10 source value C78.7: found by source value
        {"person_id": "1002", "metastatic_diagnosis": dt.date(2021, 5, 28)},
        # primary breast cancer only: no index date
        {"person_id": "1003", "metastatic_diagnosis": None},
    ]
    assert report.metastatic_matched_by == {"concept": 1, "source_value": 1}
    assert (report.n_persons, report.n_persons_metastatic) == (3, 2)


def test_drugs_map_through_concepts_ancestors_and_products(cdm_url: str) -> None:
    exposures, _, report = read_cohort(cdm_url)
    assert _drugs_of(exposures, _demo_id(1001, "Herceptin 150mg")) == ["trastuzumab"]  # clinical drug → ingredient
    assert _drugs_of(exposures, _demo_id(1001, "Docetaxel 20mg/ml")) == ["docetaxel"]
    assert _drugs_of(exposures, _demo_id(1001, "Enhertu")) == ["trastuzumab deruxtecan"]  # never trastuzumab
    # Phesgo: pertuzumab + trastuzumab + hyaluronidase ingredients → the product (excipient dropped)
    assert _drugs_of(exposures, _demo_id(1002, "Phesgo")) == ["phesgo"]
    assert _drugs_of(exposures, _demo_id(1002, "XYZ-123 investigational")) == ["XYZ-123 investigational"]
    assert report.vocabulary == "concept_ancestor"
    assert report.unmapped == {"XYZ-123 investigational": 1} and report.n_unmapped == 1
    assert sum(report.mapped_by.values()) == report.n_drug_exposures == N_DRUG_EXPOSURES
    assert set(exposures.column_names) == {"person_id", "exposure_id", "drug", "start_date", "end_date", "stopped"}


def test_defects_are_passed_on_and_counted_not_dropped(cdm_url: str) -> None:
    exposures, _, report = read_cohort(cdm_url)
    assert exposures.num_rows == report.n_exposure_rows == N_DRUG_EXPOSURES
    assert report.n_end_before_start == 1
    assert report.n_duplicate_exposures == 1
    assert report.n_missing_start == report.n_missing_end == report.n_orphan_exposures == 0
    assert report.stopped == {"progression": 2}
    bad = [r for r in exposures.to_pylist() if r["end_date"] < r["start_date"]]
    assert [(r["person_id"], r["drug"]) for r in bad] == [("1002", "trastuzumab emtansine")]


def test_biomarkers_from_measurements(cdm_url: str) -> None:
    bm = read_biomarkers(cdm_url)
    got = _rows(bm, "person_id", "marker", "status")
    assert got == [
        ("1001", "er", "negative"),
        ("1001", "her2", "positive"),
        ("1002", "er", "positive"),
        ("1002", "her2", "positive"),
        ("1003", "her2", "positive"),  # concept 0, source value 'HER2 IHC 3+', value '3+'
    ]
    _, _, report = read_cohort(cdm_url, her2_positive_only=True)
    assert report.n_persons_not_her2_positive == 0
    assert report.biomarkers == {"er": {"negative": 1, "positive": 1}, "her2": {"positive": 3}}


def test_her2_filter_leaves_out_persons_without_a_positive_result(tmp_path: Path) -> None:
    url = _duckdb_cdm(tmp_path / "cdm.duckdb")
    with connect(url) as db:
        db.execute("UPDATE measurement SET value_as_concept_id = 9189 WHERE person_id = 1002 AND measurement_id = 3")
    exposures, index, report = read_cohort(url, her2_positive_only=True)
    assert index.column("person_id").to_pylist() == ["1001", "1003"]
    assert "1002" not in set(exposures.column("person_id").to_pylist())
    assert report.n_persons_not_her2_positive == 1


def test_without_vocabulary_rows_source_values_and_ids_give_the_same_lines(duckdb_url: str, tmp_path: Path) -> None:
    bare = _duckdb_cdm(tmp_path / "bare.duckdb", vocabulary=False)
    e1, i1, _ = read_cohort(duckdb_url)
    e2, i2, r2 = read_cohort(bare)
    assert r2.metastatic_matched_by == {"source_value": 2}  # C79.51 and C78.7
    assert r2.mapped_by.get("ingredient_concept_id", 0) > 0 and r2.mapped_by.get("source_value", 0) > 0
    assert i1.equals(i2)
    a = derive_lines_cohort(e1, i1, params=PARAMS, as_of=DEMO_AS_OF)
    b = derive_lines_cohort(e2, i2, params=PARAMS, as_of=DEMO_AS_OF)
    assert a.lines.equals(b.lines)


def test_cdm_without_vocabulary_tables(tmp_path: Path) -> None:
    url = str(tmp_path / "min.duckdb")
    tables = demo_tables()
    with connect(url, must_exist=False) as db:
        for name in ("person", "condition_occurrence", "drug_exposure"):
            db.execute(f"CREATE TABLE {name} ({CDM_TABLES[name]})")
            db.insert(name, tables[name])
    exposures, index, report = read_cohort(url)
    assert report.vocabulary == "none" and report.biomarkers == {}
    assert index.column("metastatic_diagnosis").to_pylist() == [dt.date(2021, 3, 1), dt.date(2021, 5, 28), None]
    assert _drugs_of(exposures, _demo_id(1002, "paclitaxel weekly")) == ["paclitaxel"]


# ------------------------------------------------------------------------------------------------ errors
def test_missing_tables_and_files_are_clear_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no DuckDB file .*oncoline omop init"):
        read_cohort(str(tmp_path / "absent.duckdb"))
    url = str(tmp_path / "empty.duckdb")
    with connect(url, must_exist=False) as db:
        db.execute(f"CREATE TABLE person ({CDM_TABLES['person']})")
    with pytest.raises(InputError, match=r"condition_occurrence, drug_exposure.*\?schema=NAME"):
        read_cohort(url)
    with pytest.raises(InputError, match="not a plain SQL identifier"):
        read_cohort(f"duckdb://{url}?schema=x;drop")


def test_unknown_url_scheme_needs_sqlalchemy() -> None:
    pytest.importorskip("duckdb")
    try:
        import sqlalchemy  # noqa: F401
    except ImportError:
        with pytest.raises(BackendError, match="SQLAlchemy"):
            read_cohort("mysql://user@localhost/cdm")
    else:  # pragma: no cover - only where SQLAlchemy is installed
        pytest.skip("SQLAlchemy is installed here; the missing-driver message cannot be shown")


def test_unreachable_postgres_is_a_backend_error_without_password() -> None:
    with pytest.raises(BackendError) as info:
        read_cohort("postgresql://u:secret@127.0.0.1:1/none")
    assert "secret" not in str(info.value) and "***" in str(info.value)


# ------------------------------------------------------------------------------------------------ episodes
@dataclass(frozen=True)
class _Lines:
    lines: pa.Table
    assignments: pa.Table


def _hand_lines(regimen: str = "pertuzumab + trastuzumab", person: str = "7") -> _Lines:
    lines = pa.table(
        {
            "person_id": [person, person],
            "line": pa.array([1, 2], pa.int32()),
            "regimen": [regimen, "trastuzumab deruxtecan"],
            "start_date": [dt.date(2022, 1, 1), dt.date(2023, 1, 1)],
            "end_date": [dt.date(2022, 6, 1), dt.date(2023, 5, 1)],
        }
    )
    assignments = pa.table(
        {
            "person_id": [person] * 4,
            "exposure_id": ["10:pertuzumab", "10:trastuzumab", "11", "12"],
            "line": pa.array([1, 1, 1, 2], pa.int32()),
        }
    )
    return _Lines(lines, assignments)


def test_episode_rows_follow_the_oncology_extension() -> None:
    kb = load_omop_concepts().episode
    episode, event, truncated = episodes_from_lines(_hand_lines(), first_episode_id=100)
    assert episode.column("episode_id").to_pylist() == [100, 101]
    assert episode.column("episode_number").to_pylist() == [1, 2]
    assert set(episode.column("episode_concept_id").to_pylist()) == {kb.treatment_regimen.concept_id} == {32531}
    assert set(episode.column("episode_type_concept_id").to_pylist()) == {kb.episode_type.concept_id}
    assert episode.column("episode_start_datetime")[0].as_py() == dt.datetime(2022, 1, 1)
    # a Phesgo administration split into two drugs is ONE drug_exposure event
    assert event.to_pylist() == [
        {"episode_id": 100, "event_id": 10, "episode_event_field_concept_id": kb.event_field_drug_exposure.concept_id},
        {"episode_id": 100, "event_id": 11, "episode_event_field_concept_id": kb.event_field_drug_exposure.concept_id},
        {"episode_id": 101, "event_id": 12, "episode_event_field_concept_id": kb.event_field_drug_exposure.concept_id},
    ]
    assert truncated == 0
    long = " + ".join(["trastuzumab emtansine"] * 3)
    episode, _, truncated = episodes_from_lines(_hand_lines(long))
    assert truncated == 1 and len(episode.column("episode_source_value")[0].as_py()) == 50


def test_episode_rows_refuse_non_omop_ids() -> None:
    with pytest.raises(InputError, match="person_id 'P-7' is not an OMOP person_id"):
        episodes_from_lines(_hand_lines(person="P-7"))
    with pytest.raises(InputError, match="not a DRUG_EXPOSURE id"):
        exposure_event_id("row-3")
    bad = _hand_lines()
    orphan = pa.table({"person_id": ["7"], "exposure_id": ["13"], "line": pa.array([3], pa.int32())})
    with pytest.raises(InputError, match="line 3 of person '7'"):
        episodes_from_lines(_Lines(bad.lines, orphan))


def test_written_episodes_round_trip(cdm_url: str) -> None:
    exposures, index, _ = read_cohort(cdm_url)
    result = derive_lines_cohort(exposures, index, params=PARAMS, as_of=DEMO_AS_OF)
    first = write_episodes(cdm_url, result)
    again = write_episodes(cdm_url, result)  # re-running a derivation replaces it
    assert again.n_replaced_episodes == first.n_episodes == result.lines.num_rows == 5
    eps, events = read_episodes(cdm_url)
    cols = ("person_id", "line", "regimen", "start_date", "end_date")
    assert _rows(eps, *cols) == _rows(result.lines, *cols)
    expected = {
        (a["person_id"], str(exposure_event_id(a["exposure_id"])), a["line"]) for a in result.assignments.to_pylist()
    }
    assert _rows(events, "person_id", "exposure_id", "line") == sorted(expected)
    assert events.num_rows == again.n_episode_events


def test_writing_episodes_leaves_other_episodes_alone(tmp_path: Path) -> None:
    url = _duckdb_cdm(tmp_path / "cdm.duckdb")
    with connect(url) as db:  # a disease episode from another tool, and an unrelated event of it
        db.execute(
            "INSERT INTO episode (episode_id, person_id, episode_concept_id, episode_start_date, "
            "episode_object_concept_id, episode_type_concept_id) VALUES (500, 1001, 32533, DATE '2021-03-01', 0, 32545)"
        )
        db.execute("INSERT INTO episode_event VALUES (500, 1, 1147070)")
    exposures, index, _ = read_cohort(url)
    report = write_episodes(url, derive_lines_cohort(exposures, index, params=PARAMS, as_of=DEMO_AS_OF))
    report2 = write_episodes(url, derive_lines_cohort(exposures, index, params=PARAMS, as_of=DEMO_AS_OF))
    assert report.first_episode_id == 501 and report2.n_replaced_episodes == 5
    with connect(url) as db:
        kept = db.query("SELECT count(*) AS n FROM episode_event WHERE episode_id = 500").column("n")[0].as_py()
        total = db.query("SELECT count(*) AS n FROM episode").column("n")[0].as_py()
    assert (kept, total) == (1, 6)


def test_episode_tables_are_created_when_missing(tmp_path: Path) -> None:
    url = str(tmp_path / "cdm.duckdb")
    with connect(url, must_exist=False) as db:
        db.execute("CREATE TABLE marker (x INTEGER)")
    report = write_episodes(url, _hand_lines())
    assert report.created_tables == ["episode", "episode_event"] and report.n_episode_events == 3
    with pytest.raises(InputError, match="episode, episode_event"):
        write_episodes(f"duckdb://{url}?schema=elsewhere", _hand_lines(), create_missing_tables=False)


# ------------------------------------------------------------------------------------------------ DuckDB = PostgreSQL
@pytest.mark.postgres
def test_duckdb_and_postgres_give_identical_cohorts_and_lines(duckdb_url: str, postgres_url: str) -> None:
    e1, i1, r1 = read_cohort(duckdb_url)
    e2, i2, r2 = read_cohort(postgres_url)
    assert e1.equals(e2) and i1.equals(i2)
    skip = {"source", "backend", "schema"}
    assert {k: v for k, v in r1.to_dict().items() if k not in skip} == {
        k: v for k, v in r2.to_dict().items() if k not in skip
    }
    for engine in (derive_lines_cohort, derive_lines_reference_cohort):
        a = engine(e1, i1, params=PARAMS, as_of=DEMO_AS_OF)
        b = engine(e2, i2, params=PARAMS, as_of=DEMO_AS_OF)
        assert a.lines.equals(b.lines) and a.assignments.equals(b.assignments)
    assert _rows(a.lines, "person_id", "line", "regimen", "open_rule", "close_rule") == [
        ("1001", 1, "docetaxel + pertuzumab + trastuzumab", "first_exposure", "documented_progression"),
        ("1001", 2, "trastuzumab deruxtecan", "after_progression", "documented_progression"),
        ("1001", 3, "capecitabine + trastuzumab + tucatinib", "after_progression", "ongoing"),
        ("1002", 1, "letrozole + paclitaxel + pertuzumab + trastuzumab", "first_exposure", "new_drug"),
        ("1002", 2, "trastuzumab emtansine", "new_drug", "gap"),
    ]
    assert b.report.excluded == {
        "end_before_start": 1,
        "unknown_drug": 1,
        "supportive": 15,
        "no_index_date": 6,
        "early_setting": 17,
    }
