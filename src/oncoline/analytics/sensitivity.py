"""Sensitivity of the lines to the line rules: line counts, regimen shares and median TTNT over a parameter grid.

Every published line-of-therapy study picks one setting of the rules; this shows how much the answer moves.
The cohort is prepared once for the default DuckDB engine (reading, vocabulary, exclusions, cut-off clipping;
:func:`oncoline.engines.lines.duckdb_engine.prepare_kernel_input`) and sorted once; only the one-pass kernel runs
again for each cell of the grid (``gap_days`` × ``regimen_window_days``), each cell summarised from the kernel's
own per-line arrays (no lines table per cell), so the whole grid costs little more than one derivation;
:func:`start_sensitivity_grid` runs it in a forked worker process beside the caller's other work. The lines of
each cell equal those of ``oncoline lines --param gap_days=G --param regimen_window_days=W`` (the kernel is the
engine's own).

The line rule for a partial toxicity stop (``toxicity_stop_ends_line``, ``knowledge/data/lines.yaml``) is a third,
cheap dimension: the full grid runs under the rule given, and every other value of the rule adds one cell at the
given ``gap_days`` and ``regimen_window_days`` (by default ``any_drug`` beside the ``all_drugs`` default: 13 kernel
runs instead of 12).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pyarrow as pa

    from oncoline.engines.lines.cohort import CohortReport
    from oncoline.engines.lines.duckdb_engine import KernelInput
    from oncoline.engines.lines.kernel import DrugCodes
    from oncoline.engines.lines.params import LineParams

__all__ = [
    "FORK_MIN_ROWS",
    "GAP_DAYS",
    "GRID_KEYS",
    "REGIMEN_WINDOW_DAYS",
    "SENSITIVITY_DERIVED",
    "SENSITIVITY_EVENTS",
    "PendingGrid",
    "grid_cells",
    "grid_mismatch",
    "replace_params",
    "sensitivity_grid",
    "sensitivity_tables",
    "start_sensitivity_grid",
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
    import functools
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
    import pyarrow as pa

    from oncoline.analytics.survival import km_fit
    from oncoline.engines.lines import kernel as k
    from oncoline.engines.lines.duckdb_engine import prepare_kernel_input

    prep = prepared if prepared is not None else prepare_kernel_input(exposures, index, params=params, as_of=as_of)
    threads = 2 if prep.person.shape[0] >= GRID_THREADS_MIN_ROWS and (os.cpu_count() or 1) > 1 else 1
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="oncoline-grid") if threads > 1 else None
    try:
        order = _by_person_and_day(prep.person, prep.start)  # once for every cell: the kernel's row order
        # the six row gathers (random reads of 10^7 rows, the GIL released) shared between two threads
        columns = (prep.person, prep.start, prep.end, prep.drug, prep.stop, prep.source_key)
        gather = functools.partial(_take, order)
        person_s, start, end, drug, stop, source_key = (
            list(pool.map(gather, columns)) if pool is not None else [gather(c) for c in columns]
        )
        del gather
        person = person_s.astype(np.int64)
        del order, person_s
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
        base = (params.gap_days, params.regimen_window_days, params.toxicity_stop_ends_line)
        ordered_cells = sorted(cells, key=lambda c: c != base)  # the base cell first: it names the top regimens

        def run_cell(g: int, w: int, t: str) -> _Cell:
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
            # only what the summary reads, from the kernel's arrays (no lines table): the same figures as the lines
            # table of `oncoline lines` under these parameters (tests/analytics: each cell equals a full derivation)
            # (only the per-line arrays are kept: a cell's per-row arrays are freed as soon as it has run)
            line_no = np.asarray(res.line)
            return _Cell(
                lines=len(res),
                line_no=line_no,
                person=person[res.first_row],
                start=np.asarray(res.start, dtype=np.int64),
                first_line_regimens=_first_line_regimens(res.masks[line_no == 1], prep.codes),
            )

        def summarise(g: int, w: int, t: str, res: _Cell, top: list[str]) -> tuple[dict[str, object], pa.Table]:
            line_no, counts = res.line_no, res.first_line_regimens
            n_persons = int(np.count_nonzero(line_no == 1))
            n_first = max(n_persons, 1)
            share = pa.table(
                {
                    "gap_days": pa.array([g] * len(top), pa.int32()),
                    "regimen_window_days": pa.array([w] * len(top), pa.int32()),
                    "toxicity_stop_ends_line": pa.array([t] * len(top), pa.string()),
                    "regimen": pa.array(top, pa.string()),
                    "persons": pa.array([counts.get(r, 0) for r in top], pa.int64()),
                    "share": pa.array([counts.get(r, 0) / n_first for r in top], pa.float64()),
                }
            )
            days, event = _ttnt(res.person, res.start, as_of_day)
            kept = days > 0  # a non-positive duration is refused, never fitted (analytics.survival.durations)
            days_f = days.astype(np.float64)
            in1, in2 = kept & (line_no == 1), kept & (line_no == 2)
            km1 = km_fit(days_f[in1], event[in1]) if in1.any() else None
            km2 = km_fit(days_f[in2], event[in2]) if in2.any() else None
            row = {
                "gap_days": g,
                "regimen_window_days": w,
                "toxicity_stop_ends_line": t,
                "is_default": (g, w, t) == base,
                "persons": n_persons,
                "lines": res.lines,
                "lines_per_person": res.lines / n_persons if n_persons else None,
                "persons_2l": int(np.count_nonzero(line_no == 2)),
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
            return row, share

        results: dict[tuple[int, int, str], tuple[dict[str, object], pa.Table]] = {}
        # the cells' kernel runs on the pool, each cell's summary (the Kaplan–Meier fits) in this thread, in the
        # cells' order, as its kernel run ends. numba's nogil kernel overlaps there; the ahead-of-time build holds
        # the GIL, so its runs take turns (measured: two runs on two threads 0.25 s against 0.19 s one after the
        # other at 10^7 rows; a second forked process for half of the cells gained ~0.07 s of a 5 s report)
        runs = (
            [pool.submit(run_cell, *cell) for cell in ordered_cells]
            if pool is not None
            else [None for _ in ordered_cells]
        )
        top: list[str] | None = None
        for done, (cell, run) in enumerate(zip(ordered_cells, runs, strict=True), start=1):
            res = run.result() if run is not None else run_cell(*cell)
            if top is None:
                ranked = sorted(res.first_line_regimens.items(), key=lambda kv: (-kv[1], kv[0]))
                top = [name for name, _ in ranked[:top_regimens]]
            results[cell] = summarise(*cell, res, top)
            if on_cell is not None:
                on_cell(done, len(cells))
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
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


def _take(order: npt.NDArray[np.int64], values: npt.NDArray[Any], /) -> npt.NDArray[Any]:
    """``values`` in the row order ``order``."""
    return values[order]


@dataclass(frozen=True)
class _Cell:
    """What the summary of one cell reads from its kernel run: per line (person, line order) the line number, the
    person and the start day; the count of lines and the persons per first-line regimen."""

    lines: int
    line_no: npt.NDArray[Any]
    person: npt.NDArray[np.int64]
    start: npt.NDArray[np.int64]
    first_line_regimens: dict[str, int]


def _by_person_and_day(person: npt.NDArray[np.int32], start: npt.NDArray[np.int32], /) -> npt.NDArray[np.int64]:
    """The permutation sorting rows by (person, start day), rows of one day in their given order (stable).

    The same order as ``np.lexsort((start, person))``, by one plain sort of int64 keys that pack person, start day
    and row number (much cheaper than an argsort at 10^7 rows); the lexsort when the three do not fit in 63 bits.
    """
    import numpy as np

    m = person.shape[0]
    if m == 0:
        return np.zeros(0, np.int64)
    s0 = int(start.min())
    i_bits = (m - 1).bit_length()
    s_bits = (int(start.max()) - s0).bit_length()
    p_bits = int(person.max()).bit_length()
    if int(person.min()) < 0 or p_bits + s_bits + i_bits > 63:
        return np.lexsort((start, person)).astype(np.int64)
    key = person.astype(np.int64)
    key <<= s_bits + i_bits
    part = start.astype(np.int64)
    part -= s0
    part <<= i_bits
    part |= np.arange(m, dtype=np.int64)
    key |= part
    del part
    key.sort()
    key &= (1 << i_bits) - 1
    return key


def _first_line_regimens(masks: npt.NDArray[np.int64], codes: DrugCodes, /) -> dict[str, int]:
    """Persons per first-line regimen (drug names sorted and joined by ``" + "``, as the lines table's
    ``regimen``) from the kernel's drug-set masks of the first lines; each distinct set is decoded once."""
    import numpy as np

    if masks.shape[0] == 0:
        return {}
    if masks.shape[1] == 1:  # one word of drug bits (up to 64 drugs): a plain sort, not np.unique's row views
        one, n = np.unique(masks[:, 0], return_counts=True)
        uniq = one.reshape(-1, 1)
    else:
        uniq, n = np.unique(masks, axis=0, return_counts=True)
    counts: dict[str, int] = {}
    for names, c in zip(codes.decode(uniq), n.tolist(), strict=True):
        regimen = " + ".join(sorted(names))
        counts[regimen] = counts.get(regimen, 0) + int(c)
    return counts


