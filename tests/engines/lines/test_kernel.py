"""The compiled line kernel: each rule branch, its guards, and compiled == plain-Python twin."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oncoline.engines.lines import kernel as k
from oncoline.engines.lines.params import load_line_params
from oncoline.errors import EngineError
from oncoline.knowledge.drugs import load_vocabulary

PARAMS = load_line_params()
CODES = k.DrugCodes.build(load_vocabulary(), PARAMS)


def run(
    rows: list[tuple[int, int, int, str, int]], as_of: int | None = None, *, compiled: bool = True
) -> k.KernelLines:
    """rows: (person, start, end, drug, stop); sorted here as the engines sort them."""
    rows = sorted(rows, key=lambda r: (r[0], r[1], CODES.code(r[3]), r[2]))
    a = np.array([(p, s, e, CODES.code(d), x) for p, s, e, d, x in rows], dtype=np.int64).reshape(-1, 5)
    return k.assign_lines(
        a[:, 0], a[:, 1], a[:, 2], a[:, 3], a[:, 4],
        codes=CODES, params=PARAMS, as_of_day=as_of, compiled=compiled,
    )  # fmt: skip


def q3w(drug: str, first: int, n: int, person: int = 1, stop_last: int = 0) -> list[tuple[int, int, int, str, int]]:
    return [(person, first + 21 * i, first + 21 * i, drug, stop_last if i == n - 1 else 0) for i in range(n)]


def summary(res: k.KernelLines) -> list[tuple[int, tuple[str, ...], str, str, str]]:
    drugs = CODES.decode(res.masks)
    return [
        (int(res.line[i]), tuple(sorted(drugs[i])), k.OPEN_RULES[res.open_rule[i]],
         k.CLOSE_RULES[res.close_rule[i]], k.END_REASONS[res.end_reason[i]])
        for i in range(len(res))
    ]  # fmt: skip


def test_codes_cover_anticancer_drugs_only() -> None:
    assert "trastuzumab" in CODES.names and "denosumab" not in CODES.names
    assert CODES.is_base[CODES.code("pertuzumab")] and not CODES.is_base[CODES.code("trastuzumab emtansine")]
    assert CODES.is_addition[CODES.code("letrozole")] and CODES.is_addition[CODES.code("tucatinib")]
    assert CODES.subst[CODES.code("docetaxel")] == CODES.subst[CODES.code("paclitaxel")] != 0
    assert CODES.subst[CODES.code("capecitabine")] == 0


def test_thp_then_maintenance_then_tdxd() -> None:
    rows = q3w("pertuzumab", 0, 20) + q3w("trastuzumab", 0, 20) + q3w("docetaxel", 0, 6)
    rows += q3w("trastuzumab deruxtecan", 21 * 20, 5)
    res = run(rows, as_of=21 * 24 + 10)
    assert summary(res) == [
        (1, ("docetaxel", "pertuzumab", "trastuzumab"), "first_exposure", "new_drug", "switched"),
        (2, ("trastuzumab deruxtecan",), "new_drug", "ongoing", "ongoing"),
    ]
    assert res.n_exposures.tolist() == [46, 5]
    assert (res.start.tolist(), res.end.tolist()) == ([0, 420], [399, 504])
    assert res.row_line.tolist().count(1) == 46


@pytest.mark.parametrize(("second", "n_lines"), [(120, 1), (121, 2)])
def test_gap_counts_from_latest_end(second: int, n_lines: int) -> None:
    res = run([(1, 0, 10, "capecitabine", 0), (1, 10 + second, 10 + second, "capecitabine", 0)])
    assert len(res) == n_lines
    if n_lines == 2:
        assert k.OPEN_RULES[res.open_rule[1]] == "after_gap" and k.CLOSE_RULES[res.close_rule[0]] == "gap"


@pytest.mark.parametrize(("offset", "n_lines"), [(28, 1), (29, 2)])
def test_regimen_window_is_inclusive(offset: int, n_lines: int) -> None:
    assert len(run([(1, 0, 0, "trastuzumab deruxtecan", 0), (1, offset, offset, "capecitabine", 0)])) == n_lines


def test_taxane_substitution_and_maintenance_addition_join() -> None:
    rows = q3w("pertuzumab", 0, 10) + q3w("trastuzumab", 0, 10) + q3w("docetaxel", 0, 2)
    rows += [(1, 60, 60, "paclitaxel", 0), (1, 150, 300, "letrozole", 0)]
    assert summary(run(rows)) == [
        (1, ("docetaxel", "letrozole", "paclitaxel", "pertuzumab", "trastuzumab"), "first_exposure", "ongoing",
         "ongoing"),
    ]  # fmt: skip


def test_maintenance_addition_needs_recent_antibody() -> None:
    rows = [*q3w("trastuzumab", 0, 3), (1, 42 + 43, 200, "letrozole", 0)]
    assert [s[2] for s in summary(run(rows))] == ["first_exposure", "new_drug"]


def test_documented_stop_earliest_end_and_progression_first() -> None:
    rows = [(1, 0, 30, "capecitabine", 2), (1, 0, 30, "lapatinib", 1), (1, 40, 40, "capecitabine", 0)]
    assert summary(run(rows))[0][3:] == ("documented_progression", "progression")
    rows = [(1, 0, 30, "capecitabine", 2), (1, 0, 60, "lapatinib", 1), (1, 40, 40, "capecitabine", 0)]
    assert summary(run(rows))[0][3:] == ("documented_toxicity", "toxicity")


def test_censoring_without_as_of_uses_latest_end_of_person() -> None:
    # a long oral line overlapping the next line: censoring is the person's latest end, not the last line's
    rows = [(1, 0, 400, "lapatinib", 0), (1, 100, 100, "trastuzumab deruxtecan", 0)]
    res = run(rows)
    assert res.as_of.tolist() == [400, 400]
    assert summary(res)[1][3] == "gap"  # 400 - 100 > 120


def test_persons_are_independent() -> None:
    res = run(q3w("trastuzumab", 0, 2, person=7) + q3w("trastuzumab deruxtecan", 0, 2, person=9))
    assert res.line.tolist() == [1, 1] and res.first_row.tolist() == [0, 2]


def test_rejects_unsorted_or_ragged_input() -> None:
    z = np.zeros(2, np.int64)
    with pytest.raises(EngineError, match="sorted"):
        k.assign_lines(z, np.array([5, 1]), z, z, z, codes=CODES, params=PARAMS, as_of_day=None)
    with pytest.raises(EngineError, match="length"):
        k.assign_lines(z, z[:1], z, z, z, codes=CODES, params=PARAMS, as_of_day=None)
    with pytest.raises(EngineError, match="range"):
        k.assign_lines(z, z, z, np.array([0, 999]), z, codes=CODES, params=PARAMS, as_of_day=None)


def test_decode_spans_several_words() -> None:
    masks = np.array([[0b101, 0], [0, 1], [0b101, 0]], dtype=np.int64)
    wide = k.DrugCodes(
        names=tuple(f"d{i}" for i in range(70)),
        is_base=np.zeros(70, np.bool_), is_addition=np.zeros(70, np.bool_),
        subst=np.zeros(70, np.int64), her2_directed=np.zeros(70, np.bool_),
    )  # fmt: skip
    assert wide.n_words == 2
    assert wide.decode(masks) == [("d0", "d2"), ("d63",), ("d0", "d2")]


_ROW = st.tuples(
    st.integers(1, 3),
    st.integers(0, 400),
    st.integers(0, 60),
    st.sampled_from(["trastuzumab", "pertuzumab", "docetaxel", "paclitaxel", "letrozole", "capecitabine",
                     "trastuzumab deruxtecan", "tucatinib"]),
    st.sampled_from([0, 0, 0, 1, 2]),
)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(_ROW, max_size=40), as_of=st.one_of(st.none(), st.integers(300, 700)))
def test_compiled_equals_plain_python(rows: list[tuple[int, int, int, str, int]], as_of: int | None) -> None:
    full = [(p, s, s + d, drug, x) for p, s, d, drug, x in rows]
    a, b = run(full, as_of, compiled=True), run(full, as_of, compiled=False)
    for name in ("row_line", "first_row", "line", "start", "end", "as_of", "n_exposures", "n_duplicates", "open_rule",
                 "close_rule", "end_reason", "masks"):  # fmt: skip
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    # lines partition the rows: every row has a line, numbers run 1..n per person
    assert int(a.n_exposures.sum()) <= len(full) and (len(full) == 0 or int(a.row_line.min()) >= 1)


def test_source_key_counts_input_rows_and_duplicates() -> None:
    # day 0: a Phesgo row (pertuzumab + trastuzumab, one source), the same row again, and docetaxel
    pert, tras, doce = CODES.code("pertuzumab"), CODES.code("trastuzumab"), CODES.code("docetaxel")
    drug = np.array([pert, tras, pert, tras, doce], dtype=np.int32)
    key = np.array([7, -1, 7, -1, 3], dtype=np.int32)
    z = np.zeros(5, np.int32)
    res = k.assign_lines(
        np.zeros(5, np.int64), z, z, drug, np.zeros(5, np.int8), codes=CODES, params=PARAMS, as_of_day=0,
        source_key=key,
    )  # fmt: skip
    assert res.n_exposures.tolist() == [3] and res.n_duplicates.tolist() == [1]
    with pytest.raises(EngineError, match="length"):
        k.assign_lines(z, z, z, drug, z, codes=CODES, params=PARAMS, as_of_day=0, source_key=key[:2])


@pytest.fixture(scope="module")
def ahead_of_time(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The kernel compiled ahead of time (numba.pycc) into a temporary directory, loaded from there."""
    import importlib.util

    pytest.importorskip("numba")
    from oncoline.engines.lines import kernel_aot

    path = kernel_aot.build(k._kernel_py, k._close_line_py, tmp_path_factory.mktemp("aot"))
    spec = importlib.util.spec_from_file_location("oncoline_lines_kernel", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.kernel


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(_ROW, max_size=40), as_of=st.one_of(st.none(), st.integers(300, 700)))
def test_ahead_of_time_kernel_equals_plain_python(
    ahead_of_time: Any, rows: list[tuple[int, int, int, str, int]], as_of: int | None
) -> None:
    from oncoline.engines.lines import kernel

    full = [(p, s, s + d, drug, x) for p, s, d, drug, x in rows]
    before = kernel._compiled
    kernel._compiled = ahead_of_time
    try:
        a = run(full, as_of, compiled=True)
    finally:
        kernel._compiled = before
    b = run(full, as_of, compiled=False)
    for name in ("row_line", "first_row", "line", "start", "end", "as_of", "n_exposures", "n_duplicates", "open_rule",
                 "close_rule", "end_reason", "masks"):  # fmt: skip
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def test_background_build_keeps_its_process_handle(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The detached ahead-of-time build must not drop its process handle while the build runs: a dropped
    ``Popen`` raises ResourceWarning ("subprocess … is still running"), an error under warnings-as-errors
    (found by the fuzzing suite on a fresh checkout, issue 12)."""
    import gc
    import subprocess
    import warnings

    from oncoline.engines.lines import kernel_aot

    real_popen = subprocess.Popen
    monkeypatch.delenv("ONCOLINE_NO_AOT", raising=False)
    monkeypatch.setattr(kernel_aot, "_target", lambda: tmp_path)
    monkeypatch.setattr(kernel_aot.subprocess, "Popen", lambda _args, **kw: real_popen(["sleep", "5"], **kw))
    before = len(kernel_aot._BUILDS)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        kernel_aot.build_in_background(k._kernel_py, k._close_line_py)
        gc.collect()
    assert len(kernel_aot._BUILDS) == before + 1
    proc = kernel_aot._BUILDS.pop()
    proc.kill()
    proc.wait()
