"""Report figures read honestly: sensitivity axes from 0 (flat lines stay flat), shares on 0–100 %."""

from __future__ import annotations

import pyarrow as pa


def test_sensitivity_axes_start_at_zero_and_shares_span_the_scale() -> None:
    """Autoscaled axes made 3.480–3.483 lines per person look like an effect, and share axes ran to −0.5."""
    from oncoline.outputs.report.figures import sensitivity_multiples

    summary = pa.Table.from_pylist(
        [
            {
                "gap_days": g,
                "regimen_window_days": 28,
                "lines_per_person": 3.48 + g / 1e5,
                "median_ttnt_1l_days": 400.0,
                "persons_2l": 8767 + g // 60,
            }
            for g in (60, 90, 120, 180)
        ]
    )
    regimens = pa.Table.from_pylist(
        [
            {"gap_days": g, "regimen_window_days": 28, "regimen": "docetaxel + pertuzumab + trastuzumab", "share": 0.6}
            for g in (60, 90, 120, 180)
        ]
    )
    fig = sensitivity_multiples(summary, regimens, {})
    layout = fig.to_plotly_json()["layout"]
    yaxes = [v for k, v in layout.items() if k.startswith("yaxis")]
    assert len(yaxes) >= 4
    assert all(ax.get("rangemode") == "tozero" for ax in yaxes)
    assert [ax["range"] for ax in yaxes if "range" in ax] == [[0, 1]]
    titles = [a["text"] for a in layout["annotations"]]
    assert all(len(line) <= 34 for t in titles for line in t.split("<br>"))  # long regimen names wrap


def _km_tables() -> tuple[pa.Table, pa.Table]:
    """Curves of two line groups running to 130 months and their (suppressed) at-risk table."""
    from oncoline.analytics.survival import DAYS_PER_MONTH

    curves = pa.Table.from_pylist(
        [
            {
                "endpoint": "ttnt",
                "group_kind": "line",
                "group": g,
                "time_days": m * DAYS_PER_MONTH,
                "survival": 1 - m / 200,
                "lower": 0.9 - m / 200,
                "upper": 1.0,
            }
            for g in ("1", "2")
            for m in range(0, 131, 5)
        ]
    )
    months = (0, 6, 12, 18, 24, 36, 48, 60)
    risk = pa.Table.from_pylist(
        [
            {"endpoint": "ttnt", "group_kind": "line", "group": g, "month": m, "at_risk": 100 - m, "at_risk_shown": s}
            for g in ("1", "2")
            for m in months
            for s in [str(100 - m) if m < 60 else "<5"]
        ]
    )
    return curves, risk


def test_km_axis_in_months_with_the_numbers_at_risk_under_their_ticks() -> None:
    """The new user's KM axis ran to 130 months (curves squeezed) and the at-risk numbers sat in a separate table,
    not under the axis. Now: months, a tick every 6, at most 60 shown, and each group's numbers at risk drawn
    under the tick of their month, in the group's colour, as the exported (suppressed) text."""
    from oncoline.outputs.report.figures import KM_MAX_MONTHS, KM_TICK_MONTHS, km_figure

    curves, risk = _km_tables()
    fig = km_figure(curves, endpoint="ttnt", group_kind="line", at_risk=risk)
    axis = fig.layout.xaxis
    assert tuple(axis.range) == (0, KM_MAX_MONTHS) and "months" in axis.title.text
    assert list(axis.tickvals) == list(range(0, KM_MAX_MONTHS + 1, KM_TICK_MONTHS))
    numbers = [a for a in fig.layout.annotations if a.xref == "x"]
    by_row: dict[float, list[tuple[float, str]]] = {}
    for a in numbers:
        by_row.setdefault(a.y, []).append((a.x, a.text))
    assert len(by_row) == 2  # one row per group, below the plot
    assert all(y < 0 for y in by_row)
    shown = {(r["month"], r["at_risk_shown"].replace("<", "&lt;")) for r in risk.to_pylist() if r["group"] == "1"}
    assert set(by_row[max(by_row)]) == {(float(m), t) for m, t in shown}  # line 1: first row; every month a tick
    assert all(x in axis.tickvals for x, _ in by_row[max(by_row)])
    labels = [a.text for a in fig.layout.annotations if a.xref == "paper"]
    assert "line 1" in labels and "line 2" in labels
    # a short follow-up keeps a short axis
    short = curves.filter(pa.compute.less(curves.column("time_days"), 400))
    assert tuple(km_figure(short, endpoint="ttnt", group_kind="line").layout.xaxis.range) == (0, 12)  # last step 10


