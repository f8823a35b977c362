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
