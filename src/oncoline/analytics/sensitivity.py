"""Sensitivity of the lines to the line rules: line counts, regimen shares and median TTNT over a parameter grid.

Every published line-of-therapy study picks one setting of the rules; this shows how much the answer moves.
The cohort is prepared once for the default DuckDB engine (reading, vocabulary, exclusions, cut-off clipping;
:func:`oncoline.engines.lines.duckdb_engine.prepare_kernel_input`) and sorted once; only the one-pass kernel runs
again for each cell of the grid (``gap_days`` × ``regimen_window_days``), so the whole grid costs little more
than one derivation. The lines of each cell equal those of ``oncoline lines --param gap_days=G --param
regimen_window_days=W`` (the kernel is the engine's own).

The line rule for a partial toxicity stop (``toxicity_stop_ends_line``, ``knowledge/data/lines.yaml``) is a third,
cheap dimension: the full grid runs under the rule given, and every other value of the rule adds one cell at the
given ``gap_days`` and ``regimen_window_days`` (by default ``any_drug`` beside the ``all_drugs`` default: 13 kernel
runs instead of 12).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

    from oncoline.engines.lines.duckdb_engine import KernelInput
    from oncoline.engines.lines.params import LineParams

__all__ = [
    "GAP_DAYS",
    "GRID_KEYS",
    "REGIMEN_WINDOW_DAYS",
    "SENSITIVITY_DERIVED",
    "SENSITIVITY_EVENTS",
    "grid_cells",
    "grid_mismatch",
    "replace_params",
    "sensitivity_grid",
    "sensitivity_tables",
    "suppress_derived",
    "toxicity_rules",
    "unmoved_rules",
]

GAP_DAYS = (60, 90, 120, 180)
"""Default ``gap_days`` values of the grid (120 is the default rule)."""
REGIMEN_WINDOW_DAYS = (21, 28, 35)
"""Default ``regimen_window_days`` values of the grid (28 is the default rule)."""
GRID_KEYS = ("gap_days", "regimen_window_days", "toxicity_stop_ends_line")
"""The columns that name a cell of the grid (in the ``sensitivity`` and ``sensitivity_regimens`` tables)."""


def toxicity_rules() -> tuple[str, ...]:
    """Every value of ``toxicity_stop_ends_line`` (the closed set of :class:`~oncoline.engines.lines.params.LineParams`,
    the ``values`` of ``lines.yaml``)."""
    from typing import get_args

    from oncoline.engines.lines.params import LineParams

    return tuple(str(v) for v in get_args(LineParams.model_fields["toxicity_stop_ends_line"].annotation))


def grid_cells(
    params: LineParams,
    /,
    *,
    gap_days: Sequence[int] = GAP_DAYS,
    regimen_window_days: Sequence[int] = REGIMEN_WINDOW_DAYS,
    toxicity_stop_ends_line: Sequence[str] | None = None,
) -> list[tuple[int, int, str]]:
    """The cells of the grid, ``(gap_days, regimen_window_days, toxicity_stop_ends_line)``, in table order.

    Every ``gap_days`` × ``regimen_window_days`` under the rule of ``params``, then one cell per other value of
    ``toxicity_stop_ends_line`` (``None``: every value of the parameter) at the ``gap_days`` and
    ``regimen_window_days`` of ``params``.

    Examples
    --------
    >>> from oncoline.engines.lines.params import load_line_params
    >>> grid_cells(load_line_params(), gap_days=(60, 120), regimen_window_days=(28,))
    [(60, 28, 'all_drugs'), (120, 28, 'all_drugs'), (120, 28, 'any_drug')]
    """
    from oncoline.errors import InputError

    rule = params.toxicity_stop_ends_line
    values = toxicity_rules()
    shown = list(dict.fromkeys(values if toxicity_stop_ends_line is None else toxicity_stop_ends_line))
    bad = [t for t in shown if t not in values]
    if bad:
        raise InputError(
            f"toxicity_stop_ends_line {', '.join(bad)} is not a value of the rule; choose from {', '.join(values)}",
            field="toxicity_stop_ends_line",
        )
    cells: list[tuple[int, int, str]] = [
        (g, w, rule) for g in dict.fromkeys(gap_days) for w in dict.fromkeys(regimen_window_days)
    ]
    cells += [(params.gap_days, params.regimen_window_days, t) for t in shown if t != rule]
    return cells


def sensitivity_grid(
    exposures: pa.Table,
    index: pa.Table,
    /,
    *,
    params: LineParams,
    as_of: dt.date,
    gap_days: Sequence[int] = GAP_DAYS,
    regimen_window_days: Sequence[int] = REGIMEN_WINDOW_DAYS,
    toxicity_stop_ends_line: Sequence[str] | None = None,
    top_regimens: int = 5,
    on_cell: Callable[[int, int], None] | None = None,
    prepared: KernelInput | None = None,
) -> tuple[pa.Table, pa.Table]:
    """Derive the lines under every cell of the grid and summarise each.

    Parameters
    ----------
    exposures, index
        The cohort's exposure and index tables (as for ``oncoline lines``).
    params
        The base line parameters; the grid overrides ``gap_days``, ``regimen_window_days`` and, in the extra
        cells, ``toxicity_stop_ends_line`` (:func:`grid_cells`).
    as_of
        The data cut-off (the same for every cell).
    gap_days, regimen_window_days
        Grid values (days).
    toxicity_stop_ends_line
        Values of the partial-toxicity-stop rule shown; each other than that of ``params`` adds one cell at the
        ``gap_days`` and ``regimen_window_days`` of ``params``. ``None`` (default): every value (``all_drugs``,
        ``any_drug``).
    top_regimens
        First-line regimens whose share is reported (the most frequent under the base parameters).
    on_cell
        Called after each cell with ``(cells done, cells in all)`` (progress).
    prepared
        :func:`~oncoline.engines.lines.duckdb_engine.prepare_kernel_input` of the same tables, parameters and
        cut-off, when the caller has it already (its report is the exposure-row attrition); prepared here otherwise.

    Returns
    -------
    tuple of pyarrow.Table
        ``summary``: one row per cell (:func:`grid_cells` order) — ``gap_days``, ``regimen_window_days``,
        ``toxicity_stop_ends_line``, ``is_default`` (the cell of ``params``), ``persons`` (with ≥ 1
        line), ``lines``, ``lines_per_person``, ``persons_2l`` (with ≥ 2 lines), ``median_ttnt_1l_days``,
        ``median_ttnt_1l_lower``/``_upper`` (95 % CI; null = not reached), ``median_ttnt_2l_days`` (+ ``_lower``/
        ``_upper``), ``events_ttnt_1l``/``_2l`` (the events each median rests on; :func:`sensitivity_tables`
        hides medians of too few and drops them).
        ``regimens``: one row per cell and first-line regimen — ``gap_days``, ``regimen_window_days``,
        ``toxicity_stop_ends_line``, ``regimen``, ``persons``, ``share`` (of persons with a first line).

    Raises
    ------
    InputError
        As :func:`oncoline.engines.lines.duckdb_engine.derive_lines_cohort`; a value of
        ``toxicity_stop_ends_line`` the rule does not have.
    """
    import numpy as np
    import pyarrow as pa

    from oncoline.analytics.survival import durations, km_fit
    from oncoline.engines.lines import kernel as k
    from oncoline.engines.lines.duckdb_engine import assemble_lines, prepare_kernel_input

    prep = prepared if prepared is not None else prepare_kernel_input(exposures, index, params=params, as_of=as_of)
    order = np.lexsort((prep.start, prep.person))  # stable: rows of one day keep their order, as in the engine
    person = prep.person[order].astype(np.int64)
    start = prep.start[order]
    end, drug, stop, source_key = prep.end[order], prep.drug[order], prep.stop[order], prep.source_key[order]
    as_of_day = (as_of - dt.date(1970, 1, 1)).days
    cells = grid_cells(
        params,
        gap_days=gap_days,
        regimen_window_days=regimen_window_days,
        toxicity_stop_ends_line=toxicity_stop_ends_line,
    )
    summary: dict[str, list[object]] = {
        c: []
        for c in (
            "gap_days",
            "regimen_window_days",
            "toxicity_stop_ends_line",
            "is_default",
            "persons",
            "lines",
            "lines_per_person",
            "persons_2l",
            "median_ttnt_1l_days",
            "median_ttnt_1l_lower",
            "median_ttnt_1l_upper",
            "median_ttnt_2l_days",
            "median_ttnt_2l_lower",
            "median_ttnt_2l_upper",
            "events_ttnt_1l",
            "events_ttnt_2l",
        )
    }
    shares: list[pa.Table] = []
    top: list[str] | None = None
    base = (params.gap_days, params.regimen_window_days, params.toxicity_stop_ends_line)
    ordered_cells = sorted(cells, key=lambda c: c != base)  # the base cell first: it names the top regimens
    results: dict[tuple[int, int, str], tuple[dict[str, object], pa.Table]] = {}
    for done, (g, w, t) in enumerate(ordered_cells, start=1):
        cell_params = replace_params(params, gap_days=g, regimen_window_days=w, toxicity_stop_ends_line=t)
        res = k.assign_lines(
            person,
            start,
            end,
            drug,
            stop,
            codes=prep.codes,
            params=cell_params,
            as_of_day=as_of_day,
            source_key=source_key,
        )
        lines = assemble_lines(res, person, prep)
        first = lines.filter(pa.compute.equal(lines.column("line"), 1))
        regimens = first.column("regimen").value_counts().to_pylist()
        counts = {r["values"]: int(r["counts"]) for r in regimens}
        if top is None:
            top = [name for name, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top_regimens]]
        n_first = max(first.num_rows, 1)
        shares.append(
            pa.table(
                {
                    "gap_days": pa.array([g] * len(top), pa.int32()),
                    "regimen_window_days": pa.array([w] * len(top), pa.int32()),
                    "toxicity_stop_ends_line": pa.array([t] * len(top), pa.string()),
                    "regimen": pa.array(top, pa.string()),
                    "persons": pa.array([counts.get(r, 0) for r in top], pa.int64()),
                    "share": pa.array([counts.get(r, 0) / n_first for r in top], pa.float64()),
                }
            )
        )
        ttnt, _ = durations(
            lines.select(
                [
                    "person_id",
                    "line",
                    "regimen",
                    "start_date",
                    "time_to_next_treatment_days",
                    "time_on_treatment_days",
                    "end_reason",
                ]
            ),
            endpoint="ttnt",
            as_of=as_of,
        )
        line_no = np.asarray(ttnt.column("line").to_numpy(zero_copy_only=False))
        days = np.asarray(ttnt.column("days").to_numpy(zero_copy_only=False), dtype=np.float64)
        event = np.asarray(ttnt.column("event").to_numpy(zero_copy_only=False), dtype=bool)
        km1 = km_fit(days[line_no == 1], event[line_no == 1]) if (line_no == 1).any() else None
        km2 = km_fit(days[line_no == 2], event[line_no == 2]) if (line_no == 2).any() else None
        n_persons = first.num_rows
        row = {
            "gap_days": g,
            "regimen_window_days": w,
            "toxicity_stop_ends_line": t,
            "is_default": (g, w, t) == base,
            "persons": n_persons,
            "lines": lines.num_rows,
            "lines_per_person": lines.num_rows / n_persons if n_persons else None,
            "persons_2l": int(pa.compute.sum(pa.compute.equal(lines.column("line"), 2)).as_py() or 0),
            "median_ttnt_1l_days": km1.median if km1 else None,
            "median_ttnt_1l_lower": km1.median_lower if km1 else None,
            "median_ttnt_1l_upper": km1.median_upper if km1 else None,
            "median_ttnt_2l_days": km2.median if km2 else None,
            "median_ttnt_2l_lower": km2.median_lower if km2 else None,
            "median_ttnt_2l_upper": km2.median_upper if km2 else None,
            # the events each median rests on: used to hide a median of too few events, never exported
            "events_ttnt_1l": km1.events if km1 else 0,
            "events_ttnt_2l": km2.events if km2 else 0,
        }
        results[(g, w, t)] = (row, shares[-1])
        if on_cell is not None:
            on_cell(done, len(cells))
    for cell in cells:
        row, _ = results[cell]
        for key, value in row.items():
            summary[key].append(value)
    types = {
        "gap_days": pa.int32(),
        "regimen_window_days": pa.int32(),
        "toxicity_stop_ends_line": pa.string(),
        "is_default": pa.bool_(),
        "persons": pa.int64(),
        "lines": pa.int64(),
        "lines_per_person": pa.float64(),
        "persons_2l": pa.int64(),
        "median_ttnt_1l_days": pa.float64(),
        "median_ttnt_1l_lower": pa.float64(),
        "median_ttnt_1l_upper": pa.float64(),
        "median_ttnt_2l_days": pa.float64(),
        "median_ttnt_2l_lower": pa.float64(),
        "median_ttnt_2l_upper": pa.float64(),
        "events_ttnt_1l": pa.int64(),
        "events_ttnt_2l": pa.int64(),
    }
    summary_tbl = pa.table({c: pa.array(v, types[c]) for c, v in summary.items()})
    regimen_tbl = pa.concat_tables([results[c][1] for c in cells]) if cells else pa.table({})
    return summary_tbl, regimen_tbl


def replace_params(params: LineParams, /, **changes: int | str) -> LineParams:
    """``params`` with some values changed (validated again by pydantic)."""
    return type(params).model_validate({**params.model_dump(), **changes})


def sensitivity_tables(summary: pa.Table, regimens: pa.Table, /, *, min_cell: int) -> dict[str, pa.Table]:
    """The suppressed ``sensitivity`` and ``sensitivity_regimens`` tables from :func:`sensitivity_grid`'s two
    tables: counts suppressed per grid cell, derived figures with their group (:func:`suppress_derived`)."""
    from oncoline.analytics.suppression import suppress

    mc = min_cell
    # one group per cell: the extra cells share gap_days and regimen_window_days with the default cell
    keys = [c for c in GRID_KEYS if c in summary.column_names]

    out = summary
    for name in ("persons", "lines", "persons_2l"):
        out = suppress(out, counts=[name], min_cell=mc, group_by=keys)
    return {
        "sensitivity": suppress_derived(summary, out, mc),
        "sensitivity_regimens": suppress(
            regimens,
            counts=["persons"],
            min_cell=mc,
            group_by=[c for c in GRID_KEYS if c in regimens.column_names],
            shares={"share": "persons"},
        ),
    }


SENSITIVITY_DERIVED = {
    "lines_per_person": "persons",
    "median_ttnt_1l_days": "persons",
    "median_ttnt_1l_lower": "persons",
    "median_ttnt_1l_upper": "persons",
    "median_ttnt_2l_days": "persons_2l",
    "median_ttnt_2l_lower": "persons_2l",
    "median_ttnt_2l_upper": "persons_2l",
}
"""Derived columns of the sensitivity grid and the count of persons each is computed from (its denominator or
group): the derived figure is suppressed whenever that count is below ``min_cell``."""

SENSITIVITY_EVENTS = {
    "median_ttnt_1l_days": "events_ttnt_1l",
    "median_ttnt_1l_lower": "events_ttnt_1l",
    "median_ttnt_1l_upper": "events_ttnt_1l",
    "median_ttnt_2l_days": "events_ttnt_2l",
    "median_ttnt_2l_lower": "events_ttnt_2l",
    "median_ttnt_2l_upper": "events_ttnt_2l",
}
"""Medians of the grid and the events they rest on (columns of :func:`sensitivity_grid`'s summary, dropped from
the exported table): a median of fewer than ``min_cell`` events is essentially one patient's time, so hidden."""


