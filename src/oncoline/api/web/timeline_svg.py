"""A swimmer plot of the patient's metastatic lines as inline SVG (no script, prints as vectors)."""

from __future__ import annotations

import datetime as dt
from html import escape

from oncoline.app.timeline import Timeline

__all__ = ["COLOURS", "swimmer_svg"]

COLOURS = {
    "progression": ("#9b2c2c", "progression"),
    "toxicity": ("#8a5a00", "stopped for toxicity"),
    "ongoing": ("#1d4f91", "ongoing"),
    "completed": ("#2f6b2f", "completed"),
    None: ("#555555", "stop reason not recorded"),
}
"""Bar colour and legend text by stop reason (all ≥ 4.5:1 against white)."""


def _ticks(first: dt.date, last: dt.date) -> list[dt.date]:
    months = (last.year - first.year) * 12 + last.month - first.month
    step = 1 if months <= 8 else 3 if months <= 30 else 6 if months <= 72 else 12
    out: list[dt.date] = []
    y, m = first.year, first.month
    while True:
        m += 1
        if m > 12:
            y, m = y + 1, 1
        day = dt.date(y, m, 1)
        if day > last:
            return out
        if (m - 1) % step == 0:
            out.append(day)


def swimmer_svg(timeline: Timeline, /, *, width: int = 760) -> str:
    """SVG of one patient's lines: a bar per line from start to end (or the decision date), coloured by why it
    ended, with the metastatic diagnosis and the decision date marked; empty string when nothing is dated.

    Parameters
    ----------
    timeline
        From :func:`oncoline.app.timeline.patient_timeline`.
    width
        Drawing width in CSS pixels (the SVG scales to its container).
    """
    dated = [ln for ln in timeline.lines if ln.start is not None]
    first = timeline.first_day
    if first is None or (not dated and timeline.metastatic_diagnosis is None):
        return ""
    last = timeline.as_of
    span = max((last - first).days, 30)
    left, right, top, row = 210, 30, 30, 30
    height = top + row * max(len(dated), 1) + 46
    plot = width - left - right

    def x(day: dt.date) -> float:
        return left + plot * ((day - first).days / span)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" class="swimmer" role="img" '
        f'aria-labelledby="swimmer-title swimmer-desc">',
        '<title id="swimmer-title">Lines of therapy up to the decision date</title>',
        f'<desc id="swimmer-desc">{len(dated)} line(s) from {first.isoformat()} to the decision date '
        f"{last.isoformat()}; the table below lists the same lines.</desc>",
    ]
    axis_y = top + row * max(len(dated), 1) + 6
    parts.append(f'<line x1="{left}" y1="{axis_y}" x2="{width - right}" y2="{axis_y}" class="axis"/>')
    for tick in _ticks(first, last):
        tx = x(tick)
        parts.append(f'<line x1="{tx:.1f}" y1="{top - 6}" x2="{tx:.1f}" y2="{axis_y + 4}" class="grid"/>')
        label = tick.strftime("%b %Y") if tick.month == 1 or len(_ticks(first, last)) <= 12 else tick.strftime("%b")
        parts.append(f'<text x="{tx:.1f}" y="{axis_y + 18}" class="tick" text-anchor="middle">{label}</text>')
    for i, ln in enumerate(dated):
        assert ln.start is not None
        y = top + row * i
        end = ln.end or last
        colour, meaning = COLOURS.get(ln.stopped, COLOURS[None])
        x0, x1 = x(ln.start), max(x(end), x(ln.start) + 3)
        name = " + ".join(ln.drugs)
        short = name if len(name) <= 25 else name[:24] + "…"  # ≈ 6.5 px per character at 11 px: fits the margin
        parts.append(
            f'<text x="{left - 8}" y="{y + 15}" class="label" text-anchor="end">L{ln.ordinal} {escape(short)}</text>'
        )
        parts.append(
            f'<rect x="{x0:.1f}" y="{y + 3}" width="{x1 - x0:.1f}" height="{row - 10}" rx="3" fill="{colour}">'
            f"<title>Line {ln.ordinal}: {escape(name)}, {ln.start.isoformat()} to "
            f"{(ln.end.isoformat() if ln.end else 'now')} ({meaning})</title></rect>"
        )
        mark = {"progression": "PD", "toxicity": "tox", "ongoing": "→", "completed": "done"}.get(ln.stopped or "", "?")
        parts.append(f'<text x="{x1 + 4:.1f}" y="{y + 15}" class="mark">{mark}</text>')
    if timeline.metastatic_diagnosis is not None:
        mx = x(timeline.metastatic_diagnosis)
        parts.append(f'<line x1="{mx:.1f}" y1="{top - 12}" x2="{mx:.1f}" y2="{axis_y}" class="event"/>')
        parts.append(f'<text x="{mx + 3:.1f}" y="{top - 16}" class="event-label">metastatic diagnosis</text>')
    dx = x(last)
    parts.append(f'<line x1="{dx:.1f}" y1="{top - 12}" x2="{dx:.1f}" y2="{axis_y}" class="decision"/>')
    label = f"decision {last.isoformat()}"
    parts.append(f'<text x="{dx - 3:.1f}" y="{top - 16}" class="event-label" text-anchor="end">{label}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
