"""Small-cell suppression: no count below the threshold reaches a table, the HTML, or a total by subtraction."""

from __future__ import annotations

import re

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oncoline.analytics.suppression import suppress

NOT_COUNTS = {"step", "line", "n_lines", "depth", "month", "gap_days", "regimen_window_days", "rank"}
"""Integer columns that are not counts of persons or lines (ordinals, days, months)."""


@settings(deadline=None)  # the first call imports pyarrow (about a second on a loaded machine)
@given(
    groups=st.lists(st.lists(st.integers(0, 40), min_size=1, max_size=8), min_size=1, max_size=6),
    min_cell=st.integers(1, 11),
)
def test_suppress_property(groups: list[list[int]], min_cell: int) -> None:
    g = [i for i, cells in enumerate(groups) for _ in cells]
    n = [v for cells in groups for v in cells]
    out = suppress(pa.table({"g": g, "n": n}), counts=["n"], group_by=["g"], min_cell=min_cell)
    shown = out.column("n").to_pylist()
    texts = out.column("n_shown").to_pylist()
    for raw, value, text in zip(n, shown, texts, strict=True):
        assert value is None or value == raw  # nothing altered, only hidden
        assert value is None or value == 0 or value >= min_cell  # no small count shown
        assert text == (f"<{min_cell}" if value is None else str(raw))
    for i, cells in enumerate(groups):  # the group total minus the shown cells is 0 or at least min_cell
        hidden = sum(cells) - sum(v for gg, v in zip(g, shown, strict=True) if gg == i and v is not None)
        if sum(cells) < min_cell:  # the total is itself a small count: every non-zero cell is hidden
            assert hidden == sum(cells)
        else:
            assert hidden == 0 or hidden >= min_cell


def _check_tables(tables: dict[str, pa.Table], min_cell: int) -> None:
    for name, table in tables.items():
        for col in table.column_names:
            if col.endswith("_shown"):
                continue
            typ = table.schema.field(col).type
            if not pa.types.is_integer(typ) or col in NOT_COUNTS:
                continue
            assert f"{col}_shown" in table.column_names, f"{name}.{col} is a count without suppression"
            for v, text in zip(table.column(col).to_pylist(), table.column(f"{col}_shown").to_pylist(), strict=True):
                assert v is None or v == 0 or v >= min_cell, (name, col, v)
                assert text == (f"<{min_cell}" if v is None else str(v)), (name, col, v, text)


def _check_subtraction(tables: dict[str, pa.Table], min_cell: int) -> None:
    """Totals a reader can form: the whole cohort's pathways add up to the attrition's persons with ≥ 1 line; the
    children of a shown sunburst node add up to it."""
    attrition = {r["description"]: r["count"] for r in tables["attrition"].to_pylist()}
    total = attrition["at least one metastatic line (the pathway cohort)"]
    if total is not None:
        shown = [r["persons"] for r in tables["pathways"].to_pylist() if r["stratum_kind"] == "all"]
        hidden = total - sum(v for v in shown if v is not None)
        assert hidden == 0 or hidden >= min_cell
    else:  # the total is hidden: so is every whole-cohort pathway (they add up to a small count)
        assert all(r["persons"] in (None, 0) for r in tables["pathways"].to_pylist() if r["stratum_kind"] == "all")
    steps = tables["pathway_steps"].to_pylist()
    node = {(r["stratum_kind"], r["stratum"], r["id"]): r["persons"] for r in steps}
    children: dict[tuple[str, str, str], list[int | None]] = {}
    for r in steps:
        if r["parent"]:
            children.setdefault((r["stratum_kind"], r["stratum"], r["parent"]), []).append(r["persons"])
    for key, values in children.items():
        parent = node.get(key)
        if parent is not None:
            hidden = parent - sum(v for v in values if v is not None)
            assert hidden == 0 or hidden >= min_cell, key


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(min_cell=st.integers(2, 12), seed=st.integers(0, 3))
def test_report_tables_and_html_never_show_a_small_count(min_cell: int, seed: int) -> None:
    from oncoline.app.cohort_report import ReportInputs, ReportOptions, build_cohort_report
    from oncoline.engines.lines.params import load_line_params
    from oncoline.outputs.report import render_report
    from tests.analytics.cohort import AS_OF, small_cohort

    exposures, index, lines = small_cohort(8_000, seed)
    inputs = ReportInputs(
        lines=lines,
        index=index,
        as_of=AS_OF,
        as_of_note="test",
        params=load_line_params(),
        source="test",
        exposures=exposures,
    )
    result = build_cohort_report(
        inputs,
        options=ReportOptions(
            min_cell=min_cell, concordance=seed % 2 == 0, gap_days=(60, 120), regimen_window_days=(28,)
        ),
    )
    _check_tables(result.tables, min_cell)
    _check_subtraction(result.tables, min_cell)
    html = render_report(result)
    cells = re.findall(r'<td class="n c">([^<]*)</td>', html)
    assert cells  # the report has count cells
    for cell in cells:
        assert cell == f"&lt;{min_cell}" or cell == "0" or (cell.isdigit() and int(cell) >= min_cell), cell
    assert f"&lt;{min_cell}" in html or all(c.isdigit() for c in cells)
