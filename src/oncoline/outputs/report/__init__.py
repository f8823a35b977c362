"""The cohort report as one self-contained HTML page (Jinja2 template, plotly figures, plotly.js embedded once).

:func:`render_report` turns a :class:`~oncoline.app.cohort_report.CohortReportResult` into HTML. Every figure and
table is drawn from the result's suppressed tables, so every number on the page is in an exported table.
The page loads nothing from the network.
"""

from __future__ import annotations

from oncoline.outputs.report.render import render_report

__all__ = ["render_report"]
