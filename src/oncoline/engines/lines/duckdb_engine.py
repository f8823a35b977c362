"""The default cohort line-of-therapy engine: columnar preparation, DuckDB sorts, one compiled pass.

Same contract and same results as the pure-Python reference engine (:mod:`oncoline.engines.lines.reference`
with :func:`~oncoline.engines.lines.cohort.prepare_cohort`), built for 10^7 rows on a laptop:

1. Text columns are dictionary-encoded once (pyarrow): each distinct drug text is resolved through the
   vocabulary once, each distinct person once. Every per-row step after that is integer arithmetic on numpy
   arrays: first-match exclusion reasons with counts and examples, cut-off clipping, product expansion
   (Phesgo → pertuzumab + trastuzumab rows).
2. DuckDB sorts the kept rows by ``(person, start, drug, end)`` (a parallel radix sort on four integer
   columns; persons are numbered in ``person_id`` text order, so the result comes out in output order).
3. :func:`oncoline.engines.lines.kernel.assign_lines` walks the sorted rows once (numba).
4. Lines are assembled with :func:`~oncoline.engines.lines.cohort.complete_lines`; the row → line table is
   sorted by DuckDB.

Exact duplicates are not removed before the kernel: they cannot change a line, the kernel counts each
distinct ``(drug, start, end)`` once, and the report's ``duplicate_rows`` is rows minus distinct rows.

DuckDB is pinned below 2 in ``pyproject.toml`` (2.0 changed its file format); this module only uses its
in-memory SQL over Arrow, which 1.1–1.5 all support.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

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

__all__ = ["KernelInput", "derive_lines_cohort", "prepare_kernel_input", "run_kernel", "with_duplicates"]

_REASONS = tuple(ExclusionReason)
_EXAMPLES_PER_REASON = 3
_EPOCH = dt.date(1970, 1, 1)
_PACK_BITS = 63
"""Sort keys that fit in this many bits are packed into one int64 (tests lower it to reach the SQL sort)."""


@dataclass(frozen=True)
class KernelInput:
    """Rows ready for the kernel, plus what is needed to assemble the output (shared with the Spark engine).

    Row arrays (``person`` … ``source``) have one entry per kept row after product expansion, in input order
    (not sorted). ``person`` indexes ``person_ids`` (sorted text), ``drug`` indexes ``codes.names``,
    ``source`` indexes the input rows. ``kept`` lists the used input rows; ``exposure_ids`` and
    ``person_of_row`` hold, for every input row, its exposure id text and person index.
    """

    person: npt.NDArray[np.int32]
    start: npt.NDArray[np.int32]
    end: npt.NDArray[np.int32]
    drug: npt.NDArray[np.int32]
    stop: npt.NDArray[np.int8]
    source: npt.NDArray[np.int64]
    kept: npt.NDArray[np.int64]
    person_ids: pa.Array
    exposure_ids: pa.ChunkedArray
    person_of_row: npt.NDArray[np.int32]
    codes: k.DrugCodes
    report: CohortReport


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

    Each column is dictionary-encoded in its own type (cheap for integer ids); only the distinct values are
    cast to text, merged and sorted. Returns one index array per column (-1 for null) and the sorted texts.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    encoded = []
    texts = []
    for col in cols:
        enc = (
            pc.dictionary_encode(col).combine_chunks()
            if len(col)
            else pa.DictionaryArray.from_arrays(pa.array([], pa.int32()), pa.array([], pa.string()))
        )
        encoded.append(enc)
        texts.append(pc.cast(enc.dictionary, pa.string()))
    values = pc.unique(pa.chunked_array(texts, pa.string())).drop_null()
    values = values.take(pc.sort_indices(values))
    out = []
    for enc, text in zip(encoded, texts, strict=True):
        rank = np.append(np.asarray(pc.index_in(text, values).to_numpy(zero_copy_only=False), dtype=np.float64), -1)
        rank = np.nan_to_num(rank, nan=-1).astype(np.int32)
        raw = np.asarray(pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
        out.append(rank[raw])  # index -1 reads the appended -1
    return out, values


def prepare_kernel_input(
    exposures: pa.Table, index: pa.Table, /, *, params: LineParams, as_of: dt.date | None
) -> KernelInput:
    """Normalise a cohort into kernel rows, counting every excluded or repaired row.

    The rules, columns and report are those of :func:`oncoline.engines.lines.cohort.prepare_cohort`
    (exclusion reasons in their first-match order, cut-off clipping, product expansion, duplicate count);
    this is its columnar twin, kept equal by the engine conformance tests.

    Parameters
    ----------
    exposures, index, params, as_of
        As for :func:`derive_lines_cohort`.

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

    from oncoline.engines.lines.cohort import _require, row_examples

    _require(exposures, ("person_id", "drug", "start_date"), "exposures")
    _require(index, ("person_id", "metastatic_diagnosis"), "index")
    n = exposures.num_rows
    vocab = load_vocabulary()
    codes = k.DrugCodes.build(vocab, params)
    code_of = {name: i for i, name in enumerate(codes.names)}
    repaired: Counter[str] = Counter()

    # ---- persons: exposures and index share one numbering, in person_id text order
    (person_of_row, idx_pidx), person_ids = _encode(exposures.column("person_id"), index.column("person_id"))
    n_persons = len(person_ids)

    # ---- index dates: earliest per person
    dx_days, dx_missing, _ = _days(index.column("metastatic_diagnosis"))
    ok = ~dx_missing & (idx_pidx >= 0)
    big = np.iinfo(np.int32).max
    dx_of = np.full(n_persons + 1, big, dtype=np.int64)
    np.minimum.at(dx_of, idx_pidx[ok], dx_days[ok])
    n_dx = np.bincount(idx_pidx[ok], minlength=n_persons + 1)
    if int(np.count_nonzero(n_dx > 1)):
        repaired["index_duplicates"] = int(np.count_nonzero(n_dx > 1))
    has_dx = dx_of < big

    # ---- dates and stops
    start, start_missing, start_bad = _days(exposures.column("start_date"))
    has_end = "end_date" in exposures.column_names
    if has_end:
        end, end_missing, end_bad = _days(exposures.column("end_date"))
    else:
        end, end_missing, end_bad = start.copy(), np.ones(n, np.bool_), np.zeros(n, np.bool_)
    end = np.where(end_missing, start, end).astype(np.int32)
    stop = np.zeros(n, dtype=np.int8)
    if "stopped" in exposures.column_names:
        text = pc.utf8_lower(pc.utf8_trim_whitespace(pc.cast(exposures.column("stopped"), pa.string())))
        known = pc.is_in(text, pa.array(["progression", "toxicity", "completed", "ongoing", ""]))
        n_ignored = int(pc.sum(pc.and_(pc.is_valid(text), pc.invert(known))).as_py() or 0)
        if n_ignored:
            repaired["stopped_ignored"] = n_ignored
        for word, code in k.STOP_CODES.items():
            hit = pc.fill_null(pc.equal(text, word), False).to_numpy(zero_copy_only=False)
            stop[np.asarray(hit, dtype=np.bool_)] = code

    # ---- drugs: resolve each distinct text once
    (name_idx,), names = _encode(pc.cast(exposures.column("drug"), pa.string()))
    # status per name: 0 unknown, 1 supportive (no anticancer component), 2 anticancer
    status = np.zeros(len(names) + 1, dtype=np.int8)
    components: list[list[int]] = [[] for _ in range(len(names))]
    for i, raw in enumerate(names.to_pylist()):
        found = vocab.lookup(raw)
        if found is None:
            continue
        kept_codes = [code_of[c] for c in found if drug_flags(c, params).anticancer]
        status[i] = 2 if kept_codes else 1
        components[i] = kept_codes
    name_status = status[name_idx]  # index -1 (null drug) reads the trailing 0: unknown

    # ---- exclusion reasons, first match wins (the order of ExclusionReason)
    pidx_safe = np.where(person_of_row >= 0, person_of_row, n_persons)
    row_has_dx = has_dx[pidx_safe]
    row_dx = dx_of[pidx_safe]
    cut = None if as_of is None else (as_of - _EPOCH).days
    conditions = {
        ExclusionReason.MISSING_START: start_missing,
        ExclusionReason.BAD_DATE: start_bad | end_bad,
        ExclusionReason.END_BEFORE_START: ~start_missing & ~end_bad & (end < start),
        ExclusionReason.UNKNOWN_DRUG: name_status == 0,
        ExclusionReason.SUPPORTIVE: name_status == 1,
        ExclusionReason.NO_INDEX_DATE: ~row_has_dx,
        ExclusionReason.AFTER_CUTOFF: (start > cut) if cut is not None else np.zeros(n, np.bool_),
        ExclusionReason.EARLY_SETTING: row_has_dx & (start < row_dx - params.index_lookback_days),
    }
    reason = np.zeros(n, dtype=np.int8)
    for r, (_, cond) in enumerate(conditions.items(), start=1):
        reason[(reason == 0) & cond] = r
    counts = np.bincount(reason, minlength=len(_REASONS) + 1)
    kept = np.flatnonzero(reason == 0)

    has_ids = "exposure_id" in exposures.column_names
    row_numbers = pa.chunked_array([pa.array(np.arange(n, dtype=np.int64))])
    exposure_ids = exposures.column("exposure_id") if has_ids else row_numbers
    if not (pa.types.is_integer(exposure_ids.type) or pa.types.is_string(exposure_ids.type)):
        exposure_ids = pc.cast(exposure_ids, pa.string())  # ids are compared and sorted as text
    if has_ids and exposure_ids.null_count:
        exposure_ids = pc.if_else(
            pc.is_null(exposure_ids), pc.cast(row_numbers, pa.string()), pc.cast(exposure_ids, pa.string())
        )

    excluded: dict[str, int] = {}
    examples: dict[str, list[str]] = {}
    unknown_drugs: dict[str, int] = {}
    for r, rsn in enumerate(_REASONS, start=1):
        if not counts[r]:
            continue
        excluded[rsn.value] = int(counts[r])
        rows = np.flatnonzero(reason == r)[:_EXAMPLES_PER_REASON]
        examples[rsn.value] = row_examples(exposures, rows.tolist())
        if rsn is ExclusionReason.UNKNOWN_DRUG:
            per_name = np.bincount(name_idx[reason == r] + 1, minlength=len(names) + 1)
            labels = ["(no drug given)", *names.to_pylist()]
            pairs = [(labels[i], int(c)) for i, c in enumerate(per_name.tolist()) if c]
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

    if has_ids and kept.shape[0]:
        _check_unique_ids(person_of_row[kept], exposure_ids.take(pa.array(kept)), person_ids)

    # ---- product expansion: one kernel row per anticancer component
    n_comp = np.array([len(c) for c in components] + [0], dtype=np.int64)
    first = np.array([c[0] if c else -1 for c in components] + [-1], dtype=np.int32)
    row_names = name_idx[kept]
    reps = n_comp[row_names]
    source = np.repeat(kept, reps)
    drug = first[row_names].repeat(reps)
    multi = np.flatnonzero(n_comp > 1)
    if multi.shape[0]:
        # positions of the 2nd, 3rd … component rows within the repeated arrays
        offsets = np.cumsum(reps) - reps
        for name_i in multi.tolist():
            at = offsets[row_names == name_i]
            for j, code in enumerate(components[name_i][1:], start=1):
                drug[at + j] = code

    without_index = np.unique(person_of_row[~row_has_dx & (person_of_row >= 0)])
    report = CohortReport(
        persons=n_persons,
        rows_in=n,
        rows_used=int(kept.shape[0]),
        excluded=excluded,
        unknown_drugs=unknown_drugs,
        examples=examples,
        repaired=dict(repaired),
        persons_without_index=int(without_index.shape[0]),
    )
    return KernelInput(
        person=person_of_row[source],
        start=start[source],
        end=end[source],
        drug=drug,
        stop=stop[source],
        source=source,
        kept=kept,
        person_ids=person_ids,
        exposure_ids=exposure_ids,
        person_of_row=person_of_row,
        codes=codes,
        report=report,
    )


