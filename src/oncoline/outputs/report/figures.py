"""Plotly figures of the cohort report, drawn only from the suppressed tables (every number shown is exported).

One colour per regimen label, the same in every figure and every stratum (:func:`regimen_colours`); suppressed
cells (null counts) are left out of the figures, never drawn as small numbers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa
    from plotly.graph_objects import Figure

__all__ = [
    "CATEGORY_COLOURS",
    "concordance_bars",
    "km_figure",
    "regimen_colours",
    "sankey",
    "sensitivity_multiples",
    "strata_bars",
    "sunburst",
]

_PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#393b79",
    "#ad494a",
    "#637939",
    "#7b4173",
    "#3182bd",
    "#e6550d",
    "#31a354",
    "#756bb1",
    "#636363",
)
_GREY = "#9e9e9e"
_END_COLOUR = "#e0e0e0"
CATEGORY_COLOURS = {
    "concordant_preferred": "#1b7837",
    "concordant_other": "#7fbf7b",
    "not_concordant": "#af8dc3",
    "not_assessable": "#bdbdbd",
}
"""Concordance categories; not concordant is purple, not red: it is not a verdict of worse care."""


def regimen_colours(regimens: pa.Table) -> dict[str, str]:
    """Regimen label → colour, by frequency rank (``other regimens`` grey, ``(no further line)`` light grey)."""
    from oncoline.analytics.pathways import END, OTHER

    out: dict[str, str] = {}
    for label in regimens.column("label").to_pylist():
        if label not in out and label != OTHER:
            out[label] = _PALETTE[len(out) % len(_PALETTE)]
    out[OTHER] = _GREY
    out[END] = _END_COLOUR
    return out


def _layout(fig: Figure, title: str, height: int = 420) -> Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01},
        height=height,
        margin={"l": 50, "r": 20, "t": 50, "b": 40},
        font={"family": "system-ui, sans-serif", "size": 12},
        legend={"font": {"size": 11}},
        template="plotly_white",
    )
    return fig


def sunburst(steps: pa.Table, colours: dict[str, str], *, stratum_kind: str = "all", stratum: str = "all") -> Figure:
    """Sunburst of the pathways of one stratum from ``pathway_steps`` (shown nodes only; their descendants are
    dropped with a suppressed node; the ``(no further line)`` ring is left out)."""
    import plotly.graph_objects as go

    from oncoline.analytics.pathways import END

    rows = [
        r
        for r in steps.to_pylist()
        if r["stratum_kind"] == stratum_kind and r["stratum"] == stratum and r["regimen"] != END
    ]
    shown = {r["id"] for r in rows if r["persons"] is not None}
    keep = [r for r in rows if r["id"] in shown and (r["parent"] == "" or r["parent"] in shown)]
    # a parent may itself be dropped: keep only nodes whose whole ancestry is kept
    kept_ids: set[str] = set()
    final = []
    for r in sorted(keep, key=lambda r: r["depth"]):
        if r["parent"] == "" or r["parent"] in kept_ids:
            kept_ids.add(r["id"])
            final.append(r)
    fig = go.Figure(
        go.Sunburst(
            ids=[r["id"] for r in final],
            # one drug per text line: a long regimen fits a thin outer slice instead of being cut or shrunk away
            labels=[r["regimen"] for r in final],
            text=[_wrapped(r["regimen"]) for r in final],
            texttemplate="%{text}",
            parents=[r["parent"] for r in final],
            values=[r["persons"] for r in final],
            branchvalues="total",
            marker={"colors": [colours.get(r["regimen"], _GREY) for r in final], "line": {"width": 1}},
            hovertemplate="%{id}<br>%{value} persons<extra></extra>",
            insidetextorientation="radial",
            textfont={"size": 12},
            maxdepth=3,
        )
    )
    # a label that would be drawn below 10 px is hidden (hover and a click on the slice show it), never shrunk
    fig.update_layout(uniformtext={"minsize": 10, "mode": "hide"})
    _layout(fig, "Treatment pathways (inner ring = first line; click a slice to open its later lines)", height=760)
    fig.update_layout(margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig


def _wrapped(regimen: str) -> str:
    """A regimen label with one drug per line (``a +<br>b``) for the sunburst."""
    return regimen.replace(" + ", " +<br>")


def sankey(transitions: pa.Table, colours: dict[str, str], *, max_lines: int) -> Figure:
    """Sankey of line-to-line transitions of the whole cohort (shown links only)."""
    import plotly.graph_objects as go

    rows = [r for r in transitions.to_pylist() if r["stratum_kind"] == "all" and r["persons"] is not None]
    nodes: dict[tuple[int, str], int] = {}

    def node(line: int, regimen: str) -> int:
        return nodes.setdefault((line, regimen), len(nodes))

    src, dst, val = [], [], []
    for r in rows:
        src.append(node(r["line"], r["from_regimen"]))
        dst.append(node(r["line"] + 1, r["to_regimen"]))
        val.append(r["persons"])
    labels = [f"{line}L {reg}" if not reg.startswith("(") else reg for (line, reg) in nodes]
    x, y = _sankey_positions(list(nodes), src, dst, val)
    fig = go.Figure(
        go.Sankey(
            # explicit positions: plotly's own layout put a line-2 node with no incoming link in the line-1 column
            arrangement="fixed",
            node={
                "label": labels,
                "color": [colours.get(reg, _GREY) for (_, reg) in nodes],
                "pad": 12,
                "thickness": 14,
                "x": x,
                "y": y,
            },
            link={"source": src, "target": dst, "value": val, "color": "rgba(120,120,120,0.25)"},
        )
    )
    return _layout(fig, f"Line-to-line transitions (lines 1–{max_lines})", height=560)


def _sankey_positions(
    nodes: list[tuple[int, str]], src: list[int], dst: list[int], val: list[int]
) -> tuple[list[float], list[float]]:
    """Node centres in paper fractions: ``x`` the column of the node's line (line 1 at the left, one column per
    line), ``y`` stacked from the top in order of flow (largest first), each node's share of its column's height
    in proportion to its flow (the larger of what comes in and goes out)."""
    flow_in = [0] * len(nodes)
    flow_out = [0] * len(nodes)
    for s_, d_, v in zip(src, dst, val, strict=True):
        flow_out[s_] += v
        flow_in[d_] += v
    flow = [max(a, b) for a, b in zip(flow_in, flow_out, strict=True)]
    lines = sorted({line for line, _ in nodes})
    first, span = (lines[0], max(lines[-1] - lines[0], 1)) if lines else (1, 1)
    x = [0.001 + 0.998 * (line - first) / span for line, _ in nodes]
    y = [0.0] * len(nodes)
    for line in lines:
        members = sorted((i for i, (ln, _) in enumerate(nodes) if ln == line), key=lambda i: (-flow[i], nodes[i][1]))
        total = sum(flow[i] for i in members) or 1
        top = 0.0
        for i in members:
            y[i] = min(max(0.001, 0.02 + 0.96 * (top + flow[i] / 2) / total), 0.999)
            top += flow[i]
    return x, y


def strata_bars(line_regimens: pa.Table, colours: dict[str, str], *, stratum_kind: str, line: int = 1) -> Figure:
    """Stacked bars: the regimen shares of ``line`` in each stratum of ``stratum_kind``."""
    import plotly.graph_objects as go

    rows = [
        r
        for r in line_regimens.to_pylist()
        if r["stratum_kind"] == stratum_kind and r["line"] == line and r["share"] is not None
    ]
    strata = sorted({r["stratum"] for r in rows})
    fig = go.Figure()
    for regimen, colour in colours.items():
        ys = {r["stratum"]: r["share"] for r in rows if r["regimen"] == regimen}
        if not ys:
            continue
        fig.add_trace(
            go.Bar(
                name=regimen,
                x=strata,
                y=[ys.get(s) for s in strata],
                marker_color=colour,
                hovertemplate=f"{regimen}<br>%{{x}}: %{{y:.1%}}<extra></extra>",
            )
        )
    _hidden_trace(fig, strata, {s: sum(r["share"] for r in rows if r["stratum"] == s) for s in strata})
    fig.update_layout(barmode="stack", yaxis={"tickformat": ".0%", "title": f"share of line {line}"})
    return _layout(fig, f"Line {line} regimens by {stratum_kind.replace('_', ' ')}", height=380)


KM_TICK_MONTHS = 6
"""Spacing of the Kaplan–Meier x-axis ticks (months)."""
KM_LABEL_CHARS = 60
"""At-risk row labels longer than this are cut with an ellipsis (the legend and the tables hold the whole name)."""
KM_MAX_MONTHS = 60
"""The Kaplan–Meier x axis ends here when the curves run longer (the rest stays a zoom or pan away; the tables
hold every step): the first five years carry nearly every line's events, and a 130-month axis squeezed them."""