def suppress_derived(raw: pa.Table, suppressed: pa.Table, mc: int) -> pa.Table:
    """Suppress the sensitivity grid's derived figures (ratios, medians) whose group is below ``mc`` persons.

    A ratio such as lines / person next to a shown count lets a reader recover a hidden count by division, and a
    median of fewer than ``mc`` persons is the value of one of them; both are null where their group
    (:data:`SENSITIVITY_DERIVED`) holds 1 to ``mc - 1`` persons (a group of 0 has no figure to hide). Each derived
    column gains a text twin ``<name>_shown``: ``"suppressed (<5 persons)"`` there, ``"suppressed (<5 events)"``
    for a median (or CI limit) of fewer than ``mc`` events (:data:`SENSITIVITY_EVENTS`; the events columns are
    dropped), otherwise the value
    (``lines_per_person`` is rounded to 2 decimals in the table itself).

    Parameters
    ----------
    raw
        The grid before suppression (counts as derived).
    suppressed
        The same rows with the counts already suppressed.
    mc
        The minimum cell count (≥ 1).

    Returns
    -------
    pyarrow.Table
        ``suppressed`` with the derived columns nulled where their group is small, plus the ``*_shown`` twins.
    """
    import pyarrow as pa

    from oncoline.analytics.survival import median_suppressed_text

    out = suppressed
    groups = {name: raw.column(name).to_pylist() for name in set(SENSITIVITY_DERIVED.values())}
    no_events: list[int | None] = [None] * raw.num_rows
    for name, group in SENSITIVITY_DERIVED.items():
        if name not in out.column_names:
            continue
        events_col = SENSITIVITY_EVENTS.get(name)
        events = raw.column(events_col).to_pylist() if events_col in raw.column_names else no_events
        values: list[float | None] = []
        shown: list[str] = []
        for v, n, e in zip(out.column(name).to_pylist(), groups[group], events, strict=True):
            if n is not None and 0 < int(n) < mc:
                values.append(None)
                shown.append(f"suppressed (<{mc} persons)")
                continue
            if e is not None and int(e) < mc and n:
                values.append(None)
                shown.append(median_suppressed_text(mc))
                continue
            if v is not None and name == "lines_per_person":
                v = round(float(v), 2)
            values.append(v)
            shown.append("" if v is None else (f"{v:.2f}" if name == "lines_per_person" else f"{v:.0f}"))
        out = out.set_column(out.column_names.index(name), name, pa.array(values, pa.float64()))
        out = out.append_column(f"{name}_shown", pa.array(shown, pa.string()))
    return out.drop_columns([c for c in set(SENSITIVITY_EVENTS.values()) if c in out.column_names])


