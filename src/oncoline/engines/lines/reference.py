"""The pure-Python reference line-of-therapy engine: the oracle every vectorised engine must match.

The rules are those of :mod:`oncoline.engines.lines.cohort` (module docstring), implemented as a plain
state machine over day batches. No I/O, no clock: the data cut-off ``as_of`` is passed in (house style S10).

Examples
--------
>>> import datetime as dt
>>> from oncoline.engines.lines.params import load_line_params
>>> from oncoline.model import Exposure
>>> d = dt.date.fromisoformat
>>> rows = [Exposure(drug="Phesgo", start=d("2024-01-15")), Exposure(drug="docetaxel", start=d("2024-01-15")),
...         Exposure(drug="Enhertu", start=d("2024-03-01"))]
>>> result = derive_lines(rows, metastatic_diagnosis=d("2024-01-05"), params=load_line_params())
>>> [(ln.line, ln.regimen, ln.open_rule.value) for ln in result.lines]
[(1, 'docetaxel + pertuzumab + trastuzumab', 'first_exposure'), (2, 'trastuzumab deruxtecan', 'new_drug')]
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from oncoline.engines.lines.cohort import PLAUSIBLE_FROM, DrugFlags, describe_row, drug_flags
from oncoline.engines.lines.params import LineParams
from oncoline.errors import InputError, UnknownDrugError
from oncoline.knowledge.drugs import load_vocabulary
from oncoline.model.lines import CloseRule, EndReason, ExclusionReason, Line, LinesResult, OpenRule

if TYPE_CHECKING:
    import pyarrow as pa

    from oncoline.engines.lines.cohort import CohortLines

__all__ = ["CoreLine", "KernelRow", "derive_lines", "derive_lines_reference_cohort", "run_kernel"]

_STOP_ORDER = {"progression": 0, "toxicity": 1}
_EXAMPLES = 3


@dataclass(frozen=True)
class KernelRow:
    """One distinct (drug, start, end) row of one person, as the kernel sees it."""

    drug: str
    start: dt.date
    end: dt.date
    stopped: str | None
    is_base: bool
    is_addition: bool
    substitution_class: str | None


@dataclass
class CoreLine:
    """A line as the kernel builds it (before derived columns)."""

    line: int
    start: dt.date
    window_end: dt.date
    drugs: set[str]
    subs: set[str]
    last_end: dt.date
    last_base_day: dt.date | None
    pending: tuple[dt.date, int, str] | None
    open_rule: OpenRule
    mode: str = "all_drugs"
    close_rule: CloseRule | None = None
    end_reason: EndReason | None = None
    days: list[dt.date] = field(default_factory=list)
    progression_day: dt.date | None = None
    """Earliest end of the line's ``stopped: progression`` rows (``all_drugs``)."""
    toxicity_stops: dict[str, dt.date] = field(default_factory=dict)
    """Drug → earliest end of its ``stopped: toxicity`` rows in the line (``all_drugs``)."""
    stopped: set[str] = field(default_factory=set)
    """Drugs whose toxicity stop a later day batch of the line has passed: dropped while the rest continued."""

    def toxicity_pending(self) -> bool:
        """A toxicity stop of the line that no later day batch has passed (``all_drugs``)."""
        return any(d not in self.stopped for d in self.toxicity_stops)

    def fold(self, day: dt.date, batch: Sequence[KernelRow]) -> None:
        """Add a day batch to the line (after the rules have decided it belongs here)."""
        self.days.append(day)
        for r in batch:
            self.drugs.add(r.drug)
            if r.substitution_class is not None:
                self.subs.add(r.substitution_class)
            self.last_end = max(self.last_end, r.end)
            if r.is_base:
                self.last_base_day = r.end if self.last_base_day is None else max(self.last_base_day, r.end)
            if r.stopped in _STOP_ORDER:
                cand = (r.end, _STOP_ORDER[r.stopped], r.stopped)
                if self.pending is None or cand < self.pending:
                    self.pending = cand
            if r.stopped == "progression":
                self.progression_day = r.end if self.progression_day is None else min(self.progression_day, r.end)
            elif r.stopped == "toxicity":
                self.toxicity_stops[r.drug] = min(self.toxicity_stops.get(r.drug, r.end), r.end)

    def close(self, rule: CloseRule, default_reason: EndReason) -> None:
        """Close the line by ``rule``, unless it carries a documented stop: then the stop names the close rule
        (``documented_progression`` / ``documented_toxicity``) and the end reason, whatever follows.

        ``any_drug``: the earliest stop (progression first on a tie). ``all_drugs``: a progression stop, else a
        toxicity stop that no later day batch passed (a stop the rest of the line continued after names
        nothing)."""
        if self.mode == "all_drugs":
            named = "progression" if self.progression_day is not None else None
            if named is None and self.toxicity_pending():
                named = "toxicity"
        else:
            named = None if self.pending is None else self.pending[2]
        if named is not None:
            self.close_stop(named)
        else:
            self.close_rule = rule
            self.end_reason = default_reason

    def close_stop(self, reason: str) -> None:
        """Close the line as ended by its documented ``reason`` stop (progression or toxicity)."""
        self.close_rule = CloseRule(f"documented_{reason}")
        self.end_reason = EndReason(reason)


