"""The default cohort line-of-therapy engine: columnar preparation, DuckDB sorts, one compiled pass.

Same contract and same results as the pure-Python reference engine (:mod:`oncoline.engines.lines.reference`
with :func:`~oncoline.engines.lines.cohort.prepare_cohort`), built for 10^7 rows on a laptop:

1. Preparation (:mod:`~oncoline.engines.lines.prepare`): text columns are dictionary-encoded once (pyarrow):
   each distinct drug text is resolved through the vocabulary once, each distinct person once. Every per-row
   step after that is integer arithmetic on numpy arrays: first-match exclusion reasons with counts and
   examples, cut-off clipping, product expansion (Phesgo → pertuzumab + trastuzumab rows).
2. The kernel step (:mod:`~oncoline.engines.lines.kernel_run`): the kept rows are sorted by ``(person, start)``
   — one numpy sort of packed int64 keys carrying the row number (DuckDB sorts the columns when the key would
   not fit); persons are numbered in ``person_id`` text order, so the result comes out in output order — and
   :func:`oncoline.engines.lines.kernel.assign_lines` walks the sorted rows once (numba).
3. Assembly (:mod:`~oncoline.engines.lines.assemble`): lines with
   :func:`~oncoline.engines.lines.cohort.complete_lines`; the row → line table sorted by one numpy sort of
   packed keys for integer exposure ids (their text order is computed arithmetically), by DuckDB for text ids.

This module runs the three (:func:`derive_lines_cohort`) and owns the threads, the DuckDB connection and the
person ranges; the steps' shared row helpers are in :mod:`~oncoline.engines.lines._rows`.

Both cores: from the main thread, one run shares its work with helper threads (independent columns, row
halves, row gathers); Arrow and numpy release the GIL, the kernel (compiled ahead of time) is a small part.
Peak memory is kept down by freeing each step's arrays as soon as the next has what it needs (the kernel rows
are handed over to the kernel step), building sort keys in place and reading drug names dictionary-encoded.

Exact duplicates are not removed before the kernel: they cannot change a line. ``n_exposures`` counts the
input (source) rows of a line; the kernel also counts, per line, the source rows that repeat another one's
person, drug (or product), start and end, which is the report's ``duplicate_rows``.

DuckDB is pinned below 2 in ``pyproject.toml`` (2.0 changed its file format); this module only uses its
in-memory SQL over Arrow, which 1.1–1.5 all support.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import os
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from oncoline.engines.lines import _rows
from oncoline.engines.lines import kernel as k
from oncoline.engines.lines.assemble import assemble_assignments, assemble_lines
from oncoline.engines.lines.cohort import CohortLines, CohortReport
from oncoline.engines.lines.kernel_run import run_kernel, run_kernel_handing_over, without_kernel_rows
from oncoline.engines.lines.params import LineParams
from oncoline.engines.lines.prepare import KernelInput, prepare_kernel_input
from oncoline.errors import BackendError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "PARALLEL_MIN_ROWS",
    "KernelInput",
    "assemble_assignments",
    "assemble_lines",
    "concat_results",
    "derive_lines_cohort",
    "prepare_kernel_input",
    "run_kernel",
    "split_by_person",
    "with_duplicates",
]

k.preload()  # numba loads the compiled kernel in the background while the caller reads its input


@contextlib.contextmanager
def _without_hugepage_hint() -> Iterator[None]:
    """Turn off numpy's transparent-huge-page hint for large arrays while the engine runs (restored after).

    The engine allocates short-lived arrays of 10^7 entries. With the common Linux setting
    ``transparent_hugepage/defrag = madvise``, each such array numpy marks for huge pages is faulted in with
    synchronous memory compaction: at 10^7 rows that was 1.4 s of 4.2 s in a fresh process (system time),
    for no gain in a single pass. This is numpy's documented ``NUMPY_MADVISE_HUGEPAGE=0`` switch, applied
    only for the call; where numpy lacks the switch nothing changes.
    """
    switch = getattr(getattr(np, "_core", None), "multiarray", None)
    setter = getattr(switch, "_set_madvise_hugepage", None)
    if setter is None:  # pragma: no cover - numpy without the switch
        yield
        return
    previous = setter(False)
    try:
        yield
    finally:
        setter(previous)


def derive_lines_cohort(
    exposures: pa.Table, index: pa.Table, /, *, params: LineParams, as_of: dt.date | None, workers: int | None = None
) -> CohortLines:
    """Lines of therapy for a whole cohort (the default, in-process engine).

    By default one run uses every core (up to four) from :data:`_rows.SPLIT_MIN_ROWS` rows, when called from the
    main thread: helper threads convert independent columns while the calling thread numbers persons, split
    row-wise steps in halves and do half of the row gathers (Arrow and numpy release the GIL); the result is
    the same. With ``workers`` > 1 and from :data:`PARALLEL_MIN_ROWS` exposure rows up, the cohort is instead
    cut into ``workers`` contiguous ranges of persons that run on parallel threads; the results concatenate in
    person order to the single-thread result. Not the default: cutting the input into ranges copies every
    column, which on 2 cores costs about the CPU time the second core saves (benchmarks/README.md). The row →
    line table is built when :attr:`CohortLines.assignments` is first read.

    Parameters
    ----------
    exposures
        One row per administration or dispensing: ``person_id``, ``drug`` (name, brand, alias or RxNorm
        code), ``start_date`` (date, timestamp or ISO text); optional ``end_date`` (defaults to start),
        ``exposure_id`` (unique per person; defaults to the 1-based data-row number), ``stopped`` (progression |
        toxicity | completed | ongoing).
    index
        ``person_id`` and ``metastatic_diagnosis`` (the earliest is used when a person has several).
    params
        Line-of-therapy parameters (:func:`~oncoline.engines.lines.params.load_line_params`).
    as_of
        The data cut-off (rows starting later are excluded, later ends clipped); ``None`` censors each
        person at their latest exposure end.
    workers
        Threads running person ranges; None: one range (with helper threads, see above).

    Returns
    -------
    CohortLines
        ``lines``: one row per person_id and line; ``assignments``: one row per used input row;
        ``report``: every excluded and repaired row counted. Equal to the reference engine's result.

    Raises
    ------
    InputError
        When a required column is missing or an ``exposure_id`` repeats within a person.
    BackendError
        When DuckDB is not installed or fails.

    References
    ----------
    notes/lines-spec.md and :mod:`oncoline.engines.lines.cohort` (the algorithm); lines.yaml (parameters
    and their sources).
    """
    if importlib.util.find_spec("duckdb") is None:  # pragma: no cover - duckdb is a core dependency
        raise BackendError("DuckDB is not installed; pip install 'duckdb<2'")  # (found, not imported: see _Connection)
    n_workers = 1 if workers is None else max(1, workers)
    with _without_hugepage_hint():
        if n_workers == 1 or exposures.num_rows < PARALLEL_MIN_ROWS:
            helpers = _helper_threads(exposures.num_rows)
            if not helpers:
                return _derive_one(exposures, index, params=params, as_of=as_of)
            with ThreadPoolExecutor(max_workers=helpers, thread_name_prefix="oncoline-lines-helper") as pool:
                return _derive_one(exposures, index, params=params, as_of=as_of, pool=pool)
        parts = split_by_person(exposures, index, n_workers)
        with ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="oncoline-lines") as pool:
            results = list(pool.map(lambda part: _derive_one(part[0](), part[1](), params=params, as_of=as_of), parts))
    return concat_results(results)


PARALLEL_MIN_ROWS = 200_000
"""Cohorts with at least this many exposure rows run as person ranges on parallel threads."""


def _helper_threads(n_rows: int) -> int:
    """Threads that share one run's work with the calling thread: one per further core (at most 3), from
    :data:`_rows.SPLIT_MIN_ROWS` rows, and only when called from the main thread — a caller that already runs
    engines on threads (the partitioned file path, person ranges) has the cores busy."""
    if n_rows < _rows.SPLIT_MIN_ROWS or threading.current_thread() is not threading.main_thread():
        return 0
    return max(0, min(3, (os.cpu_count() or 1) - 1))


class _Connection:
    """A DuckDB connection opened on first use: most runs sort in numpy and never need one, and then do not
    import DuckDB at all (~0.06 s of CPU time at start-up, a tenth of a whole-process run at 10^6 rows)."""

    def __init__(self) -> None:
        self._con: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._con is None:
            import duckdb

            self._con = duckdb.connect()
        return getattr(self._con, name)

    def close(self) -> None:
        if self._con is not None:
            self._con.close()


def _is_duckdb_error(exc: BaseException) -> bool:
    """True for an error raised by DuckDB (only ever when DuckDB was imported)."""
    duckdb = sys.modules.get("duckdb")
    return duckdb is not None and isinstance(exc, duckdb.Error)


def _derive_one(
    exposures: pa.Table, index: pa.Table, /, *, params: LineParams, as_of: dt.date | None, pool: Executor | None = None
) -> CohortLines:
    """One thread's work (with ``pool``'s helpers): the engine on a cohort (or a range of its persons);
    assignments deferred."""
    given = [prepare_kernel_input(exposures, index, params=params, as_of=as_of, pool=pool)]
    prep = without_kernel_rows(given[0])  # the builder keeps only what the row → line table needs
    con = _Connection()
    try:
        # the kernel rows are handed over (freed once sorted)
        lines, line_of_source, duplicates = run_kernel_handing_over(
            given, params=params, as_of=as_of, con=con, pool=pool
        )
    except Exception as exc:
        if _is_duckdb_error(exc):
            raise BackendError(f"DuckDB failed while deriving lines: {exc}") from exc
        raise
    finally:
        con.close()
    prep = replace(prep, source=np.zeros(0, np.int64))  # nor the kernel rows' sources

    def build() -> pa.Table:
        with _without_hugepage_hint():
            local = _Connection()
            try:
                return assemble_assignments(line_of_source, prep, local)
            except Exception as exc:
                if _is_duckdb_error(exc):
                    raise BackendError(f"DuckDB failed while sorting the row assignments: {exc}") from exc
                raise
            finally:
                local.close()

    return CohortLines(lines=lines, build_assignments=build, report=with_duplicates(prep.report, duplicates))


def split_by_person(
    exposures: pa.Table, index: pa.Table, parts: int
) -> list[tuple[Callable[[], pa.Table], Callable[[], pa.Table]]]:
    """Cut a cohort into ``parts`` contiguous ranges of ``person_id`` text order (the engines' output order).

    Each range holds about as many distinct persons; rows without a person go to the first. Both tables gain a
    ``source_row`` column (1-based row number in the whole table, unless present) so that default exposure
    ids and the examples of each part name the rows as a run on the whole cohort does; the part results, in
    order, concatenate to that run's result (:func:`concat_results`).

    Returns
    -------
    list
        Per part, two functions returning its exposure and index rows (the filtering runs in the caller's
        thread).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    def with_rows(table: pa.Table) -> pa.Table:
        if "source_row" in table.column_names:
            return table
        return table.append_column("source_row", pa.array(np.arange(1, table.num_rows + 1, dtype=np.int64)))

    exposures, index = with_rows(exposures), with_rows(index)
    encoded = []
    texts = []
    for table in (exposures, index):
        col = table.column("person_id")
        enc = (
            pc.dictionary_encode(col).combine_chunks()
            if len(col)
            else pa.DictionaryArray.from_arrays(pa.array([], pa.int32()), pa.array([], pa.string()))
        )
        encoded.append(enc)
        texts.append(pc.cast(enc.dictionary, pa.string()))
    values = pc.unique(pa.chunked_array(texts, pa.string())).drop_null()
    values = values.take(pc.sort_indices(values))
    bounds = [values[len(values) * j // parts] for j in range(1, parts)] if len(values) else []
    row_parts = []
    for enc, text in zip(encoded, texts, strict=True):
        part_of_value = np.zeros(len(text) + 1, dtype=np.int8)  # the trailing entry: rows without a person
        for bound in bounds:
            part_of_value[:-1] += np.asarray(pc.greater_equal(text, bound).to_numpy(zero_copy_only=False), np.int8)
        idx = np.asarray(pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
        row_parts.append(part_of_value[idx])

    def rows_of(table: pa.Table, which: npt.NDArray[np.int8], j: int) -> Callable[[], pa.Table]:
        return lambda: table.filter(pa.array(which == j))

    return [(rows_of(exposures, row_parts[0], j), rows_of(index, row_parts[1], j)) for j in range(parts)]


def concat_results(results: list[CohortLines]) -> CohortLines:
    """One result from the results of contiguous person ranges, in range order (see :func:`split_by_person`)."""
    import pyarrow as pa

    from oncoline.engines.lines.cohort import merge_reports

    lines = pa.concat_tables([r.lines for r in results]).combine_chunks()

    def build() -> pa.Table:
        return pa.concat_tables([r.assignments for r in results]).combine_chunks()

    return CohortLines(lines=lines, build_assignments=build, report=merge_reports([r.report for r in results]))


def with_duplicates(report: CohortReport, duplicates: int) -> CohortReport:
    """``report`` with ``repaired["duplicate_rows"]`` set (the kernel counts duplicates as it walks)."""
    if not duplicates:
        return report
    return replace(report, repaired={**report.repaired, "duplicate_rows": duplicates})