def km_figure(
    curves: pa.Table,
    *,
    endpoint: str,
    group_kind: str,
    colours: dict[str, str] | None = None,
    at_risk: pa.Table | None = None,
) -> Figure:
    """Kaplan–Meier curves (step lines) with 95 % CI bands, one per group, time in months.

    The x axis is in months with a tick every :data:`KM_TICK_MONTHS`, up to the last curve step or
    :data:`KM_MAX_MONTHS`. With ``at_risk`` (the ``km_at_risk`` table, suppressed), the numbers at risk are drawn
    under the axis, one row per group in its colour, each number under its month's tick.
    """
    import math

    import numpy as np
    import plotly.graph_objects as go
    import pyarrow.compute as pc

    from oncoline.analytics.survival import DAYS_PER_MONTH

    # this figure's rows only, selected by Arrow: the curves table holds every endpoint and group kind (~10^5
    # points at 10^7 exposure rows), and each KM figure turned all of it into Python dicts
    mine = pc.and_(pc.equal(curves.column("endpoint"), endpoint), pc.equal(curves.column("group_kind"), group_kind))
    rows = curves.filter(mine).to_pylist()
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(r["group"], []).append(r)
    fig = go.Figure()
    colour_of: dict[str, str] = {}
    last_month = 0.0
    for i, (name, pts) in enumerate(groups.items()):
        colour = (colours or {}).get(name) or CATEGORY_COLOURS.get(name) or _PALETTE[i % len(_PALETTE)]
        colour_of[name] = colour
        # numpy arrays: plotly takes them as they are (a list is validated and copied point by point)
        x = np.array([p["time_days"] for p in pts], dtype=np.float64) / DAYS_PER_MONTH
        last_month = max(last_month, float(x.max()) if x.size else 0.0)
        label = f"line {name}" if group_kind == "line" else name
        upper = np.array([p["upper"] if p["upper"] is not None else 1.0 for p in pts], dtype=np.float64)
        lower = np.array([p["lower"] if p["lower"] is not None else np.nan for p in pts], dtype=np.float64)
        survival = np.array([p["survival"] for p in pts], dtype=np.float64)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=upper,
                mode="lines",
                line={"width": 0, "shape": "hv"},
                showlegend=False,
                hoverinfo="skip",
                legendgroup=label,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=lower,
                mode="lines",
                line={"width": 0, "shape": "hv"},
                fill="tonexty",
                fillcolor=_rgba(colour, 0.15),
                showlegend=False,
                hoverinfo="skip",
                legendgroup=label,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=survival,
                mode="lines",
                name=label,
                legendgroup=label,
                line={"color": colour, "shape": "hv", "width": 2},
                hovertemplate=f"{label}<br>%{{x:.1f}} months: %{{y:.2f}}<extra></extra>",
            )
        )
    end = min(float(KM_MAX_MONTHS), max(float(KM_TICK_MONTHS), math.ceil(last_month / KM_TICK_MONTHS) * KM_TICK_MONTHS))
    ticks = list(range(0, int(end) + 1, KM_TICK_MONTHS))
    risk_rows = [
        r
        for r in (at_risk.to_pylist() if at_risk is not None and at_risk.num_rows else [])
        if r["endpoint"] == endpoint and r["group_kind"] == group_kind and r["group"] in groups and r["month"] <= end
    ]
    risk_groups = list(dict.fromkeys(r["group"] for r in risk_rows))
    line_px = 17
    bottom = 62 + (line_px * (len(risk_groups) + 1) + 8 if risk_groups else 0)
    # the plot area is tall enough for the legend (one entry per group, ~22 px): plotly scrolls a legend taller than
    # the plot, and the last entry was cut off
    height = max(420, 50 + 62 + 22 * len(groups) + 20) + (bottom - 62)
    # the at-risk numbers as one list set once: each fig.add_annotation re-validates every annotation before it
    # (quadratic: 365 annotations took ~5 s of the report), one update_layout validates each once; same figure
    annotations: list[dict[str, Any]] = []
    if risk_groups:
        plot_px = height - 50 - bottom  # the plot area between the top and bottom margins
        annotations.append(
            {
                "x": 0,
                "xref": "paper",
                "xanchor": "right",
                "xshift": -24,  # clear of the numbers at month 0
                "y": -(62 + 4) / plot_px,
                "yref": "paper",
                "yanchor": "top",
                "text": "<b>at risk</b>",
                "showarrow": False,
                "font": {"size": 11},
            }
        )
        for k, g in enumerate(risk_groups):
            y = -(62 + 4 + line_px * (k + 1)) / plot_px
            label = f"line {g}" if group_kind == "line" else g
            annotations.append(
                {
                    "x": 0,
                    "xref": "paper",
                    "xanchor": "right",
                    "xshift": -24,
                    "y": y,
                    "yref": "paper",
                    "yanchor": "top",
                    "text": _esc(_short(label, KM_LABEL_CHARS)),
                    "showarrow": False,
                    "font": {"size": 11, "color": colour_of[g]},
                    "hovertext": _esc(label),
                }
            )
            for r in risk_rows:
                if r["group"] == g:
                    annotations.append(
                        {
                            "x": r["month"] / 1.0,
                            "xref": "x",
                            "xanchor": "center",
                            "y": y,
                            "yref": "paper",
                            "yanchor": "top",
                            "text": _esc(str(r["at_risk_shown"])),
                            "showarrow": False,
                            "font": {"size": 11},
                        }
                    )
        fig.update_layout(annotations=annotations)
    what = "Time on treatment" if endpoint == "tot" else "Time to next treatment"
    fig.update_layout(
        xaxis={
            "title": {"text": "months from line start", "standoff": 4},
            "range": [0, end],
            "tickmode": "array",
            "tickvals": ticks,
            "ticks": "outside",
            "zeroline": False,
        },
        yaxis={"title": "probability", "range": [0, 1.02]},
    )
    _layout(fig, f"{what} by {group_kind}", height=height)
    names = [f"line {g}" if group_kind == "line" else g for g in risk_groups]
    longest = max((len(_short(name, KM_LABEL_CHARS)) for name in names), default=0)
    # the at-risk row labels are whole (up to KM_LABEL_CHARS): the left margin is as wide as the longest
    left = max(90, 40 + int(6.6 * longest)) if risk_groups else 50
    fig.update_layout(margin={"l": left, "r": 20, "t": 50, "b": bottom})
    return fig