def _check_unique_ids(person: npt.NDArray[np.int32], ids: pa.ChunkedArray, person_ids: pa.Array) -> None:
    """Raise InputError when a person's used rows repeat an exposure id (integer ids: one numpy sort)."""
    import duckdb
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_integer(ids.type) and not ids.null_count:
        e = np.asarray(ids.to_numpy(), dtype=np.int64)
        e0, e1 = int(e.min()), int(e.max())
        if (int(person.max()) + 1).bit_length() + (e1 - e0 + 1).bit_length() <= 63:
            key = (person.astype(np.int64) << (e1 - e0 + 1).bit_length()) | (e - e0)
            key.sort()
            if not bool(np.any(key[1:] == key[:-1])):
                return
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


def _sorted_order(prep: KernelInput, con: Any) -> npt.NDArray[np.int64]:
    """Permutation sorting the kernel rows by (person, start, drug, end).

    The four integer keys are packed into one int64 when their ranges fit in 63 bits (always, for real
    cohorts) and sorted by numpy; otherwise DuckDB sorts the four columns.
    """
    import pyarrow as pa

    m = prep.person.shape[0]
    if m == 0:
        return np.zeros(0, dtype=np.int64)
    s0 = int(prep.start.min())
    span = prep.end - prep.start
    widths = [
        int(prep.person.max()) + 1,
        int(prep.start.max()) - s0 + 1,
        len(prep.codes.names),
        int(span.max()) + 1,
    ]
    if sum(int(w - 1).bit_length() for w in widths) <= _PACK_BITS:
        key = prep.person.astype(np.int64)
        key = key * widths[1] + (prep.start - s0)
        key = key * widths[2] + prep.drug
        key = key * widths[3] + span
        return np.argsort(key).astype(np.int64, copy=False)
    tbl = pa.table(
        {"i": np.arange(m, dtype=np.int64), "p": prep.person, "s": prep.start, "d": prep.drug, "e": prep.end}
    )
    con.register("kernel_rows", tbl)
    res = con.execute("SELECT i FROM kernel_rows ORDER BY p, s, d, e").fetchnumpy()
    con.unregister("kernel_rows")
    return np.asarray(res["i"], dtype=np.int64)


