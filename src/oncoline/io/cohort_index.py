"""The cohort index table and its optional columns (read from a file, or filled from an OMOP CDM).

Columns (one row per person; CSV or Parquet):

=====================  ==========  =====================================================================
column                 required    meaning
=====================  ==========  =====================================================================
``person_id``          yes         the person (text)
``metastatic_diagnosis`` yes       the index date (ISO date)
``her2_status``        no          ``positive`` | ``negative`` | ``equivocal`` (the final call)
``hr_status``          no          ``positive`` | ``negative`` (ER and/or PR ≥ 1 %)
``birth_year``         no          year of birth (age at index = index year − birth year)
``age_at_index``       no          years at the index date (wins over ``birth_year``)
``sex``                no          ``female`` | ``male`` | other text
``presentation``       no          ``de_novo`` | ``recurrent``
=====================  ==========  =====================================================================

``person_id`` must be unique (one row per person) and the index must hold at least one person;
``metastatic_diagnosis`` is ``YYYY-MM-DD`` (a date column in Parquet). An absent column, an empty cell or the
text ``unknown`` means *not given*: the report counts it as ``unknown`` and the concordance
of a line that needs it is *not assessable*; nothing is guessed. A value outside the vocabulary is an input
error naming the file, the column, the row and the allowed values.

From OMOP (:func:`index_from_omop`): ``birth_year`` and ``sex`` from PERSON (``year_of_birth``,
``gender_concept_id`` 8532 female / 8507 male), ``her2_status`` and ``hr_status`` from the latest HER2, ER and PR
MEASUREMENTs (:func:`oncoline.io.omop.read_biomarkers`; HR-positive when ER or PR is positive, negative when ER
is negative and PR is not positive); ``presentation`` is not held in a CDM and stays unknown.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from oncoline.errors import InputError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["OPTIONAL_COLUMNS", "index_from_omop", "read_cohort_index", "validate_index"]

OPTIONAL_COLUMNS: dict[str, tuple[str, ...] | None] = {
    "her2_status": ("positive", "negative", "equivocal"),
    "hr_status": ("positive", "negative"),
    "birth_year": None,
    "age_at_index": None,
    "sex": None,
    "presentation": ("de_novo", "recurrent"),
}
"""Optional index columns → allowed (lower-case) values; None = a number or free text."""

_GENDER = {8532: "female", 8507: "male"}


def validate_index(index: pa.Table, /, *, source: str = "index") -> pa.Table:
    """Check and normalise the optional columns of an index table.

    Returns
    -------
    pyarrow.Table
        ``index`` with the vocabulary columns lower-cased (``de-novo`` → ``de_novo``), ``birth_year`` as int32 and
        ``age_at_index`` as float64.

    Raises
    ------
    InputError
        A required column is missing, the index has no rows, a person_id is given twice (the ids and rows are
        named), a ``metastatic_diagnosis`` is not ``YYYY-MM-DD``, a vocabulary value is unknown, or a number column
        holds text (the message names the column, the first bad row (1 = first data row) and the allowed values).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    for name in ("person_id", "metastatic_diagnosis"):
        if name not in index.column_names:
            raise InputError(
                f"the index has no {name!r} column; give person_id and metastatic_diagnosis (one row per person)",
                source=source,
                field=name,
            )
    if index.num_rows == 0:
        raise InputError(
            "the index holds no persons (a header and no rows); give one row per person of the cohort, with "
            "person_id and metastatic_diagnosis",
            source=source,
            field="person_id",
        )
    _check_unique_ids(index, source)
    _check_iso_dates(index, source)
    out = index
    for name, allowed in OPTIONAL_COLUMNS.items():
        if name not in out.column_names:
            continue
        col = out.column(name)
        pos = out.column_names.index(name)
        if allowed is not None:
            text = pc.replace_substring(pc.utf8_lower(pc.utf8_trim_whitespace(pc.cast(col, pa.string()))), "-", "_")
            text = pc.if_else(pc.is_in(text, pa.array(["", "unknown"])), pa.scalar(None, pa.string()), text)
            bad = pc.and_(pc.invert(pc.is_in(text, pa.array(allowed))), pc.is_valid(text))
            if pc.any(bad).as_py():
                row = int(pc.index(bad, True).as_py())
                raise InputError(
                    f"row {row + 1}: {name} {col[row].as_py()!r} is not one of {', '.join(allowed)} (leave it empty "
                    "when not known)",
                    source=source,
                    field=name,
                )
            out = out.set_column(pos, name, text)
        elif name in ("birth_year", "age_at_index"):
            target = pa.int32() if name == "birth_year" else pa.float64()
            if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
                trimmed = pc.utf8_trim_whitespace(col)
                number = r"^[+-]?[0-9]+$" if name == "birth_year" else r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)$"
                bad = pc.and_(pc.not_equal(trimmed, ""), pc.invert(pc.match_substring_regex(trimmed, number)))
                if pc.any(bad).as_py():
                    row = int(pc.index(bad, True).as_py())
                    raise InputError(
                        f"row {row + 1}: {name} {col[row].as_py()!r} is not a number "
                        f"({'a year, e.g. 1965' if name == 'birth_year' else 'years, e.g. 55'}; leave it empty when "
                        "not known)",
                        source=source,
                        field=name,
                    )
                col = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)
            try:
                out = out.set_column(pos, name, pc.cast(col, target))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise InputError(f"{name} must be a number ({exc})", source=source, field=name) from exc
    return out