def test_sunburst_labels_are_whole_regimen_names() -> None:
    """Outer-ring labels were unreadably small and long names cut. Now every label is the whole regimen, one
    drug per text line, radial, and a label that would fall below 10 px is hidden rather than shrunk."""
    from oncoline.outputs.report.figures import sunburst

    long = "docetaxel + letrozole + pertuzumab + trastuzumab"
    steps = pa.Table.from_pylist(
        [
            {
                "stratum_kind": "all",
                "stratum": "all",
                "depth": 1,
                "id": long,
                "parent": "",
                "regimen": long,
                "persons": 90,
            },
            {
                "stratum_kind": "all",
                "stratum": "all",
                "depth": 2,
                "id": f"{long} → trastuzumab deruxtecan",
                "parent": long,
                "regimen": "trastuzumab deruxtecan",
                "persons": 60,
            },
        ]
    )
    trace = sunburst(steps, {}).data[0]
    assert [t.replace(" +<br>", " + ") for t in trace.text] == [long, "trastuzumab deruxtecan"]
    assert trace.text[0].count("<br>") == 3 and trace.texttemplate == "%{text}"
    assert trace.insidetextorientation == "radial"
    fig = sunburst(steps, {})
    assert fig.layout.uniformtext.minsize >= 10 and fig.layout.uniformtext.mode == "hide"


def test_flat_rule_in_the_grid_is_explained() -> None:
    """gap_days 60–180 gave identical rows and the new user could not tell whether the grid applied the rule."""
    from oncoline.analytics.sensitivity import unmoved_rules

    rows = [
        {"gap_days": g, "regimen_window_days": w, "persons": 50, "lines": 100 + w, "persons_2l": 30}
        for g in (60, 90, 120, 180)
        for w in (21, 28)
    ]
    notes = unmoved_rules(pa.Table.from_pylist(rows))
    assert len(notes) == 1 and notes[0].startswith("gap_days 60, 90, 120, 180") and "flat" in notes[0]
    assert unmoved_rules(pa.Table.from_pylist(rows), min_persons=51) == []  # suppressed rows: nothing to explain
    rows[0]["lines"] += 1
    assert unmoved_rules(pa.Table.from_pylist(rows)) == []


def test_km_at_risk_under_every_tick_whole_labels_and_a_legend_that_fits() -> None:
    """The new user's regimen KM plots: no at-risk number under the 30/42/54-month ticks, at-risk row labels cut
    ("docetaxel + pertuzumab + tr…") and a legend scrolling with its last entry cut off."""
    from oncoline.app.cohort_report import ReportOptions
    from oncoline.outputs.report.figures import KM_MAX_MONTHS, KM_TICK_MONTHS, km_figure

    assert set(range(0, KM_MAX_MONTHS + 1, KM_TICK_MONTHS)) <= set(ReportOptions().at_risk_months)
    names = ["docetaxel + pertuzumab + trastuzumab", *[f"regimen {k}" for k in range(15)]]
    curves = pa.Table.from_pylist(
        [
            {"endpoint": "tot", "group_kind": "regimen", "group": g, "time_days": t, "survival": s, "lower": s - 0.1}
            | {"upper": min(1.0, s + 0.1)}
            for g in names
            for t, s in ((0.0, 1.0), (300.0, 0.6), (900.0, 0.3))
        ]
    )
    risk = pa.Table.from_pylist(
        [
            {"endpoint": "tot", "group_kind": "regimen", "group": g, "month": m, "at_risk": 50, "at_risk_shown": "50"}
            for g in names
            for m in (0, 6, 12)
        ]
    )
    fig = km_figure(curves, endpoint="tot", group_kind="regimen", at_risk=risk)
    labels = [a.text for a in fig.layout.annotations if a.xref == "paper"]
    assert names[0] in labels  # whole, not cut
    margin = fig.layout.margin
    assert fig.layout.height - margin.t - margin.b >= 22 * len(names)  # the legend fits beside the plot
    assert margin.l >= 6 * len(names[0])  # the whole label has room
