"""Small-cell suppression: no count below the threshold reaches a table, the HTML, or a total by subtraction."""

from __future__ import annotations

import re

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oncoline.analytics.suppression import COMPLEMENTARY_TEXT, SUPPRESSED_TEXT, suppress

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
        if value is not None:
            assert text == str(raw)
        elif text != SUPPRESSED_TEXT:  # "<5" only where it is true; a cell hidden to protect another says so
            assert text == (f"<{min_cell}" if 0 < raw < min_cell else COMPLEMENTARY_TEXT), (raw, text)
    for i, cells in enumerate(groups):  # the group total minus the shown cells is 0 or at least min_cell
        rows = [j for j, gg in enumerate(g) if gg == i]
        hidden = sum(cells) - sum(shown[j] or 0 for j in rows)
        if sum(cells) < min_cell:  # the total is itself a small count: every non-zero cell is hidden
            assert hidden == sum(cells)
        else:
            assert hidden == 0 or hidden >= min_cell
        # A reader knows the "<5" cells hold 1..min_cell-1 and the complementary ones at least min_cell: the
        # subtraction bound on the small cells must stay no tighter than that, unless every cell is hidden.
        comp = [j for j in rows if texts[j] == COMPLEMENTARY_TEXT]
        if comp:
            assert hidden - min_cell * len(comp) >= min_cell - 1, (cells, texts)
        if SUPPRESSED_TEXT in [texts[j] for j in rows]:  # a neutral group: no hidden cell says what it holds
            assert all(texts[j] == SUPPRESSED_TEXT for j in rows if shown[j] is None and cells[rows.index(j)]), texts


def test_complementary_cell_is_not_labelled_as_small() -> None:
    """The new user's concordance line 3: 2 and 1,053 hidden beside 3,374 and 2,362 — both read "<5" before."""
    out = suppress(
        pa.table({"line": [3, 3, 3, 3], "lines": [1053, 3374, 2362, 2]}), counts=["lines"], group_by=["line"]
    )
    assert out.column("lines_shown").to_pylist() == [COMPLEMENTARY_TEXT, "3374", "2362", "<5"]


def test_stacked_bars_show_the_suppressed_share() -> None:
    """Bars of a line with suppressed cells reach 100 % with a named grey segment, not a silent gap."""
    from oncoline.outputs.report.figures import SUPPRESSED_NAME, concordance_bars

    table = suppress(
        pa.table(
            {
                "line": [3, 3, 3, 3],
                "category": ["concordant_preferred", "concordant_other", "not_concordant", "not_assessable"],
                "lines": [2, 3374, 2362, 1053],
                "share": [2 / 6791, 3374 / 6791, 2362 / 6791, 1053 / 6791],
            }
        ),
        counts=["lines"],
        group_by=["line"],
        shares={"share": "lines"},
    )
    fig = concordance_bars(table, by="line")
    gap = [t for t in fig.data if t.name == SUPPRESSED_NAME]
    assert len(gap) == 1
    assert abs(sum(t.y[0] for t in fig.data) - 1.0) < 1e-9
    assert abs(gap[0].y[0] - 1055 / 6791) < 1e-9


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
                hidden_texts = (f"<{min_cell}", COMPLEMENTARY_TEXT, SUPPRESSED_TEXT)
                assert text in hidden_texts if v is None else text == str(v), (name, col, v, text)


def _check_derived(tables: dict[str, pa.Table], min_cell: int) -> None:
    """No ratio or median of the sensitivity grid is shown for a group that is hidden (or below the threshold)."""
    from oncoline.analytics.sensitivity import SENSITIVITY_DERIVED

    if "sensitivity" not in tables:
        return
    for r in tables["sensitivity"].to_pylist():
        for derived, group in SENSITIVITY_DERIVED.items():
            if r[derived] is not None:
                assert r[group] is not None and r[group] >= min_cell, (derived, r)
            else:
                hidden = ("", f"suppressed (<{min_cell} persons)", f"suppressed (<{min_cell} events)")
                assert r[f"{derived}_shown"] in hidden, (derived, r)