def _open(number: int, day: dt.date, rule: OpenRule, params: LineParams) -> CoreLine:
    return CoreLine(
        mode=params.toxicity_stop_ends_line,
        line=number,
        start=day,
        window_end=day + dt.timedelta(days=params.regimen_window_days),
        drugs=set(),
        subs=set(),
        last_end=day,
        last_base_day=None,
        pending=None,
        open_rule=rule,
    )


def _joins(current: CoreLine, day: dt.date, batch: Sequence[KernelRow], params: LineParams, stopped: bool) -> bool:
    """Rules 4-6: the batch joins the line (in the regimen window — unless a toxicity stop is in effect —,
    drugs already in the line, or each new drug a substitution or a maintenance addition)."""
    if (day <= current.window_end and not stopped) or {r.drug for r in batch} <= current.drugs:
        return True
    base_day = current.last_base_day
    ongoing = base_day is not None and (day - base_day).days <= params.maintenance_ongoing_days
    return all(
        (r.substitution_class is not None and r.substitution_class in current.subs) or (r.is_addition and ongoing)
        for r in batch
        if r.drug not in current.drugs
    )


def _decide_all_drugs(
    current: CoreLine, day: dt.date, batch: Sequence[KernelRow], params: LineParams
) -> OpenRule | None:
    """``toxicity_stop_ends_line = all_drugs``: close ``current`` (and return the open rule of the next line)
    or let the batch join it (None). docs/lines.md rules 2-6."""
    if current.progression_day is not None and day > current.progression_day:
        current.close_stop("progression")  # progression ends the line, whatever continues
        return OpenRule.AFTER_PROGRESSION
    now_stopped = current.stopped | {d for d, end in current.toxicity_stops.items() if end < day}
    passed = now_stopped != current.stopped  # the first batch after a toxicity stop
    drugs = {r.drug for r in batch}
    gap = (day - current.last_end).days > params.gap_days
    ends_on_stop = bool(now_stopped) and (
        (passed and current.drugs <= now_stopped)  # every drug of the line stopped
        or bool(drugs & now_stopped)  # a stopped drug restarted
        or (passed and (gap or not _joins(current, day, batch, params, stopped=True)))  # a change
    )
    if ends_on_stop:
        current.close_stop("toxicity")
        return OpenRule.AFTER_TOXICITY
    if gap:
        current.close(CloseRule.GAP, EndReason.GAP)
        return OpenRule.AFTER_GAP
    if not _joins(current, day, batch, params, stopped=bool(now_stopped)):
        current.close(CloseRule.NEW_DRUG, EndReason.SWITCHED)
        return OpenRule.NEW_DRUG
    current.stopped = now_stopped  # the rest continues: the stopped drugs have left the line
    return None


