"""The sensitivity grid: each cell equals a full derivation with those parameters, and the rules do move the lines
(``gap_days`` × ``regimen_window_days``, and the partial-toxicity-stop rule ``toxicity_stop_ends_line``)."""

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
    got = {
        (r["gap_days"], r["regimen_window_days"], r["toxicity_stop_ends_line"]): r["lines"] for r in summary.to_pylist()
    }
    assert len(got) == summary.num_rows == 13  # 4 × 3 under all_drugs, and any_drug at the default 120 / 28
    for (gap, window, rule), n in got.items():
        cell = replace_params(params, gap_days=gap, regimen_window_days=window, toxicity_stop_ends_line=rule)
        assert derive_lines_cohort(exposures, index, params=cell, as_of=AS_OF).lines.num_rows == n
    assert got[(60, 35, "all_drugs")] == 3 and got[(120, 35, "all_drugs")] == 2  # the pause splits a's line
    assert got[(120, 28, "all_drugs")] == 3 and got[(120, 35, "all_drugs")] == 2  # the window joins capecitabine
    assert [
        (r["gap_days"], r["regimen_window_days"], r["toxicity_stop_ends_line"])
        for r in summary.to_pylist()
        if r["is_default"]
    ] == [(120, 28, "all_drugs")]


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
        rows = result.tables["sensitivity"].to_pylist()
        counts = {r["regimen_window_days"]: r["lines"] for r in rows if r["toxicity_stop_ends_line"] == "all_drugs"}
        notes[window] = [n for n in result.notes if "other parameters" in n]
    assert counts[7] != counts[28]  # the data tell the two rules apart
    assert notes[28] == []
    assert len(notes[7]) == 1 and "regimen_window_days 7" in notes[7][0]


def _taxane_dropped_cohort(persons: int = 6) -> tuple[pa.Table, pa.Table]:
    """THP every 21 days; the docetaxel of cycle 4 + i is stopped for toxicity while pertuzumab + trastuzumab go on
    to cycle 16 + i; then trastuzumab deruxtecan (a new drug). ``all_drugs``: THP (a de-escalation to HP, the same
    line), then T-DXd; ``any_drug``: THP, HP ``after_toxicity``, then T-DXd."""
    rows: list[tuple[str, str, dt.date, str | None]] = []
    for i in range(persons):
        pid, day0 = f"p{i}", dt.date(2023, 1, 2) + dt.timedelta(days=7 * i)
        for k in range(17 + i):
            day = day0 + dt.timedelta(days=21 * k)
            rows += [(pid, "pertuzumab", day, None), (pid, "trastuzumab", day, None)]
            if k <= 4 + i:
                rows.append((pid, "docetaxel", day, "toxicity" if k == 4 + i else None))
        for k in range(4):
            rows.append((pid, "trastuzumab deruxtecan", day0 + dt.timedelta(days=21 * (17 + i + k)), None))
    exposures = pa.table(
        {
            "person_id": [r[0] for r in rows],
            "drug": [r[1] for r in rows],
            "start_date": pa.array([r[2] for r in rows], pa.date32()),
            "end_date": pa.array([r[2] + dt.timedelta(days=20) for r in rows], pa.date32()),
            "stopped": pa.array([r[3] for r in rows], pa.string()),
        }
    )
    index = pa.table(
        {"person_id": [f"p{i}" for i in range(persons)], "metastatic_diagnosis": [dt.date(2022, 12, 20)] * persons}
    )
    return exposures, index