@settings(deadline=None)
@given(
    cells=st.lists(
        st.tuples(st.integers(0, 30), st.integers(0, 4), st.integers(0, 30), st.floats(1, 900)), min_size=1, max_size=6
    ),
    min_cell=st.integers(1, 11),
    events=st.integers(0, 12),
)
def test_sensitivity_derived_figures_hide_with_their_group(
    cells: list[tuple[int, int, int, float]], min_cell: int, events: int
) -> None:
    """Property: persons hidden as "<5" cannot be recovered as lines / (lines/person), and no median of fewer than
    ``min_cell`` persons is shown (grid, CSV/parquet export and HTML share this table). The second row is the
    ``toxicity_stop_ends_line = any_drug`` cell at the default cell's gap_days and regimen_window_days: a cell of
    its own, so a small count there hides nothing of the default cell (and the reverse)."""
    from oncoline.analytics.sensitivity import sensitivity_tables

    rows = []
    for i, (persons, extra, two_l, median) in enumerate(cells):
        lines = persons + extra * persons
        rows.append(
            {
                "gap_days": 120 if i < 2 else 60 + i,
                "regimen_window_days": 28,
                "toxicity_stop_ends_line": "any_drug" if i == 1 else "all_drugs",
                "is_default": i == 0,
                "persons": persons,
                "lines": lines,
                "lines_per_person": lines / persons if persons else None,
                "persons_2l": min(two_l, persons),
                "median_ttnt_1l_days": median if persons else None,
                "median_ttnt_1l_lower": median / 2 if persons else None,
                "median_ttnt_1l_upper": None,
                "median_ttnt_2l_days": median / 3 if min(two_l, persons) else None,
                "median_ttnt_2l_lower": median / 4 if min(two_l, persons) else None,
                "median_ttnt_2l_upper": median / 2 if min(two_l, persons) else None,
                "events_ttnt_1l": min(events + i, persons),
                "events_ttnt_2l": min(events, two_l, persons),
            }
        )
    summary = pa.Table.from_pylist(rows)
    regimens = pa.table(
        {
            "gap_days": [r["gap_days"] for r in rows],
            "regimen_window_days": [28] * len(rows),
            "toxicity_stop_ends_line": [r["toxicity_stop_ends_line"] for r in rows],
            "regimen": ["x"] * len(rows),
            "persons": [r["persons_2l"] for r in rows],
            "share": [1.0 if r["persons"] else 0.0 for r in rows],
        }
    )
    tables = sensitivity_tables(summary, regimens, min_cell=min_cell)
    _check_derived(tables, min_cell)
    _check_tables(tables, min_cell)
    for raw, out in zip(rows, tables["sensitivity"].to_pylist(), strict=True):
        assert out["toxicity_stop_ends_line"] == raw["toxicity_stop_ends_line"]  # the cell names its rule
        if raw["persons"] == 0 or raw["persons"] >= min_cell:  # one group per cell: never hidden for another
            assert out["persons"] == raw["persons"]
        if 0 < raw["persons"] < min_cell:
            assert out["persons"] is None and out["lines_per_person"] is None and out["median_ttnt_1l_days"] is None
        if 0 < raw["persons_2l"] < min_cell:
            assert out["median_ttnt_2l_days"] is None and out["median_ttnt_2l_lower"] is None
        # a median (and CI) of fewer than min_cell events is one patient's time: hidden, with the reason
        for line in ("1l", "2l"):
            if raw[f"events_ttnt_{line}"] < min_cell:
                for part in ("days", "lower", "upper"):
                    assert out[f"median_ttnt_{line}_{part}"] is None, (line, part, raw, out)
        assert "events_ttnt_1l" not in out and "events_ttnt_2l" not in out  # used, not exported
        if out["lines_per_person"] is not None:
            assert out["lines_per_person"] == round(out["lines_per_person"], 2)


def test_sensitivity_html_shows_no_figure_of_a_hidden_group() -> None:
    """The new user's demo case: persons "<5", lines 5, lines/person 2.50 (so persons = 2) and medians 385 / 308 of
    two patients were printed. Now the ratio and the medians read "suppressed" in the HTML table."""
    from oncoline.analytics.sensitivity import sensitivity_tables
    from oncoline.outputs.report.render import Column, html_table

    summary = pa.Table.from_pylist(
        [
            {
                "gap_days": 120,
                "regimen_window_days": 28,
                "is_default": True,
                "persons": 2,
                "lines": 5,
                "lines_per_person": 2.5,
                "persons_2l": 2,
                "median_ttnt_1l_days": 385.0,
                "median_ttnt_1l_lower": 300.0,
                "median_ttnt_1l_upper": None,
                "median_ttnt_2l_days": 308.0,
            }
        ]
    )
    regimens = pa.table(
        {"gap_days": [120], "regimen_window_days": [28], "regimen": ["x"], "persons": [2], "share": [1.0]}
    )
    sens = sensitivity_tables(summary, regimens, min_cell=5)["sensitivity"]
    cols = [
        Column("persons", "persons", "count"),
        Column("lines", "lines", "count"),
        Column("lines/person", "lines_per_person", "num"),
        Column("median TTNT 1L (d)", "median_ttnt_1l_days", "days"),
        Column("median TTNT 2L (d)", "median_ttnt_2l_days", "days"),
    ]
    page = html_table(sens, cols, caption="grid", source="sensitivity")
    assert "2.50" not in page and "385" not in page and "308" not in page
    assert "suppressed (&lt;5 persons)" in page
    assert sens.column("lines_per_person").to_pylist() == [None]


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
    if "concordance_reason_regimens" in tables:  # the regimens of a reason add up to it: none shown if it is hidden
        reasons = {
            (r["line"], r["category"], r["reason"]): r["lines"] for r in tables["concordance_reasons"].to_pylist()
        }
        for r in tables["concordance_reason_regimens"].to_pylist():
            if reasons[r["line"], r["category"], r["reason"]] is None:
                assert r["lines"] is None, r
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
    _check_derived(result.tables, min_cell)
    _check_html(render_report(result), min_cell)


