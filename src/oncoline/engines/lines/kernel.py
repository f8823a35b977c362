"""The line-of-therapy state machine as one compiled pass over sorted numeric arrays.

The DuckDB and Spark engines do the relational work (drug resolution, exclusions, sorting) and hand this
module one row per kept exposure row, sorted by ``(person, start)`` (rows of one day in any order).
:func:`assign_lines` then walks the rows once, day batch by day batch, applying the rules of the
line-of-therapy spec (steps 1–4 of ``notes/lines-spec.md``, mirrored by the pure-Python reference engine)
and returns:

- the line number of every row (rows of one person and one line are contiguous, because a line is the span of
  days from its opening batch to the batch before the next line opens), and
- one record per line: first row, number, start and end day, source rows (``n_exposures``) and duplicate
  source rows, opening and closing rule, end reason and the line's drug set as a bit mask.

Days are whole days since 1970-01-01 (``date32``). Drugs are small integer codes ``0..n_drugs-1`` assigned by
:class:`DrugCodes`; a drug set is a row of ``n_words`` int64 words holding :data:`WORD_BITS` bits each, so the
vocabulary may grow past 63 anticancer drugs without a change here.

The pass is compiled with numba when it is installed (``pip install oncoline[bench]``); without numba the same
function runs as plain Python — identical results, roughly a hundred times slower.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from oncoline.engines.lines.params import LineParams
from oncoline.errors import EngineError
from oncoline.knowledge.drugs import DrugRole, DrugVocabulary

__all__ = [
    "CLOSE_RULES",
    "END_REASONS",
    "HAVE_NUMBA",
    "OPEN_RULES",
    "STOP_CODES",
    "WORD_BITS",
    "DrugCodes",
    "KernelLines",
    "assign_lines",
    "compiled_kernel",
    "preload",
]

WORD_BITS: Final = 63
"""Bits used per int64 word of a drug mask (the sign bit is left alone so plain Python ints fit too)."""

OPEN_RULES: Final = ("first_exposure", "after_gap", "after_progression", "after_toxicity", "new_drug")
"""Opening rule names, indexed by the kernel's ``open_rule`` codes."""
CLOSE_RULES: Final = ("ongoing", "gap", "documented_progression", "documented_toxicity", "new_drug")
"""Closing rule names, indexed by the kernel's ``close_rule`` codes."""
END_REASONS: Final = ("ongoing", "gap", "progression", "toxicity", "switched")
"""End reasons, indexed by the kernel's ``end_reason`` codes."""
STOP_CODES: Final = {"progression": 1, "toxicity": 2}
"""Documented stop reason → the kernel's ``stop`` code (0 = none or a stop that does not end a line)."""
TOXICITY_MODES: Final = ("any_drug", "all_drugs")
"""Values of ``toxicity_stop_ends_line``, indexed by the kernel's ``tox_mode`` code."""

_OPEN_FIRST, _OPEN_GAP, _OPEN_PROG, _OPEN_TOX, _OPEN_NEW = 0, 1, 2, 3, 4
_CLOSE_ONGOING, _CLOSE_GAP, _CLOSE_PROG, _CLOSE_TOX, _CLOSE_NEW = 0, 1, 2, 3, 4
_END_ONGOING, _END_GAP, _END_PROG, _END_TOX, _END_SWITCHED = 0, 1, 2, 3, 4
_NO_DAY: Final = -(2**31) + 1
"""Sentinel for "no such day" (no HER2 antibody yet, no pending documented stop)."""
_NO_STOP: Final = 2**31 - 1
"""Sentinel for "this drug of the open line has no toxicity stop" (later than any day)."""

HAVE_NUMBA: Final = importlib.util.find_spec("numba") is not None
"""True when numba is installed (found without importing it: importing numba costs most of a second)."""

_COMPILE_LOCK = threading.Lock()
_compiled: Callable[..., Any] | None = None
_preload: threading.Thread | None = None


