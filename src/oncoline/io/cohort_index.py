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
``metastatic_diagnosis`` is ``YYYY-MM-DD`` (a date column in Parquet). These row checks
(:func:`check_index_rows`) and the check that the index holds the exposure table's persons
(:func:`check_index_covers`) are the one index policy of ``oncoline lines`` and ``oncoline cohort report``.
An absent column, an empty cell or the text ``unknown`` means *not given*: the report counts it as ``unknown``
and the concordance of a line that needs it is *not assessable*; nothing is guessed. A value outside the
vocabulary is an input error naming the file, the column, the row and the allowed values.

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

__all__ = [
    "OPTIONAL_COLUMNS",
    "check_index_covers",
    "check_index_rows",
    "index_from_omop",
    "read_cohort_index",
    "validate_index",
]

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
        ``index`` with the vocabulary columns lower-cased (``de-novo`` → ``de_novo``), ``birth_year`` as int32,
        ``age_at_index`` as float64 and a text ``metastatic_diagnosis`` as a date32 column (a time part after the
        date dropped, as the line engines read it; empty = null).

    Raises
    ------
    InputError
        The rows break the index policy shared with ``oncoline lines`` (:func:`check_index_rows`: a required
        column missing, no rows, a person_id on several rows, an unreadable ``metastatic_diagnosis``), a
        vocabulary value is unknown, or a number column holds text (the message names the column, the first bad
        row (1 = first data row) and the allowed values).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    out = check_index_rows(index, source=source)
    dx = out.column("metastatic_diagnosis")
    if pa.types.is_string(dx.type) or pa.types.is_large_string(dx.type):
        head = pc.utf8_slice_codeunits(pc.utf8_trim_whitespace(dx), 0, 10)
        head = pc.if_else(pc.equal(head, ""), pa.scalar(None, pa.string()), head)
        day = pc.cast(pc.strptime(head, format="%Y-%m-%d", unit="s", error_is_null=True), pa.date32())
        out = out.set_column(out.column_names.index("metastatic_diagnosis"), "metastatic_diagnosis", day)
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


_EXAMPLES = 5
"""Example ids or rows named in an index error."""


def check_index_rows(index: pa.Table, /, *, source: str = "index") -> pa.Table:
    """The index policy shared by ``oncoline lines`` and ``oncoline cohort report``: every check on the rows of
    an index table that both commands make, so the same file passes or fails in both (docs/lines.md, "The
    cohort index").

    Parameters
    ----------
    index
        ``person_id`` (any type, compared as text) and ``metastatic_diagnosis`` (a date, a timestamp or text
        ``YYYY-MM-DD``, optionally followed by a time part; empty = not known); other columns are kept.
    source
        The file (or resource), named in every message.

    Returns
    -------
    pyarrow.Table
        ``index`` unchanged (one row per person, every given date readable).

    Raises
    ------
    InputError
        A required column is missing; the index has no rows; a ``person_id`` is on more than one row (with
        different ``metastatic_diagnosis`` dates, or the same row repeated: the ids, rows and dates are named);
        any non-empty ``metastatic_diagnosis`` cannot be read as a ``YYYY-MM-DD`` date on or after 1900-01-01
        (the rule is *any*: one unreadable date refuses the file, naming its rows and values, since the row's
        person would otherwise lose every line without a word).
    """
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
    ids, dates = _index_ids_and_dates(index)
    _check_unique_ids(ids, dates, source)
    _check_dates(ids, dates, source)
    return index


def _index_ids_and_dates(index: pa.Table) -> tuple[list[str | None], list[object]]:
    import pyarrow as pa
    import pyarrow.compute as pc

    ids = pc.cast(index.column("person_id"), pa.string()).to_pylist()
    return ids, index.column("metastatic_diagnosis").to_pylist()


def _shown_date(value: object) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        return "empty"
    return repr(value.strip()) if isinstance(value, str) else str(value)


