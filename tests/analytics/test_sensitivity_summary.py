"""The sensitivity grid summarises each cell from the line kernel's arrays, without a lines table: every figure of
every cell (persons, lines, persons with a 2L, the first-line regimen shares, the TTNT medians and CI) must equal
the same figure computed from the full lines table of ``derive_lines_cohort`` under the cell's parameters, and the
grid's one sort must give the kernel the rows in the order ``np.lexsort`` gives."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oncoline.analytics.sensitivity import _by_person_and_day, replace_params, sensitivity_grid
from oncoline.analytics.survival import durations, km_fit
from oncoline.engines.lines.duckdb_engine import derive_lines_cohort
from oncoline.engines.lines.params import load_line_params
from tests.analytics.cohort import AS_OF, small_cohort


def _expected(lines: pa.Table, as_of: object) -> tuple[dict[str, object], dict[str, int]]:
    """A grid row's figures and first-line regimen counts from a full lines table (the grid's former path)."""
    first = lines.filter(pc.equal(lines.column("line"), 1))
    counts = {r["values"]: int(r["counts"]) for r in first.column("regimen").value_counts().to_pylist()}
    ttnt, _ = durations(lines, endpoint="ttnt", as_of=as_of)  # type: ignore[arg-type]
    line_no = np.asarray(ttnt.column("line").to_numpy())
    days = np.asarray(ttnt.column("days").to_numpy(), dtype=np.float64)
    event = np.asarray(ttnt.column("event").to_numpy(zero_copy_only=False), dtype=bool)
    km1 = km_fit(days[line_no == 1], event[line_no == 1]) if (line_no == 1).any() else None
    km2 = km_fit(days[line_no == 2], event[line_no == 2]) if (line_no == 2).any() else None
    row = {
        "persons": first.num_rows,
        "lines": lines.num_rows,
        "persons_2l": int(pc.sum(pc.equal(lines.column("line"), 2)).as_py() or 0),
        "median_ttnt_1l_days": km1.median if km1 else None,
        "median_ttnt_1l_lower": km1.median_lower if km1 else None,
        "median_ttnt_1l_upper": km1.median_upper if km1 else None,
        "median_ttnt_2l_days": km2.median if km2 else None,
        "median_ttnt_2l_lower": km2.median_lower if km2 else None,
        "median_ttnt_2l_upper": km2.median_upper if km2 else None,
        "events_ttnt_1l": km1.events if km1 else 0,
        "events_ttnt_2l": km2.events if km2 else 0,
    }
    return row, counts


@pytest.mark.parametrize("at_a_line_start", [False, True])
def test_every_figure_of_every_cell_equals_the_full_lines_table(at_a_line_start: bool) -> None:
    exposures, index, lines = small_cohort()
    params = load_line_params()
    # a cut-off on a second line's start day: its censored TTNT is 0 days, refused and not fitted
    second = lines.filter(pc.equal(lines.column("line"), 2))
    as_of = pc.max(second.column("start_date")).as_py() if at_a_line_start else AS_OF
    summary, regimens = sensitivity_grid(
        exposures, index, params=params, as_of=as_of, gap_days=(60, 120), regimen_window_days=(21, 28)
    )
    assert summary.num_rows == 5
    shares = regimens.to_pylist()
    for row in summary.to_pylist():
        cell = (row["gap_days"], row["regimen_window_days"], row["toxicity_stop_ends_line"])
        derived = derive_lines_cohort(
            exposures,
            index,
            params=replace_params(
                params, gap_days=cell[0], regimen_window_days=cell[1], toxicity_stop_ends_line=cell[2]
            ),
            as_of=as_of,
        ).lines
        want, counts = _expected(derived, as_of)
        assert {key: row[key] for key in want} == want, cell
        assert row["persons"] > 0 and row["persons_2l"] > 0  # the comparison is not of empty cells
        mine = [r for r in shares if (r["gap_days"], r["regimen_window_days"], r["toxicity_stop_ends_line"]) == cell]
        assert mine
        for r in mine:
            assert r["persons"] == counts.get(r["regimen"], 0)
            assert r["share"] == counts.get(r["regimen"], 0) / row["persons"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 40), st.integers(-30, 30)), max_size=60),
    st.booleans(),
)
def test_the_grid_sort_is_lexsort(rows: list[tuple[int, int]], wide: bool) -> None:
    person = np.array([p for p, _ in rows], dtype=np.int32)
    start = np.array([s for _, s in rows], dtype=np.int32)
    if wide and rows:  # keys too wide to pack in 63 bits: the lexsort fallback
        person = person * np.int32(2**25)
        start[0] = np.int32(-(2**30))
    np.testing.assert_array_equal(_by_person_and_day(person, start), np.lexsort((start, person)))


def test_the_grid_in_a_worker_process_equals_the_grid_here() -> None:
    from oncoline.analytics.sensitivity import start_sensitivity_grid
    from oncoline.engines.lines.duckdb_engine import prepare_kernel_input

    exposures, index, _ = small_cohort()
    params = load_line_params()
    pending = start_sensitivity_grid(
        exposures, index, params=params, as_of=AS_OF, gap_days=(60, 120), regimen_window_days=(28,), fork=True
    )
    assert pending.forked
    summary, regimens, report = pending.result()
    here = sensitivity_grid(exposures, index, params=params, as_of=AS_OF, gap_days=(60, 120), regimen_window_days=(28,))
    assert summary.equals(here[0]) and regimens.equals(here[1])
    assert report == prepare_kernel_input(exposures, index, params=params, as_of=AS_OF).report


def test_a_failing_worker_raises_the_error_of_the_grid_here() -> None:
    """Bad exposures fail in the worker; the result runs the grid again here and raises the same InputError
    (its type, message and field intact, not a pickled copy or a broken pool)."""
    from oncoline.analytics.sensitivity import start_sensitivity_grid
    from oncoline.errors import InputError

    exposures, index, _ = small_cohort()
    bad = exposures.drop_columns(["start_date"])
    pending = start_sensitivity_grid(bad, index, params=load_line_params(), as_of=AS_OF, fork=True)
    assert pending.forked
    with pytest.raises(InputError) as forked:
        pending.result()
    with pytest.raises(InputError) as here:
        sensitivity_grid(bad, index, params=load_line_params(), as_of=AS_OF)
    assert str(forked.value) == str(here.value)


def test_cancel_stops_the_worker() -> None:
    from oncoline.analytics.sensitivity import start_sensitivity_grid

    exposures, index, _ = small_cohort()
    pending = start_sensitivity_grid(exposures, index, params=load_line_params(), as_of=AS_OF, fork=True)
    processes = list(pending._pool._processes.values())
    assert processes
    pending.cancel()
    assert all(not p.is_alive() for p in processes)


@pytest.mark.parametrize(("concordance", "her2_negative"), [(False, False), (True, False), (True, True)])
def test_the_report_with_the_grid_in_a_worker_equals_the_report_without(
    concordance: bool, her2_negative: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole report (every table, the notes) is the same whether the grid runs in a forked worker (forced
    here on a small cohort) or in the report's own process."""
    import oncoline.analytics.sensitivity as sensitivity
    from oncoline.app.cohort_report import ReportInputs, ReportOptions, build_cohort_report

    exposures, index, lines = small_cohort()
    if her2_negative:  # a fifth of the index HER2-negative: left out of the grid, kept in the row attrition
        status = ["negative" if i % 5 == 0 else "positive" for i in range(index.num_rows)]
        if "her2_status" in index.column_names:
            index = index.drop_columns(["her2_status"])
        index = index.append_column("her2_status", pa.array(status, pa.string()))
    inputs = ReportInputs(
        lines=lines,
        index=index,
        as_of=AS_OF,
        as_of_note="t",
        params=load_line_params(),
        source="t",
        exposures=exposures,
    )
    options = ReportOptions(concordance=concordance, gap_days=(60, 120), regimen_window_days=(28,))
    started = sensitivity.start_sensitivity_grid
    forked_flags: list[bool] = []

    def spy(*args: object, **kwargs: object) -> sensitivity.PendingGrid:
        pending = started(*args, **kwargs)  # type: ignore[arg-type]
        forked_flags.append(pending.forked)
        return pending

    monkeypatch.setattr(sensitivity, "start_sensitivity_grid", spy)
    results = {}
    for fork_min_rows in (10**12, 0):
        monkeypatch.setattr(sensitivity, "FORK_MIN_ROWS", fork_min_rows)
        results[fork_min_rows] = build_cohort_report(inputs, options=options)
    here, forked = results[10**12], results[0]
    assert set(here.tables) == set(forked.tables) and "sensitivity" in here.tables and "attrition" in here.tables
    for name, table in here.tables.items():
        assert forked.tables[name].equals(table), name
    assert forked.notes == here.notes
    assert forked_flags == [False, True]


def test_the_grid_on_two_threads_equals_the_grid_on_one(monkeypatch: pytest.MonkeyPatch) -> None:
    # the threads start from 10^6 kernel rows; lowered here so that the small cohort takes the threaded path
    import oncoline.analytics.sensitivity as sensitivity

    exposures, index, _ = small_cohort()
    params = load_line_params()
    monkeypatch.setattr(sensitivity.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(sensitivity, "GRID_THREADS_MIN_ROWS", 0)
    summary2, regimens2 = sensitivity_grid(exposures, index, params=params, as_of=AS_OF)
    monkeypatch.setattr(sensitivity, "GRID_THREADS_MIN_ROWS", 10**12)
    summary1, regimens1 = sensitivity_grid(exposures, index, params=params, as_of=AS_OF)
    assert summary2.num_rows == 13 and regimens2.num_rows > 0
    assert summary2.equals(summary1) and regimens2.equals(regimens1)