def _check_html(html: str, min_cell: int) -> None:
    """Every count cell of the page is hidden or at least ``min_cell``."""
    cells = re.findall(r'<td class="n c">([^<]*)</td>', html)
    assert cells  # the report has count cells
    for cell in cells:
        hidden = (f"&lt;{min_cell}", "0", COMPLEMENTARY_TEXT, SUPPRESSED_TEXT)
        assert cell in hidden or (cell.isdigit() and int(cell) >= min_cell), cell
    assert f"&lt;{min_cell}" in html or all(c.isdigit() for c in cells)


def _km_counts(groups: list[list[tuple[int, bool]]]) -> pa.Table:
    """A :func:`~oncoline.analytics.survival.duration_counts` table: one regimen label per group, ttnt only."""
    rows = [
        {"endpoint": "ttnt", "line": 1, "label": f"r{g}", "category": None, "days": d, "event": e, "n": 1}
        for g, obs in enumerate(groups)
        for d, e in obs
    ]
    return pa.Table.from_pylist(
        rows,
        schema=pa.schema(
            [
                ("endpoint", pa.string()),
                ("line", pa.int32()),
                ("label", pa.string()),
                ("category", pa.string()),
                ("days", pa.int32()),
                ("event", pa.bool_()),
                ("n", pa.int64()),
            ]
        ),
    )


def _km_summary(groups: list[list[tuple[int, bool]]], min_cell: int) -> list[dict[str, object]]:
    from oncoline.analytics.survival import km_tables

    tables, _ = km_tables(
        _km_counts(groups),
        min_cell=min_cell,
        max_lines=1,
        labels=[f"r{g}" for g in range(len(groups))],
        at_risk_months=(0, 6),
        by_category=False,
    )
    return [r for r in tables["km_summary"].to_pylist() if r["group_kind"] == "regimen"]


def test_km_complementary_partner_is_not_labelled_small() -> None:
    """The new user's lapatinib row: n 36, 1 event and 35 censored both read "<5" before."""
    (row,) = _km_summary([[(100, True)] + [(200 + k, False) for k in range(35)]], 5)
    assert (row["n_shown"], row["events_shown"], row["censored_shown"]) == ("36", "<5", COMPLEMENTARY_TEXT)
    assert row["events"] is None and row["censored"] is None


def test_km_median_of_few_events_is_not_shown() -> None:
    """A median resting on 2 events (the new user's "other regimens": 120 days) is one patient's own time."""
    from oncoline.analytics.survival import KM_MEDIAN_COLUMNS, median_suppressed_text

    # 8 censored early, then 2 events: the estimate reaches 0.5 at day 120 on the second-to-last patient
    (row,) = _km_summary([[(5, False)] * 8 + [(120, True), (130, True)]], 5)
    for name in KM_MEDIAN_COLUMNS:
        assert row[name] is None, name
        assert row[f"{name}_shown"] == median_suppressed_text(5)
    (big,) = _km_summary([[(10 * k, True) for k in range(1, 11)]], 5)
    assert big["median_days"] == 50.0 and big["median_days_shown"] == "50"


@settings(deadline=None)
@given(
    groups=st.lists(
        st.lists(st.tuples(st.integers(1, 60), st.booleans()), min_size=1, max_size=25), min_size=1, max_size=4
    ),
    min_cell=st.integers(2, 8),
)
def test_km_summary_property(groups: list[list[tuple[int, bool]]], min_cell: int) -> None:
    """Property: in ``km_summary`` no small count is shown, "<5" only on a count that is 1 to ``min_cell - 1``,
    the hidden partner of a small cell says it is complementary (or "suppressed"), and no median or CI limit is
    shown for a group of fewer than ``min_cell`` events."""
    from oncoline.analytics.survival import KM_MEDIAN_COLUMNS, median_suppressed_text

    rows = {r["group"]: r for r in _km_summary(groups, min_cell)}
    _check_tables({"km_summary": pa.Table.from_pylist(list(rows.values()))} if rows else {}, min_cell)
    for g, obs in enumerate(groups):
        row = rows.get(f"r{g}")
        if len(obs) < min_cell:
            assert row is None  # a group below the threshold is not fitted
            continue
        assert row is not None
        raw = {"events": sum(e for _, e in obs), "censored": sum(not e for _, e in obs)}
        for name, value in raw.items():
            text = row[f"{name}_shown"]
            if row[name] is not None:
                assert row[name] == value and (value == 0 or value >= min_cell)
            elif text == f"<{min_cell}":
                assert 0 < value < min_cell, (name, value)
            elif text == COMPLEMENTARY_TEXT:
                assert value >= min_cell, (name, value)
            else:
                assert text == SUPPRESSED_TEXT, text
        if raw["events"] < min_cell:
            for name in KM_MEDIAN_COLUMNS:
                assert row[name] is None and row[f"{name}_shown"] == median_suppressed_text(min_cell)
