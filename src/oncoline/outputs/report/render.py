"""Render the cohort report HTML (see the package docstring)."""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pyarrow as pa
    from plotly.graph_objects import Figure


__all__ = ["Column", "ReportLike", "html_table", "render_report"]

_TEMPLATES = Path(__file__).parent / "templates"
_CLASS = {"text": "", "count": "n c"}
"""Cell classes: ``n`` right-aligned numbers, ``c`` a count (always a suppressed ``*_shown`` value)."""
_STRATA_TITLES = {
    "index_year": "index year",
    "age_band": "age band at index",
    "hr_status": "HR status",
    "presentation": "de novo vs recurrent",
}


class ReportLike(Protocol):
    """What the page needs from a report (:class:`oncoline.app.cohort_report.CohortReportResult` has it; outputs
    sit below the application layer, so the type is described here, not imported)."""

    @property
    def tables(self) -> dict[str, pa.Table]: ...
    @property
    def as_of(self) -> dt.date: ...
    @property
    def as_of_note(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def min_cell(self) -> int: ...
    @property
    def max_lines(self) -> int: ...
    @property
    def params_version(self) -> str: ...
    @property
    def kb_version(self) -> str: ...
    @property
    def median_convention(self) -> str: ...
    @property
    def notes(self) -> tuple[str, ...]: ...
    @property
    def states_judged(self) -> int: ...
    @property
    def cut_off_warning(self) -> str: ...


@dataclass(frozen=True)
class Column:
    """One column of an HTML table: header, source column, format (``text``, ``count`` uses ``NAME_shown``,
    ``pct``, ``days``, ``months``, ``num``)."""

    header: str
    name: str
    kind: str = "text"


def _cell(row: dict[str, Any], col: Column) -> str:
    if col.kind == "count":
        return html.escape(str(row.get(f"{col.name}_shown", row.get(col.name))))
    value = row.get(col.name)
    if value is None and row.get(f"{col.name}_shown"):  # a derived figure suppressed for its small group
        return html.escape(str(row[f"{col.name}_shown"]))
    if value is None:
        return "—" if col.kind in ("pct", "num") else ("not reached" if col.kind in ("days", "months") else "")
    if col.kind == "pct":
        return f"{100 * float(value):.1f} %"
    if col.kind == "days":
        return f"{float(value):.0f}"
    if col.kind in ("months", "num"):
        return f"{float(value):.1f}" if col.kind == "months" else f"{float(value):.2f}"
    return html.escape(str(value))


def html_table(
    table: pa.Table,
    columns: list[Column],
    *,
    where: dict[str, Any] | None = None,
    limit: int = 0,
    caption: str = "",
    source: str = "",
) -> str:
    """An HTML table of ``table``'s rows (filtered by ``where``, at most ``limit`` rows when > 0)."""
    rows = [r for r in table.to_pylist() if all(r.get(k) == v for k, v in (where or {}).items())]
    more = 0
    if limit and len(rows) > limit:
        more = len(rows) - limit
        rows = rows[:limit]
    head = "".join(f"<th>{html.escape(c.header)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f'<td class="{_CLASS.get(c.kind, "n")}">{_cell(r, c)}</td>' for c in columns) + "</tr>"
        for r in rows
    )
    cap = (
        f"<caption>{html.escape(caption)}"
        + (f' <span class="src">(data: {html.escape(source)}.parquet / .csv)</span>' if source else "")
        + "</caption>"
        if caption or source
        else ""
    )
    foot = f'<p class="more">… {more} more rows in {html.escape(source)}.csv</p>' if more else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{foot}"


class _Figures:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, fig: Figure, source: str) -> str:
        self.count += 1
        div = fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=f"fig{self.count}",
            config={"displaylogo": False, "responsive": True},
        )
        return (
            f'<figure class="plot" data-source="{html.escape(source)}">{div}'
            f"<figcaption>Data: {html.escape(source)}.parquet / .csv</figcaption></figure>"
        )