def test_toxicity_rule_is_a_cell_of_the_grid() -> None:
    """The knowledge file says the grid shows both values of toxicity_stop_ends_line: a taxane dropped for toxicity
    while HP continues is one line by default and two under any_drug, which shortens the first line's TTNT."""
    from oncoline.analytics.sensitivity import sensitivity_tables, unmoved_rules
    from oncoline.analytics.survival import DAYS_PER_MONTH
    from oncoline.outputs.report.figures import sensitivity_multiples

    exposures, index = _taxane_dropped_cohort()
    params = load_line_params()
    summary, regimens = sensitivity_grid(
        exposures, index, params=params, as_of=AS_OF, gap_days=(90, 120), regimen_window_days=(28,)
    )
    rows = {(r["gap_days"], r["toxicity_stop_ends_line"]): r for r in summary.to_pylist()}
    assert set(rows) == {(90, "all_drugs"), (120, "all_drugs"), (120, "any_drug")}
    default, literal = rows[(120, "all_drugs")], rows[(120, "any_drug")]
    assert default["is_default"] and not literal["is_default"]
    assert (default["lines"], literal["lines"]) == (12, 18)  # 2 lines per person, 3 under any_drug
    assert literal["persons_2l"] == default["persons_2l"] == 6
    # 1L TTNT: THP to T-DXd (17-22 cycles) against THP to HP (5-10 cycles)
    assert literal["median_ttnt_1l_days"] < default["median_ttnt_1l_days"]
    assert default["median_ttnt_1l_days"] == 21 * 19 and literal["median_ttnt_1l_days"] == 21 * 7
    for rule in ("all_drugs", "any_drug"):  # the cell is the engine's answer under that rule
        cell = replace_params(params, toxicity_stop_ends_line=rule)
        assert (
            derive_lines_cohort(exposures, index, params=cell, as_of=AS_OF).lines.num_rows == rows[(120, rule)]["lines"]
        )
    assert set(regimens.column("toxicity_stop_ends_line").to_pylist()) == {"all_drugs", "any_drug"}

    # the table names the rule in its own column; the default cell and the any_drug cell are separate groups
    table = sensitivity_tables(summary, regimens, min_cell=5)["sensitivity"]
    assert table.column("toxicity_stop_ends_line").to_pylist() == ["all_drugs", "all_drugs", "any_drug"]
    assert table.column("lines").to_pylist() == [12, 12, 18]
    # the plot shows the any_drug cell: one marker per panel at gap_days 120, its own values
    fig = sensitivity_multiples(summary, regimens, {})
    marks = [t for t in fig.data if "any_drug" in (t.name or "")]
    assert len(marks) >= 4 and all(list(t.x) == [120] for t in marks)
    assert [m.y[0] for m in marks[:3]] == [3.0, literal["median_ttnt_1l_days"] / DAYS_PER_MONTH, 6]
    assert "toxicity_stop_ends_line" in fig.layout.title.text
    # gap_days 90 / 120 move nothing here; the any_drug cell does not hide that or count as a gap value
    notes = unmoved_rules(summary)
    assert len(notes) == 1 and notes[0].startswith("gap_days 90, 120 give the same")


def test_a_toxicity_rule_that_moves_nothing_is_explained() -> None:
    """A cohort without a partial toxicity stop gives the same lines under both rules: the report says why, and
    the gap_days and regimen_window_days rules (which do move this cohort) get no sentence."""
    from oncoline.analytics.sensitivity import unmoved_rules

    exposures, index = _cohort()
    summary, _ = sensitivity_grid(exposures, index, params=load_line_params(), as_of=AS_OF)
    notes = unmoved_rules(summary)
    assert len(notes) == 1
    assert notes[0].startswith("toxicity_stop_ends_line all_drugs, any_drug give the same persons and lines at")
    assert "gap_days 120, regimen_window_days 28" in notes[0]


def test_unknown_toxicity_rule_is_refused() -> None:
    import pytest

    from oncoline.analytics.sensitivity import grid_cells
    from oncoline.errors import InputError

    with pytest.raises(InputError, match="choose from all_drugs, any_drug"):
        grid_cells(load_line_params(), toxicity_stop_ends_line=("some_drug",))
    # lines derived under any_drug: the grid runs under it, the extra cell is all_drugs (still at 120 / 28)
    literal = load_line_params({"toxicity_stop_ends_line": "any_drug"})
    cells = grid_cells(literal, gap_days=(60, 120), regimen_window_days=(21,))
    assert cells == [(60, 21, "any_drug"), (120, 21, "any_drug"), (120, 28, "all_drugs")]
    assert grid_cells(
        load_line_params(), gap_days=(120,), regimen_window_days=(28,), toxicity_stop_ends_line=("all_drugs",)
    ) == [(120, 28, "all_drugs")]
