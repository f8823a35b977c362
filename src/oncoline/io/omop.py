"""OMOP CDM in, OMOP oncology episodes out (issue #4).

Reading (:func:`read_cohort`, :func:`read_biomarkers`) turns PERSON, CONDITION_OCCURRENCE, DRUG_EXPOSURE and
MEASUREMENT (with CONCEPT / CONCEPT_ANCESTOR when present) into the two Arrow tables the cohort
line-of-therapy engines take. Writing (:func:`write_episodes`) stores derived lines as oncology-extension
EPISODE rows (Treatment Regimen, ``episode_number`` = line) with one EPISODE_EVENT row per DRUG_EXPOSURE of
the line, so OHDSI tools can use them; :func:`read_episodes` reads them back.

The database only answers plain SELECTs (:mod:`oncoline.io.omop_db`); every mapping decision is made here,
in one place, so DuckDB and PostgreSQL holding the same CDM give identical tables.

Drug mapping (first that succeeds, per distinct ``drug_concept_id`` / ``drug_source_value``):

1. ``concept_code``: the drug concept is itself an RxNorm code the drug vocabulary knows (an ingredient,
   or a product such as Phesgo, or a clinical drug listed in ``rxnorm_other``);
2. ``ingredient``: its RxNorm ingredient ancestors (CONCEPT_ANCESTOR), by RxNorm code then by name;
3. ``concept_name``: the concept's name (whole, then the words before the first digit);
4. ``ingredient_concept_id``: the OMOP ingredient ids of ``omop_concepts.yaml`` (no vocabulary tables);
5. ``source_value``: ``drug_source_value`` as a name, brand or RxNorm code (whole, then before a digit);
6. ``unmapped``: the engine gets the source value (or ``omop:<concept id>``) and counts it as unknown.

A supportive ingredient that comes with anticancer ones (hyaluronidase in subcutaneous trastuzumab) is an
excipient and dropped. Several anticancer drugs in one exposure become the vocabulary product holding
exactly them (Phesgo) when there is one, else one row each with ``exposure_id`` ``"<id>:<drug>"``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from oncoline.errors import InputError
from oncoline.io.omop_concepts import OmopConcepts, load_omop_concepts
from oncoline.io.omop_db import OmopDatabase, connect
from oncoline.io.omop_schema import EPISODE_TABLES, create_tables
from oncoline.knowledge.drugs import DrugRole, DrugVocabulary, load_vocabulary

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "EpisodeWriteReport",
    "LinesLike",
    "OmopReadReport",
    "episodes_from_lines",
    "exposure_event_id",
    "init_cdm",
    "read_biomarkers",
    "read_cohort",
    "read_episodes",
    "write_episodes",
]

_RXNORM_VOCABS = ("RxNorm", "RxNorm Extension")
_BEFORE_DIGIT = re.compile(r"^([^0-9]+?)\s*[0-9]")
_MAX_UNMAPPED_SHOWN = 20


# ---------------------------------------------------------------------------------------------- reports
@dataclass(frozen=True)
class OmopReadReport:
    """What :func:`read_cohort` read, mapped and flagged. Nothing is dropped: flagged rows go to the engine,
    which excludes and counts them by its own reasons; this report says where they came from.

    Attributes
    ----------
    source, backend, schema
        The (password-redacted) URL, ``duckdb`` / ``postgresql`` / ``sqlalchemy``, and the CDM schema.
    vocabulary
        ``concept_ancestor`` (CONCEPT and CONCEPT_ANCESTOR used), ``concept`` (CONCEPT only) or ``none``.
    n_persons, n_persons_metastatic
        Persons in PERSON (after the HER2 filter), and those of them with a metastatic condition.
    n_persons_not_her2_positive
        Persons left out by ``her2_positive_only`` (0 when the filter is off).
    metastatic_matched_by
        Matching CONDITION_OCCURRENCE rows by how they matched (``concept``, ``source_concept``,
        ``source_value``, ``concept_id``).
    n_drug_exposures, n_exposure_rows
        DRUG_EXPOSURE rows read, and rows handed to the engine (several for a multi-drug exposure).
    mapped_by
        DRUG_EXPOSURE rows by mapping step (see the module docstring).
    unmapped
        Unmapped drug label → DRUG_EXPOSURE rows (the 20 most frequent).
    n_unmapped
        All unmapped DRUG_EXPOSURE rows.
    n_end_before_start, n_missing_start, n_missing_end
        DRUG_EXPOSURE rows with an end date before the start, no start, no end (end defaults to start).
    n_duplicate_exposures
        Rows repeating another row's person, drug concept, source value, start and end under another id. The
        same unit (DRUG_EXPOSURE rows) as the engine's ``repaired["duplicate_rows"]``, which counts the rows the
        engine USES that repeat another used row's person, drug (as resolved), start and end; the two differ
        only when a duplicate is excluded by the engine (early setting, supportive, no index date …), when
        two concepts or source values resolve to the same drug, or when an end is clipped to the cut-off.
    n_orphan_exposures
        DRUG_EXPOSURE rows whose person_id is not in PERSON (the engine finds no index date for them).
    stopped
        Rows whose ``stop_reason`` reads as ``progression`` / ``toxicity``.
    biomarkers
        ``{"her2": {"positive": n_persons, …}, …}``: persons by latest result (empty without MEASUREMENT).
    """

    source: str
    backend: str
    schema: str | None
    vocabulary: str
    n_persons: int
    n_persons_metastatic: int
    n_persons_not_her2_positive: int
    metastatic_matched_by: dict[str, int]
    n_drug_exposures: int
    n_exposure_rows: int
    mapped_by: dict[str, int]
    unmapped: dict[str, int]
    n_unmapped: int
    n_end_before_start: int
    n_missing_start: int
    n_missing_end: int
    n_duplicate_exposures: int
    n_orphan_exposures: int
    stopped: dict[str, int]
    biomarkers: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready data."""
        return asdict(self)