def _short(text: str, width: int = 28) -> str:
    """A label cut to ``width`` characters with an ellipsis (the full name is in the legend and the tables)."""
    return text if len(text) <= width else text[: width - 1] + "…"


def _esc(text: str) -> str:
    """Plotly annotation text is HTML-like: escape ``<`` (``<5``) and ``&``."""
    import html

    return html.escape(text, quote=False)


SUPPRESSED_NAME = "suppressed (small cells and their complements)"
"""Legend name of the grey top segment of stacked share bars: the share held by suppressed cells."""


def _hidden_trace(fig: Figure, xs: list[str], shown: dict[str, float]) -> None:
    """Top every stacked bar up to 100 % with a grey segment for the share of its suppressed cells (so a short
    bar is never read as unexplained)."""
    import plotly.graph_objects as go

    gap = {x: max(0.0, 1.0 - shown.get(x, 0.0)) for x in xs}
    if all(g < 1e-9 for g in gap.values()):
        return
    fig.add_trace(
        go.Bar(
            name=SUPPRESSED_NAME,
            x=xs,
            y=[gap[x] if gap[x] >= 1e-9 else None for x in xs],
            marker_color="#d9d9d9",
            marker_pattern_shape="/",
            hovertemplate="%{x}: %{y:.1%} of the bar is suppressed (counts below the minimum cell count, and cells "
            "hidden so that those cannot be recovered by subtraction)<extra></extra>",
        )
    )