def run_kernel(rows: Iterable[KernelRow], /, *, params: LineParams, as_of: dt.date) -> list[CoreLine]:
    """Derive the lines of ONE person from distinct, normalised rows.

    Parameters
    ----------
    rows
        The person's distinct (drug, start, end) rows, any order, already resolved, filtered and clipped
        (see :func:`oncoline.engines.lines.cohort.prepare_cohort`).
    params
        Line-of-therapy parameters.
    as_of
        The person's data cut-off (decides whether the last line is ``ongoing``).

    Returns
    -------
    list[CoreLine]
        Lines 1..n in start order, each closed, with the day batches (``days``) it holds.
    """
    batches: dict[dt.date, list[KernelRow]] = {}
    for r in rows:
        batches.setdefault(r.start, []).append(r)
    lines: list[CoreLine] = []
    current: CoreLine | None = None
    for day in sorted(batches):
        batch = batches[day]
        drugs = {r.drug for r in batch}
        if current is None:
            current = _open(1, day, OpenRule.FIRST_EXPOSURE, params)
        elif params.toxicity_stop_ends_line == "all_drugs":
            rule = _decide_all_drugs(current, day, batch, params)
            if rule is not None:
                lines.append(current)
                current = _open(current.line + 1, day, rule, params)
        elif current.pending is not None and day > current.pending[0]:
            reason = current.pending[2]
            current.close(CloseRule(f"documented_{reason}"), EndReason(reason))
            lines.append(current)
            current = _open(current.line + 1, day, OpenRule(f"after_{reason}"), params)
        elif (day - current.last_end).days > params.gap_days:
            current.close(CloseRule.GAP, EndReason.GAP)
            lines.append(current)
            current = _open(current.line + 1, day, OpenRule.AFTER_GAP, params)
        elif day <= current.window_end or drugs <= current.drugs:
            pass
        else:
            base_day = current.last_base_day
            ongoing = base_day is not None and (day - base_day).days <= params.maintenance_ongoing_days
            allowed = all(
                (r.substitution_class is not None and r.substitution_class in current.subs)
                or (r.is_addition and ongoing)
                for r in batch
                if r.drug not in current.drugs
            )
            if not allowed:
                current.close(CloseRule.NEW_DRUG, EndReason.SWITCHED)
                lines.append(current)
                current = _open(current.line + 1, day, OpenRule.NEW_DRUG, params)
        current.fold(day, batch)
    if current is not None:
        if (as_of - current.last_end).days <= params.gap_days:
            current.close(CloseRule.ONGOING, EndReason.ONGOING)
        else:
            current.close(CloseRule.GAP, EndReason.GAP)
        lines.append(current)
    return lines


# ------------------------------------------------------------------------------------------ single person
def _field(row: Any, *names: str) -> Any:
    for name in names:
        if isinstance(row, Mapping):
            if name in row:
                return row[name]
        elif hasattr(row, name):
            return getattr(row, name)
    return None


def _as_date(value: Any) -> dt.date | Literal["bad"] | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return "bad" if value < PLAUSIBLE_FROM else value
    try:
        day = dt.date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        return "bad"
    return "bad" if day < PLAUSIBLE_FROM else day


def _stop_text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(getattr(value, "value", value)).strip().lower()
    return text if text in _STOP_ORDER else None