def compiled_kernel() -> Callable[..., Any]:
    """The compiled pass, built on first use: the ahead-of-time module when it exists
    (:mod:`oncoline.engines.lines.kernel_aot`), else numba ``njit`` (cached on disk, GIL released; the
    ahead-of-time build then starts in the background for the next process), else the plain-Python pass when
    numba is absent. numba is imported here, not when this module is imported."""
    global _compiled, _close_line
    with _COMPILE_LOCK:
        if _compiled is None:
            from oncoline.engines.lines import kernel_aot

            ahead = kernel_aot.load(_kernel_py, _close_line_py)  # compiled ahead of time: no numba start-up
            if ahead is not None:
                _compiled = ahead
            elif HAVE_NUMBA:
                from numba import njit

                _close_line = njit(cache=True, nogil=True)(_close_line_py)  # the kernel calls it compiled
                _compiled = njit(cache=True, nogil=True)(_kernel_py)
                kernel_aot.build_in_background(_kernel_py, _close_line_py)  # for the next process
            else:  # pragma: no cover - exercised only where numba is absent
                _compiled = _kernel_py
        return _compiled


def preload() -> None:
    """Start loading the compiled pass in a background thread (once per process); returns at once.

    Importing numba and loading the cached machine code take about half a second of one core; the engines
    call this when they are imported so that the load runs while the input is read (Parquet and DuckDB release
    the GIL) instead of after it. :func:`assign_lines` waits for it when it is still running.
    """
    global _preload
    with _COMPILE_LOCK:
        if _preload is not None or not HAVE_NUMBA:
            return
        _preload = threading.Thread(target=_warm, name="oncoline-kernel-preload", daemon=True)
        _preload.start()


def _warm() -> None:
    try:
        one = np.zeros(1, np.int32)
        codes = DrugCodes(
            names=("x",),
            is_base=np.zeros(1, np.bool_),
            is_addition=np.zeros(1, np.bool_),
            subst=np.zeros(1, np.int64),
            her2_directed=np.zeros(1, np.bool_),
        )
        _run(np.zeros(1, np.int64), one, one, one, np.zeros(1, np.int8), one, codes, 0, 1, 0, 1, None, True)
    except Exception:  # a failed warm-up is not an error: the real call compiles and reports it
        return