def concordance_bars(table: pa.Table, *, by: str) -> Figure:
    """Stacked bars of concordance categories (shares) by ``line`` or ``index_year``."""
    import plotly.graph_objects as go

    rows = [r for r in table.to_pylist() if r["share"] is not None]
    xs = sorted({r[by] for r in rows}, key=lambda v: (str(type(v)), v))
    fig = go.Figure()
    for cat, colour in CATEGORY_COLOURS.items():
        ys = {r[by]: r["share"] for r in rows if r["category"] == cat}
        if ys:
            fig.add_trace(
                go.Bar(
                    name=cat.replace("_", " "), x=[str(x) for x in xs], y=[ys.get(x) for x in xs], marker_color=colour
                )
            )
    _hidden_trace(fig, [str(x) for x in xs], {str(x): sum(r["share"] for r in rows if r[by] == x) for x in xs})
    fig.update_layout(
        barmode="stack",
        yaxis={"tickformat": ".0%", "title": "share of lines"},
        xaxis={"title": by.replace("_", " "), "type": "category"},
    )
    return _layout(fig, f"Guideline concordance by {by.replace('_', ' ')}", height=380)


def sensitivity_multiples(summary: pa.Table, regimens: pa.Table, colours: dict[str, str]) -> Figure:
    """Small multiples over the grid: lines per person, median 1L TTNT (months), persons with ≥ 2 lines, and the
    share of each top first-line regimen — x = gap_days, one line per regimen_window_days under the line rule of
    the default cell; each cell under another ``toxicity_stop_ends_line`` value is one red diamond at its
    gap_days, in every panel."""
    import textwrap

    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from oncoline.analytics.sensitivity import GRID_KEYS
    from oncoline.analytics.survival import DAYS_PER_MONTH

    every = summary.to_pylist()
    rule = "toxicity_stop_ends_line"
    base = next((r.get(rule) for r in every if r.get("is_default")), every[0].get(rule) if every else None)
    rows = [r for r in every if r.get(rule) == base]  # the gap_days × regimen_window_days grid
    extra = [r for r in every if r.get(rule) != base]  # the other values of the toxicity rule: one cell each
    all_shares = regimens.to_pylist()
    windows = sorted({r["regimen_window_days"] for r in rows})
    regs = list(dict.fromkeys(regimens.column("regimen").to_pylist()))[:3]
    titles = [
        "lines per person",
        "median TTNT, line 1 (months)",
        "persons with ≥ 2 lines",
        *["<br>".join(textwrap.wrap(f"line-1 share: {r}", 34)) for r in regs],  # long names: wrapped, no overlap
    ]
    cols = 3
    n_rows = (len(titles) + cols - 1) // cols
    fig = make_subplots(rows=n_rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.08, vertical_spacing=0.18)
    dash = ("dot", "solid", "dash", "dashdot")
    for wi, w in enumerate(windows):
        sub = sorted((r for r in rows if r["regimen_window_days"] == w), key=lambda r: r["gap_days"])
        x = [r["gap_days"] for r in sub]
        series = [
            [r["lines_per_person"] for r in sub],
            [None if r["median_ttnt_1l_days"] is None else r["median_ttnt_1l_days"] / DAYS_PER_MONTH for r in sub],
            [r["persons_2l"] for r in sub],
        ]
        for reg in regs:
            by = {
                (r["gap_days"]): r["share"]
                for r in all_shares
                if r["regimen_window_days"] == w and r["regimen"] == reg and r.get(rule) == base
            }
            series.append([by.get(g) for g in x])
        for k, ys in enumerate(series):
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=ys,
                    mode="lines+markers",
                    name=f"window {w} d",
                    legendgroup=str(w),
                    showlegend=k == 0,
                    line={"dash": dash[wi % len(dash)], "color": "#444"},
                ),
                row=k // cols + 1,
                col=k % cols + 1,
            )
    for ei, cell in enumerate(extra):
        ys = [
            cell["lines_per_person"],
            None if cell["median_ttnt_1l_days"] is None else cell["median_ttnt_1l_days"] / DAYS_PER_MONTH,
            cell["persons_2l"],
        ]
        for reg in regs:
            ys.append(
                next(
                    (
                        r["share"]
                        for r in all_shares
                        if r["regimen"] == reg and all(r.get(c) == cell.get(c) for c in GRID_KEYS)
                    ),
                    None,
                )
            )
        for k, y in enumerate(ys):
            fig.add_trace(
                go.Scatter(
                    x=[cell["gap_days"]],
                    y=[y],
                    mode="markers",
                    name=f"{rule}={cell[rule]} (window {cell['regimen_window_days']} d)",
                    legendgroup=f"{rule}={cell[rule]}",
                    showlegend=k == 0,
                    marker={"symbol": "diamond", "size": 11, "color": ("#c0392b", "#8e44ad")[ei % 2]},
                ),
                row=k // cols + 1,
                col=k % cols + 1,
            )
    fig.update_xaxes(title_text="gap_days", tickvals=sorted({r["gap_days"] for r in every}))
    # From 0, not auto-zoomed: a flat line (3.480–3.483 lines per person) must not look like an effect.
    fig.update_yaxes(rangemode="tozero")
    for k in range(3, 3 + len(regs)):  # shares: the whole 0–100 % scale
        fig.update_yaxes(range=[0, 1], tickformat=".0%", row=k // cols + 1, col=k % cols + 1)
    title = "Sensitivity to the line rules (gap_days × regimen_window_days"
    title += f"; ◆ {rule} other than {base})" if extra else ")"
    return _layout(fig, title, height=300 * n_rows + 60)


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)
    return f"rgba({r},{g},{b},{alpha})"