def derive_lines(
    exposures: Iterable[Any],
    /,
    *,
    metastatic_diagnosis: dt.date | None,
    params: LineParams,
    as_of: dt.date | None = None,
    person_id: str = "patient",
    on_bad_row: Literal["raise", "count"] = "raise",
    on_unknown_drug: Literal["raise", "count"] = "raise",
) -> LinesResult:
    """Derive the metastatic lines of therapy of one person from raw drug exposures.

    Parameters
    ----------
    exposures
        :class:`oncoline.model.Exposure` objects, or any objects/mappings with ``drug`` (name, brand, alias
        or RxNorm code), ``start``, optional ``end`` (defaults to start), ``stopped`` (progression |
        toxicity | completed | ongoing) and an optional row id (``exposure_id`` or ``id``; default: the
        0-based position in the list, ``"0"``, ``"1"`` …, as ``exposures[0]`` names it in messages). Dates are
        :class:`datetime.date` or ISO text.
    metastatic_diagnosis
        The index date; ``None`` excludes every row (reason ``no_index_date``).
    params
        :func:`~oncoline.engines.lines.params.load_line_params`.
    as_of
        The data cut-off: rows starting later are excluded, ends clipped to it. ``None``: the latest
        exposure end of the usable rows stands in for it (so the last line is ``ongoing``).
    person_id
        Carried into each :class:`~oncoline.model.lines.Line`.
    on_bad_row, on_unknown_drug
        ``"raise"`` (single-patient files) or ``"count"`` (report in :attr:`LinesResult.excluded`).

    Returns
    -------
    LinesResult
        Lines 1..n, the row id → line map for every used row, exclusions by reason, unknown drug names.

    Raises
    ------
    InputError
        A row without start, with an unparseable date or an end before its start (``on_bad_row="raise"``).
    UnknownDrugError
        A drug the vocabulary does not know (``on_unknown_drug="raise"``); names the closest known drugs.

    References
    ----------
    notes/lines-spec.md; ``knowledge/data/lines.yaml`` for the parameters and their sources.
    """
    vocab = load_vocabulary()
    flags: dict[str, DrugFlags] = {}
    excluded: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    unknown: Counter[str] = Counter()
    kept: list[tuple[str, KernelRow]] = []
    early_limit = metastatic_diagnosis - dt.timedelta(days=params.index_lookback_days) if metastatic_diagnosis else None

    def drop(reason: ExclusionReason, rid: str, text: str) -> None:
        excluded[reason.value] += 1
        examples.setdefault(reason.value, [])
        if len(examples[reason.value]) < _EXAMPLES:
            examples[reason.value].append(text)

    for pos, row in enumerate(exposures):
        rid_raw = _field(row, "exposure_id", "id")
        rid = str(pos) if rid_raw is None else str(rid_raw)
        drug = _field(row, "drug")
        start = _as_date(_field(row, "start", "start_date"))
        end_given = _as_date(_field(row, "end", "end_date"))
        text = describe_row(
            pos + 1,
            exposure_id=rid_raw,
            fields={"drug": drug, "start": _field(row, "start", "start_date"), "end": _field(row, "end", "end_date")},
        )
        bad: tuple[ExclusionReason, str] | None = None
        if start is None:
            bad = (ExclusionReason.MISSING_START, "give the start date (YYYY-MM-DD)")
        elif start == "bad" or end_given == "bad":
            bad = (ExclusionReason.BAD_DATE, "write dates as YYYY-MM-DD")
        elif isinstance(end_given, dt.date) and end_given < start:
            bad = (ExclusionReason.END_BEFORE_START, "swap or correct the dates")
        if bad is not None:
            if on_bad_row == "raise":
                raise InputError(f"{text}: {bad[0].value.replace('_', ' ')}; {bad[1]}", field=f"exposures[{pos}]")
            drop(bad[0], rid, text)
            continue
        assert isinstance(start, dt.date)
        end = end_given if isinstance(end_given, dt.date) else start
        found = vocab.lookup(str(drug)) if drug is not None else None
        if found is None:
            if on_unknown_drug == "raise":
                name = "" if drug is None else str(drug)
                raise UnknownDrugError(name, vocab.suggest(name), field=f"exposures[{pos}].drug")
            unknown["(no drug given)" if drug is None else str(drug)] += 1
            drop(ExclusionReason.UNKNOWN_DRUG, rid, text)
            continue
        components = [(c, flags.setdefault(c, drug_flags(c, params))) for c in found]
        components = [(c, f) for c, f in components if f.anticancer]
        if not components:
            drop(ExclusionReason.SUPPORTIVE, rid, text)
            continue
        if metastatic_diagnosis is None or early_limit is None:
            drop(ExclusionReason.NO_INDEX_DATE, rid, text)
            continue
        if as_of is not None and start > as_of:
            drop(ExclusionReason.AFTER_CUTOFF, rid, text)
            continue
        if start < early_limit:
            drop(ExclusionReason.EARLY_SETTING, rid, text)
            continue
        stopped = _stop_text(_field(row, "stopped"))
        if as_of is not None and end > as_of:
            end, stopped = as_of, None  # a stop documented after the cut-off had not happened by then
        for name, f in components:
            kept.append((rid, KernelRow(name, start, end, stopped, f.is_base, f.is_addition, f.substitution_class)))

    # duplicates count once; when duplicates disagree on a documented stop, progression wins
    distinct: dict[tuple[str, dt.date, dt.date], KernelRow] = {}
    for _, r in kept:
        key = (r.drug, r.start, r.end)
        prev = distinct.get(key)
        if prev is None or (r.stopped is not None and (prev.stopped is None or r.stopped < prev.stopped)):
            distinct[key] = r  # "progression" < "toxicity" alphabetically, matching the documented priority
    effective_as_of = as_of if as_of is not None else max((r.end for r in distinct.values()), default=None)
    core = run_kernel(distinct.values(), params=params, as_of=effective_as_of) if effective_as_of else []
    day_line = {day: ln.line for ln in core for day in ln.days}
    assignments = {rid: day_line[r.start] for rid, r in kept}
    return LinesResult(
        person_id=person_id,
        as_of=effective_as_of,
        lines=tuple(_to_lines(person_id, core, Counter(assignments.values()))),
        assignments=assignments,
        excluded=dict(excluded),
        unknown_drugs=dict(unknown),
        examples={k: tuple(v) for k, v in examples.items()},
    )


