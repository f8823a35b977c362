"""The kernel step of the DuckDB line engine: sort the prepared rows by (person, start), run the compiled kernel
(:func:`oncoline.engines.lines.kernel.assign_lines`) once over them, and assemble the lines table.

The sort is one numpy sort of packed int64 keys carrying the row number (DuckDB sorts the columns when the key
would not fit); persons are numbered in ``person_id`` text order, so the result comes out in output order.
Arrays of one entry per kernel row are released as soon as the next step has what it needs: they set the
run's peak memory.
"""

from __future__ import annotations

import datetime as dt
import functools
from concurrent.futures import Executor
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from oncoline.engines.lines import _rows
from oncoline.engines.lines import kernel as k
from oncoline.engines.lines.assemble import assemble_lines
from oncoline.engines.lines.params import LineParams
from oncoline.engines.lines.prepare import EPOCH, KernelInput

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["run_kernel", "run_kernel_handing_over", "without_kernel_rows"]


def _sorted_order(
    prep: KernelInput, con: Any, pool: Executor | None = None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int32]]:
    """Permutation sorting the kernel rows by (person, start) — all the kernel needs — and the sorted keys.

    When person, start day and row number fit in 63 bits together (always, for real cohorts) they are packed
    into one int64 key with the row number in the low bits; a plain numpy sort of the keys (much faster than
    an argsort) then yields the permutation in the low bits and the sorted person and start in the high
    bits. Otherwise DuckDB sorts the columns.

    Returns
    -------
    tuple
        ``(order, person[order], start[order])``.
    """
    import pyarrow as pa

    m = prep.person.shape[0]
    if m == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int32)
    s0 = int(prep.start.min())
    i_bits = (m - 1).bit_length()
    s_bits = (int(prep.start.max()) - s0).bit_length()
    p_bits = int(prep.person.max()).bit_length()
    if p_bits + s_bits + i_bits <= _rows.PACK_BITS:
        # built and unpacked block by block (a temporary of m int64 entries would be 80 MB at 10^7 rows, at the
        # run's peak memory), each half of the rows on its own thread (with a pool); the sort itself is one call
        key = np.empty(m, dtype=np.int64)
        person, start_days = prep.person, prep.start

        def build(lo: int, hi: int) -> None:
            for b in range(lo, hi, _rows.BLOCK):
                e = min(hi, b + _rows.BLOCK)
                part = person[b:e].astype(np.int64)
                part <<= s_bits + i_bits
                day = start_days[b:e].astype(np.int64)
                day -= s0
                day <<= i_bits
                part |= day
                part |= np.arange(b, e, dtype=np.int64)
                key[b:e] = part

        _rows.each_half(build, m, pool)
        key.sort()
        order = np.empty(m, dtype=np.int64)
        start = np.empty(m, dtype=np.int32)

        def unpack(lo: int, hi: int) -> None:
            for b in range(lo, hi, _rows.BLOCK):
                e = min(hi, b + _rows.BLOCK)
                part = key[b:e]
                np.bitwise_and(part, (1 << i_bits) - 1, out=order[b:e])
                part >>= i_bits
                day = part & ((1 << s_bits) - 1)
                day += s0
                start[b:e] = day
                part >>= s_bits

        _rows.each_half(unpack, m, pool)
        return order, key, start
    tbl = pa.table(
        {"i": np.arange(m, dtype=np.int64), "p": prep.person, "s": prep.start, "d": prep.drug, "e": prep.end}
    )
    con.register("kernel_rows", tbl)
    res = con.execute("SELECT i FROM kernel_rows ORDER BY p, s, d, e").fetchnumpy()
    con.unregister("kernel_rows")
    order = np.asarray(res["i"], dtype=np.int64)
    return order, prep.person[order].astype(np.int64), prep.start[order]


def run_kernel(
    prep: KernelInput, *, params: LineParams, as_of: dt.date | None, con: Any, pool: Executor | None = None
) -> tuple[pa.Table, npt.NDArray[np.int32], int]:
    """Sort, run the kernel and assemble the lines table from prepared rows.

    Returns
    -------
    tuple
        Lines (:func:`~oncoline.engines.lines.cohort.lines_schema`, sorted as the contract says), the line of
        every input row (0 for rows not used; :func:`assemble_assignments` turns it into the assignments
        table), and the number of duplicate source rows (repeating another used row's person, drug or
        product, start and end).
    """
    return run_kernel_handing_over([prep], params=params, as_of=as_of, con=con, pool=pool)


def without_kernel_rows(prep: KernelInput) -> KernelInput:
    """``prep`` without its kernel-row arrays (what the row → line table still needs)."""
    none32 = np.zeros(0, np.int32)
    return replace(
        prep, person=none32, start=none32, end=none32, drug=none32, stop=np.zeros(0, np.int8), source_key=none32
    )


def run_kernel_handing_over(
    given: list[KernelInput], *, params: LineParams, as_of: dt.date | None, con: Any, pool: Executor | None
) -> tuple[pa.Table, npt.NDArray[np.int32], int]:
    """:func:`run_kernel` on the one input in ``given``, taken out of the list: when the caller keeps no other
    reference, its unsorted kernel rows are freed as soon as their sorted copies exist (about 190 MB at 10^7
    rows, at the run's peak memory)."""
    prep = given.pop()
    order, person, start = _sorted_order(prep, con, pool)
    end_job = _rows.submit(
        pool, functools.partial(_rows.gather, prep.end, order)
    )  # two of the four row gathers on the pool
    drug_job = _rows.submit(pool, functools.partial(_rows.gather, prep.drug, order))
    stop, source_key = prep.stop[order], prep.source_key[order]
    end, drug = end_job.result(), drug_job.result()
    del end_job, drug_job  # (a future keeps its result alive)
    prep = without_kernel_rows(prep)
    res = k.assign_lines(
        person,
        start,
        end,
        drug,
        stop,
        codes=prep.codes,
        params=params,
        as_of_day=None if as_of is None else (as_of - EPOCH).days,
        source_key=source_key,
    )
    del stop, source_key, end, drug, start
    # arrays of one entry per kernel row are released as soon as done: they set the peak memory
    line_person = person[res.first_row]
    del person
    sorted_line = res.row_line
    res = replace(res, row_line=np.zeros(0, np.int32), first_row=np.arange(len(res), dtype=np.int64))

    # the line of every input row (for the row → line table), on the pool while this thread assembles the lines
    sources_job = _rows.submit(pool, functools.partial(_line_of_source, sorted_line, order, prep))
    del sorted_line, order
    lines = assemble_lines(res, line_person, prep)
    line_of_source = sources_job.result()
    del sources_job
    duplicates = int(res.n_duplicates.sum())
    return lines, line_of_source, duplicates


def _line_of_source(
    sorted_line: npt.NDArray[np.int32], order: npt.NDArray[np.int64], prep: KernelInput
) -> npt.NDArray[np.int32]:
    """The line of every input row (0: not used) from the line of each sorted kernel row."""
    row_line = np.empty_like(sorted_line)  # back in kernel-row order: an int32 scatter, not an int64 gather
    row_line[order] = sorted_line
    line_of_source = np.zeros(prep.person_of_row.shape[0], dtype=np.int32)
    line_of_source[prep.source] = row_line
    return line_of_source
