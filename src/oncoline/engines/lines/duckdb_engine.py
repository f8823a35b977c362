"""The default cohort line-of-therapy engine: columnar preparation, DuckDB sorts, one compiled pass.

Same contract and same results as the pure-Python reference engine (:mod:`oncoline.engines.lines.reference`
with :func:`~oncoline.engines.lines.cohort.prepare_cohort`), built for 10^7 rows on a laptop:

1. Text columns are dictionary-encoded once (pyarrow): each distinct drug text is resolved through the
   vocabulary once, each distinct person once. Every per-row step after that is integer arithmetic on numpy
   arrays: first-match exclusion reasons with counts and examples, cut-off clipping, product expansion
   (Phesgo → pertuzumab + trastuzumab rows).
2. The kept rows are sorted by ``(person, start)``: one numpy sort of packed int64 keys carrying the row
   number (DuckDB sorts the columns when the key would not fit); persons are numbered in ``person_id`` text
   order, so the result comes out in output order.
3. :func:`oncoline.engines.lines.kernel.assign_lines` walks the sorted rows once (numba).
4. Lines are assembled with :func:`~oncoline.engines.lines.cohort.complete_lines`; the row → line table is
   sorted by one numpy sort of packed keys for integer exposure ids (their text order is computed
   arithmetically), by DuckDB for text ids.

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
import functools
import importlib.util
import os
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import numpy.typing as npt

from oncoline.engines.lines import kernel as k
from oncoline.engines.lines.cohort import (
    CohortLines,
    CohortReport,
    assignments_schema,
    complete_lines,
    drug_flags,
)
from oncoline.engines.lines.params import LineParams
from oncoline.errors import BackendError, InputError
from oncoline.knowledge.drugs import load_vocabulary
from oncoline.model.lines import ExclusionReason

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "PARALLEL_MIN_ROWS",
    "KernelInput",
    "concat_results",
    "derive_lines_cohort",
    "prepare_kernel_input",
    "run_kernel",
    "split_by_person",
    "with_duplicates",
]

_REASONS = tuple(ExclusionReason)
_EXAMPLES_PER_REASON = 3
_EPOCH = dt.date(1970, 1, 1)
k.preload()  # numba loads the compiled kernel in the background while the caller reads its input

_BLOCK = 1 << 20
"""Rows per block where a step works block by block to keep its temporaries small."""

_PACK_BITS = 63
"""Sort keys that fit in this many bits are packed into one int64 (tests lower it to reach the SQL sort)."""


@dataclass(frozen=True)
class KernelInput:
    """Rows ready for the kernel, plus what is needed to assemble the output (shared with the Spark engine).

    Row arrays (``person`` … ``source``) have one entry per kept row after product expansion, in no particular order
    (kept rows, then the further components of products). ``person`` indexes ``person_ids`` (sorted text), ``drug``
    indexes ``codes.names``, ``source`` indexes the input rows. ``kept`` lists the used input rows; ``exposure_ids``
    and ``person_of_row`` hold, for every input row, its exposure id text and person index. ``source_key`` is the
    kernel's per-row source code (:func:`oncoline.engines.lines.kernel.assign_lines`): the drug-set code of the
    input row on its first kernel row, -1 on a product's further components.
    """

    person: npt.NDArray[np.int32]
    start: npt.NDArray[np.int32]
    end: npt.NDArray[np.int32]
    drug: npt.NDArray[np.int32]
    stop: npt.NDArray[np.int8]
    source: npt.NDArray[np.int64]
    source_key: npt.NDArray[np.int32]
    kept: npt.NDArray[np.int64]
    person_ids: pa.Array
    exposure_ids: pa.ChunkedArray
    person_of_row: npt.NDArray[np.int32]
    codes: k.DrugCodes
    report: CohortReport
    id_numbers: npt.NDArray[np.int64] | None = None
    """``exposure_ids`` as numbers when they are integers without nulls (the fast assignment sort), else None."""


def _days(col: pa.ChunkedArray) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """(days since epoch, missing mask, unparseable mask) for a date, timestamp or text column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from oncoline.engines.lines.cohort import _dates  # the one date parser all engines share

    parsed, missing, bad = _dates(col)
    as_int = pc.cast(parsed, pa.int32())
    days = np.asarray(pc.fill_null(as_int, 0).to_numpy(), dtype=np.int32)
    return (
        days,
        np.asarray(missing.to_numpy(zero_copy_only=False), dtype=np.bool_),
        np.asarray(pc.fill_null(bad, False).to_numpy(zero_copy_only=False), dtype=np.bool_),
    )


