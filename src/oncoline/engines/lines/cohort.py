"""The cohort contract shared by every line-of-therapy engine (reference, DuckDB, Spark).

Every engine runs the same two steps:

1. :func:`prepare_cohort` — the ONE input-normalisation step (drug resolution through the vocabulary with
   product expansion, exclusion of unusable rows with counts and examples, cut-off clipping, duplicate
   removal). It is shared so that engines differ only in the line kernel.
2. a kernel — turns :attr:`PreparedCohort.rows` into lines; then :func:`complete_lines` and
   :func:`assign_rows` add the derived columns and the row → line table, giving a :class:`CohortLines`.

Kernel semantics (per person, notes/lines-spec.md, restated so engines agree to the letter)
------------------------------------------------------------------------------------------
``rows`` holds one row per distinct (person_id, drug, start_date, end_date) (a product such as Phesgo gives
one row per component; a documented stop on a row whose end was clipped to the cut-off is dropped first: it
had not happened at the cut-off, counted as ``stopped_after_cutoff``). Group a person's rows by
``start_date`` ("day batch", drug set D) and process batches in date order. The open line L keeps:
``start_day``; ``window_end = start_day + regimen_window_days`` (inclusive); ``drugs``; ``last_end`` (max
end so far); ``last_base_day`` (max end of rows with ``is_base``; None when none); ``pending`` (the
documented stop of the line: among L's rows with ``stopped`` not null, the one with the smallest
``end_date``, ties → progression before toxicity); ``progression_day`` (the smallest ``end_date`` of L's
``stopped = progression`` rows); ``tox_stop[d]`` (per drug d of L, the smallest ``end_date`` of its
``stopped = toxicity`` rows) and ``stopped`` (the drugs whose toxicity stop an earlier batch of L passed while the
rest continued; empty when L opens). A toxicity stop is *pending* while its drug is not in ``stopped``.

For a batch at day t:

a. no open line → open line 1 (open_rule ``first_exposure``);
b. ``toxicity_stop_ends_line = any_drug``: pending and ``t > pending.end_date`` → close L, open a new line
   (open_rule ``after_progression`` / ``after_toxicity``) — checked before the gap: a stopped line ended by its
   documented stop, however long the pause after it.
   ``toxicity_stop_ends_line = all_drugs`` (the default), instead:
   b1. ``progression_day`` not None and ``t > progression_day`` → close L (``documented_progression``), open
       ``after_progression``, whatever continues;
   b2. S = ``stopped`` ∪ {d : ``tox_stop[d] < t``}; ``passed`` = S ≠ ``stopped`` (t is the first batch after a
       toxicity stop). L ends on its toxicity stop — close L (``documented_toxicity``), open ``after_toxicity`` —
       when S is not empty and: (passed and L.drugs ⊆ S) or D ∩ S ≠ ∅ (a restart) or (passed and
       (``t - L.last_end > gap_days`` or D does not join by e-f below, the window d not applying)). Otherwise,
       when passed, ``stopped`` = S (the rest continues; the batch goes on through c-f, which it passes);
   and in c-f, while S is not empty, rule d does not apply (the window admits no new drug after a toxicity
   stop);
c. ``t - L.last_end > gap_days`` → close L (close rule ``gap``), open a new line (open_rule ``after_gap``);
d. ``t <= L.window_end`` → D joins L;
e. D ⊆ L.drugs → D joins L;
f. each new drug d ∈ D \\ L.drugs is allowed when (substitution) its ``substitution_class`` is not null and
   equals the ``substitution_class`` of a drug already in L, or (maintenance addition) ``is_addition`` and
   ``L.last_base_day`` is not None and ``t - L.last_base_day <= maintenance_ongoing_days``. All allowed → D
   joins L; otherwise close L (close rule ``new_drug``) and open a new line at t holding D (open_rule
   ``new_drug``).

Then fold the batch into the (possibly new) line: drugs ∪= D, last_end, last_base_day, pending. Note
``last_base_day`` is read BEFORE the batch is folded in (a base drug on the same day does not count).

After the last batch the last line closes with close rule ``ongoing`` when ``as_of - last_end <= gap_days``
(``as_of`` from :attr:`PreparedCohort.persons`), else ``gap``.

Closing a line: a line with a documented stop (pending) is ALWAYS closed as ``documented_progression`` /
``documented_toxicity`` with end_reason ``progression`` / ``toxicity`` — whether the next line opens by
rule b, c or f, or the line is the person's last (a line with a documented stop is never ``ongoing``, even
when its last exposure is within ``gap_days`` of the cut-off). Under ``all_drugs`` the stop that names the close
is a progression stop of L if any, else a pending toxicity stop (one no later batch of L passed); a toxicity stop
the rest of the line continued after names nothing; b2 names ``documented_toxicity`` itself. Otherwise
close_rule is the rule named above and end_reason follows it: ``gap`` → ``gap``, ``new_drug`` → ``switched``,
``ongoing`` → ``ongoing``. So
close_rule is documented_* exactly when end_reason is ``progression`` / ``toxicity``.

Line columns: drugs = the line's distinct drugs sorted alphabetically (code-point order); regimen = drugs
joined by ``" + "``; start_date = min start; end_date = max end, except that a line closed by the opening of
the next line (every line but the person's last) ends no later than the day before the next line starts:
``end_date = min(max end of its rows, next start - 1)`` — lines never overlap, e.g. letrozole dispensed for
a year from 2022-01-01 then Phesgo + paclitaxel from 2022-02-01 gives line 1 2022-01-01 → 2022-01-31. The
kernel state (``last_end``, the gap rule) still uses the rows' own ends; only the reported end is cut.
n_exposures = number of input (source) rows assigned to the line — administrations or dispensings as the user
counts them: a Phesgo row counts once (not once per component), and an exact duplicate row, although it
counts once for the rules, is still an input row of the line (the assignments table lists it; the report
counts it under ``duplicate_rows``). So n_exposures equals the line's rows in :attr:`CohortLines.assignments`
(and, for OMOP input, the line's EPISODE_EVENT rows). Derived by :func:`complete_lines` (which also applies
the cut): time_on_treatment_days = end - start + 1 (after the cut); time_to_next_treatment_days =
next line's start - start (null for the last line, ttnt_censored true).
Row assignment: every source row goes to the line whose batch holds its start_date.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oncoline.engines.lines.params import LineParams
from oncoline.errors import InputError, KnowledgeBaseError
from oncoline.knowledge.drugs import DrugRole, load_vocabulary
from oncoline.model.lines import ExclusionReason

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "ASSIGNMENT_COLUMNS",
    "CORE_LINE_COLUMNS",
    "LINE_COLUMNS",
    "CohortLines",
    "CohortReport",
    "DrugFlags",
    "PreparedCohort",
    "assign_rows",
    "assignments_schema",
    "complete_lines",
    "describe_row",
    "drug_flags",
    "lines_schema",
    "merge_reports",
    "prepare_cohort",
    "row_examples",
]

LINE_COLUMNS = (
    "person_id",
    "line",
    "regimen",
    "drugs",
    "start_date",
    "end_date",
    "n_exposures",
    "open_rule",
    "close_rule",
    "end_reason",
    "time_on_treatment_days",
    "time_to_next_treatment_days",
    "ttnt_censored",
)
"""Columns of :attr:`CohortLines.lines`, in order."""

CORE_LINE_COLUMNS = (
    "person_id",
    "line",
    "drugs",
    "start_date",
    "end_date",
    "n_exposures",
    "open_rule",
    "close_rule",
    "end_reason",
)
"""Columns a kernel must produce; :func:`complete_lines` adds the rest."""

ASSIGNMENT_COLUMNS = ("person_id", "exposure_id", "line")
"""Columns of :attr:`CohortLines.assignments`, in order."""

_EXAMPLES_PER_REASON = 3
_STOP_RANK = {"progression": 2, "toxicity": 1}


def lines_schema() -> pa.Schema:
    """The Arrow schema of :attr:`CohortLines.lines` (one row per person_id and line)."""
    import pyarrow as pa

    return pa.schema(
        [
            ("person_id", pa.string()),
            ("line", pa.int32()),
            ("regimen", pa.string()),
            ("drugs", pa.list_(pa.string())),
            ("start_date", pa.date32()),
            ("end_date", pa.date32()),
            ("n_exposures", pa.int32()),
            ("open_rule", pa.string()),
            ("close_rule", pa.string()),
            ("end_reason", pa.string()),
            ("time_on_treatment_days", pa.int32()),
            ("time_to_next_treatment_days", pa.int32()),
            ("ttnt_censored", pa.bool_()),
        ]
    )


def assignments_schema() -> pa.Schema:
    """The Arrow schema of :attr:`CohortLines.assignments` (one row per used source row)."""
    import pyarrow as pa

    return pa.schema([("person_id", pa.string()), ("exposure_id", pa.string()), ("line", pa.int32())])


@dataclass(frozen=True)
class CohortReport:
    """What happened to the input rows: nothing is dropped without being counted here.

    ``rows_in == rows_used + sum(excluded.values())`` always holds (rows counted before product expansion).
    """

    persons: int
    """Distinct persons in the exposures and the index."""
    rows_in: int
    """Input exposure rows."""
    rows_used: int
    """Input rows assigned to a line."""
    excluded: dict[str, int]
    """:class:`~oncoline.model.lines.ExclusionReason` value → rows left out for that (first) reason."""
    unknown_drugs: dict[str, int]
    """Unknown drug name or code, as given → rows."""
    examples: dict[str, list[str]]
    """Exclusion reason → up to three example rows, as text, to show the user."""
    repaired: dict[str, int] = field(default_factory=dict)
    """Repairs that kept a row: ``end_clipped_to_as_of``, ``end_defaulted_to_start``, ``stopped_ignored``
    (an unrecognised ``stopped`` value), ``stopped_after_cutoff`` (a documented stop on a row whose end was
    clipped to the cut-off: it had not happened by then, so it is ignored), ``duplicate_rows`` (used input rows
    repeating another used row's person, drug or product as resolved, start and end: they count once for the
    line rules and each still counts in ``n_exposures`` and the assignments), ``index_duplicates`` (persons with
    several index dates: the earliest is used). All counts are input rows. Index-table findings (index rows,
    :func:`index_findings`): ``index_bad_dates`` (a metastatic diagnosis that is not a YYYY-MM-DD date, does not
    exist on the calendar or lies before 1900: ignored) and ``index_after_cutoff`` (after the data cut-off).
    Examples for ``stopped_ignored`` and the index findings are in :attr:`examples` under the same names."""
    persons_without_index: int = 0
    """Persons with exposures but no index date."""


def _example_number(text: str) -> int:
    head = text.split(maxsplit=2)[1] if text.startswith("row ") else ""
    digits = head.rstrip(":")
    return int(digits) if digits.isdigit() else 0


def merge_reports(reports: list[CohortReport]) -> CohortReport:
    """One report for a cohort run in parts that hold disjoint persons (a partitioned run).

    Counts add up; excluded reasons keep the :class:`~oncoline.model.lines.ExclusionReason` order; unknown
    drugs are ordered by rows, then name; examples are the first three rows by row number over all parts
    (examples must carry the file's row numbers, see :func:`row_examples`). The result equals the report of
    the whole cohort run at once.
    """
    reasons = [r.value for r in ExclusionReason]
    excluded: Counter[str] = Counter()
    unknown: Counter[str] = Counter()
    repaired: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    for rep in reports:
        excluded.update(rep.excluded)
        unknown.update(rep.unknown_drugs)
        repaired.update(rep.repaired)
        for reason, texts in rep.examples.items():
            examples.setdefault(reason, []).extend(texts)
    return CohortReport(
        persons=sum(r.persons for r in reports),
        rows_in=sum(r.rows_in for r in reports),
        rows_used=sum(r.rows_used for r in reports),
        excluded={k: excluded[k] for k in reasons if excluded[k]},
        unknown_drugs=dict(sorted(unknown.items(), key=lambda kv: (-kv[1], kv[0]))),
        examples={
            k: sorted(examples[k], key=_example_number)[:_EXAMPLES_PER_REASON]
            for k in [*reasons, *sorted(set(examples) - set(reasons))]
            if k in examples
        },
        repaired={k: v for k, v in repaired.items() if v},
        persons_without_index=sum(r.persons_without_index for r in reports),
    )


@dataclass(frozen=True)
class PreparedCohort:
    """The normalised input of a line kernel (built by :func:`prepare_cohort` only)."""

    rows: pa.Table
    """One row per distinct (person_id, drug, start_date, end_date), sorted by those columns: person_id
    string, drug string (canonical INN), start_date date32, end_date date32 (≥ start, clipped to as_of),
    stopped string (null | "progression" | "toxicity"; when duplicates disagree progression wins),
    is_base bool, is_addition bool, substitution_class string (null when none)."""
    sources: pa.Table
    """One row per used source row: person_id string, exposure_id string, start_date date32."""
    persons: pa.Table
    """One row per person with at least one used row: person_id string, metastatic_diagnosis date32,
    as_of date32 (the given cut-off, else the person's latest row end)."""
    params: LineParams
    as_of: dt.date | None
    report: CohortReport


class CohortLines:
    """The lines of a cohort, the row → line assignment and the input report (any engine).

    Give ``assignments`` or ``build_assignments`` (a function returning them): an engine may defer the row →
    line table, which costs about as much as the lines themselves at 10^7 rows, until it is first read — a
    caller that writes only the lines never pays for it.
    """

    __slots__ = ("_assignments", "_build", "lines", "report")

    lines: pa.Table
    """:func:`lines_schema`; one row per person_id and line, sorted by person_id, line."""
    report: CohortReport

    def __init__(
        self,
        *,
        lines: pa.Table,
        report: CohortReport,
        assignments: pa.Table | None = None,
        build_assignments: Callable[[], pa.Table] | None = None,
    ) -> None:
        if (assignments is None) == (build_assignments is None):
            raise TypeError("give exactly one of assignments and build_assignments")
        self.lines = lines
        self.report = report
        self._assignments = assignments
        self._build = build_assignments

    @property
    def assignments(self) -> pa.Table:
        """:func:`assignments_schema`; one row per used source row, sorted by person_id, line, exposure_id
        (built on first read when the engine deferred it)."""
        if self._assignments is None:
            assert self._build is not None
            self._assignments = self._build()
            self._build = None  # release what the builder held
        return self._assignments

    def __repr__(self) -> str:
        return f"CohortLines(lines={self.lines.num_rows} rows, report={self.report!r})"


@dataclass(frozen=True)
class DrugFlags:
    """What the line rules need to know about one canonical drug."""

    anticancer: bool
    is_base: bool
    is_addition: bool
    substitution_class: str | None


def drug_flags(name: str, params: LineParams) -> DrugFlags:
    """Line-rule flags of canonical drug ``name`` under ``params``.

    Raises
    ------
    KnowledgeBaseError
        When the drug belongs to two substitution classes (not supported by the kernel's one-class rule).
    """
    drug = load_vocabulary().drug(name)
    subs = [c for c in params.substitution_classes if c in drug.classes]
    if len(subs) > 1:
        raise KnowledgeBaseError(f"drug {name!r} is in several substitution classes {subs}; keep one")
    return DrugFlags(
        anticancer=drug.role is DrugRole.ANTICANCER,
        is_base=any(c in drug.classes for c in params.maintenance_base_classes),
        is_addition=name in params.maintenance_addition_drugs
        or any(c in drug.classes for c in params.maintenance_addition_classes),
        substitution_class=subs[0] if subs else None,
    )


# ---------------------------------------------------------------------------------------------- preparation
PLAUSIBLE_FROM = dt.date(1900, 1, 1)
"""Dates before this day are not plausible for a treatment or a diagnosis: counted as bad dates."""

DATE_FORMAT_HINT = "YYYY-MM-DD"
"""The one text date format the cohort tables accept (a time part after the date is allowed and ignored)."""


def _dates(col: pa.ChunkedArray) -> tuple[pa.ChunkedArray, pa.ChunkedArray, pa.ChunkedArray]:
    """(parsed date32, missing mask, bad mask) for a date, timestamp or text column.

    Text is read as ``YYYY-MM-DD`` (optionally followed by ``T…`` or `` …``): a calendar date that does not
    exist (2024-02-30, 2023-02-29) is bad, never rolled over to March; so is any date before
    :data:`PLAUSIBLE_FROM`, whatever the column type. Bad values are null in the parsed column.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    t = col.type
    if pa.types.is_date32(t):
        parsed = col
    elif pa.types.is_date64(t) or pa.types.is_timestamp(t):
        parsed = pc.cast(col, pa.date32())
    elif pa.types.is_null(t):
        parsed = pa.chunked_array([pa.nulls(len(col), pa.date32())])
    else:
        text = pc.utf8_trim_whitespace(pc.cast(col, pa.string()))
        text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
        head = pc.utf8_slice_codeunits(text, 0, 10)
        stamp = pc.strptime(head, format="%Y-%m-%d", unit="s", error_is_null=True)
        # only a date, or a date followed by a time part ("T..." or " ...") is accepted; and the date must
        # exist: strptime rolls 2024-02-30 over to 2024-03-01, which no longer prints as written
        tail = pc.utf8_slice_codeunits(text, 10, 11)
        ok_tail = pc.or_(pc.equal(pc.utf8_length(text), 10), pc.is_in(tail, pa.array(["T", " "])))
        exists = pc.equal(pc.strftime(stamp, format="%Y-%m-%d"), head)
        stamp = pc.if_else(pc.and_(ok_tail, exists), stamp, pa.scalar(None, stamp.type))
        parsed = pc.cast(stamp, pa.date32())
        missing = pc.is_null(text)
        return _plausible(parsed, missing, pc.and_(pc.invert(missing), pc.is_null(parsed)))
    missing = pc.is_null(parsed)
    return _plausible(parsed, missing, pc.and_(missing, pc.invert(missing)))


def _plausible(
    parsed: pa.ChunkedArray, missing: pa.ChunkedArray, bad: pa.ChunkedArray
) -> tuple[pa.ChunkedArray, pa.ChunkedArray, pa.ChunkedArray]:
    """Dates before :data:`PLAUSIBLE_FROM` become bad (null in ``parsed``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(parsed) == 0 or parsed.null_count == len(parsed):
        return parsed, missing, bad
    early = pc.less(parsed, pa.scalar(PLAUSIBLE_FROM, pa.date32()))
    if not pc.any(early).as_py():
        return parsed, missing, bad
    early = pc.fill_null(early, False)
    return pc.if_else(early, pa.scalar(None, pa.date32()), parsed), missing, pc.or_(bad, early)


def date_problem(value: Any) -> str | None:
    """Why one cohort date value is bad, in words naming the expected format (None when it is a good date).

    The Python twin of the column parser used by every engine, for messages on a few example rows.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        day = value
    else:
        text = str(value).strip()
        head = text[:10]
        try:
            if len(head) != 10 or (len(text) > 10 and text[10] not in "T "):
                raise ValueError(text)
            day = dt.datetime.strptime(head, "%Y-%m-%d").date()
        except ValueError:
            hint = ""
            parts = text.replace(".", "/").replace("-", "/").split("/")
            if len(parts) == 3 and all(p.isdigit() for p in parts) and len(parts[2]) == 4:
                hint = " (day and month order is ambiguous; write the year first)"
            return f"{text!r} is not a date in the form {DATE_FORMAT_HINT}{hint}"
    if day < PLAUSIBLE_FROM:
        return f"{day.isoformat()} is before {PLAUSIBLE_FROM.year}: not a plausible date"
    return None


def _column(table: pa.Table, name: str) -> pa.ChunkedArray | None:
    return table.column(name) if name in table.column_names else None


def _require(table: pa.Table, names: tuple[str, ...], what: str) -> None:
    missing = [n for n in names if n not in table.column_names]
    if missing:
        raise InputError(
            f"the {what} table has no {', '.join(missing)} column; its columns are "
            f"{', '.join(table.column_names) or '(none)'}. It needs {', '.join(names)} "
            "(see `oncoline lines --help`)",
            field=missing[0],
        )


def _given(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def describe_row(number: int, *, person: Any = None, exposure_id: Any = None, fields: dict[str, Any]) -> str:
    """One input row as a person reads it: ``row 3 (person P1, exposure_id e7): drug 'X', start 2024-01-01``.

    ``number`` is 1-based (the first data row is row 1; in a CSV file, row n is on line n + 1, after the
    header). Empty values (None, blank text) are left out.
    """
    who = [f"person {person}" if _given(person) else "", f"exposure_id {exposure_id}" if _given(exposure_id) else ""]
    head = f"row {number}" + (f" ({', '.join(w for w in who if w)})" if any(who) else "")
    parts = [f"{k} {v!r}" if isinstance(v, str) and k == "drug" else f"{k} {v}" for k, v in fields.items() if _given(v)]
    return f"{head}: {', '.join(parts)}" if parts else f"{head}: no drug or dates given"


_STOP_VALUES = ("progression", "toxicity", "completed", "ongoing")
"""The documented values of ``stopped`` (progression and toxicity end a line; the others do not)."""


def _row_note(r: dict[str, Any], reason: str | None) -> str:
    """What is wrong with one example row, in words, for the exclusion or repair ``reason``."""
    if reason == ExclusionReason.BAD_DATE.value:
        notes = [f"{col} {p}" for col in ("start_date", "end_date") if (p := date_problem(r.get(col)))]
        return "; ".join(notes)
    if reason == ExclusionReason.UNKNOWN_DRUG.value and _given(r.get("drug")):
        close = load_vocabulary().suggest(str(r["drug"]))
        return f"did you mean {' or '.join(close)}?" if close else "not in the drug vocabulary (oncoline kb show)"
    if reason == "stopped_ignored":
        return (
            f"stopped {str(r.get('stopped'))!r} is not one of {', '.join(_STOP_VALUES)}: the row is used, "
            "but no line boundary is drawn from it"
        )
    return ""


def row_examples(exposures: pa.Table, rows: Any, *, reason: str | None = None) -> list[str]:
    """:func:`describe_row` for input rows ``rows`` (0-based indices) of a cohort exposures table, values as given.

    Shared by every engine so that their reports are identical. A ``source_row`` column, when present, gives
    the row's 1-based number in the file it came from (a partition of a larger file); otherwise it is the
    position + 1. With ``reason`` (an exclusion or repair name) the text ends with what is wrong and the fix:
    the column and the expected format of a bad date, the closest known names of an unknown drug, the
    undocumented ``stopped`` value.
    """

    def text(value: Any) -> Any:
        return None if value is None else str(value)

    out = []
    for row in rows:
        # a one-row slice: taking from a many-chunk column would first concatenate it
        r = exposures.slice(int(row), 1).to_pylist()[0]
        number = r.get("source_row")
        described = describe_row(
            int(row) + 1 if number is None else int(number),
            person=text(r.get("person_id")),
            exposure_id=text(r.get("exposure_id")),
            fields={"drug": text(r.get("drug")), "start": r.get("start_date"), "end": r.get("end_date")},
        )
        note = _row_note(r, reason)
        out.append(f"{described} — {note}" if note else described)
    return out


INDEX_FINDINGS = ("index_bad_dates", "index_after_cutoff")
"""Index-table findings counted in :attr:`CohortReport.repaired` (with examples)."""


def index_findings(
    index: pa.Table, bad: pa.ChunkedArray, parsed: pa.ChunkedArray, as_of: dt.date | None
) -> tuple[dict[str, int], dict[str, list[str]]]:
    """Counts and examples of index rows whose ``metastatic_diagnosis`` is not usable or not plausible.

    ``index_bad_dates``: not a date in the form YYYY-MM-DD, a calendar date that does not exist or a date
    before 1900 — the row is ignored, so a person without another index date counts as ``no_index_date``
    (every engine). ``index_after_cutoff``: a metastatic diagnosis after the data cut-off ``as_of`` (kept;
    such a person's exposures are mostly early-setting or after the cut-off). Shared by every engine.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    counts: dict[str, int] = {}
    examples: dict[str, list[str]] = {}
    masks = {"index_bad_dates": bad}
    if as_of is not None:
        masks["index_after_cutoff"] = pc.fill_null(pc.greater(parsed, pa.scalar(as_of, pa.date32())), False)
    for name, mask in masks.items():
        n = int(pc.sum(mask).as_py() or 0)
        if not n:
            continue
        counts[name] = n
        rows = pc.indices_nonzero(mask.combine_chunks() if isinstance(mask, pa.ChunkedArray) else mask)
        shown = []
        for row in rows[:_EXAMPLES_PER_REASON].to_pylist():
            r = index.slice(int(row), 1).to_pylist()[0]
            number = r.get("source_row")
            value = r.get("metastatic_diagnosis")
            if name == "index_bad_dates":
                why = date_problem(value) or f"{value!r} is not a date in the form {DATE_FORMAT_HINT}"
                why += "; the row is ignored"
            else:
                why = f"metastatic_diagnosis {value} is after the data cut-off {as_of}"
            person = r.get("person_id")
            who = f" (person {person})" if _given(person) else ""
            shown.append(f"row {int(row) + 1 if number is None else int(number)} of the index{who}: {why}")
        examples[name] = shown
    return counts, examples


def prepare_cohort(
    exposures: pa.Table, index: pa.Table, /, *, params: LineParams, as_of: dt.date | None
) -> PreparedCohort:
    """Normalise a cohort's exposures for a line kernel: resolve drugs, exclude and count unusable rows.

    Parameters
    ----------
    exposures
        One row per administration or dispensing: ``person_id`` (any type, read as text), ``drug`` (a
        generic name, brand, alias or RxNorm code), ``start_date`` (date, timestamp or ISO text); optional
        ``end_date`` (defaults to start), ``exposure_id`` (text; unique per person; defaults to the 1-based
        data-row number, row 1 = the first data row, as in messages), ``stopped`` (progression | toxicity |
        completed | ongoing), ``source_row`` (integer: the row's number in the file a partition came from;
        used for messages and default ids instead of the position).
    index
        ``person_id`` and ``metastatic_diagnosis`` (date or ISO text); the earliest date is used when a
        person has several.
    params
        The line-of-therapy parameters (:func:`~oncoline.engines.lines.params.load_line_params`).
    as_of
        The data cut-off: rows starting after it are excluded, ends after it are clipped to it. ``None``:
        no cut-off; each person's latest row end stands in for it.

    Returns
    -------
    PreparedCohort
        The kernel input, and a :class:`CohortReport` accounting for every input row. Exclusion reasons,
        first match wins: missing_start, bad_date, end_before_start, unknown_drug, supportive (supportive or
        concomitant role), no_index_date, after_cutoff, early_setting (start before metastatic diagnosis -
        ``index_lookback_days``).

    Raises
    ------
    InputError
        When a required column is missing, or an ``exposure_id`` is given twice for one person.
    KnowledgeBaseError
        When the vocabulary cannot be loaded.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    _require(exposures, ("person_id", "drug", "start_date"), "exposures")
    _require(index, ("person_id", "metastatic_diagnosis"), "index")
    n = exposures.num_rows
    vocab = load_vocabulary()

    person = pc.cast(exposures.column("person_id"), pa.string())
    eid_col = _column(exposures, "exposure_id")
    src_rows = _column(exposures, "source_row")
    # the default id: the 1-based data-row number, as messages number rows (a partition carries the file's)
    row_text = pc.cast(pa.array(range(1, n + 1), pa.int64()) if src_rows is None else src_rows, pa.string())
    if eid_col is not None:
        eid = pc.cast(eid_col, pa.string())
        eid = pc.if_else(pc.is_null(eid), row_text, eid)
    else:
        eid = row_text
    drug_raw = pc.cast(exposures.column("drug"), pa.string())
    start, start_missing, start_bad = _dates(exposures.column("start_date"))
    end_col = _column(exposures, "end_date")
    if end_col is not None:
        end, end_missing, end_bad = _dates(end_col)
    else:
        end = pa.chunked_array([pa.nulls(n, pa.date32())])
        end_missing = pa.chunked_array([pa.array([True] * n, pa.bool_())])
        end_bad = pc.invert(end_missing)
    stop_col = _column(exposures, "stopped")
    repaired: Counter[str] = Counter()
    stop_examples: list[str] = []
    if stop_col is not None:
        stop_text = pc.utf8_lower(pc.utf8_trim_whitespace(pc.cast(stop_col, pa.string())))
        stop_text = pc.if_else(pc.equal(stop_text, ""), pa.scalar(None, pa.string()), stop_text)
        known_stop = pc.is_in(stop_text, pa.array(["progression", "toxicity", "completed", "ongoing"]))
        ignored = pc.and_(pc.is_valid(stop_text), pc.invert(known_stop))
        n_ignored = int(pc.sum(ignored).as_py() or 0)
        if n_ignored:
            repaired["stopped_ignored"] = n_ignored
            first = pc.indices_nonzero(pc.fill_null(ignored, False).combine_chunks())[:_EXAMPLES_PER_REASON]
            stop_examples = row_examples(exposures, first.to_pylist(), reason="stopped_ignored")
        stopped = pc.if_else(
            pc.is_in(stop_text, pa.array(["progression", "toxicity"])), stop_text, pa.scalar(None, pa.string())
        )
    else:
        stopped = pa.chunked_array([pa.nulls(n, pa.string())])

    n_end_default = int(pc.sum(pc.and_(end_missing, pc.invert(start_missing))).as_py() or 0)
    end = pc.if_else(end_missing, start, end)

    # ---- drug resolution, once per distinct name
    uniques = pc.unique(drug_raw).to_pylist()
    unknown_names: set[str] = set()
    supportive_names: set[str] = set()
    expansion: list[tuple[str, str]] = []
    flags: dict[str, DrugFlags] = {}
    for raw in uniques:
        if raw is None:
            continue
        found = vocab.lookup(raw)
        if found is None:
            unknown_names.add(raw)
            continue
        comp_flags = [flags.setdefault(c, drug_flags(c, params)) for c in found]
        if not any(f.anticancer for f in comp_flags):
            supportive_names.add(raw)
            continue
        # a product's supportive components (hyaluronidase) are dropped; its anticancer ones are kept
        expansion.extend((raw, c) for c, f in zip(found, comp_flags, strict=True) if f.anticancer)
    drug_unknown = pc.or_kleene(pc.is_null(drug_raw), pc.is_in(drug_raw, pa.array(sorted(unknown_names), pa.string())))
    drug_unknown = pc.fill_null(drug_unknown, True)
    drug_support = pc.is_in(drug_raw, pa.array(sorted(supportive_names), pa.string()))

    # ---- index dates
    idx_person = pc.cast(index.column("person_id"), pa.string())
    idx_date, _, idx_bad = _dates(index.column("metastatic_diagnosis"))
    idx_counts, idx_examples = index_findings(index, idx_bad, idx_date, as_of)
    repaired.update(idx_counts)
    idx = pa.table({"person_id": idx_person, "metastatic_diagnosis": idx_date}).filter(pc.is_valid(idx_date))
    idx_grouped = idx.group_by("person_id").aggregate(
        [("metastatic_diagnosis", "min"), ("metastatic_diagnosis", "count")]
    )
    n_idx_dup = int(pc.sum(pc.greater(idx_grouped.column("metastatic_diagnosis_count"), 1)).as_py() or 0)
    if n_idx_dup:
        repaired["index_duplicates"] = n_idx_dup
    idx_grouped = idx_grouped.select(["person_id", "metastatic_diagnosis_min"]).rename_columns(
        ["person_id", "metastatic_diagnosis"]
    )

    base = pa.table(
        {
            "_row": pa.array(range(n), pa.int64()),
            "person_id": person,
            "exposure_id": eid,
            "drug_raw": drug_raw,
            "start_date": start,
            "end_date": end,
            "stopped": stopped,
        }
    )
    joined = base.join(idx_grouped, keys="person_id", join_type="left outer").sort_by("_row")
    dx = joined.column("metastatic_diagnosis")
    start_j = joined.column("start_date")
    end_j = joined.column("end_date")
    row_ix = joined.column("_row")

    def at(mask: Any) -> Any:
        return pc.take(mask, row_ix)

    lookback = pc.subtract(pc.cast(dx, pa.int32()), params.index_lookback_days)
    conditions: list[tuple[ExclusionReason, Any]] = [
        (ExclusionReason.MISSING_START, at(start_missing)),
        (ExclusionReason.BAD_DATE, pc.or_(at(start_bad), at(end_bad))),
        (ExclusionReason.END_BEFORE_START, pc.fill_null(pc.less(end_j, start_j), False)),
        (ExclusionReason.UNKNOWN_DRUG, at(drug_unknown)),
        (ExclusionReason.SUPPORTIVE, pc.fill_null(at(drug_support), False)),
        (ExclusionReason.NO_INDEX_DATE, pc.is_null(dx)),
        (
            ExclusionReason.AFTER_CUTOFF,
            pc.fill_null(pc.greater(start_j, pa.scalar(as_of, pa.date32())), False)
            if as_of is not None
            else pa.chunked_array([pa.array([False] * n, pa.bool_())]),
        ),
        (ExclusionReason.EARLY_SETTING, pc.fill_null(pc.less(pc.cast(start_j, pa.int32()), lookback), False)),
    ]
    taken = pa.chunked_array([pa.array([False] * n, pa.bool_())])
    excluded: dict[str, int] = {}
    examples: dict[str, list[str]] = {}
    unknown_counts: dict[str, int] = {}
    for reason, cond in conditions:
        cond = pc.fill_null(cond, False)
        hit = pc.and_(cond, pc.invert(taken))
        count = int(pc.sum(hit).as_py() or 0)
        if count:
            excluded[reason.value] = count
            sample = joined.filter(hit).slice(0, _EXAMPLES_PER_REASON)
            examples[reason.value] = row_examples(exposures, sample.column("_row").to_pylist(), reason=reason.value)
            if reason is ExclusionReason.UNKNOWN_DRUG:
                names = joined.filter(hit).column("drug_raw")
                for item in pc.value_counts(names).to_pylist():
                    name = "(no drug given)" if item["values"] is None else str(item["values"])
                    unknown_counts[name] = int(item["counts"])
        taken = pc.or_(taken, cond)

    kept = joined.filter(pc.invert(taken))
    rows_used = kept.num_rows
    if end_col is not None and n_end_default:
        repaired["end_defaulted_to_start"] = int(
            pc.sum(pc.and_(pc.invert(taken), at(pc.and_(end_missing, pc.invert(start_missing))))).as_py() or 0
        )
    elif n_end_default:
        repaired["end_defaulted_to_start"] = rows_used
    if not repaired.get("end_defaulted_to_start"):
        repaired.pop("end_defaulted_to_start", None)

    # ---- exposure ids unique per person
    if eid_col is not None and rows_used:
        counts = kept.group_by(["person_id", "exposure_id"]).aggregate([("_row", "count")])
        dup = counts.filter(pc.greater(counts.column("_row_count"), 1))
        if dup.num_rows:
            shown = ", ".join(
                f"{p}/{e}"
                for p, e in zip(
                    dup.column("person_id").to_pylist()[:3], dup.column("exposure_id").to_pylist()[:3], strict=True
                )
            )
            raise InputError(
                f"{dup.num_rows} exposure_id value(s) are used by several rows of one person (e.g. {shown}); "
                "make exposure_id unique per person or leave the column out",
                field="exposure_id",
            )

    # ---- cut-off clipping
    if as_of is not None and rows_used:
        cut = pa.scalar(as_of, pa.date32())
        over = pc.greater(kept.column("end_date"), cut)
        n_clip = int(pc.sum(over).as_py() or 0)
        if n_clip:
            repaired["end_clipped_to_as_of"] = n_clip
            kept = kept.set_column(
                kept.column_names.index("end_date"), "end_date", pc.if_else(over, cut, kept.column("end_date"))
            )
            # a stop documented at an end after the cut-off had not happened by then
            late_stop = pc.and_(over, pc.is_valid(kept.column("stopped")))
            n_late = int(pc.sum(late_stop).as_py() or 0)
            if n_late:
                repaired["stopped_after_cutoff"] = n_late
                kept = kept.set_column(
                    kept.column_names.index("stopped"),
                    "stopped",
                    pc.if_else(late_stop, pa.scalar(None, pa.string()), kept.column("stopped")),
                )

    # ---- product expansion and flags
    exp_table = pa.table(
        {
            "drug_raw": pa.array([r for r, _ in expansion], pa.string()),
            "drug": pa.array([c for _, c in expansion], pa.string()),
        }
    )
    flag_names = sorted(flags)
    flag_table = pa.table(
        {
            "drug": pa.array(flag_names, pa.string()),
            "is_base": pa.array([flags[d].is_base for d in flag_names], pa.bool_()),
            "is_addition": pa.array([flags[d].is_addition for d in flag_names], pa.bool_()),
            "substitution_class": pa.array([flags[d].substitution_class for d in flag_names], pa.string()),
        }
    )
    # duplicate source rows: a used row repeating another one's person, drug or product (as resolved), start, end
    set_of: dict[str, list[str]] = {}
    for raw, comp in expansion:
        set_of.setdefault(raw, []).append(comp)
    set_table = pa.table(
        {
            "drug_raw": pa.array(list(set_of), pa.string()),
            "_drug_set": pa.array([" + ".join(sorted(v)) for v in set_of.values()], pa.string()),
        }
    )
    if kept.num_rows:
        with_set = kept.select(["person_id", "drug_raw", "start_date", "end_date"]).join(set_table, keys="drug_raw")
        n_distinct = with_set.group_by(["person_id", "_drug_set", "start_date", "end_date"]).aggregate([]).num_rows
        if kept.num_rows - n_distinct:
            repaired["duplicate_rows"] = kept.num_rows - n_distinct

    expanded = kept.join(exp_table, keys="drug_raw", join_type="inner")
    rank = pc.if_else(
        pc.equal(expanded.column("stopped"), "progression"),
        2,
        pc.if_else(pc.equal(expanded.column("stopped"), "toxicity"), 1, 0),
    )
    expanded = expanded.append_column("_stop_rank", pc.fill_null(rank, 0))
    keys = ["person_id", "drug", "start_date", "end_date"]
    distinct = expanded.group_by(keys).aggregate([("_stop_rank", "max")])
    max_rank = distinct.column("_stop_rank_max")
    stopped_out = pc.if_else(
        pc.equal(max_rank, 2),
        pa.scalar("progression"),
        pc.if_else(pc.equal(max_rank, 1), pa.scalar("toxicity"), pa.scalar(None, pa.string())),
    )
    rows = pa.table(
        {
            "person_id": distinct.column("person_id"),
            "drug": distinct.column("drug"),
            "start_date": distinct.column("start_date"),
            "end_date": distinct.column("end_date"),
            "stopped": stopped_out,
        }
    ).join(flag_table, keys="drug", join_type="left outer")
    rows = rows.select(
        ["person_id", "drug", "start_date", "end_date", "stopped", "is_base", "is_addition", "substitution_class"]
    ).sort_by([(k, "ascending") for k in keys])

    sources = (
        kept.select(["person_id", "exposure_id", "start_date"])
        .group_by(["person_id", "exposure_id", "start_date"])
        .aggregate([])
        .sort_by([("person_id", "ascending"), ("exposure_id", "ascending")])
    )

    per_person = kept.group_by("person_id").aggregate([("metastatic_diagnosis", "min"), ("end_date", "max")])
    person_as_of = (
        pa.chunked_array([pa.array([as_of] * per_person.num_rows, pa.date32())])
        if as_of is not None
        else per_person.column("end_date_max")
    )
    persons = pa.table(
        {
            "person_id": per_person.column("person_id"),
            "metastatic_diagnosis": per_person.column("metastatic_diagnosis_min"),
            "as_of": person_as_of,
        }
    ).sort_by("person_id")

    all_persons = set(pc.unique(person).to_pylist()) | set(pc.unique(idx_person).to_pylist())
    all_persons.discard(None)
    without_index = pc.unique(joined.filter(pc.is_null(dx)).column("person_id")).to_pylist()
    if stop_examples:
        examples["stopped_ignored"] = stop_examples
    examples.update(idx_examples)
    report = CohortReport(
        persons=len(all_persons),
        rows_in=n,
        rows_used=rows_used,
        excluded=excluded,
        unknown_drugs=dict(sorted(unknown_counts.items(), key=lambda kv: (-kv[1], kv[0]))),
        examples=examples,
        repaired=dict(repaired),
        persons_without_index=len([p for p in without_index if p is not None]),
    )
    return PreparedCohort(rows=rows, sources=sources, persons=persons, params=params, as_of=as_of, report=report)


# ---------------------------------------------------------------------------------------------- assembly
def complete_lines(core: pa.Table, *, presorted: bool = False) -> pa.Table:
    """Add regimen, time on treatment and time to next treatment to a kernel's lines; end lines before the next.

    A line closed by the opening of the next line (every line but a person's last) ends no later than the day
    before the next line starts: ``end_date = min(latest end of its rows, next start - 1)``, so lines never
    overlap and time on treatment never counts days of the next line. Column-wise (pyarrow/numpy), no loop.

    Parameters
    ----------
    core
        One row per person_id and line with :data:`CORE_LINE_COLUMNS` (drugs: list of text, any order;
        end_date: the latest end of the line's rows, as the kernel found it).
    presorted
        True when ``core`` is already sorted by person_id, line (skips the sort).

    Returns
    -------
    pyarrow.Table
        :func:`lines_schema`, sorted by person_id, line; drugs sorted alphabetically, regimen = drugs joined
        by ``" + "``; end_date as above; durations in whole days.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    schema = lines_schema()
    if core.num_rows == 0:
        return schema.empty_table()
    if not presorted:
        core = core.sort_by([("person_id", "ascending"), ("line", "ascending")])
    core = core.combine_chunks()
    persons = pc.cast(core.column("person_id"), pa.string()).combine_chunks()
    n = len(persons)
    start = pc.cast(core.column("start_date"), pa.date32())
    start_days = np.asarray(pc.cast(start, pa.int32()).to_numpy(), dtype=np.int32)
    end_days = np.asarray(pc.cast(pc.cast(core.column("end_date"), pa.date32()), pa.int32()).to_numpy(), np.int32)
    has_next = np.zeros(n, dtype=np.bool_)
    if n > 1:
        has_next[:-1] = np.asarray(pc.equal(persons[1:], persons[:-1]).to_numpy(zero_copy_only=False), np.bool_)
    next_start = np.empty(n, dtype=np.int32)
    next_start[:-1] = start_days[1:]
    next_start[-1] = 0
    end_days = np.where(has_next, np.minimum(end_days, next_start - 1), end_days).astype(np.int32)
    ttnt = pa.array(next_start - start_days, pa.int32(), mask=~has_next)

    # drugs sorted within each line: sort the flattened names by (line, name), keep the list offsets
    drugs_in = pc.cast(core.column("drugs"), pa.list_(pa.string())).combine_chunks()
    flat = pc.list_flatten(drugs_in)
    parents = pc.list_parent_indices(drugs_in)
    order = pc.sort_indices(pa.table({"p": parents, "d": flat}), sort_keys=[("p", "ascending"), ("d", "ascending")])
    drugs = pa.ListArray.from_arrays(
        pc.subtract(drugs_in.offsets, drugs_in.offsets[0]), flat.take(order), type=pa.list_(pa.string())
    )
    return pa.table(
        {
            "person_id": persons,
            "line": pc.cast(core.column("line"), pa.int32()),
            "regimen": pc.binary_join(drugs, " + "),
            "drugs": drugs,
            "start_date": start,
            "end_date": pa.array(end_days, pa.int32()).cast(pa.date32()),
            "n_exposures": pc.cast(core.column("n_exposures"), pa.int32()),
            "open_rule": pc.cast(core.column("open_rule"), pa.string()),
            "close_rule": pc.cast(core.column("close_rule"), pa.string()),
            "end_reason": pc.cast(core.column("end_reason"), pa.string()),
            "time_on_treatment_days": pa.array(end_days - start_days + 1, pa.int32()),
            "time_to_next_treatment_days": ttnt,
            "ttnt_censored": pa.array(~has_next, pa.bool_()),
        },
        schema=schema,
    )


def assign_rows(day_lines: pa.Table, prepared: PreparedCohort) -> pa.Table:
    """The row → line table from a kernel's day → line map.

    Parameters
    ----------
    day_lines
        One row per person_id and start_date (a day batch) with the ``line`` it went to.
    prepared
        The cohort the kernel ran on.

    Returns
    -------
    pyarrow.Table
        :func:`assignments_schema`, one row per used source row, sorted by person_id, line, exposure_id.

    Raises
    ------
    oncoline.errors.EngineError
        When a used row's day has no line (a kernel bug).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from oncoline.errors import EngineError

    days = day_lines.select(["person_id", "start_date", "line"]).cast(
        pa.schema([("person_id", pa.string()), ("start_date", pa.date32()), ("line", pa.int32())])
    )
    out = prepared.sources.join(days, keys=["person_id", "start_date"], join_type="left outer")
    if out.num_rows and pc.any(pc.is_null(out.column("line"))).as_py():
        raise EngineError("a used exposure row has no line: the kernel missed a day batch")
    out = out.select(list(ASSIGNMENT_COLUMNS)).cast(assignments_schema())
    return out.sort_by([("person_id", "ascending"), ("line", "ascending"), ("exposure_id", "ascending")])
