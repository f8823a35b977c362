"""Preparation for the DuckDB line engine: a cohort's exposure and index tables → kernel rows and the report.

The columnar twin of :func:`oncoline.engines.lines.cohort.prepare_cohort` (kept equal by the engine conformance
tests): text columns dictionary-encoded once (each distinct drug text resolved through the vocabulary once, each
distinct person once), then integer arithmetic on numpy arrays — first-match exclusion reasons with counts and
examples, cut-off clipping, product expansion (Phesgo → pertuzumab + trastuzumab rows). With a pool, independent
columns and halves of the rows run on two threads (:mod:`~oncoline.engines.lines._rows`); the result is the same.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import Counter
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from oncoline.engines.lines import _rows
from oncoline.engines.lines import kernel as k
from oncoline.engines.lines.cohort import CohortReport, drug_flags
from oncoline.engines.lines.params import LineParams
from oncoline.errors import InputError
from oncoline.knowledge.drugs import load_vocabulary
from oncoline.model.lines import ExclusionReason

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["EPOCH", "KernelInput", "prepare_kernel_input"]

_REASONS = tuple(ExclusionReason)
_EXAMPLES_PER_REASON = 3
EPOCH = dt.date(1970, 1, 1)
"""Day 0 of the kernel's day numbers."""


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
    drugs_job = _rows.submit(pool, lambda: _encode(_text(exposures.column("drug"))))
    stops_job = _rows.submit(pool, lambda: _encode(_text(exposures.column("stopped"))) if has_stopped else None)
    ends_job = _rows.submit(pool, lambda: _days(exposures.column("end_date")) if has_end else None)

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
    cut = None if as_of is None else (as_of - EPOCH).days
    low = np.iinfo(np.int32).min
    early_before = np.where(has_dx, dx_of - params.index_lookback_days, low).astype(np.int32)
    name_reason = np.select(
        [status == 0, status == 1], [_CODE[ExclusionReason.UNKNOWN_DRUG], _CODE[ExclusionReason.SUPPORTIVE]], 0
    ).astype(np.int8)  # trailing entry (null drug): unknown

    rows = _ReasonInputs(person_of_row, name_idx, start, end, start_missing, start_bad, end_bad)
    # each half of the rows gives its reasons' counts, used rows, first example rows and unknown names; the
    # halves join in row order (no array of reasons for all rows is kept)
    split = functools.partial(_reason_rows, rows, early_before, has_dx, name_reason, cut, len(names) + 1)
    halves = [split(0, n)] if pool is None or n < _rows.SPLIT_MIN_ROWS else _rows.halves(split, n, pool)
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
        ids_checked = _rows.submit(pool, lambda: _check_unique_ids(person_of_row[kept], ids_kept, person_ids))

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

    fill = functools.partial(
        _fill_kernel_rows, kept, name_idx, first, set_of_name, multi, drug, source_key, None if m == n_kept else source
    )
    filled = [fill(0, n_kept)] if pool is None or n_kept < _rows.SPLIT_MIN_ROWS else _rows.halves(fill, n_kept, pool)
    del fill, name_idx
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
    person_job = _rows.submit(pool, functools.partial(_rows.gather, person_of_row, source))
    start_job = _rows.submit(pool, functools.partial(_rows.gather, start, source))
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


def _fill_kernel_rows(
    kept: npt.NDArray[np.int64],
    name_idx: npt.NDArray[np.int32],
    first: npt.NDArray[np.int32],
    set_of_name: npt.NDArray[np.int32],
    multi: list[int],
    drug: npt.NDArray[np.int32],
    source_key: npt.NDArray[np.int32],
    source: npt.NDArray[np.int64] | None,
    lo: int,
    hi: int,
) -> list[npt.NDArray[np.int64]]:
    """Kernel rows ``lo:hi`` for used rows ``kept[lo:hi]``: each row's first drug component, drug-set code and
    (when ``source`` is given) source row, written in place; returns, per product name index in ``multi``, its
    used rows (ascending) — the further components are appended by the caller. Row-wise, so halves of the rows
    can run on two threads."""
    row_names = name_idx[kept[lo:hi]]
    np.take(first, row_names, out=drug[lo:hi])
    np.take(set_of_name, row_names, out=source_key[lo:hi])
    if source is not None:
        source[lo:hi] = kept[lo:hi]
    return [kept[lo:hi][row_names == i] for i in multi]


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