def run_kernel(
    prep: KernelInput, *, params: LineParams, as_of: dt.date | None, con: Any
) -> tuple[pa.Table, pa.Table, int]:
    """Sort, run the kernel and assemble the lines and assignments tables from prepared rows.

    Returns
    -------
    tuple
        Lines (:func:`~oncoline.engines.lines.cohort.lines_schema`), assignments
        (:func:`~oncoline.engines.lines.cohort.assignments_schema`), both sorted as the contract says, and the
        number of duplicate kernel rows (rows minus distinct ``(person, drug, start, end)``).
    """
    order = _sorted_order(prep, con)
    res = k.assign_lines(
        prep.person[order],
        prep.start[order],
        prep.end[order],
        prep.drug[order],
        prep.stop[order],
        codes=prep.codes,
        params=params,
        as_of_day=None if as_of is None else (as_of - _EPOCH).days,
    )
    line_of_source = np.zeros(prep.person_of_row.shape[0], dtype=np.int32)
    line_of_source[prep.source[order]] = res.row_line
    lines = assemble_lines(res, prep.person[order], prep)
    duplicates = int(order.shape[0]) - int(res.n_exposures.sum())
    return lines, assemble_assignments(line_of_source, prep, con), duplicates


def assemble_lines(res: k.KernelLines, sorted_person: npt.NDArray[np.int32], prep: KernelInput) -> pa.Table:
    """The lines table from kernel output (``sorted_person``: the person index of each sorted row)."""
    import pyarrow as pa

    decoded = prep.codes.decode(res.masks)
    core = pa.table(
        {
            "person_id": prep.person_ids.take(pa.array(sorted_person[res.first_row])),
            "line": pa.array(res.line),
            "drugs": pa.array([list(d) for d in decoded], pa.list_(pa.string())),
            "start_date": pa.array(res.start).cast(pa.date32()),
            "end_date": pa.array(res.end).cast(pa.date32()),
            "n_exposures": pa.array(res.n_exposures),
            "open_rule": pa.array(np.array(k.OPEN_RULES, dtype=object)[res.open_rule], pa.string()),
            "close_rule": pa.array(np.array(k.CLOSE_RULES, dtype=object)[res.close_rule], pa.string()),
            "end_reason": pa.array(np.array(k.END_REASONS, dtype=object)[res.end_reason], pa.string()),
        }
    )
    return complete_lines(core)