def _check_unique_ids(ids: list[str | None], dates: list[object], source: str) -> None:
    """One row per person: a person_id on several rows is an input error naming the ids, rows and dates."""
    rows: dict[str | None, list[int]] = {}
    for row, pid in enumerate(ids, start=1):
        rows.setdefault(pid, []).append(row)
    dups = [(pid, r) for pid, r in rows.items() if len(r) > 1]
    if not dups:
        return
    conflicting = [(pid, r) for pid, r in dups if len({_shown_date(dates[i - 1]) for i in r}) > 1]
    shown = "; ".join(
        f"{pid!r} on rows {', '.join(map(str, r))} (metastatic_diagnosis "
        f"{', '.join(_shown_date(dates[i - 1]) for i in r)})"
        for pid, r in (conflicting or dups)[:_EXAMPLES]
    )
    listed = conflicting or dups
    more = f" (and {len(listed) - _EXAMPLES} more ids)" if len(listed) > _EXAMPLES else ""
    if conflicting:
        what = (
            f"{len(conflicting)} person_id(s) are given with different metastatic_diagnosis dates: {shown}{more}. "
            "The index date decides which treatment is early-setting and which is line 1, so none is chosen for "
            "you: keep one row per person with the right date"
        )
        if len(dups) > len(conflicting):
            what += f" ({len(dups) - len(conflicting)} more person_id(s) repeat the same row: drop the repeats)"
    else:
        what = (
            f"{len(dups)} person_id(s) appear more than once with the same date: {shown}{more}. The index needs "
            "one row per person: drop the repeated rows"
        )
    raise InputError(what, source=source, field="person_id")


def _check_dates(ids: list[str | None], dates: list[object], source: str) -> None:
    """Every given index date must be readable, as the line engines read it (YYYY-MM-DD, on or after 1900)."""
    from oncoline.engines.lines.cohort import date_problem

    problems: dict[object, str | None] = {}
    bad: list[tuple[int, str]] = []
    for row, value in enumerate(dates, start=1):
        key = value if isinstance(value, (str, dt.date)) else repr(value)
        if key not in problems:
            problems[key] = date_problem(value)
        why = problems[key]
        if why is not None:
            who = f" (person_id {ids[row - 1]!r})" if ids[row - 1] is not None else ""
            bad.append((row, f"row {row}{who}: {why}"))
    if not bad:
        return
    n = len(bad)
    share = "every row" if n == len(dates) else f"{n} of {len(dates)} rows"
    raise InputError(
        f"metastatic_diagnosis cannot be read on {share}: {'; '.join(text for _, text in bad[:_EXAMPLES])}"
        f"{' …' if n > _EXAMPLES else ''}. Write the dates in the expected form YYYY-MM-DD (e.g. 2022-03-17; leave a "
        "cell empty when the date is not known, the person is then counted under no_index_date)",
        source=source,
        field="metastatic_diagnosis",
    )


def check_index_covers(
    exposures: pa.Table, index: pa.Table, /, *, exposures_source: str = "exposures", index_source: str = "index"
) -> None:
    """Refuse an index that names none of the exposure table's persons (ids written differently in the two
    files), shared by ``oncoline lines`` and ``oncoline cohort report --exposures``.

    Parameters
    ----------
    exposures, index
        Tables with a ``person_id`` column (any type; compared as text, as the line engines join them).
    exposures_source, index_source
        The files, named in the message.

    Raises
    ------
    InputError
        ``exposures`` has rows with a person_id and not one of them is in ``index``; the message gives example
        ids from both files and the likely cause (leading zeros, a number read as text, spaces, a prefix).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if exposures.num_rows == 0 or "person_id" not in exposures.column_names or "person_id" not in index.column_names:
        return
    exp_ids = pc.unique(pc.drop_null(pc.cast(exposures.column("person_id"), pa.string())))
    if len(exp_ids) == 0:
        return
    idx_ids = pc.unique(pc.drop_null(pc.cast(index.column("person_id"), pa.string())))
    if pc.any(pc.is_in(exp_ids, idx_ids)).as_py():
        return
    ex = ", ".join(repr(v) for v in exp_ids[:_EXAMPLES].to_pylist())
    ix = ", ".join(repr(v) for v in idx_ids[:_EXAMPLES].to_pylist())
    raise InputError(
        f"no person of the exposure table {exposures_source} is in the index {index_source}: "
        f"exposure person_ids {ex}; index person_ids {ix}. Every exposure row would be left out (no_index_date). "
        "The ids are most likely written differently in the two files (leading zeros such as '001' vs '1', a "
        "number vs text, spaces or a prefix): write person_id the same way in both",
        source=index_source,
        field="person_id",
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