def _ttnt(
    line_person: npt.NDArray[np.int64], line_start: npt.NDArray[np.int64], as_of_day: int, /
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Time to next treatment (days) and event flag of each line, lines in person, line order.

    As :func:`oncoline.engines.lines.cohort.complete_lines` and :func:`oncoline.analytics.survival.durations`: the
    next line's start minus this one's (an event), or for a person's last line the cut-off minus its start
    (censored).
    """
    import numpy as np

    n = line_person.shape[0]
    has_next = np.zeros(n, dtype=np.bool_)
    if n > 1:
        has_next[:-1] = line_person[1:] == line_person[:-1]
    days = as_of_day - line_start
    if n > 1:
        days[:-1] = np.where(has_next[:-1], line_start[1:] - line_start[:-1], days[:-1])
    return days, has_next


FORK_MIN_ROWS = 200_000
"""Exposure rows from which :func:`start_sensitivity_grid` runs the grid in a forked worker process (below, the
fork and the worker's imports cost more than the overlap saves)."""

GRID_THREADS_MIN_ROWS = 1_000_000
"""Kernel rows from which :func:`sensitivity_grid` shares its row gathers and the cells' kernel runs between two
threads (Arrow and numpy release the GIL, as numba's nogil kernel does — not the ahead-of-time build; the tables
are the same)."""

GridResult = tuple["pa.Table", "pa.Table", "CohortReport"]
_WORKER_GRID: Callable[[], GridResult] | None = None


def _worker_grid() -> GridResult:
    """The grid, in the forked worker process (the work was set before the fork)."""
    assert _WORKER_GRID is not None
    return _WORKER_GRID()


class PendingGrid:
    """The sensitivity grid under way: in a worker process forked when this object was made, or run in this
    process when the result is asked for (:func:`start_sensitivity_grid`)."""

    def __init__(self, run: Callable[[], GridResult], /, *, fork: bool) -> None:
        import multiprocessing as mp

        self._run = run
        self._pool: Any = None
        self._future: Any = None
        self.forked = False
        if not fork:
            return
        from concurrent.futures import ProcessPoolExecutor

        global _WORKER_GRID
        _WORKER_GRID = run
        try:
            # with the fork start method the worker is forked at the first submit, here and now
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("fork"))
            self._future = self._pool.submit(_worker_grid)
            self.forked = True
        except Exception:  # no worker: the grid runs in this process when asked for
            self.cancel()
        finally:
            _WORKER_GRID = None

    def cancel(self) -> None:
        """Stop the worker process (an error or Ctrl-C is not held up by a grid nobody will read); the result
        is not to be asked for."""
        if self._pool is not None:
            if self._future is not None and not self._future.done():
                for process in list(getattr(self._pool, "_processes", {}).values()):
                    process.terminate()  # the one worker this object forked
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = self._future = None

    def result(self) -> GridResult:
        """``(summary, regimens, report)``: :func:`sensitivity_grid`'s two tables and the exposure rows' report of
        :func:`~oncoline.engines.lines.duckdb_engine.prepare_kernel_input` (waits for the worker process).

        Raises
        ------
        InputError
            As :func:`sensitivity_grid`. When the worker fails for any reason, the grid runs again in this process,
            so an error is raised here as it would be without the worker (with its type and context intact).
        """
        if self._future is not None:
            try:
                out: GridResult | None = self._future.result()
            except Exception:
                out = None
            finally:
                self.cancel()
            if out is not None:
                return out
        return self._run()


def start_sensitivity_grid(
    exposures: pa.Table,
    index: pa.Table,
    /,
    *,
    params: LineParams,
    as_of: dt.date,
    gap_days: Sequence[int] = GAP_DAYS,
    regimen_window_days: Sequence[int] = REGIMEN_WINDOW_DAYS,
    grid_index: pa.Table | None = None,
    fork: bool | None = None,
) -> PendingGrid:
    """Prepare the exposures and run the grid in a worker process while the caller goes on.

    The worker is forked before this returns (call it before the calling process starts DuckDB or other
    thread pools again, as :func:`oncoline.analytics.concordance.start_concordance`); the caller's own work (the
    lines' aggregates, Kaplan–Meier fits, rendering) then runs on another core. The tables are those of
    :func:`sensitivity_grid` on :func:`~oncoline.engines.lines.duckdb_engine.prepare_kernel_input` of the same
    inputs, whichever process computes them.

    Parameters
    ----------
    exposures, index, params, as_of, gap_days, regimen_window_days
        As for :func:`sensitivity_grid`; the exposure-row report returned is that of ``index``.
    grid_index
        The index the grid runs on when it is not ``index`` (the report's HER2-positive persons: the exposures
        are then prepared once more for it); None: ``index``.
    fork
        Run in a forked worker process: ``None`` (default) from :data:`FORK_MIN_ROWS` exposure rows on, with
        two or more CPUs and where ``fork`` exists; ``False``: in this process when the result is asked for.

    Returns
    -------
    PendingGrid
        ``.result()`` gives ``(summary, regimens, report)``.
    """
    import multiprocessing as mp

    def run() -> GridResult:
        from oncoline.engines.lines.duckdb_engine import prepare_kernel_input

        prep = prepare_kernel_input(exposures, index, params=params, as_of=as_of)
        return grid_on(prep)

    def run_forked() -> GridResult:
        # in the worker process, the longest path of the report: the preparation shares its independent columns
        # and row halves with a second thread (Arrow and numpy release the GIL; the result is the same), so that
        # both cores work on it once the calling process waits for this worker
        from concurrent.futures import ThreadPoolExecutor

        from oncoline.engines.lines.duckdb_engine import prepare_kernel_input

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="oncoline-grid-prepare") as pool:
            prep = prepare_kernel_input(exposures, index, params=params, as_of=as_of, pool=pool)
        return grid_on(prep)

    def grid_on(prep: KernelInput) -> GridResult:
        summary, regimens = sensitivity_grid(
            exposures,
            index if grid_index is None else grid_index,
            params=params,
            as_of=as_of,
            gap_days=gap_days,
            regimen_window_days=regimen_window_days,
            prepared=prep if grid_index is None else None,
        )
        return summary, regimens, prep.report

    if fork is None:
        fork = exposures.num_rows >= FORK_MIN_ROWS and (os.cpu_count() or 1) > 1
    fork = fork and "fork" in mp.get_all_start_methods()
    if fork:
        # the Kaplan–Meier library imported once, before the fork (~1 CPU s): the worker fits the grid's medians
        # and this process the report's curves. (Not on a thread beside the reading: two threads importing numpy
        # and pandas at once can fail with "cannot load module more than once per process".)
        import lifelines  # noqa: F401
    return PendingGrid(run_forked if fork else run, fork=fork)


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