@dataclass(frozen=True)
class EpisodeWriteReport:
    """What :func:`write_episodes` wrote.

    Attributes
    ----------
    target
        The (password-redacted) URL.
    n_episodes, n_episode_events
        EPISODE and EPISODE_EVENT rows inserted.
    n_replaced_episodes
        Earlier oncoline-derived Treatment Regimen episodes of the same persons deleted first.
    first_episode_id
        ``episode_id`` of the first inserted row (ids are consecutive), None when nothing was written.
    n_regimens_truncated
        Regimens longer than ``episode_source_value`` (50 characters) stored cut short.
    created_tables
        EPISODE / EPISODE_EVENT tables created because they were missing.
    """

    target: str
    n_episodes: int
    n_episode_events: int
    n_replaced_episodes: int
    first_episode_id: int | None
    n_regimens_truncated: int
    created_tables: list[str]

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready data."""
        return asdict(self)


class LinesLike(Protocol):
    """What :func:`write_episodes` needs of a cohort line result
    (:class:`oncoline.engines.lines.cohort.CohortLines` fits)."""

    @property
    def lines(self) -> pa.Table: ...

    @property
    def assignments(self) -> pa.Table: ...


# ---------------------------------------------------------------------------------------------- helpers
def _ints(values: list[int]) -> str:
    return ", ".join(str(int(v)) for v in values) or "NULL"


def _strs(values: list[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values) or "NULL"


def _cast(table: pa.Table, schema: pa.Schema) -> pa.Table:
    import pyarrow as pa

    cols = []
    for f in schema:
        col = table.column(f.name)
        if pa.types.is_decimal(col.type) and pa.types.is_floating(f.type):
            col = col.cast(pa.float64())
        cols.append(col.cast(f.type))
    return pa.table(cols, schema=schema)


def _vocabulary_mode(tables: set[str]) -> str:
    if "concept" in tables and "concept_ancestor" in tables:
        return "concept_ancestor"
    return "concept" if "concept" in tables else "none"


def exposure_event_id(exposure_id: str) -> int:
    """The DRUG_EXPOSURE id behind an engine ``exposure_id`` (``"123"`` or ``"123:docetaxel"`` → 123).

    Raises
    ------
    InputError
        When the id does not start with a whole number (the lines did not come from :func:`read_cohort`).
    """
    head = str(exposure_id).split(":", 1)[0].strip()
    if not head.lstrip("-").isdigit():
        raise InputError(
            f"exposure_id {exposure_id!r} is not a DRUG_EXPOSURE id; write episodes only for lines derived from "
            "an OMOP cohort (oncoline.io.omop.read_cohort)",
            field="assignments.exposure_id",
        )
    return int(head)


# ---------------------------------------------------------------------------------------------- metastatic
def _metastatic(db: OmopDatabase, kb: OmopConcepts, vocab_mode: str) -> pa.Table:
    """Matching CONDITION_OCCURRENCE rows: person_id, condition_start_date, matched_by."""
    co = db.table("condition_occurrence")
    meta = kb.metastatic
    prefixes = [p.prefix for p in meta.icd10_prefixes]
    src = "upper(replace(co.condition_source_value, '.', ''))"
    by_source_value = " OR ".join(f"{src} LIKE '{p}%'" for p in prefixes) or "FALSE"
    branches = [f"WHEN {by_source_value} THEN 'source_value'"]
    if meta.concept_ids:
        ids = _ints([c.concept_id for c in meta.concept_ids])
        branches.insert(0, f"WHEN co.condition_concept_id IN ({ids}) THEN 'concept_id'")
    if vocab_mode != "none":
        c = db.table("concept")
        snomed = [r.code for r in meta.codes if r.vocabulary == "SNOMED"]
        code_pred = f"(c.vocabulary_id = 'SNOMED' AND c.concept_code IN ({_strs(snomed)}))" if snomed else "FALSE"
        icd_pred = " OR ".join(f"upper(replace(c.concept_code, '.', '')) LIKE '{p}%'" for p in prefixes)
        icd_pred = f"(c.vocabulary_id IN ('ICD10CM', 'ICD10') AND ({icd_pred or 'FALSE'}))"
        listed = f"SELECT c.concept_id FROM {c} c WHERE {code_pred} OR {icd_pred}"
        if vocab_mode == "concept_ancestor":
            ca = db.table("concept_ancestor")
            matched = (
                f"SELECT ca.descendant_concept_id FROM {ca} ca JOIN {c} c ON c.concept_id = ca.ancestor_concept_id "
                f"WHERE {code_pred} OR {icd_pred} UNION {listed}"
            )
        else:
            matched = listed
        branches[:0] = [
            f"WHEN co.condition_concept_id IN ({matched}) THEN 'concept'",
            f"WHEN co.condition_source_concept_id IN ({listed}) THEN 'source_concept'",
        ]
    case = "CASE " + " ".join(branches) + " END"
    sql = (
        f"SELECT * FROM (SELECT co.person_id, co.condition_start_date, {case} AS matched_by FROM {co} co) m "
        "WHERE matched_by IS NOT NULL"
    )
    import pyarrow as pa

    schema = pa.schema([("person_id", pa.string()), ("condition_start_date", pa.date32()), ("matched_by", pa.string())])
    return _cast(db.query(sql), schema)


# ---------------------------------------------------------------------------------------------- drugs
def _lookup_text(vocab: DrugVocabulary, text: str | None) -> tuple[str, ...] | None:
    if not text or not text.strip():
        return None
    found = vocab.lookup(text)
    if found is None:
        m = _BEFORE_DIGIT.match(text.strip())
        if m:
            found = vocab.lookup(m.group(1))
    return found


def _finish(vocab: DrugVocabulary, names: list[str]) -> tuple[str, ...]:
    """Drop supportive excipients next to anticancer drugs, dedupe, prefer the product holding them all."""
    unique = list(dict.fromkeys(names))
    anticancer = [n for n in unique if vocab.drug(n).role == DrugRole.ANTICANCER]
    if anticancer and len(anticancer) < len(unique):
        unique = anticancer
    if len(unique) > 1:
        for p in vocab.products:
            if set(p.components) == set(unique):
                return (p.name,)
    return tuple(sorted(unique))


def _map_drug(
    concept_id: int | None,
    source_value: str | None,
    *,
    vocab: DrugVocabulary,
    kb: OmopConcepts,
    concepts: dict[int, tuple[str, str, str]],
    ingredients: dict[int, list[tuple[str, str]]],
) -> tuple[tuple[str, ...], str]:
    """(drug names for the engine, mapping step) for one drug concept / source value pair."""
    if concept_id is not None and concept_id in concepts:
        code, name, vocabulary = concepts[concept_id]
        if vocabulary in _RXNORM_VOCABS:
            found = vocab.lookup(f"rxnorm:{code}")
            if found:
                return _finish(vocab, list(found)), "concept_code"
        ingr = ingredients.get(concept_id, [])
        names: list[str] = []
        for icode, iname in ingr:
            hit = vocab.lookup(f"rxnorm:{icode}") or vocab.lookup(iname)
            if hit:
                names.extend(hit)
        if names:
            return _finish(vocab, names), "ingredient"
        found = _lookup_text(vocab, name)
        if found:
            return _finish(vocab, list(found)), "concept_name"
    if concept_id is not None and concept_id in kb.ingredient_by_concept_id:
        return (kb.ingredient_by_concept_id[concept_id],), "ingredient_concept_id"
    found = _lookup_text(vocab, source_value)
    if found:
        return _finish(vocab, list(found)), "source_value"
    label = source_value.strip() if source_value and source_value.strip() else f"omop:{concept_id}"
    return (label,), "unmapped"


def _drug_vocabulary_rows(
    db: OmopDatabase, vocab_mode: str
) -> tuple[dict[int, tuple[str, str, str]], dict[int, list[tuple[str, str]]]]:
    if vocab_mode == "none":
        return {}, {}
    c, de = db.table("concept"), db.table("drug_exposure")
    used = f"SELECT DISTINCT drug_concept_id FROM {de}"
    rows = db.query(
        f"SELECT concept_id, concept_code, concept_name, vocabulary_id FROM {c} WHERE concept_id IN ({used})"
    ).to_pylist()
    concepts = {
        int(r["concept_id"]): (str(r["concept_code"]), str(r["concept_name"]), str(r["vocabulary_id"])) for r in rows
    }
    ingredients: dict[int, list[tuple[str, str]]] = {}
    if vocab_mode == "concept_ancestor":
        ca = db.table("concept_ancestor")
        rows = db.query(
            f"SELECT ca.descendant_concept_id, c.concept_code, c.concept_name FROM {ca} ca "
            f"JOIN {c} c ON c.concept_id = ca.ancestor_concept_id "
            f"WHERE c.concept_class_id = 'Ingredient' AND c.vocabulary_id IN ({_strs(list(_RXNORM_VOCABS))}) "
            f"AND ca.descendant_concept_id IN ({used})"
        ).to_pylist()
        for r in sorted(rows, key=lambda r: (r["descendant_concept_id"], str(r["concept_code"]))):
            ingredients.setdefault(int(r["descendant_concept_id"]), []).append(
                (str(r["concept_code"]), str(r["concept_name"]))
            )
    return concepts, ingredients


# ---------------------------------------------------------------------------------------------- biomarkers
def _biomarker_rows(db: OmopDatabase, kb: OmopConcepts, vocab_mode: str) -> pa.Table:
    import pyarrow as pa

    m = db.table("measurement")
    loinc = sorted({c.code for b in kb.biomarkers.values() for c in b.loinc})
    ids = sorted({c.concept_id for b in kb.biomarkers.values() for c in b.concept_ids})
    prefixes = sorted({p for b in kb.biomarkers.values() for p in b.source_value_prefixes})
    preds = [f"m.measurement_concept_id IN ({_ints(ids)})", f"m.measurement_source_value IN ({_strs(loinc)})"]
    preds += [f"lower(m.measurement_source_value) LIKE '{p}%'" for p in prefixes]
    join, code_col = "", "CAST(NULL AS VARCHAR(50))"
    if vocab_mode != "none":
        join = (
            f"LEFT JOIN {db.table('concept')} c "
            "ON c.concept_id = m.measurement_concept_id AND c.vocabulary_id = 'LOINC'"
        )
        code_col = "c.concept_code"
        preds.append(f"c.concept_code IN ({_strs(loinc)})")
    sql = (
        f"SELECT m.measurement_id, m.person_id, m.measurement_date, m.measurement_concept_id, {code_col} AS loinc, "
        "m.measurement_source_value, m.value_as_number, m.value_as_concept_id, m.value_source_value "
        f"FROM {m} m {join} WHERE " + " OR ".join(preds)
    )
    schema = pa.schema(
        [
            ("measurement_id", pa.int64()),
            ("person_id", pa.string()),
            ("measurement_date", pa.date32()),
            ("measurement_concept_id", pa.int64()),
            ("loinc", pa.string()),
            ("measurement_source_value", pa.string()),
            ("value_as_number", pa.float64()),
            ("value_as_concept_id", pa.int64()),
            ("value_source_value", pa.string()),
        ]
    )
    return _cast(db.query(sql), schema)


def _interpret_biomarkers(raw: pa.Table, kb: OmopConcepts) -> pa.Table:
    import pyarrow as pa

    id_marker = {c.concept_id: (mk, c.code) for mk, b in kb.biomarkers.items() for c in b.concept_ids}
    code_marker = {c.code: mk for mk, b in kb.biomarkers.items() for c in b.loinc}
    out: dict[str, list[Any]] = {
        k: []
        for k in ("person_id", "marker", "measurement_date", "status", "value_as_number", "code", "measurement_id")
    }
    for r in raw.to_pylist():
        marker: str | None = None
        code: str | None = None
        if r["measurement_concept_id"] in id_marker:
            marker, code = id_marker[r["measurement_concept_id"]]
        elif r["loinc"] in code_marker:
            marker, code = code_marker[r["loinc"]], r["loinc"]
        else:
            src = r["measurement_source_value"]
            for mk, b in kb.biomarkers.items():
                if b.matches_source_value(src):
                    marker, code = mk, (src.strip() if src in code_marker else None)
                    break
        if marker is None:
            continue
        status = kb.result_for_concept(r["value_as_concept_id"]) or kb.result_for_text(r["value_source_value"])
        number = r["value_as_number"]
        if (
            status is None
            and marker == "her2"
            and number is not None
            and code in kb.biomarkers["her2"].ihc_loinc
            and float(number).is_integer()
        ):
            status = kb.her2_ihc_score.map.get(int(number))
        out["person_id"].append(r["person_id"])
        out["marker"].append(marker)
        out["measurement_date"].append(r["measurement_date"])
        out["status"].append(status)
        out["value_as_number"].append(number)
        out["code"].append(code or r["measurement_source_value"])
        out["measurement_id"].append(r["measurement_id"])
    schema = pa.schema(
        [
            ("person_id", pa.string()),
            ("marker", pa.string()),
            ("measurement_date", pa.date32()),
            ("status", pa.string()),
            ("value_as_number", pa.float64()),
            ("code", pa.string()),
            ("measurement_id", pa.int64()),
        ]
    )
    table = pa.table(out, schema=schema)
    return table.sort_by(
        [
            ("person_id", "ascending"),
            ("marker", "ascending"),
            ("measurement_date", "ascending"),
            ("measurement_id", "ascending"),
        ]
    )


def _latest_status(biomarkers: pa.Table) -> dict[tuple[str, str], str]:
    latest: dict[tuple[str, str], str] = {}
    for r in biomarkers.to_pylist():  # sorted by date: later rows win
        if r["status"] is not None:
            latest[(r["person_id"], r["marker"])] = r["status"]
    return latest


def read_biomarkers(url: str, /, *, schema: str | None = None) -> pa.Table:
    """HER2, ER and PR results from MEASUREMENT.

    Parameters
    ----------
    url
        OMOP CDM location (see :func:`oncoline.io.omop_db.connect`).
    schema
        CDM schema; overrides ``?schema=`` in the URL.

    Returns
    -------
    pyarrow.Table
        One row per matching MEASUREMENT, sorted by person_id, marker, date: ``person_id`` string,
        ``marker`` (``her2`` | ``er`` | ``pr``), ``measurement_date`` date32, ``status`` (``positive`` |
        ``negative`` | ``equivocal`` | null when the row does not state it), ``value_as_number`` float64,
        ``code`` (LOINC code or source value), ``measurement_id`` int64. Measurements are recognised by the
        concept ids, LOINC codes and source-value words of ``omop_concepts.yaml``; results by
        value_as_concept_id, value_source_value words, or a HER2 IHC score 0-3 (ASCO/CAP 2018).

    Raises
    ------
    InputError
        When the database has no MEASUREMENT table, or a DuckDB file does not exist.
    BackendError
        When the database cannot be reached or rejects a query.
    """
    kb = load_omop_concepts()
    with connect(url, schema=schema) as db:
        db.require(("measurement",), purpose="reading biomarkers")
        return _interpret_biomarkers(_biomarker_rows(db, kb, _vocabulary_mode(db.tables())), kb)


# ---------------------------------------------------------------------------------------------- read_cohort
def read_cohort(
    url: str, /, *, schema: str | None = None, her2_positive_only: bool = False
) -> tuple[pa.Table, pa.Table, OmopReadReport]:
    """Read an OMOP CDM cohort as the input of the cohort line-of-therapy engines.

    Parameters
    ----------
    url
        OMOP CDM location: a DuckDB file (default), ``postgresql://…``, or another SQLAlchemy URL; an optional
        ``?schema=NAME`` names the CDM schema (see :func:`oncoline.io.omop_db.connect`).
    schema
        CDM schema; overrides the URL's.
    her2_positive_only
        Keep only persons with at least one positive HER2 result in MEASUREMENT (see
        :func:`read_biomarkers`); the others are counted in the report.

    Returns
    -------
    exposures : pyarrow.Table
        One row per DRUG_EXPOSURE (several for a multi-drug exposure, see the module docstring), sorted by
        person_id, start_date, exposure_id: ``person_id`` string, ``exposure_id`` string
        (``drug_exposure_id``), ``drug`` string (canonical drug or product name; the source value, or
        ``omop:<concept id>``, when unmapped), ``start_date`` / ``end_date`` date32 (as stored: end before
        start, missing dates and duplicates are passed on for the engine to exclude and count), ``stopped``
        string (``progression`` | ``toxicity`` | null, from ``stop_reason``).
    index : pyarrow.Table
        One row per PERSON, sorted by person_id: ``person_id`` string, ``metastatic_diagnosis`` date32 (the
        earliest secondary-malignancy condition start; null when the person has none).
    report : OmopReadReport
        Counts of everything read, mapped and flagged.

    Raises
    ------
    InputError
        When PERSON, CONDITION_OCCURRENCE or DRUG_EXPOSURE is missing (or MEASUREMENT with
        ``her2_positive_only``), the schema name is not an identifier, or a DuckDB file does not exist.
    BackendError
        When the database cannot be reached, its driver is missing, or it rejects a query.

    References
    ----------
    OMOP CDM v5.4 (https://ohdsi.github.io/CommonDataModel/cdm54.html); codes and their verification
    status in ``knowledge/data/omop_concepts.yaml``.
    """
    import pyarrow as pa

    kb = load_omop_concepts()
    vocab = load_vocabulary()
    with connect(url, schema=schema) as db:
        tables = db.tables()
        db.require(("person", "condition_occurrence", "drug_exposure"), purpose="reading an OMOP cohort")
        if her2_positive_only:
            db.require(("measurement",), purpose="--her2-positive-only")
        vocab_mode = _vocabulary_mode(tables)
        persons = _cast(
            db.query(f"SELECT person_id FROM {db.table('person')}"), pa.schema([("person_id", pa.string())])
        )
        meta = _metastatic(db, kb, vocab_mode)
        raw = _cast(
            db.query(
                "SELECT drug_exposure_id, person_id, drug_concept_id, drug_source_value, drug_exposure_start_date, "
                f"drug_exposure_end_date, stop_reason FROM {db.table('drug_exposure')}"
            ),
            pa.schema(
                [
                    ("drug_exposure_id", pa.int64()),
                    ("person_id", pa.string()),
                    ("drug_concept_id", pa.int64()),
                    ("drug_source_value", pa.string()),
                    ("drug_exposure_start_date", pa.date32()),
                    ("drug_exposure_end_date", pa.date32()),
                    ("stop_reason", pa.string()),
                ]
            ),
        )
        concepts, ingredients = _drug_vocabulary_rows(db, vocab_mode)
        biomarkers = _interpret_biomarkers(_biomarker_rows(db, kb, vocab_mode), kb) if "measurement" in tables else None

    # --- persons, HER2 filter, index
    person_ids = sorted(set(persons.column("person_id").to_pylist()) - {None})
    latest = _latest_status(biomarkers) if biomarkers is not None else {}
    n_not_her2 = 0
    if her2_positive_only and biomarkers is not None:
        ever_positive = {
            r["person_id"] for r in biomarkers.to_pylist() if r["marker"] == "her2" and r["status"] == "positive"
        }
        n_not_her2 = sum(1 for p in person_ids if p not in ever_positive)
        person_ids = [p for p in person_ids if p in ever_positive]
    keep = set(person_ids)
    first_meta: dict[str, dt.date] = {}
    matched_by: Counter[str] = Counter()
    for r in meta.to_pylist():
        matched_by[r["matched_by"]] += 1
        p, d = r["person_id"], r["condition_start_date"]
        if d is not None and (p not in first_meta or d < first_meta[p]):
            first_meta[p] = d
    index = pa.table(
        {"person_id": person_ids, "metastatic_diagnosis": [first_meta.get(p) for p in person_ids]},
        schema=pa.schema([("person_id", pa.string()), ("metastatic_diagnosis", pa.date32())]),
    )

    # --- drug exposures
    known_persons = set(persons.column("person_id").to_pylist())
    mapping: dict[tuple[int | None, str | None], tuple[tuple[str, ...], str]] = {}
    out_columns = ("person_id", "exposure_id", "drug", "start_date", "end_date", "stopped")
    out: dict[str, list[Any]] = {k: [] for k in out_columns}
    mapped_by: Counter[str] = Counter()
    unmapped: Counter[str] = Counter()
    stopped_counts: Counter[str] = Counter()
    seen: set[tuple[Any, ...]] = set()
    n_dup = n_orphan = n_read = n_end_before = n_no_start = n_no_end = 0
    rows = raw.sort_by(
        [("person_id", "ascending"), ("drug_exposure_start_date", "ascending"), ("drug_exposure_id", "ascending")]
    ).to_pylist()
    for r in rows:
        pid = r["person_id"]
        if her2_positive_only and pid not in keep and pid in known_persons:
            continue
        n_read += 1
        if pid not in known_persons:
            n_orphan += 1
        key = (r["drug_concept_id"], r["drug_source_value"])
        if key not in mapping:
            mapping[key] = _map_drug(key[0], key[1], vocab=vocab, kb=kb, concepts=concepts, ingredients=ingredients)
        names, method = mapping[key]
        mapped_by[method] += 1
        if method == "unmapped":
            unmapped[names[0]] += 1
        start, end = r["drug_exposure_start_date"], r["drug_exposure_end_date"]
        n_no_start += start is None
        n_no_end += end is None
        n_end_before += start is not None and end is not None and end < start
        signature = (pid, key, start, end)
        if signature in seen:
            n_dup += 1
        seen.add(signature)
        stopped = kb.stop_reason(r["stop_reason"])
        if stopped:
            stopped_counts[stopped] += 1
        eid = str(r["drug_exposure_id"])
        for name in names:
            out["person_id"].append(pid)
            out["exposure_id"].append(eid if len(names) == 1 else f"{eid}:{name}")
            out["drug"].append(name)
            out["start_date"].append(start)
            out["end_date"].append(end)
            out["stopped"].append(stopped)
    exposures = pa.table(
        out,
        schema=pa.schema(
            [
                ("person_id", pa.string()),
                ("exposure_id", pa.string()),
                ("drug", pa.string()),
                ("start_date", pa.date32()),
                ("end_date", pa.date32()),
                ("stopped", pa.string()),
            ]
        ),
    )
    biomarker_summary: dict[str, Counter[str]] = {}
    for (p, marker), status in sorted(latest.items()):
        if p in keep:
            biomarker_summary.setdefault(marker, Counter())[status] += 1
    report = OmopReadReport(
        source=db.url,
        backend=db.backend,
        schema=db.schema,
        vocabulary=vocab_mode,
        n_persons=len(person_ids),
        n_persons_metastatic=sum(1 for p in person_ids if p in first_meta),
        n_persons_not_her2_positive=n_not_her2,
        metastatic_matched_by=dict(sorted(matched_by.items())),
        n_drug_exposures=n_read,
        n_exposure_rows=exposures.num_rows,
        mapped_by=dict(sorted(mapped_by.items())),
        unmapped=dict(unmapped.most_common(_MAX_UNMAPPED_SHOWN)),
        n_unmapped=sum(unmapped.values()),
        n_end_before_start=n_end_before,
        n_missing_start=n_no_start,
        n_missing_end=n_no_end,
        n_duplicate_exposures=n_dup,
        n_orphan_exposures=n_orphan,
        stopped=dict(sorted(stopped_counts.items())),
        biomarkers={k: dict(sorted(v.items())) for k, v in sorted(biomarker_summary.items())},
    )
    return exposures, index, report


# ---------------------------------------------------------------------------------------------- episodes
def episodes_from_lines(lines: LinesLike, /, *, first_episode_id: int = 1) -> tuple[pa.Table, pa.Table, int]:
    """EPISODE and EPISODE_EVENT rows for derived lines (pure: no database).

    Parameters
    ----------
    lines
        A cohort line result: ``lines`` (person_id, line, regimen, start_date, end_date, …) and
        ``assignments`` (person_id, exposure_id, line) as made by the cohort engines from
        :func:`read_cohort` output.
    first_episode_id
        ``episode_id`` of the first row; rows are numbered consecutively in (person_id, line) order.

    Returns
    -------
    episode : pyarrow.Table
        One row per line, OMOP CDM v5.4 EPISODE columns: episode_concept_id = Treatment Regimen,
        episode_number = line, episode_type_concept_id = algorithmically derived, episode_object_concept_id
        and episode_source_concept_id = 0 (regimens are not mapped to HemOnc concepts yet),
        episode_source_value = the regimen (cut to 50 characters), datetimes at midnight.
    episode_event : pyarrow.Table
        One row per (line, DRUG_EXPOSURE): episode_id, event_id = drug_exposure_id,
        episode_event_field_concept_id = ``drug_exposure.drug_exposure_id``. An episode's events are its
        line's ``n_exposures`` (the engines count the input rows assigned to a line), except for a
        DRUG_EXPOSURE that :func:`read_cohort` split into one row per drug (``"<id>:<drug>"``, several
        anticancer drugs and no vocabulary product holding them): its rows count once each in
        ``n_exposures`` and give one event.
    n_truncated : int
        Regimens cut to fit episode_source_value.

    Raises
    ------
    InputError
        When a person_id or exposure_id is not numeric, or an assignment names a line that is not in
        ``lines``.
    """
    import pyarrow as pa

    kb = load_omop_concepts().episode
    key_of: dict[tuple[str, int], int] = {}
    ep: dict[str, list[Any]] = {
        k: []
        for k in (
            "episode_id",
            "person_id",
            "episode_concept_id",
            "episode_start_date",
            "episode_start_datetime",
            "episode_end_date",
            "episode_end_datetime",
            "episode_parent_id",
            "episode_number",
            "episode_object_concept_id",
            "episode_type_concept_id",
            "episode_source_value",
            "episode_source_concept_id",
        )
    }
    n_truncated = 0

    def person_int(p: Any) -> int:
        text = str(p).strip()
        if not text.lstrip("-").isdigit():
            raise InputError(f"person_id {p!r} is not an OMOP person_id (a whole number)", field="lines.person_id")
        return int(text)

    rows = sorted(lines.lines.to_pylist(), key=lambda r: (person_int(r["person_id"]), int(r["line"])))
    for i, r in enumerate(rows):
        eid = first_episode_id + i
        key_of[(str(r["person_id"]), int(r["line"]))] = eid
        regimen = str(r["regimen"] or "")
        if len(regimen) > 50:
            regimen, n_truncated = regimen[:49] + "…", n_truncated + 1
        start, end = r["start_date"], r["end_date"]
        ep["episode_id"].append(eid)
        ep["person_id"].append(person_int(r["person_id"]))
        ep["episode_concept_id"].append(kb.treatment_regimen.concept_id)
        ep["episode_start_date"].append(start)
        ep["episode_start_datetime"].append(dt.datetime.combine(start, dt.time()) if start else None)
        ep["episode_end_date"].append(end)
        ep["episode_end_datetime"].append(dt.datetime.combine(end, dt.time()) if end else None)
        ep["episode_parent_id"].append(None)
        ep["episode_number"].append(int(r["line"]))
        ep["episode_object_concept_id"].append(kb.no_matching_concept.concept_id)
        ep["episode_type_concept_id"].append(kb.episode_type.concept_id)
        ep["episode_source_value"].append(regimen)
        ep["episode_source_concept_id"].append(kb.no_matching_concept.concept_id)
    events: set[tuple[int, int]] = set()
    for a in lines.assignments.to_pylist():
        k = (str(a["person_id"]), int(a["line"]))
        if k not in key_of:
            raise InputError(
                f"assignment of exposure {a['exposure_id']!r} names line {k[1]} of person {k[0]!r}, which is not "
                "in the lines table; pass the lines and assignments of one engine run",
                field="assignments.line",
            )
        events.add((key_of[k], exposure_event_id(a["exposure_id"])))
    ordered = sorted(events)
    episode = pa.table(
        ep,
        schema=pa.schema(
            [
                ("episode_id", pa.int64()),
                ("person_id", pa.int64()),
                ("episode_concept_id", pa.int32()),
                ("episode_start_date", pa.date32()),
                ("episode_start_datetime", pa.timestamp("us")),
                ("episode_end_date", pa.date32()),
                ("episode_end_datetime", pa.timestamp("us")),
                ("episode_parent_id", pa.int64()),
                ("episode_number", pa.int32()),
                ("episode_object_concept_id", pa.int32()),
                ("episode_type_concept_id", pa.int32()),
                ("episode_source_value", pa.string()),
                ("episode_source_concept_id", pa.int32()),
            ]
        ),
    )
    event = pa.table(
        {
            "episode_id": [e for e, _ in ordered],
            "event_id": [x for _, x in ordered],
            "episode_event_field_concept_id": [kb.event_field_drug_exposure.concept_id] * len(ordered),
        },
        schema=pa.schema(
            [("episode_id", pa.int64()), ("event_id", pa.int64()), ("episode_event_field_concept_id", pa.int32())]
        ),
    )
    return episode, event, n_truncated


def _ours(alias: str = "") -> str:
    """SQL predicate selecting the episodes oncoline writes (algorithm-derived Treatment Regimens)."""
    kb = load_omop_concepts().episode
    a = f"{alias}." if alias else ""
    return (
        f"{a}episode_concept_id = {kb.treatment_regimen.concept_id} "
        f"AND {a}episode_type_concept_id = {kb.episode_type.concept_id}"
    )


def write_episodes(
    url: str,
    /,
    lines: LinesLike,
    *,
    schema: str | None = None,
    replace: bool = True,
    create_missing_tables: bool = True,
) -> EpisodeWriteReport:
    """Write derived lines as OMOP oncology-extension EPISODE and EPISODE_EVENT rows.

    Parameters
    ----------
    url
        OMOP CDM location (see :func:`oncoline.io.omop_db.connect`); usually the one the cohort was read from.
    lines
        The cohort line result (:class:`oncoline.engines.lines.cohort.CohortLines`) of exposures read by
        :func:`read_cohort`: person_id and exposure_id are OMOP ids.
    schema
        CDM schema; overrides the URL's.
    replace
        Delete first the algorithm-derived Treatment Regimen episodes (and their events) of the persons
        being written, so that re-running a derivation replaces it. Other episodes are never touched.
    create_missing_tables
        Create EPISODE / EPISODE_EVENT (OMOP CDM v5.4 DDL) when absent.

    Returns
    -------
    EpisodeWriteReport
        Rows written and replaced; see :func:`episodes_from_lines` for the row contents. Everything is
        written in one transaction.

    Raises
    ------
    InputError
        When ids are not OMOP ids (see :func:`episodes_from_lines`), the tables are missing and
        ``create_missing_tables`` is false, or a DuckDB file does not exist.
    BackendError
        When the database cannot be reached or rejects the rows.

    References
    ----------
    OHDSI oncology extension, EPISODE / EPISODE_EVENT (OMOP CDM v5.4); concept ids and their verification
    status in ``knowledge/data/omop_concepts.yaml``.
    """
    episodes_from_lines(lines)  # validate ids before touching the database
    with connect(url, schema=schema) as db:
        created: list[str] = []
        if create_missing_tables:
            created = create_tables(db, EPISODE_TABLES)
        db.require(EPISODE_TABLES, purpose="writing episodes")
        persons = sorted({int(str(p)) for p in lines.lines.column("person_id").to_pylist()})
        e, ev = db.table("episode"), db.table("episode_event")
        n_replaced = 0
        with db.transaction():
            if replace and persons:
                doomed = f"SELECT episode_id FROM {e} WHERE {_ours()} AND person_id IN ({_ints(persons)})"
                n_replaced = int(db.query(f"SELECT count(*) AS n FROM ({doomed}) d").column("n")[0].as_py())
                db.execute(f"DELETE FROM {ev} WHERE episode_id IN ({doomed})")
                db.execute(f"DELETE FROM {e} WHERE episode_id IN ({doomed})")
            top = db.query(f"SELECT max(episode_id) AS m FROM {e}").column("m")[0].as_py()
            first = int(top or 0) + 1
            episode, event, n_truncated = episodes_from_lines(lines, first_episode_id=first)
            if episode.num_rows:
                db.insert("episode", episode)
            if event.num_rows:
                db.insert("episode_event", event)
        return EpisodeWriteReport(
            target=db.url,
            n_episodes=episode.num_rows,
            n_episode_events=event.num_rows,
            n_replaced_episodes=n_replaced,
            first_episode_id=first if episode.num_rows else None,
            n_regimens_truncated=n_truncated,
            created_tables=created,
        )


def read_episodes(url: str, /, *, schema: str | None = None) -> tuple[pa.Table, pa.Table]:
    """Read back the Treatment Regimen episodes written by :func:`write_episodes`.

    Parameters
    ----------
    url
        OMOP CDM location (see :func:`oncoline.io.omop_db.connect`).
    schema
        CDM schema; overrides the URL's.

    Returns
    -------
    lines : pyarrow.Table
        One row per episode, sorted by person_id (numerically) and line: ``episode_id`` int64,
        ``person_id`` string, ``line`` int32 (episode_number), ``regimen`` string (episode_source_value),
        ``start_date`` / ``end_date`` date32.
    events : pyarrow.Table
        One row per EPISODE_EVENT linking a DRUG_EXPOSURE, sorted: ``person_id`` string, ``exposure_id``
        string (drug_exposure_id), ``line`` int32.

    Raises
    ------
    InputError
        When EPISODE / EPISODE_EVENT are missing, or a DuckDB file does not exist.
    BackendError
        When the database cannot be reached or rejects a query.
    """
    import pyarrow as pa

    field_id = load_omop_concepts().episode.event_field_drug_exposure.concept_id
    with connect(url, schema=schema) as db:
        db.require(EPISODE_TABLES, purpose="reading episodes")
        e, ev = db.table("episode"), db.table("episode_event")
        eps = _cast(
            db.query(
                "SELECT episode_id, person_id, episode_number AS line, episode_source_value AS regimen, "
                f"episode_start_date AS start_date, episode_end_date AS end_date FROM {e} WHERE {_ours()} "
                "ORDER BY person_id, episode_number, episode_id"
            ),
            pa.schema(
                [
                    ("episode_id", pa.int64()),
                    ("person_id", pa.string()),
                    ("line", pa.int32()),
                    ("regimen", pa.string()),
                    ("start_date", pa.date32()),
                    ("end_date", pa.date32()),
                ]
            ),
        )
        events = _cast(
            db.query(
                f"SELECT e.person_id, ev.event_id AS exposure_id, e.episode_number AS line FROM {ev} ev "
                f"JOIN {e} e ON e.episode_id = ev.episode_id WHERE {_ours('e')} "
                f"AND ev.episode_event_field_concept_id = {field_id} "
                "ORDER BY e.person_id, ev.event_id, e.episode_number"
            ),
            pa.schema([("person_id", pa.string()), ("exposure_id", pa.string()), ("line", pa.int32())]),
        )
    return eps, events


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