def _encode(*cols: pa.ChunkedArray) -> tuple[list[npt.NDArray[np.int32]], pa.Array]:
    """Number the distinct values of ``cols`` (any types, compared as text) in text order.

    Each column is dictionary-encoded in its own type (cheap for integer ids; a column read dictionary-encoded
    keeps its dictionary); only the distinct values are cast to text, merged and sorted. Returns one index
    array per column (-1 for null) and the sorted texts.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    encoded = []
    texts = []
    for col in cols:
        if pa.types.is_dictionary(col.type) and len(col):  # (dictionaries of texts: see _text)
            enc = col.unify_dictionaries().combine_chunks()  # one dictionary; null rows stay null indices
            dictionary = pa.concat_arrays([enc.dictionary, pa.nulls(1, enc.dictionary.type)])
            indices = pc.fill_null(enc.indices, len(enc.dictionary))  # a null row reads the null entry
        else:
            enc = (
                pc.dictionary_encode(col, null_encoding="encode").combine_chunks()  # null is a value: no fill pass
                if len(col)
                else pa.DictionaryArray.from_arrays(pa.array([], pa.int32()), pa.array([], pa.string()))
            )
            dictionary, indices = enc.dictionary, enc.indices
        encoded.append(indices)
        texts.append(pc.cast(dictionary, pa.string()))
    values = pc.unique(pa.chunked_array(texts, pa.string())).drop_null()
    values = values.take(pc.sort_indices(values))
    out = []
    for indices, text in zip(encoded, texts, strict=True):
        rank = np.asarray(pc.fill_null(pc.index_in(text, values), -1).to_numpy(zero_copy_only=False), dtype=np.int32)
        out.append(rank[np.asarray(indices.to_numpy(zero_copy_only=False))])  # the null value reads -1
    return out, values


_SPLIT_MIN_ROWS = 200_000
"""Row-wise work on at least this many rows is cut in halves for two threads (when a pool is given)."""

_T = TypeVar("_T")
_A = TypeVar("_A", bound=np.generic)


def _submit(pool: Executor | None, fn: Callable[[], _T]) -> Future[_T]:
    """``fn`` on the pool, or run now (no pool); the result is read with ``.result()`` either way."""
    if pool is not None:
        return pool.submit(fn)
    done: Future[_T] = Future()
    try:
        done.set_result(fn())
    except BaseException as exc:  # raised again by .result(), as from the pool
        done.set_exception(exc)
    return done


def _gather(values: npt.NDArray[_A], rows: npt.NDArray[np.int64]) -> npt.NDArray[_A]:
    """``values[rows]`` (a function, to run on a pool)."""
    return values[rows]


def _halves(fn: Callable[[int, int], _T], n: int, pool: Executor) -> list[_T]:
    """``[fn(0, n // 2), fn(n // 2, n)]``, the first on the pool beside the second in this thread."""
    first = pool.submit(fn, 0, n // 2)
    second = fn(n // 2, n)
    return [first.result(), second]


def _each_half(fn: Callable[[int, int], None], n: int, pool: Executor | None) -> None:
    """``fn(0, n)``, as ``fn(0, n // 2)`` on the pool beside ``fn(n // 2, n)`` in this thread from
    :data:`_SPLIT_MIN_ROWS` rows with a pool (``fn`` writes rows ``lo:hi`` of its outputs)."""
    if pool is None or n < _SPLIT_MIN_ROWS:
        fn(0, n)
    else:
        _halves(fn, n, pool)


def _text(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """``col`` as text for :func:`_encode`; a dictionary of texts is kept as it is (:func:`_encode` reads its
    dictionary), any other dictionary is decoded first."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(col.type):
        if pa.types.is_string(col.type.value_type) or pa.types.is_large_string(col.type.value_type):
            return col
        col = pa.chunked_array([c.dictionary_decode() for c in col.chunks], col.type.value_type)
    return pc.cast(col, pa.string())


def prepare_kernel_input(
    exposures: pa.Table,
    index: pa.Table,
    /,
    *,
    params: LineParams,
    as_of: dt.date | None,
    pool: Executor | None = None,
) -> KernelInput:
    """Normalise a cohort into kernel rows, counting every excluded or repaired row.

    The rules, columns and report are those of :func:`oncoline.engines.lines.cohort.prepare_cohort`
    (exclusion reasons in their first-match order, cut-off clipping, product expansion, duplicate count);
    this is its columnar twin, kept equal by the engine conformance tests.

    Parameters
    ----------
    exposures, index, params, as_of
        As for :func:`derive_lines_cohort`.
    pool
        Threads to share the work with (independent columns, halves of the rows); the result is the same.
        None: all in the calling thread.

    Returns
    -------
    KernelInput
        Unsorted kernel rows and the cohort report.

    Raises
    ------
    InputError
        When a required column is missing, or an ``exposure_id`` is used twice by one person's used rows.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from oncoline.engines.lines.cohort import _dates, _require, index_findings, row_examples

    _require(exposures, ("person_id", "drug", "start_date"), "exposures")
    _require(index, ("person_id", "metastatic_diagnosis"), "index")
    n = exposures.num_rows
    vocab = load_vocabulary()
    codes = k.DrugCodes.build(vocab, params)
    code_of = {name: i for i, name in enumerate(codes.names)}
    repaired: Counter[str] = Counter()

    # ---- columns that do not depend on each other are converted on the pool's threads while this one numbers
    # the persons (Arrow and numpy release the GIL); tasks on the pool never wait for the pool
    has_end = "end_date" in exposures.column_names
    has_stopped = "stopped" in exposures.column_names
    drugs_job = _submit(pool, lambda: _encode(_text(exposures.column("drug"))))
    stops_job = _submit(pool, lambda: _encode(_text(exposures.column("stopped"))) if has_stopped else None)
    ends_job = _submit(pool, lambda: _days(exposures.column("end_date")) if has_end else None)

    # ---- persons: exposures and index share one numbering, in person_id text order
    (person_of_row, idx_pidx), person_ids = _encode(exposures.column("person_id"), index.column("person_id"))
    n_persons = len(person_ids)

    # ---- index dates: earliest per person
    # a bad index value (not YYYY-MM-DD, not on the calendar, before 1900) is ignored, never day 0
    dx_parsed, _, dx_bad_col = _dates(index.column("metastatic_diagnosis"))
    idx_counts, idx_examples = index_findings(index, dx_bad_col, dx_parsed, as_of)
    repaired.update(idx_counts)
    dx_days = np.asarray(pc.fill_null(pc.cast(dx_parsed, pa.int32()), 0).to_numpy(), dtype=np.int32)
    ok = np.asarray(pc.is_valid(dx_parsed).to_numpy(zero_copy_only=False), dtype=np.bool_) & (idx_pidx >= 0)
    big = np.iinfo(np.int32).max
    dx_of = np.full(n_persons + 1, big, dtype=np.int64)
    np.minimum.at(dx_of, idx_pidx[ok], dx_days[ok])
    n_dx = np.bincount(idx_pidx[ok], minlength=n_persons + 1)
    if int(np.count_nonzero(n_dx > 1)):
        repaired["index_duplicates"] = int(np.count_nonzero(n_dx > 1))
    has_dx = dx_of < big

    # ---- dates and stops
    start, start_missing, start_bad = _days(exposures.column("start_date"))
    ends = ends_job.result()
    if ends is not None:
        end, end_missing, end_bad = ends
    else:
        end, end_missing, end_bad = start.copy(), np.ones(n, np.bool_), np.zeros(n, np.bool_)
    del ends
    end = np.where(end_missing, start, end)  # int32 (both are): no second copy
    stop = np.zeros(n, dtype=np.int8)
    stop_examples: list[str] = []
    stops = stops_job.result()
    if stops is not None:
        # few distinct values: normalise the dictionary, not the rows
        (stop_idx,), stop_texts = stops
        del stops
        norm = [t.strip().lower() for t in stop_texts.to_pylist()]
        stop_code = np.array([k.STOP_CODES.get(t, 0) for t in norm] + [0], dtype=np.int8)
        unknown = np.array([t not in ("progression", "toxicity", "completed", "ongoing", "") for t in norm] + [False])
        ignored_rows = unknown[stop_idx]
        n_ignored = int(np.count_nonzero(ignored_rows))
        if n_ignored:
            repaired["stopped_ignored"] = n_ignored
            first = np.flatnonzero(ignored_rows)[:_EXAMPLES_PER_REASON].tolist()
            stop_examples = row_examples(exposures, first, reason="stopped_ignored")
        stop = stop_code[stop_idx]  # index -1 (null) reads the trailing 0
        del stop_idx, ignored_rows  # arrays of n entries: freed as soon as done, they set the peak memory

    # ---- drugs: resolve each distinct text once
    (name_idx,), names = drugs_job.result()
    # status per name: 0 unknown, 1 supportive (no anticancer component), 2 anticancer
    status = np.zeros(len(names) + 1, dtype=np.int8)
    components: list[list[int]] = [[] for _ in range(len(names))]
    # names resolving to the same drug(s) share a drug-set code (a duplicate is judged on it)
    set_of_name = np.full(len(names) + 1, -1, dtype=np.int32)
    set_codes: dict[tuple[int, ...], int] = {}
    for i, raw in enumerate(names.to_pylist()):
        found = vocab.lookup(raw)
        if found is None:
            continue
        kept_codes = [code_of[c] for c in found if drug_flags(c, params).anticancer]
        status[i] = 2 if kept_codes else 1
        components[i] = kept_codes
        set_of_name[i] = set_codes.setdefault(tuple(sorted(kept_codes)), len(set_codes))

    # ---- exclusion reasons, first match wins (the order of ExclusionReason): written from the last reason to
    # the first, so that the first matching one stays; per-person and per-name facts are looked up in tables
    # (person and name tables have a trailing entry: a row without a person or drug, index -1, reads it)
    seen = np.zeros(n_persons + 1, dtype=np.bool_)
    seen[person_of_row] = True
    cut = None if as_of is None else (as_of - _EPOCH).days
    low = np.iinfo(np.int32).min
    early_before = np.where(has_dx, dx_of - params.index_lookback_days, low).astype(np.int32)
    name_reason = np.select(
        [status == 0, status == 1], [_CODE[ExclusionReason.UNKNOWN_DRUG], _CODE[ExclusionReason.SUPPORTIVE]], 0
    ).astype(np.int8)  # trailing entry (null drug): unknown

    rows = _ReasonInputs(person_of_row, name_idx, start, end, start_missing, start_bad, end_bad)
    # each half of the rows gives its reasons' counts, used rows, first example rows and unknown names; the
    # halves join in row order (no array of reasons for all rows is kept)
    split = functools.partial(_reason_rows, rows, early_before, has_dx, name_reason, cut, len(names) + 1)
    halves = [split(0, n)] if pool is None or n < _SPLIT_MIN_ROWS else _halves(split, n, pool)
    del rows
    counts = sum((h.counts for h in halves), np.zeros(len(_REASONS) + 1, dtype=np.int64))
    kept = halves[0].kept if len(halves) == 1 else np.concatenate([h.kept for h in halves])

    has_ids = "exposure_id" in exposures.column_names

    # default ids: the 1-based data-row number, as messages number rows ("row 1 = first data row"); built only
    # when used (80 MB at 10^7 rows)
    def row_numbers() -> pa.ChunkedArray:
        if "source_row" in exposures.column_names:  # a partition of a larger file numbers its rows as the file does
            return pc.cast(exposures.column("source_row"), pa.int64())
        return pa.chunked_array([pa.array(np.arange(1, n + 1, dtype=np.int64))])

    exposure_ids = exposures.column("exposure_id") if has_ids else row_numbers()
    if not (pa.types.is_integer(exposure_ids.type) or pa.types.is_string(exposure_ids.type)):
        exposure_ids = pc.cast(exposure_ids, pa.string())  # ids are compared and sorted as text
    if has_ids and exposure_ids.null_count:
        exposure_ids = pc.if_else(
            pc.is_null(exposure_ids), pc.cast(row_numbers(), pa.string()), pc.cast(exposure_ids, pa.string())
        )

    excluded: dict[str, int] = {}
    examples: dict[str, list[str]] = {}
    unknown_drugs: dict[str, int] = {}
    for r, rsn in enumerate(_REASONS, start=1):
        if not counts[r]:
            continue
        excluded[rsn.value] = int(counts[r])
        first_rows = [row for h in halves for row in h.examples.get(r, [])][:_EXAMPLES_PER_REASON]
        examples[rsn.value] = row_examples(exposures, first_rows, reason=rsn.value)
        if rsn is ExclusionReason.UNKNOWN_DRUG:
            per_name = sum(h.unknown_per_name for h in halves if h.unknown_per_name is not None)
            labels = ["(no drug given)", *names.to_pylist()]
            pairs = [(labels[i], int(c)) for i, c in enumerate(np.asarray(per_name).tolist()) if c]
            unknown_drugs = dict(sorted(pairs, key=lambda kv: (-kv[1], kv[0])))

    # ---- repairs on the used rows
    n_default = int(np.count_nonzero(end_missing[kept] & ~start_missing[kept])) if has_end else int(kept.shape[0])
    if n_default:
        repaired["end_defaulted_to_start"] = n_default
    if cut is not None:
        over = end[kept] > cut
        if int(np.count_nonzero(over)):
            repaired["end_clipped_to_as_of"] = int(np.count_nonzero(over))
            end[kept[over]] = cut
            # a stop documented at an end after the cut-off had not happened by then
            late_stop = kept[over][stop[kept[over]] != 0]
            if late_stop.shape[0]:
                repaired["stopped_after_cutoff"] = int(late_stop.shape[0])
                stop[late_stop] = 0

    del start_missing, end_missing, start_bad, end_bad
    id_numbers = None
    if pa.types.is_integer(exposure_ids.type) and not exposure_ids.null_count:
        id_numbers = np.asarray(exposure_ids.to_numpy(), dtype=np.int64)
    ids_checked: Future[None] | None = None
    if has_ids and kept.shape[0] and not (id_numbers is not None and _all_distinct(id_numbers)):
        # a sort of the used rows' (person, id) keys: on the pool while this thread expands the products
        ids_kept = exposure_ids.take(pa.array(kept)) if id_numbers is None else id_numbers[kept]
        ids_checked = _submit(pool, lambda: _check_unique_ids(person_of_row[kept], ids_kept, person_ids))

    # ---- product expansion: one kernel row per anticancer component (the 2nd, 3rd … components of products
    # such as Phesgo are appended after the kept rows; the kernel input need not be in any order)
    # (the outputs are allocated once at their final size and filled in place: no lists of parts to join)
    first = np.array([c[0] if c else -1 for c in components] + [-1], dtype=np.int32)
    n_kept = kept.shape[0]
    multi = [i for i, c in enumerate(components) if len(c) > 1]
    m = n_kept + sum(int(sum(h.kept_per_name[i + 1] for h in halves)) * (len(components[i]) - 1) for i in multi)
    del halves
    source = kept if m == n_kept else np.empty(m, dtype=np.int64)
    drug = np.empty(m, dtype=np.int32)
    source_key = np.full(m, -1, dtype=np.int32)

    def fill(lo: int, hi: int) -> list[npt.NDArray[np.int64]]:
        """Kernel rows of used rows ``lo:hi`` (their first component); their rows of each product."""
        row_names = name_idx[kept[lo:hi]]
        np.take(first, row_names, out=drug[lo:hi])
        np.take(set_of_name, row_names, out=source_key[lo:hi])
        if m != n_kept:
            source[lo:hi] = kept[lo:hi]
        return [kept[lo:hi][row_names == i] for i in multi]

    filled = [fill(0, n_kept)] if pool is None or n_kept < _SPLIT_MIN_ROWS else _halves(fill, n_kept, pool)
    del name_idx
    if m != n_kept:
        at = n_kept
        for j, name_i in enumerate(multi):
            rows_i = np.concatenate([part[j] for part in filled])
            for code_j in components[name_i][1:]:
                source[at : at + rows_i.shape[0]] = rows_i
                drug[at : at + rows_i.shape[0]] = code_j
                at += rows_i.shape[0]
    del filled
    # the four row gathers, two on the pool
    person_job = _submit(pool, functools.partial(_gather, person_of_row, source))
    start_job = _submit(pool, functools.partial(_gather, start, source))
    end_rows, stop_rows = end[source], stop[source]

    if stop_examples:
        examples["stopped_ignored"] = stop_examples
    examples.update(idx_examples)
    n_without_index = int(np.count_nonzero(seen[:n_persons] & ~has_dx[:n_persons]))
    if ids_checked is not None:
        ids_checked.result()  # raises its InputError here
    report = CohortReport(
        persons=n_persons,
        rows_in=n,
        rows_used=int(kept.shape[0]),
        excluded=excluded,
        unknown_drugs=unknown_drugs,
        examples=examples,
        repaired=dict(repaired),
        persons_without_index=n_without_index,
    )
    return KernelInput(
        person=person_job.result(),
        start=start_job.result(),
        end=end_rows,
        drug=drug,
        stop=stop_rows,
        source=source,
        source_key=source_key,
        kept=kept,
        person_ids=person_ids,
        exposure_ids=exposure_ids,
        person_of_row=person_of_row,
        codes=codes,
        report=report,
        id_numbers=id_numbers,
    )


@dataclass(frozen=True)
class _ReasonInputs:
    """The per-row arrays :func:`_reasons` reads (one entry per input row)."""

    person: npt.NDArray[np.int32]
    name: npt.NDArray[np.int32]
    start: npt.NDArray[np.int32]
    end: npt.NDArray[np.int32]
    start_missing: npt.NDArray[np.bool_]
    start_bad: npt.NDArray[np.bool_]
    end_bad: npt.NDArray[np.bool_]


_CODE = {rsn: np.int8(i) for i, rsn in enumerate(_REASONS, start=1)}


def _reasons(
    rows: _ReasonInputs,
    early_before: npt.NDArray[np.int32],
    has_dx: npt.NDArray[np.bool_],
    name_reason: npt.NDArray[np.int8],
    cut: int | None,
    lo: int,
    hi: int,
) -> npt.NDArray[np.int8]:
    """Exclusion reason codes (0 = used) of input rows ``lo:hi``, first match wins (the order of
    :class:`ExclusionReason`): written from the last reason to the first, so that the first matching one stays.
    Per-person and per-name facts come from tables with a trailing entry that index -1 (no person, no drug)
    reads."""
    p, s, e = rows.person[lo:hi], rows.start[lo:hi], rows.end[lo:hi]
    s_missing, e_bad = rows.start_missing[lo:hi], rows.end_bad[lo:hi]
    r = np.where(s < early_before[p], _CODE[ExclusionReason.EARLY_SETTING], np.int8(0))
    if cut is not None:
        r[s > cut] = _CODE[ExclusionReason.AFTER_CUTOFF]
    r[~has_dx[p]] = _CODE[ExclusionReason.NO_INDEX_DATE]
    by_name = name_reason[rows.name[lo:hi]]
    np.copyto(r, by_name, where=by_name > 0)
    r[~s_missing & ~e_bad & (e < s)] = _CODE[ExclusionReason.END_BEFORE_START]
    r[rows.start_bad[lo:hi] | e_bad] = _CODE[ExclusionReason.BAD_DATE]
    r[s_missing] = _CODE[ExclusionReason.MISSING_START]
    return r


@dataclass(frozen=True)
class _ReasonRows:
    """What :func:`_reason_rows` finds in a range of input rows (row numbers are of the whole table)."""

    counts: npt.NDArray[np.int64]
    """Rows per reason code (0 = used)."""
    kept: npt.NDArray[np.int64]
    """The used rows, ascending."""
    examples: dict[int, list[int]]
    """Per reason code present, its first rows (at most :data:`_EXAMPLES_PER_REASON`)."""
    unknown_per_name: npt.NDArray[np.int64] | None
    """Rows left out as unknown drugs per drug name index + 1 (0: no drug given); None when there are none."""
    kept_per_name: npt.NDArray[np.int64]
    """Used rows per drug name index + 1."""


def _reason_rows(
    rows: _ReasonInputs,
    early_before: npt.NDArray[np.int32],
    has_dx: npt.NDArray[np.bool_],
    name_reason: npt.NDArray[np.int8],
    cut: int | None,
    n_names: int,
    lo: int,
    hi: int,
) -> _ReasonRows:
    """:func:`_reasons` of input rows ``lo:hi``, counted: per reason its count and first rows, the used rows,
    and the unknown-drug rows per name (``n_names``: names + 1). Row-wise, so halves of the rows can run on two
    threads and join in order."""
    reason = _reasons(rows, early_before, has_dx, name_reason, cut, lo, hi)
    counts = np.bincount(reason, minlength=len(_REASONS) + 1).astype(np.int64)
    kept = np.flatnonzero(reason == 0)
    kept_per_name = np.bincount(rows.name[lo:hi][kept] + 1, minlength=n_names).astype(np.int64)
    kept += lo
    examples: dict[int, list[int]] = {}
    unknown_per_name = None
    unknown = _CODE[ExclusionReason.UNKNOWN_DRUG]
    for r in np.flatnonzero(counts[1:]) + 1:
        at = np.flatnonzero(reason == r)
        examples[int(r)] = (at[:_EXAMPLES_PER_REASON] + lo).tolist()
        if r == unknown:
            unknown_per_name = np.bincount(rows.name[lo:hi][at] + 1, minlength=n_names).astype(np.int64)
    return _ReasonRows(counts, kept, examples, unknown_per_name, kept_per_name)


def _all_distinct(ids: npt.NDArray[np.int64]) -> bool:
    """True when ``ids`` are all different and dense (non-negative, at most 4 per row): one pass over a flag
    per possible value, no sort and no copy. Ids unique over all rows are unique within each person's used
    rows; False means "not shown" (sparse, negative or repeated ids), and the exact check runs."""
    if ids.shape[0] == 0:
        return True
    lo, hi = int(ids.min()), int(ids.max())
    if lo < 0 or hi >= 4 * ids.shape[0] + 1024:
        return False
    flags = np.zeros(hi + 1, dtype=np.bool_)
    flags[ids] = True
    return bool(int(np.count_nonzero(flags)) == ids.shape[0])


def _check_unique_ids(
    person: npt.NDArray[np.int32], ids: pa.ChunkedArray | npt.NDArray[np.int64], person_ids: pa.Array
) -> None:
    """Raise InputError when a person's used rows repeat an exposure id (integer ids: one numpy sort)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(ids, np.ndarray):
        e = ids
        ids = pa.chunked_array([pa.array(e)])
    elif pa.types.is_integer(ids.type) and not ids.null_count:
        e = np.asarray(ids.to_numpy(), dtype=np.int64)
    else:
        e = None
    if e is not None:
        e0, e1 = int(e.min()), int(e.max())
        bits = e1.bit_length() if e0 >= 0 else (e1 - e0 + 1).bit_length()
        if (int(person.max()) + 1).bit_length() + bits <= 63:
            key = person.astype(np.int64)  # in place from here: these arrays have 10^7 entries
            key <<= bits
            if e0 >= 0:
                key |= e
            else:
                key |= e - e0
            key.sort()
            if not bool(np.any(key[1:] == key[:-1])):
                return
    import duckdb

    tbl = pa.table({"p": person, "e": pc.cast(ids, pa.string())})
    con = duckdb.connect()
    try:
        con.register("t", tbl)
        dup = con.execute("SELECT p, e FROM t GROUP BY p, e HAVING count(*) > 1 ORDER BY p, e").fetchall()
    finally:
        con.close()
    if dup:
        shown = ", ".join(f"{person_ids[int(p)].as_py()}/{e}" for p, e in dup[:3])
        raise InputError(
            f"{len(dup)} exposure_id value(s) are used by several rows of one person (e.g. {shown}); "
            "make exposure_id unique per person or leave the column out",
            field="exposure_id",
        )


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
    if p_bits + s_bits + i_bits <= _PACK_BITS:
        # built and unpacked block by block (a temporary of m int64 entries would be 80 MB at 10^7 rows, at the
        # run's peak memory), each half of the rows on its own thread (with a pool); the sort itself is one call
        key = np.empty(m, dtype=np.int64)
        person, start_days = prep.person, prep.start

        def build(lo: int, hi: int) -> None:
            for b in range(lo, hi, _BLOCK):
                e = min(hi, b + _BLOCK)
                part = person[b:e].astype(np.int64)
                part <<= s_bits + i_bits
                day = start_days[b:e].astype(np.int64)
                day -= s0
                day <<= i_bits
                part |= day
                part |= np.arange(b, e, dtype=np.int64)
                key[b:e] = part

        _each_half(build, m, pool)
        key.sort()
        order = np.empty(m, dtype=np.int64)
        start = np.empty(m, dtype=np.int32)

        def unpack(lo: int, hi: int) -> None:
            for b in range(lo, hi, _BLOCK):
                e = min(hi, b + _BLOCK)
                part = key[b:e]
                np.bitwise_and(part, (1 << i_bits) - 1, out=order[b:e])
                part >>= i_bits
                day = part & ((1 << s_bits) - 1)
                day += s0
                start[b:e] = day
                part >>= s_bits

        _each_half(unpack, m, pool)
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
    return _run_kernel([prep], params=params, as_of=as_of, con=con, pool=pool)


def _without_kernel_rows(prep: KernelInput) -> KernelInput:
    """``prep`` without its kernel-row arrays (what the row → line table still needs)."""
    none32 = np.zeros(0, np.int32)
    return replace(
        prep, person=none32, start=none32, end=none32, drug=none32, stop=np.zeros(0, np.int8), source_key=none32
    )


def _run_kernel(
    given: list[KernelInput], *, params: LineParams, as_of: dt.date | None, con: Any, pool: Executor | None
) -> tuple[pa.Table, npt.NDArray[np.int32], int]:
    """:func:`run_kernel` on the one input in ``given``, taken out of the list: when the caller keeps no other
    reference, its unsorted kernel rows are freed as soon as their sorted copies exist (about 190 MB at 10^7
    rows, at the run's peak memory)."""
    prep = given.pop()
    order, person, start = _sorted_order(prep, con, pool)
    end_job = _submit(pool, functools.partial(_gather, prep.end, order))  # two of the four row gathers on the pool
    drug_job = _submit(pool, functools.partial(_gather, prep.drug, order))
    stop, source_key = prep.stop[order], prep.source_key[order]
    end, drug = end_job.result(), drug_job.result()
    del end_job, drug_job  # (a future keeps its result alive)
    prep = _without_kernel_rows(prep)
    res = k.assign_lines(
        person,
        start,
        end,
        drug,
        stop,
        codes=prep.codes,
        params=params,
        as_of_day=None if as_of is None else (as_of - _EPOCH).days,
        source_key=source_key,
    )
    del stop, source_key, end, drug, start
    # arrays of one entry per kernel row are released as soon as done: they set the peak memory
    line_person = person[res.first_row]
    del person
    sorted_line = res.row_line
    res = replace(res, row_line=np.zeros(0, np.int32), first_row=np.arange(len(res), dtype=np.int64))

    # the line of every input row (for the row → line table), on the pool while this thread assembles the lines
    sources_job = _submit(pool, functools.partial(_line_of_source, sorted_line, order, prep))
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


def assemble_lines(res: k.KernelLines, sorted_person: npt.NDArray[np.integer[Any]], prep: KernelInput) -> pa.Table:
    """The lines table from kernel output (``sorted_person``: the person index of each sorted row)."""
    import pyarrow as pa

    # each distinct drug set is decoded once; lines take their list by index
    if len(res):
        if res.masks.shape[1] == 1:  # one word: a 1-D unique is much cheaper than a row-wise one
            words, inverse = np.unique(res.masks[:, 0], return_inverse=True)
            uniq = words.reshape(-1, 1)
        else:
            uniq, inverse = np.unique(res.masks, axis=0, return_inverse=True)
        names = pa.array([sorted(d) for d in prep.codes.decode(uniq)], pa.list_(pa.string()))
        drugs = names.take(pa.array(np.asarray(inverse).reshape(-1)))
    else:
        drugs = pa.array([], pa.list_(pa.string()))
    core = pa.table(
        {
            "person_id": prep.person_ids.take(pa.array(sorted_person[res.first_row])),
            "line": pa.array(res.line),
            "drugs": drugs,
            "start_date": pa.array(res.start).cast(pa.date32()),
            "end_date": pa.array(res.end).cast(pa.date32()),
            "n_exposures": pa.array(res.n_exposures),
            "open_rule": pa.array(np.array(k.OPEN_RULES, dtype=object)[res.open_rule], pa.string()),
            "close_rule": pa.array(np.array(k.CLOSE_RULES, dtype=object)[res.close_rule], pa.string()),
            "end_reason": pa.array(np.array(k.END_REASONS, dtype=object)[res.end_reason], pa.string()),
        }
    )
    return complete_lines(core, presorted=True)  # kernel lines come in person (text order), line order


def _text_order_key(e: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], int] | None:
    """A key that sorts non-negative integers as their decimal texts sort (``"10" < "9"``), and its digits.

    Each number is padded on the right with zeros to the longest length ``D`` (so a text compares equal to
    its extensions), and ties go to the shorter text: ``key = (x * 10**(D - len(x))) << b | len(x)`` with
    ``b`` bits for the length. None when a number is negative or has more than 15 digits.
    """
    if e.shape[0] == 0 or int(e.min()) < 0:
        return None
    digits = len(str(int(e.max())))
    if digits > 15:
        return None
    nd = np.ones(e.shape[0], dtype=np.int8)
    for d in range(1, digits):
        nd += e >= 10**d
    pow10 = 10 ** np.arange(digits + 1, dtype=np.int64)
    key: npt.NDArray[np.int64] = pow10[digits - nd]  # in-place from here: these arrays have 10^7 entries
    key *= e
    key <<= digits.bit_length()
    key |= nd
    return key, digits


def _from_text_order_key(key: npt.NDArray[np.int64], digits: int) -> npt.NDArray[np.int64]:
    """The numbers back from :func:`_text_order_key` (exact: the padded numbers are below 2**53 and are
    divided by a power of ten that divides them)."""
    b = digits.bit_length()
    shift = key & ((1 << b) - 1)
    np.subtract(digits, shift, out=shift)  # the power of ten each number was padded with
    padded = (key >> b).astype(np.float64)
    padded /= (10.0 ** np.arange(digits + 1))[shift]
    np.rint(padded, out=padded)
    return padded.astype(np.int64)


def assemble_assignments(line_of_source: npt.NDArray[np.int32], prep: KernelInput, con: Any) -> pa.Table:
    """The row → line table (one row per used input row), sorted by person_id, line, exposure_id (text).

    Integer exposure ids (and the default row numbers) are sorted in numpy: person, line and a key that
    orders the ids as text (:func:`_text_order_key`) packed into one int64, sorted, and unpacked — the key
    holds the id itself, so no permutation is applied. Text ids, or keys wider than 63 bits, go to DuckDB.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    p = prep.person_of_row[prep.kept]
    line = line_of_source[prep.kept]
    packed = None if prep.id_numbers is None else _text_order_key(prep.id_numbers[prep.kept])
    if packed is not None and p.shape[0]:
        id_key, digits = packed
        e_bits = int(id_key.max()).bit_length()
        l_bits = int(line.max()).bit_length()
        p_bits = int(p.max()).bit_length()
        if p_bits + l_bits + e_bits <= _PACK_BITS:
            key = p.astype(np.int64)  # in place from here: these arrays have 10^7 entries
            key <<= l_bits + e_bits
            part = line.astype(np.int64)
            part <<= e_bits
            key |= part
            key |= id_key
            del part, id_key
            key.sort()
            ids = _from_text_order_key(key & ((1 << e_bits) - 1), digits)
            key >>= e_bits
            line_sorted = (key & ((1 << l_bits) - 1)).astype(np.int32)
            key >>= l_bits
            return pa.table(
                {
                    "person_id": prep.person_ids.take(pa.array(key)),
                    "exposure_id": pc.cast(pa.array(ids), pa.string()),
                    "line": pa.array(line_sorted),
                },
                schema=assignments_schema(),
            )
    tbl = pa.table({"p": p, "e": prep.exposure_ids.take(pa.array(prep.kept)), "line": line})
    con.register("assigned", tbl)
    ordered = con.execute("SELECT p, CAST(e AS VARCHAR) AS e, line FROM assigned ORDER BY p, line, e").to_arrow_table()
    con.unregister("assigned")
    person = prep.person_ids.take(ordered.column("p"))
    return pa.table(
        {"person_id": person, "exposure_id": ordered.column("e"), "line": ordered.column("line")},
        schema=assignments_schema(),
    )


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

    By default one run uses every core (up to four) from :data:`_SPLIT_MIN_ROWS` rows, when called from the
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
    :data:`_SPLIT_MIN_ROWS` rows, and only when called from the main thread — a caller that already runs
    engines on threads (the partitioned file path, person ranges) has the cores busy."""
    if n_rows < _SPLIT_MIN_ROWS or threading.current_thread() is not threading.main_thread():
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
    prep = _without_kernel_rows(given[0])  # the builder keeps only what the row → line table needs
    con = _Connection()
    try:
        # the kernel rows are handed over (freed once sorted)
        lines, line_of_source, duplicates = _run_kernel(given, params=params, as_of=as_of, con=con, pool=pool)
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
