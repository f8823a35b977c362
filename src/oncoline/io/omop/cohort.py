"""Read a cohort from an OMOP CDM: persons, metastatic index dates, mapped drug exposures, and the report of what
was read, mapped and flagged."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from oncoline.io.omop._sql import _cast, _ints, _strs, _vocabulary_mode
from oncoline.io.omop.biomarkers import _biomarker_rows, _interpret_biomarkers, _latest_status
from oncoline.io.omop.concepts import OmopConcepts, load_omop_concepts
from oncoline.io.omop.db import OmopDatabase, connect
from oncoline.io.omop.drugs import _drug_vocabulary_rows, _map_drug
from oncoline.knowledge.drugs import load_vocabulary

if TYPE_CHECKING:
    import pyarrow as pa


__all__ = ["OmopReadReport", "read_cohort"]


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


# ---------------------------------------------------------------------------------------------- read_cohort
def read_cohort(
    url: str, /, *, schema: str | None = None, her2_positive_only: bool = False
) -> tuple[pa.Table, pa.Table, OmopReadReport]:
    """Read an OMOP CDM cohort as the input of the cohort line-of-therapy engines.

    Parameters
    ----------
    url
        OMOP CDM location: a DuckDB file (default), ``postgresql://…``, or another SQLAlchemy URL; an optional
        ``?schema=NAME`` names the CDM schema (see :func:`oncoline.io.omop.db.connect`).
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