def _to_lines(person_id: str, core: Sequence[CoreLine], n_rows: Mapping[int, int]) -> Iterable[Line]:
    """Lines of one person; ``n_rows``: line number → input rows assigned to it (``n_exposures``)."""
    for i, ln in enumerate(core):
        drugs = tuple(sorted(ln.drugs))
        nxt = core[i + 1].start if i + 1 < len(core) else None
        # a line closed by the opening of the next one ends the day before it (lines never overlap)
        end = ln.last_end if nxt is None else min(ln.last_end, nxt - dt.timedelta(days=1))
        assert ln.close_rule is not None and ln.end_reason is not None
        yield Line(
            person_id=person_id,
            line=ln.line,
            drugs=drugs,
            regimen=" + ".join(drugs),
            start=ln.start,
            end=end,
            n_exposures=n_rows[ln.line],
            open_rule=ln.open_rule,
            close_rule=ln.close_rule,
            end_reason=ln.end_reason,
            time_on_treatment_days=(end - ln.start).days + 1,
            time_to_next_treatment_days=None if nxt is None else (nxt - ln.start).days,
            ttnt_censored=nxt is None,
        )


# ------------------------------------------------------------------------------------------------- cohort
def derive_lines_reference_cohort(
    rows: pa.Table, index: pa.Table, /, *, params: LineParams, as_of: dt.date | None
) -> CohortLines:
    """Derive the lines of a cohort with the reference kernel (the conformance oracle).

    Parameters
    ----------
    rows
        Exposure rows, one per administration or dispensing (columns as in
        :func:`~oncoline.engines.lines.cohort.prepare_cohort`).
    index
        ``person_id``, ``metastatic_diagnosis``.
    params
        Line-of-therapy parameters.
    as_of
        The data cut-off (``None``: each person's latest exposure end).

    Returns
    -------
    CohortLines
        One row per person_id and line; one assignment per used source row; the input report.

    Raises
    ------
    InputError
        From :func:`~oncoline.engines.lines.cohort.prepare_cohort` (missing columns, repeated exposure ids).
    """
    import pyarrow as pa

    from oncoline.engines.lines.cohort import (
        CORE_LINE_COLUMNS,
        CohortLines,
        assign_rows,
        complete_lines,
        prepare_cohort,
    )

    prepared = prepare_cohort(rows, index, params=params, as_of=as_of)
    person_as_of = dict(
        zip(prepared.persons.column("person_id").to_pylist(), prepared.persons.column("as_of").to_pylist(), strict=True)
    )
    data = prepared.rows.to_pydict()
    by_person: dict[str, list[KernelRow]] = {}
    for i, person in enumerate(data["person_id"]):
        by_person.setdefault(person, []).append(
            KernelRow(
                data["drug"][i],
                data["start_date"][i],
                data["end_date"][i],
                data["stopped"][i],
                bool(data["is_base"][i]),
                bool(data["is_addition"][i]),
                data["substitution_class"][i],
            )
        )
    core_cols: dict[str, list[Any]] = {k: [] for k in CORE_LINE_COLUMNS}
    day_cols: dict[str, list[Any]] = {"person_id": [], "start_date": [], "line": []}
    for person, person_rows in by_person.items():
        for ln in run_kernel(person_rows, params=params, as_of=person_as_of[person]):
            core_cols["person_id"].append(person)
            core_cols["line"].append(ln.line)
            core_cols["drugs"].append(sorted(ln.drugs))
            core_cols["start_date"].append(ln.start)
            core_cols["end_date"].append(ln.last_end)
            core_cols["n_exposures"].append(0)  # counted from the assignments below
            core_cols["open_rule"].append(str(ln.open_rule))
            core_cols["close_rule"].append(str(ln.close_rule))
            core_cols["end_reason"].append(str(ln.end_reason))
            for day in ln.days:
                day_cols["person_id"].append(person)
                day_cols["start_date"].append(day)
                day_cols["line"].append(ln.line)
    core = pa.table(
        {
            **core_cols,
            "drugs": pa.array(core_cols["drugs"], pa.list_(pa.string())),
            "start_date": pa.array(core_cols["start_date"], pa.date32()),
            "end_date": pa.array(core_cols["end_date"], pa.date32()),
            "person_id": pa.array(core_cols["person_id"], pa.string()),
            "line": pa.array(core_cols["line"], pa.int32()),
            "n_exposures": pa.array(core_cols["n_exposures"], pa.int32()),
            "open_rule": pa.array(core_cols["open_rule"], pa.string()),
            "close_rule": pa.array(core_cols["close_rule"], pa.string()),
            "end_reason": pa.array(core_cols["end_reason"], pa.string()),
        }
    )
    days = pa.table(
        {
            "person_id": pa.array(day_cols["person_id"], pa.string()),
            "start_date": pa.array(day_cols["start_date"], pa.date32()),
            "line": pa.array(day_cols["line"], pa.int32()),
        }
    )
    assignments = assign_rows(days, prepared)
    counts = Counter(
        zip(assignments.column("person_id").to_pylist(), assignments.column("line").to_pylist(), strict=True)
    )
    core = core.set_column(
        core.column_names.index("n_exposures"),
        "n_exposures",
        pa.array(
            [counts[(p, ln)] for p, ln in zip(core_cols["person_id"], core_cols["line"], strict=True)], pa.int32()
        ),
    )
    return CohortLines(lines=complete_lines(core), assignments=assignments, report=prepared.report)
