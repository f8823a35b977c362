"""The sensitivity grid: each cell equals a full derivation with those parameters, and the rules do move the lines."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from oncoline.analytics.sensitivity import replace_params, sensitivity_grid
from oncoline.engines.lines.duckdb_engine import derive_lines_cohort
from oncoline.engines.lines.params import load_line_params

AS_OF = dt.date(2025, 6, 30)


def _cohort() -> tuple[pa.Table, pa.Table]:
    """Two persons: a 100-day pause in trastuzumab (one line under gap 120/180, two under 60/90), and capecitabine
    added 30 days after lapatinib (one regimen under a 35-day window, a new line under 21/28)."""
    rows = []
    for k in range(6):
        rows.append(("a", "trastuzumab", dt.date(2023, 1, 1) + dt.timedelta(days=21 * k)))
    for k in range(6):
        rows.append(("a", "trastuzumab", dt.date(2023, 1, 1) + dt.timedelta(days=105 + 100 + 21 * k)))
    rows += [("b", "lapatinib", dt.date(2023, 3, 1)), ("b", "capecitabine", dt.date(2023, 3, 31))]
    exposures = pa.table(
        {
            "person_id": [r[0] for r in rows],
            "drug": [r[1] for r in rows],
            "start_date": pa.array([r[2] for r in rows], pa.date32()),
        }
    )
    index = pa.table({"person_id": ["a", "b"], "metastatic_diagnosis": [dt.date(2022, 12, 20)] * 2})
    return exposures, index


def test_each_cell_equals_a_derivation_with_its_parameters() -> None:
    exposures, index = _cohort()
    params = load_line_params()
    summary, _ = sensitivity_grid(exposures, index, params=params, as_of=AS_OF)
    got = {(r["gap_days"], r["regimen_window_days"]): r["lines"] for r in summary.to_pylist()}
    for (gap, window), n in got.items():
        cell = replace_params(params, gap_days=gap, regimen_window_days=window)
        assert derive_lines_cohort(exposures, index, params=cell, as_of=AS_OF).lines.num_rows == n
    assert got[(60, 35)] == 3 and got[(120, 35)] == 2  # the pause splits a's line under short gaps
    assert got[(120, 28)] == 3 and got[(120, 35)] == 2  # the window joins b's capecitabine
    assert [r["is_default"] for r in summary.to_pylist()].count(True) == 1


def test_lines_from_other_parameters_are_noted() -> None:
    """A lines file made with other line rules sat under a grid whose 'default' row was the standard rules, with
    no word; the report now says so when the rules given do not reproduce the lines table."""
    from oncoline.analytics.sensitivity import replace_params
    from oncoline.app.cohort_report import ReportInputs, ReportOptions, build_cohort_report
    from oncoline.engines.lines.params import load_line_params
    from tests.analytics.cohort import AS_OF, small_cohort

    exposures, index, lines = small_cohort(8_000, 3)
    options = ReportOptions(concordance=False, gap_days=(120,), regimen_window_days=(7, 28))
    notes = {}
    for window in (28, 7):
        params = replace_params(load_line_params(), regimen_window_days=window)
        inputs = ReportInputs(
            lines=lines, index=index, as_of=AS_OF, as_of_note="t", params=params, source="t", exposures=exposures
        )
        result = build_cohort_report(inputs, options=options)
        counts = {r["regimen_window_days"]: r["lines"] for r in result.tables["sensitivity"].to_pylist()}
        notes[window] = [n for n in result.notes if "other parameters" in n]
    assert counts[7] != counts[28]  # the data tell the two rules apart
    assert notes[28] == []
    assert len(notes[7]) == 1 and "regimen_window_days 7" in notes[7][0]
