"""HER2, ER and PR results from MEASUREMENT, interpreted with ``omop_concepts.yaml``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from oncoline.io.omop._sql import _cast, _ints, _strs, _vocabulary_mode
from oncoline.io.omop.concepts import OmopConcepts, load_omop_concepts
from oncoline.io.omop.db import OmopDatabase, connect

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["read_biomarkers"]


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
        OMOP CDM location (see :func:`oncoline.io.omop.db.connect`).
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