def assemble_assignments(line_of_source: npt.NDArray[np.int32], prep: KernelInput, con: Any) -> pa.Table:
    """The row → line table (one row per used input row), sorted by person_id, line, exposure_id (text)."""
    import pyarrow as pa

    tbl = pa.table(
        {
            "p": prep.person_of_row[prep.kept],
            "e": prep.exposure_ids.take(pa.array(prep.kept)),
            "line": line_of_source[prep.kept],
        }
    )
    con.register("assigned", tbl)
    ordered = con.execute("SELECT p, CAST(e AS VARCHAR) AS e, line FROM assigned ORDER BY p, line, e").to_arrow_table()
    con.unregister("assigned")
    person = prep.person_ids.take(ordered.column("p"))
    return pa.table(
        {"person_id": person, "exposure_id": ordered.column("e"), "line": ordered.column("line")},
        schema=assignments_schema(),
    )


def derive_lines_cohort(
    exposures: pa.Table, index: pa.Table, /, *, params: LineParams, as_of: dt.date | None
) -> CohortLines:
    """Lines of therapy for a whole cohort (the default, in-process engine).

    Parameters
    ----------
    exposures
        One row per administration or dispensing: ``person_id``, ``drug`` (name, brand, alias or RxNorm
        code), ``start_date`` (date, timestamp or ISO text); optional ``end_date`` (defaults to start),
        ``exposure_id`` (unique per person; defaults to the row number), ``stopped`` (progression |
        toxicity | completed | ongoing).
    index
        ``person_id`` and ``metastatic_diagnosis`` (the earliest is used when a person has several).
    params
        Line-of-therapy parameters (:func:`~oncoline.engines.lines.params.load_line_params`).
    as_of
        The data cut-off (rows starting later are excluded, later ends clipped); ``None`` censors each
        person at their latest exposure end.

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
    try:
        import duckdb
    except ImportError as exc:  # pragma: no cover - duckdb is a core dependency
        raise BackendError("DuckDB is not installed; pip install 'duckdb<2'") from exc
    prep = prepare_kernel_input(exposures, index, params=params, as_of=as_of)
    con = duckdb.connect()
    try:
        lines, assignments, duplicates = run_kernel(prep, params=params, as_of=as_of, con=con)
    except duckdb.Error as exc:
        raise BackendError(f"DuckDB failed while deriving lines: {exc}") from exc
    finally:
        con.close()
    return CohortLines(lines=lines, assignments=assignments, report=with_duplicates(prep.report, duplicates))


def with_duplicates(report: CohortReport, duplicates: int) -> CohortReport:
    """``report`` with ``repaired["duplicate_rows"]`` set (the kernel counts duplicates as it walks)."""
    if not duplicates:
        return report
    return replace(report, repaired={**report.repaired, "duplicate_rows": duplicates})