def _check_unique_ids(index: pa.Table, source: str) -> None:
    """One row per person: a person_id given twice is an input error naming the id(s) and their rows."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ids = pc.cast(index.column("person_id"), pa.string()).to_pylist()
    rows: dict[str | None, list[int]] = {}
    for row, pid in enumerate(ids, start=1):
        rows.setdefault(pid, []).append(row)
    dups = [(pid, r) for pid, r in rows.items() if len(r) > 1]
    if dups:
        shown = "; ".join(f"{pid!r} on rows {', '.join(map(str, r))}" for pid, r in dups[:5])
        more = f" (and {len(dups) - 5} more ids)" if len(dups) > 5 else ""
        raise InputError(
            f"{len(dups)} person_id(s) appear more than once: {shown}{more}. The index needs one row per person: "
            "give each person a distinct person_id, or drop the repeated rows",
            source=source,
            field="person_id",
        )


def _check_iso_dates(index: pa.Table, source: str) -> None:
    """The index date must be an ISO date (YYYY-MM-DD); another text (03/17/2022) names the row (empty = unknown)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    col = index.column("metastatic_diagnosis")
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        return  # a date or timestamp column (Parquet, or a CSV whose every value parsed as a date)
    text = pc.utf8_trim_whitespace(col)
    iso = pc.match_substring_regex(text, r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
    invalid = set()  # ISO-shaped but no calendar day (2021-02-30)
    for value in pc.unique(pc.filter(text, iso)).to_pylist():
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            invalid.add(value)
    bad = pc.and_(
        pc.not_equal(text, ""), pc.or_(pc.invert(iso), pc.is_in(text, pa.array(sorted(invalid), pa.string())))
    )
    if pc.any(bad).as_py():
        row = int(pc.index(bad, True).as_py())
        n = int(pc.sum(bad).as_py() or 0)
        raise InputError(
            f"row {row + 1}: metastatic_diagnosis {col[row].as_py()!r} is not a date in the expected format "
            f"YYYY-MM-DD (e.g. 2022-03-17); {n} row(s) are not. Write the dates as ISO dates (leave a cell empty "
            "when the date is not known)",
            source=source,
            field="metastatic_diagnosis",
        )


def read_cohort_index(path: Path, /) -> pa.Table:
    """Read an index table (CSV or Parquet) with its optional columns checked (:func:`validate_index`).

    Raises
    ------
    InputError
        The file is missing or unreadable, or a column is wrong (see :func:`validate_index`).
    """
    from oncoline.io.exposures import read_table

    return validate_index(read_table(path, kind="index"), source=str(path))


def index_from_omop(url: str, index: pa.Table, /, *, schema: str | None = None) -> pa.Table:
    """``index`` (``person_id``, ``metastatic_diagnosis`` from :func:`oncoline.io.omop.read_cohort`) with
    ``birth_year``, ``sex``, ``her2_status`` and ``hr_status`` filled from PERSON and MEASUREMENT.

    Raises
    ------
    InputError, BackendError
        As :func:`oncoline.io.omop.read_cohort`.
    """
    import pyarrow as pa

    from oncoline.io.omop import read_biomarkers
    from oncoline.io.omop.db import connect

    with connect(url, schema=schema) as db:
        tables = db.tables()
        person = db.query(
            "SELECT CAST(person_id AS VARCHAR) AS person_id, year_of_birth, gender_concept_id "
            f"FROM {db.table('person')}"
        ).to_pylist()
    born = {r["person_id"]: r["year_of_birth"] for r in person}
    sex = {r["person_id"]: _GENDER.get(r["gender_concept_id"]) for r in person}
    latest: dict[tuple[str, str], str] = {}
    if "measurement" in tables:
        for r in read_biomarkers(url, schema=schema).to_pylist():  # sorted by date: the latest wins
            if r["status"] is not None:
                latest[(r["person_id"], r["marker"])] = r["status"]
    ids = [str(p) for p in index.column("person_id").to_pylist()]

    def hr(pid: str) -> str | None:
        er, pr = latest.get((pid, "er")), latest.get((pid, "pr"))
        if "positive" in (er, pr):
            return "positive"
        if er == "negative":
            return "negative"
        return None

    her2 = [latest.get((p, "her2")) for p in ids]
    return (
        index.append_column("her2_status", pa.array(her2, pa.string()))
        .append_column("hr_status", pa.array([hr(p) for p in ids], pa.string()))
        .append_column("birth_year", pa.array([born.get(p) for p in ids], pa.int32()))
        .append_column("sex", pa.array([sex.get(p) for p in ids], pa.string()))
    )