def grid_mismatch(summary: pa.Table, n_lines: int, params: LineParams, /) -> str | None:
    """A note when the grid's default cell (the line rules given) does not reproduce the lines table.

    The lines table does not record the parameters it was derived with, so a file made with ``--param
    gap_days=60`` would otherwise sit under a grid whose "default" row is 120: the line counts tell them apart.
    """
    base = [r for r in summary.to_pylist() if r["is_default"]]
    if not base or base[0]["lines"] == n_lines:
        return None
    return (
        f"The lines table holds {n_lines:,} lines of persons in the index, but the line rules given here "
        f"(gap_days {params.gap_days}, regimen_window_days {params.regimen_window_days}, toxicity_stop_ends_line "
        f"{params.toxicity_stop_ends_line}, parameters "
        f"{params.version}) derive {base[0]['lines']:,} from the exposure table: the lines were made with other "
        "parameters, another cut-off or other data. The sensitivity grid's 'default' row is the rules given here, "
        "not those of the lines table; give the same --param and --as-of as for `oncoline lines`."
    )


def unmoved_rules(summary: pa.Table, /, *, min_persons: int = 1) -> list[str]:
    """Sentences for the report when one rule of the grid moves nothing: every value of ``gap_days`` (or of
    ``regimen_window_days``, or of ``toxicity_stop_ends_line``) gives the same persons, lines and persons with ≥ 2
    lines wherever the grid varies it with the other rules held fixed.

    Flat rows would otherwise read as a grid that ignores the rule (the new-user test asked which); the grid does
    apply it (each cell equals ``oncoline lines --param``), so the sentence says the data hold no case it decides.
    A rule is judged only where the grid holds two or more of its values at the same setting of the others (the
    ``any_drug`` cell is compared with the default cell alone; it says nothing about ``gap_days``). Nothing is said
    when a cell has fewer than ``min_persons`` persons (its row is suppressed: nothing to explain).

    Examples
    --------
    >>> import pyarrow as pa
    >>> t = pa.table({"gap_days": [60, 120], "regimen_window_days": [28, 28], "persons": [9, 9], "lines": [20, 20],
    ...               "persons_2l": [7, 7]})
    >>> unmoved_rules(t)[0][:48]
    'gap_days 60, 120 give the same persons and lines'
    """
    rows = summary.to_pylist()
    if any((r["persons"] or 0) < min_persons for r in rows):
        return []
    rules = [c for c in GRID_KEYS if c in summary.column_names]
    out = []
    for rule in rules:
        others = [c for c in rules if c != rule]
        by_other: dict[tuple[object, ...], dict[object, tuple[object, ...]]] = {}
        for r in rows:
            by_other.setdefault(tuple(r[c] for c in others), {})[r[rule]] = (r["persons"], r["lines"], r["persons_2l"])
        compared = {k: v for k, v in by_other.items() if len(v) > 1}
        if not compared or any(len(set(v.values())) > 1 for v in compared.values()):
            continue
        values = sorted({value for v in compared.values() for value in v}, key=str)
        if rule == "toxicity_stop_ends_line":
            at = "; ".join(", ".join(f"{c} {value}" for c, value in zip(others, k, strict=True)) for k in compared)
            out.append(
                f"toxicity_stop_ends_line {', '.join(str(v) for v in values)} give the same persons and lines at "
                f"{at}: this cohort holds no drug stopped for toxicity while the rest of its line continued (the "
                "grid applies the rule: the cell equals `oncoline lines --param toxicity_stop_ends_line=any_drug`), "
                "so the rows for the rule are flat."
            )
            continue
        other = next(c for c in others if c != "toxicity_stop_ends_line")
        values = sorted(values, key=lambda v: int(str(v)))
        out.append(
            f"{rule} {', '.join(str(v) for v in values)} give the same persons and lines at every {other}: "
            f"this cohort holds no case the {rule} rule decides differently within that range (the grid applies "
            f"it: each cell equals `oncoline lines --param {rule}=…`), so the rows for {rule} are flat."
        )
    return out