@dataclass(frozen=True)
class DrugCodes:
    """Integer codes and rule flags for the anticancer drugs of a vocabulary.

    Attributes
    ----------
    names
        Canonical drug name of each code (vocabulary file order); shape ``(n_drugs,)``.
    is_base
        True for drugs of a ``maintenance_base_classes`` class (HER2 antibodies); shape ``(n_drugs,)``.
    is_addition
        True for maintenance-addition drugs (``maintenance_addition_classes`` or ``_drugs``).
    subst
        Bit mask of the ``substitution_classes`` each drug belongs to (0 = none).
    her2_directed
        True for HER2-directed drugs (used to order a line's drug list).
    """

    names: tuple[str, ...]
    is_base: npt.NDArray[np.bool_]
    is_addition: npt.NDArray[np.bool_]
    subst: npt.NDArray[np.int64]
    her2_directed: npt.NDArray[np.bool_]

    @classmethod
    def build(cls, vocab: DrugVocabulary, params: LineParams) -> DrugCodes:
        """Codes for every anticancer drug of ``vocab`` under the rules ``params``.

        Raises
        ------
        EngineError
            When ``params`` names more than 63 substitution classes (the class mask is one int64).
        """
        drugs = [d for d in vocab.drugs if d.role is DrugRole.ANTICANCER]
        if len(params.substitution_classes) > WORD_BITS:
            raise EngineError("more than 63 substitution classes; the kernel keeps them in one int64 mask")
        subst = np.zeros(len(drugs), dtype=np.int64)
        for i, d in enumerate(drugs):
            for k, c in enumerate(params.substitution_classes):
                if d.in_class(c):
                    subst[i] |= 1 << k
        return cls(
            names=tuple(d.name for d in drugs),
            is_base=np.array(
                [any(d.in_class(c) for c in params.maintenance_base_classes) for d in drugs], dtype=np.bool_
            ),
            is_addition=np.array(
                [
                    d.name in params.maintenance_addition_drugs
                    or any(d.in_class(c) for c in params.maintenance_addition_classes)
                    for d in drugs
                ],
                dtype=np.bool_,
            ),
            subst=subst,
            her2_directed=np.array([d.her2_directed for d in drugs], dtype=np.bool_),
        )

    @property
    def n_words(self) -> int:
        """Number of int64 words in a drug mask."""
        return max(1, -(-len(self.names) // WORD_BITS))

    def code(self, name: str) -> int:
        """The code of canonical anticancer drug ``name``.

        Raises
        ------
        KeyError
            When ``name`` is not an anticancer drug of the vocabulary.
        """
        return self.names.index(name)

    def decode(self, masks: npt.NDArray[np.int64]) -> list[tuple[str, ...]]:
        """Drug names of each mask row, in vocabulary-code order (callers sort as they document).

        Parameters
        ----------
        masks
            Shape ``(n, n_words)``.

        Returns
        -------
        list of tuple of str
            One tuple per mask row; rows that repeat are decoded once.
        """
        if masks.shape[0] == 0:
            return []
        uniq, inverse = np.unique(masks, axis=0, return_inverse=True)
        decoded: list[tuple[str, ...]] = []
        for row in uniq:
            names: list[str] = []
            for w, word in enumerate(row.tolist()):
                for b in range(WORD_BITS):
                    if word >> b & 1:
                        names.append(self.names[w * WORD_BITS + b])
            decoded.append(tuple(names))
        return [decoded[i] for i in np.asarray(inverse).reshape(-1).tolist()]


@dataclass(frozen=True)
class KernelLines:
    """What :func:`assign_lines` found.

    ``row_line`` has one entry per input row (line number, 1-based within the person). Every other array has one
    entry per line, in input order (person, then line): ``first_row`` (index of the line's first row in the
    input), ``line``, ``start``/``end``/``as_of`` (days since epoch; ``as_of`` is the person's censoring day),
    ``n_exposures`` (source rows: rows with ``source_key >= 0``), ``n_duplicates`` (source rows repeating
    another source row of the same day with the same ``source_key`` and end),
    ``open_rule``/``close_rule``/``end_reason`` (codes into :data:`OPEN_RULES`, :data:`CLOSE_RULES`,
    :data:`END_REASONS`) and ``masks`` (shape ``(n_lines, n_words)``). ``end`` is the latest end of the line's
    rows; the reported end is cut to the day before the next line by
    :func:`~oncoline.engines.lines.cohort.complete_lines`.
    """

    row_line: npt.NDArray[np.int32]
    first_row: npt.NDArray[np.int64]
    line: npt.NDArray[np.int32]
    start: npt.NDArray[np.int32]
    end: npt.NDArray[np.int32]
    as_of: npt.NDArray[np.int32]
    n_exposures: npt.NDArray[np.int32]
    n_duplicates: npt.NDArray[np.int32]
    open_rule: npt.NDArray[np.int8]
    close_rule: npt.NDArray[np.int8]
    end_reason: npt.NDArray[np.int8]
    masks: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.line.shape[0])


def _close_line_py(
    li: int,
    rule: int,
    reason: int,
    pend_code: int,
    l_close: npt.NDArray[np.int8],
    l_reason: npt.NDArray[np.int8],
) -> None:
    """Close line ``li`` by ``rule`` / ``reason``, unless it carries a documented stop: that names both."""
    if pend_code == 1:
        l_close[li] = _CLOSE_PROG
        l_reason[li] = _END_PROG
    elif pend_code == 2:
        l_close[li] = _CLOSE_TOX
        l_reason[li] = _END_TOX
    else:
        l_close[li] = rule
        l_reason[li] = reason


_close_line = _close_line_py
"""Replaced by its compiled twin in :func:`compiled_kernel` (numba resolves it when the kernel compiles)."""


def _kernel_py(  # one state machine, kept in one place on purpose
    person: npt.NDArray[np.int64],
    start: npt.NDArray[np.int32],
    end: npt.NDArray[np.int32],
    drug: npt.NDArray[np.int32],
    stop: npt.NDArray[np.int8],
    source_key: npt.NDArray[np.int32],
    is_base: npt.NDArray[np.bool_],
    is_addition: npt.NDArray[np.bool_],
    subst: npt.NDArray[np.int64],
    n_words: int,
    window_days: int,
    gap_days: int,
    ongoing_days: int,
    as_of_day: int,
    have_as_of: bool,
    tox_mode: int,
    row_line: npt.NDArray[np.int32],
    l_first: npt.NDArray[np.int64],
    l_line: npt.NDArray[np.int32],
    l_start: npt.NDArray[np.int32],
    l_end: npt.NDArray[np.int32],
    l_as_of: npt.NDArray[np.int32],
    l_nexp: npt.NDArray[np.int32],
    l_ndup: npt.NDArray[np.int32],
    l_open: npt.NDArray[np.int8],
    l_close: npt.NDArray[np.int8],
    l_reason: npt.NDArray[np.int8],
    l_masks: npt.NDArray[np.int64],
) -> int:
    n = person.shape[0]
    n_drugs = is_base.shape[0]
    li = -1  # index of the open line in the l_* outputs
    # toxicity_stop_ends_line = all_drugs (tox_mode 1): per drug of the open line, the earliest end of its
    # `stopped: toxicity` rows (_NO_STOP: none); s_mask = the drugs whose stop a later day batch has passed
    # (stopped while the rest of the line continued); s_new = s_mask plus the stops the current batch passes
    tox_stop = np.full(n_drugs, _NO_STOP, dtype=np.int32)
    s_mask = np.zeros(n_words, dtype=np.int64)
    s_new = np.zeros(n_words, dtype=np.int64)
    any_tox = False  # tox_stop holds an entry (of the open line; cleared when the next line opens, any person)
    s_any = False  # s_mask is not empty (cleared likewise)
    i = 0
    while i < n:
        # ---- one person: rows i .. p_end-1
        p = person[i]
        p_end = i
        while p_end < n and person[p_end] == p:
            p_end += 1
        p_first_line = li + 1
        p_max_end = end[i]
        line_no = 0
        window_end = 0
        last_end = 0
        last_base = _NO_DAY
        subst_mask = 0
        pend_day = _NO_DAY  # end day of the documented stop of the open line (earliest end; progression first)
        pend_code = 0  # 1 progression, 2 toxicity
        prog_day = _NO_DAY  # all_drugs: earliest end of the open line's progression stops
        tox_next = _NO_DAY  # all_drugs: earliest end of its toxicity stops that no later batch has passed yet
        j = i
        while j < p_end:
            # ---- one day batch: rows j .. b_end-1 share the start day t
            t = start[j]
            b_end = j
            b_max_end = end[j]
            b_base = _NO_DAY
            while b_end < p_end and start[b_end] == t:
                if end[b_end] > b_max_end:
                    b_max_end = end[b_end]
                if is_base[drug[b_end]] and end[b_end] > b_base:
                    b_base = end[b_end]
                b_end += 1
            # ---- decide: join the open line or open a new one (spec step 3 a-f)
            open_rule = -1
            if line_no == 0:
                open_rule = _OPEN_FIRST
            elif tox_mode == 1:
                # ---- toxicity_stop_ends_line = all_drugs (docs/lines.md rules 2-2b)
                named = 1 if prog_day != _NO_DAY else (2 if tox_next != _NO_DAY else 0)
                if prog_day != _NO_DAY and t > prog_day:  # progression ends the line, whatever continues
                    _close_line(li, _CLOSE_GAP, _END_GAP, 1, l_close, l_reason)
                    open_rule = _OPEN_PROG
                else:
                    passed = tox_next != _NO_DAY and t > tox_next  # the first batch after a toxicity stop
                    stopped_any = s_any or passed  # a toxicity stop in effect (most batches: none, fast path)
                    tox_end = False
                    if stopped_any:
                        rest = False
                        for w in range(n_words):
                            s_new[w] = s_mask[w]
                        if passed:
                            for d in range(n_drugs):
                                if tox_stop[d] < t:
                                    w = d // 63
                                    s_new[w] |= np.int64(1) << np.int64(d - w * 63)
                        for w in range(n_words):
                            if l_masks[li, w] & ~s_new[w] != 0:
                                rest = True
                        tox_end = passed and not rest  # every drug of the line stopped
                        if not tox_end:
                            for k in range(j, b_end):  # a stopped drug restarted
                                d = drug[k]
                                w = d // 63
                                if s_new[w] & (np.int64(1) << np.int64(d - w * 63)) != 0:
                                    tox_end = True
                                    break
                    if not tox_end:
                        if t - last_end > gap_days:
                            if passed:
                                tox_end = True
                            else:
                                _close_line(li, _CLOSE_GAP, _END_GAP, named, l_close, l_reason)
                                open_rule = _OPEN_GAP
                        elif t > window_end or stopped_any:  # after a stop the window admits no new drug
                            base_ok = last_base != _NO_DAY and t - last_base <= ongoing_days
                            for k in range(j, b_end):
                                d = drug[k]
                                w = d // 63
                                bit = np.int64(1) << np.int64(d - w * 63)
                                in_line = l_masks[li, w] & bit != 0
                                if not (in_line or (subst[d] & subst_mask) != 0 or (is_addition[d] and base_ok)):
                                    if passed:
                                        tox_end = True
                                    else:
                                        _close_line(li, _CLOSE_NEW, _END_SWITCHED, named, l_close, l_reason)
                                        open_rule = _OPEN_NEW
                                    break
                    if tox_end:  # the line ended on its toxicity stop
                        _close_line(li, _CLOSE_GAP, _END_GAP, 2, l_close, l_reason)
                        open_rule = _OPEN_TOX
                    elif open_rule < 0 and passed:  # the rest continues: the stopped drugs leave the line
                        s_any = True
                        tox_next = _NO_DAY
                        for w in range(n_words):
                            s_mask[w] = s_new[w]
                        for d in range(n_drugs):
                            w = d // 63
                            if (
                                tox_stop[d] != _NO_STOP
                                and s_mask[w] & (np.int64(1) << np.int64(d - w * 63)) == 0
                                and (tox_next == _NO_DAY or tox_stop[d] < tox_next)
                            ):
                                tox_next = tox_stop[d]
            elif pend_code != 0 and t > pend_day:
                _close_line(li, _CLOSE_GAP, _END_GAP, pend_code, l_close, l_reason)  # documented: named by the stop
                open_rule = _OPEN_PROG if pend_code == 1 else _OPEN_TOX
            elif t - last_end > gap_days:
                _close_line(li, _CLOSE_GAP, _END_GAP, pend_code, l_close, l_reason)
                open_rule = _OPEN_GAP
            elif t > window_end:
                base_ok = last_base != _NO_DAY and t - last_base <= ongoing_days
                for k in range(j, b_end):
                    d = drug[k]
                    w = d // 63
                    bit = np.int64(1) << np.int64(d - w * 63)
                    in_line = l_masks[li, w] & bit != 0
                    if not (in_line or (subst[d] & subst_mask) != 0 or (is_addition[d] and base_ok)):
                        _close_line(li, _CLOSE_NEW, _END_SWITCHED, pend_code, l_close, l_reason)
                        open_rule = _OPEN_NEW
                        break
            if open_rule >= 0:
                li += 1
                line_no += 1
                l_first[li] = j
                l_line[li] = line_no
                l_start[li] = t
                l_end[li] = b_max_end
                l_nexp[li] = 0
                l_ndup[li] = 0
                l_open[li] = open_rule
                for w in range(n_words):
                    l_masks[li, w] = 0
                window_end = t + window_days
                last_end = b_max_end
                last_base = _NO_DAY
                subst_mask = 0
                pend_day = _NO_DAY
                pend_code = 0
                prog_day = _NO_DAY
                tox_next = _NO_DAY
                if s_any:
                    for w in range(n_words):
                        s_mask[w] = 0
                    s_any = False
                if any_tox:
                    for d in range(n_drugs):
                        tox_stop[d] = _NO_STOP
                    any_tox = False
            # ---- the batch joins line li: update the state (spec step 3, last paragraph)
            for k in range(j, b_end):
                d = drug[k]
                w = d // 63
                l_masks[li, w] |= np.int64(1) << np.int64(d - w * 63)
                subst_mask |= subst[d]
                row_line[k] = line_no
                sk = source_key[k]
                if sk >= 0:  # a source row (not a product's further component)
                    l_nexp[li] += 1
                    # a duplicate repeats another source row of the batch: same drug(s) and end; batches are small
                    for q in range(j, k):
                        if source_key[q] == sk and end[q] == end[k]:
                            l_ndup[li] += 1
                            break
                if stop[k] != 0:
                    if pend_code == 0 or end[k] < pend_day or (end[k] == pend_day and stop[k] < pend_code):
                        pend_day = end[k]
                        pend_code = stop[k]
                    if stop[k] == 1:
                        if prog_day == _NO_DAY or end[k] < prog_day:
                            prog_day = end[k]
                    else:
                        any_tox = True
                        if end[k] < tox_stop[d]:
                            tox_stop[d] = end[k]
                        if tox_next == _NO_DAY or end[k] < tox_next:
                            tox_next = end[k]
            if b_max_end > last_end:
                last_end = b_max_end
            if b_max_end > p_max_end:
                p_max_end = b_max_end
            if b_base > last_base:
                last_base = b_base
            if b_max_end > l_end[li]:
                l_end[li] = b_max_end
            j = b_end
        # ---- after the person's last batch (spec step 4)
        censor = as_of_day if have_as_of else p_max_end
        if tox_mode == 1:  # a progression stop, or a toxicity stop no later batch passed, names the close
            pend_code = 1 if prog_day != _NO_DAY else (2 if tox_next != _NO_DAY else 0)
        if censor - last_end <= gap_days:  # a documented stop wins: a line that stopped is not ongoing
            _close_line(li, _CLOSE_ONGOING, _END_ONGOING, pend_code, l_close, l_reason)
        else:
            _close_line(li, _CLOSE_GAP, _END_GAP, pend_code, l_close, l_reason)
        for q in range(p_first_line, li + 1):
            l_as_of[q] = censor
        i = p_end
    return li + 1


def assign_lines(
    person: npt.NDArray[np.integer[Any]],
    start: npt.NDArray[np.int32],
    end: npt.NDArray[np.int32],
    drug: npt.NDArray[np.int32],
    stop: npt.NDArray[np.int8],
    /,
    *,
    codes: DrugCodes,
    params: LineParams,
    as_of_day: int | None,
    source_key: npt.NDArray[np.integer[Any]] | None = None,
    compiled: bool = True,
) -> KernelLines:
    """Assign every exposure row to a line of therapy, in one pass.

    Parameters
    ----------
    person, start, end, drug, stop
        One entry per kept exposure row, shape ``(n,)``, sorted by ``(person, start)`` (the rows of one day
        in any order): a person key (any int64, equal keys adjacent), start and end day (days since
        1970-01-01, end already clipped to ``as_of`` and ``>= start``), anticancer drug code
        (:class:`DrugCodes`), documented stop code (:data:`STOP_CODES`, 0 for none). Exact duplicates are
        allowed; they cannot change a line.
    codes
        Drug codes and rule flags built from the same vocabulary and ``params``.
    params
        Line-of-therapy parameters (``regimen_window_days``, ``gap_days``, ``maintenance_ongoing_days``,
        ``toxicity_stop_ends_line``).
    as_of_day
        The data cut-off (days since epoch), or None to censor each person at their latest exposure end.
    source_key
        Shape ``(n,)``: for the row standing for an input (source) row, a code of the drug(s) that row names
        (equal codes = the same drug or product); -1 for the further components of a product (Phesgo's
        trastuzumab row), which are not counted. ``n_exposures`` counts the rows with a code, ``n_duplicates``
        those repeating another row of the same person and day with the same code and end. None: every row
        is a source row whose code is its drug.
    compiled
        False runs the plain-Python twin of the compiled pass (slow; for tests of the fallback).

    Returns
    -------
    KernelLines
        Line number per row and one record per line.

    Raises
    ------
    EngineError
        When the arrays differ in length or are not sorted as required.
    """
    n = int(person.shape[0])
    if not (start.shape[0] == end.shape[0] == drug.shape[0] == stop.shape[0] == n):
        raise EngineError("kernel input arrays differ in length")
    person64: npt.NDArray[np.int64] = np.ascontiguousarray(person, dtype=np.int64)
    start = np.ascontiguousarray(start, dtype=np.int32)
    end = np.ascontiguousarray(end, dtype=np.int32)
    drug = np.ascontiguousarray(drug, dtype=np.int32)
    stop = np.ascontiguousarray(stop, dtype=np.int8)
    skey = drug if source_key is None else np.ascontiguousarray(source_key, dtype=np.int32)
    if skey.shape[0] != n:
        raise EngineError("kernel input arrays differ in length")
    if n > 1:
        same = person64[1:] == person64[:-1]
        if bool(np.any(same & (start[1:] < start[:-1]))):
            raise EngineError("kernel rows are not sorted by (person, start)")
    if n and (int(drug.min()) < 0 or int(drug.max()) >= len(codes.names)):
        raise EngineError("kernel drug code out of range")
    return _run(
        person64,
        start,
        end,
        drug,
        stop,
        skey,
        codes,
        params.regimen_window_days,
        params.gap_days,
        params.maintenance_ongoing_days,
        TOXICITY_MODES.index(params.toxicity_stop_ends_line),
        as_of_day,
        compiled,
    )


def _run(
    person: npt.NDArray[np.int64],
    start: npt.NDArray[np.int32],
    end: npt.NDArray[np.int32],
    drug: npt.NDArray[np.int32],
    stop: npt.NDArray[np.int8],
    skey: npt.NDArray[np.int32],
    codes: DrugCodes,
    window_days: int,
    gap_days: int,
    ongoing_days: int,
    tox_mode: int,
    as_of_day: int | None,
    compiled: bool,
) -> KernelLines:
    """Allocate the outputs and run the pass on validated, contiguous arrays."""
    n = int(person.shape[0])
    n_words = codes.n_words
    row_line = np.zeros(n, dtype=np.int32)
    l_first = np.empty(n, dtype=np.int64)
    l_line = np.empty(n, dtype=np.int32)
    l_start = np.empty(n, dtype=np.int32)
    l_end = np.empty(n, dtype=np.int32)
    l_as_of = np.empty(n, dtype=np.int32)
    l_nexp = np.empty(n, dtype=np.int32)
    l_ndup = np.empty(n, dtype=np.int32)
    l_open = np.empty(n, dtype=np.int8)
    l_close = np.empty(n, dtype=np.int8)
    l_reason = np.empty(n, dtype=np.int8)
    l_masks = np.zeros((n, n_words), dtype=np.int64)
    fn = compiled_kernel() if compiled else _kernel_py
    n_lines = int(
        fn(
            person,
            start,
            end,
            drug,
            stop,
            skey,
            codes.is_base,
            codes.is_addition,
            codes.subst,
            n_words,
            window_days,
            gap_days,
            ongoing_days,
            0 if as_of_day is None else int(as_of_day),
            as_of_day is not None,
            tox_mode,
            row_line,
            l_first,
            l_line,
            l_start,
            l_end,
            l_as_of,
            l_nexp,
            l_ndup,
            l_open,
            l_close,
            l_reason,
            l_masks,
        )
    )
    return KernelLines(
        row_line=row_line,
        first_row=l_first[:n_lines].copy(),
        line=l_line[:n_lines].copy(),
        start=l_start[:n_lines].copy(),
        end=l_end[:n_lines].copy(),
        as_of=l_as_of[:n_lines].copy(),
        n_exposures=l_nexp[:n_lines].copy(),
        n_duplicates=l_ndup[:n_lines].copy(),
        open_rule=l_open[:n_lines].copy(),
        close_rule=l_close[:n_lines].copy(),
        end_reason=l_reason[:n_lines].copy(),
        masks=l_masks[:n_lines].copy(),
    )


if __name__ == "__main__":  # pragma: no cover - the ahead-of-time build step (oncoline.engines.lines.kernel_aot)
    import sys
    from pathlib import Path

    from oncoline.engines.lines import kernel_aot

    print(kernel_aot.build(_kernel_py, _close_line_py, Path(sys.argv[1]) if len(sys.argv) > 1 else None))