def render_report(result: ReportLike, /) -> str:
    """The report as one HTML page (plotly.js embedded once, no network access).

    Returns
    -------
    str
        The HTML text.
    """
    import jinja2
    from plotly.offline import get_plotlyjs

    from oncoline.analytics.strata import STRATA
    from oncoline.outputs.report import figures as F

    t = result.tables
    colours = F.regimen_colours(t["regimens"])
    fig = _Figures()

    def count(header: str, name: str) -> Column:
        return Column(header, name, "count")

    sections: dict[str, Any] = {"concordance": None, "sensitivity": None}

    sections["attrition"] = html_table(
        t["attrition"],
        [Column("step", "step"), Column("unit", "unit"), Column("", "description"), count("count", "count")],
        caption="Attrition",
        source="attrition",
    )
    sections["regimen_legend"] = "".join(
        f'<span class="chip" style="background:{c}"></span>{html.escape(name)} ' for name, c in colours.items()
    )
    sections["pathways_table"] = html_table(
        t["pathways"],
        [
            Column("pathway", "pathway"),
            Column("lines", "n_lines"),
            count("persons", "persons"),
            Column("share", "share", "pct"),
        ],
        where={"stratum_kind": "all"},
        limit=25,
        caption="Most frequent pathways, whole cohort",
        source="pathways",
    )
    sections["sunburst"] = fig(F.sunburst(t["pathway_steps"], colours), "pathway_steps")
    sections["sankey"] = fig(
        F.sankey(t["pathway_transitions"], colours, max_lines=result.max_lines), "pathway_transitions"
    )
    strata = []
    for kind in STRATA[1:]:
        strata.append(
            {
                "title": _STRATA_TITLES[kind],
                "figure": fig(F.strata_bars(t["line_regimens"], colours, stratum_kind=kind), "line_regimens"),
                "table": html_table(
                    t["pathways"],
                    [
                        Column(_STRATA_TITLES[kind], "stratum"),
                        Column("pathway", "pathway"),
                        count("persons", "persons"),
                        Column("share", "share", "pct"),
                    ],
                    where={"stratum_kind": kind},
                    limit=40,
                    caption=f"Pathways by {_STRATA_TITLES[kind]}",
                    source="pathways",
                ),
            }
        )
    sections["strata"] = strata
    sections["line_regimens_table"] = html_table(
        t["line_regimens"],
        [
            Column("line", "line"),
            Column("regimen", "regimen"),
            count("persons", "persons"),
            Column("share", "share", "pct"),
        ],
        where={"stratum_kind": "all"},
        limit=60,
        caption="Regimens by line, whole cohort",
        source="line_regimens",
    )

    km_cols = [
        Column("group", "group"),
        count("n", "n"),
        count("events", "events"),
        count("censored", "censored"),
        Column("median (days)", "median_days", "days"),
        Column("95 % CI low", "median_lower_days", "days"),
        Column("95 % CI high", "median_upper_days", "days"),
        Column("median (months)", "median_months", "months"),
        Column("CI low (mo)", "median_lower_months", "months"),
        Column("CI high (mo)", "median_upper_months", "months"),
    ]
    km = []
    for endpoint, kind, title in (
        ("tot", "line", "Time on treatment by line"),
        ("ttnt", "line", "Time to next treatment by line"),
        ("ttnt", "regimen", "Time to next treatment by regimen (all lines)"),
        ("tot", "regimen", "Time on treatment by regimen (all lines)"),
    ):
        km.append(_km_block(t, fig, F, endpoint, kind, title, km_cols, colours if kind == "regimen" else None))
    sections["km"] = km

    if "concordance_by_line" in t:
        conc_cols = [count("lines", "lines"), Column("share", "share", "pct")]
        sections["concordance"] = {
            "by_line_fig": fig(F.concordance_bars(t["concordance_by_line"], by="line"), "concordance_by_line"),
            "by_line": html_table(
                t["concordance_by_line"],
                [Column("line", "line"), Column("category", "category"), *conc_cols],
                caption="Concordance by line",
                source="concordance_by_line",
            ),
            "by_year_fig": fig(F.concordance_bars(t["concordance_by_year"], by="index_year"), "concordance_by_year"),
            "by_year": html_table(
                t["concordance_by_year"],
                [Column("index year", "index_year"), Column("category", "category"), *conc_cols],
                caption="Concordance by index year",
                source="concordance_by_year",
            ),
            "reasons": html_table(
                t["concordance_reasons"],
                [
                    Column("line", "line"),
                    Column("category", "category"),
                    Column("reason", "reason"),
                    count("lines", "lines"),
                    Column("regimens most often behind it (lines)", "top_regimens"),
                ],
                caption="Reasons by line (not concordant: the exclusion's reason code; not assessable: the missing "
                "fact), with the regimens most often behind each",
                source="concordance_reasons",
            ),
            "ttnt": _km_block(
                t, fig, F, "ttnt", "concordance", "Time to next treatment by concordance category", km_cols, None
            ),
        }
    if "sensitivity" in t:
        sections["sensitivity"] = {
            "figure": fig(F.sensitivity_multiples(t["sensitivity"], t["sensitivity_regimens"], colours), "sensitivity"),
            "table": html_table(
                t["sensitivity"],
                [
                    Column("gap_days", "gap_days"),
                    Column("regimen_window_days", "regimen_window_days"),
                    Column("toxicity_stop_ends_line", "toxicity_stop_ends_line"),
                    Column("default", "is_default"),
                    count("persons ≥1 line", "persons"),
                    count("lines", "lines"),
                    Column("lines/person", "lines_per_person", "num"),
                    count("persons ≥2 lines", "persons_2l"),
                    Column("median TTNT 1L (d)", "median_ttnt_1l_days", "days"),
                    Column("CI low", "median_ttnt_1l_lower", "days"),
                    Column("CI high", "median_ttnt_1l_upper", "days"),
                    Column("median TTNT 2L (d)", "median_ttnt_2l_days", "days"),
                    Column("CI low", "median_ttnt_2l_lower", "days"),
                    Column("CI high", "median_ttnt_2l_upper", "days"),
                ],
                caption="Line counts and median time to next treatment under each setting",
                source="sensitivity",
            ),
            "regimens": html_table(
                t["sensitivity_regimens"],
                [
                    Column("gap_days", "gap_days"),
                    Column("regimen_window_days", "regimen_window_days"),
                    Column("toxicity_stop_ends_line", "toxicity_stop_ends_line"),
                    Column("line-1 regimen", "regimen"),
                    count("persons", "persons"),
                    Column("share", "share", "pct"),
                ],
                caption="First-line regimen shares under each setting",
                source="sensitivity_regimens",
            ),
        }
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    template = env.get_template("report.html.j2")
    files = sorted(f"{name}.parquet / .csv" for name, tbl in t.items() if tbl.num_columns)
    return template.render(
        r=result,
        s=sections,
        files=files,
        plotlyjs=get_plotlyjs(),
        n_figures=fig.count,
    )


def _km_block(
    t: dict[str, pa.Table],
    fig: _Figures,
    F: Any,
    endpoint: str,
    kind: str,
    title: str,
    cols: list[Column],
    colours: dict[str, str] | None,
) -> dict[str, str]:
    import pyarrow.compute as pc

    curves = t["km_curves"]
    has = curves.num_rows > 0 and bool(
        pc.any(
            pc.and_(pc.equal(curves.column("endpoint"), endpoint), pc.equal(curves.column("group_kind"), kind))
        ).as_py()
    )
    risk = t["km_at_risk"]
    risk_rows = (
        [r for r in risk.to_pylist() if r["endpoint"] == endpoint and r["group_kind"] == kind]
        if (risk.num_rows)
        else []
    )
    months = sorted({r["month"] for r in risk_rows})
    groups = list(dict.fromkeys(r["group"] for r in risk_rows))
    by = {(r["group"], r["month"]): r["at_risk_shown"] for r in risk_rows}
    risk_html = (
        "<details><summary>numbers at risk as a table</summary>"
        '<table class="risk"><caption>Number at risk <span class="src">(data: km_at_risk.parquet / .csv)</span>'
        "</caption><thead><tr><th>months</th>"
        + "".join(f"<th>{m}</th>" for m in months)
        + "</tr></thead><tbody>"
        + "".join(
            f"<tr><td>{html.escape(('line ' if kind == 'line' else '') + g)}</td>"
            + "".join(f'<td class="n c">{html.escape(str(by.get((g, m), "")))}</td>' for m in months)
            + "</tr>"
            for g in groups
        )
        + "</tbody></table></details>"
    )
    return {
        "title": title,
        "figure": fig(
            F.km_figure(curves, endpoint=endpoint, group_kind=kind, colours=colours, at_risk=risk), "km_curves"
        )
        if has
        else "<p>No group reaches the minimum cell size.</p>",
        "at_risk": risk_html if risk_rows else "",
        "table": html_table(
            t["km_summary"],
            cols,
            where={"endpoint": endpoint, "group_kind": kind},
            caption=f"{title}: medians",
            source="km_summary",
        ),
    }
