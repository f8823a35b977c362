"""A readable view of a :class:`~oncoline.model.recommendation.Recommendation` for a tumour board (Rich).

Every text from the patient or the knowledge is a :class:`rich.text.Text`, never markup: a drug, a file or a
FHIR text holding ``[brackets]`` is shown as typed.

Layout: decision point (HER2/HR, line and why) → facts still needed → options grouped by category, each with its
evidence one-liner, why it applies, review flags and numbered sources → regimens withheld and why → site and
safety actions → monitoring → warnings → the numbered source list → knowledge version and disclaimer.
"""

from __future__ import annotations

from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table

from oncoline.model.recommendation import Category, Citation, Excluded, Recommendation
from oncoline.outputs.printable import SafeText as Text

__all__ = ["build_trace", "build_view", "render_recommendation"]

_CATEGORY_TITLE = {
    Category.PREFERRED: ("Preferred", "bold green"),
    Category.OTHER: ("Other recommended", "bold cyan"),
    Category.CERTAIN_CIRCUMSTANCES: ("Useful in certain circumstances", "bold magenta"),
}
_ACTION_TITLE = {
    "clinical_trial": "Clinical trial",
    "brain_local_therapy": "Brain: local therapy",
    "bone_modifying_agent": "Bone-modifying agent",
    "defer_bone_modifying_agent": "Bone (pregnancy)",
    "palliative_radiotherapy": "Palliative radiotherapy",
    "liver_local_therapy": "Liver: local therapy",
    "pruritus_management": "Cholestasis / pruritus",
    "cardiac_monitoring": "Cardiac",
    "ild_monitoring": "ILD vigilance",
    "biopsy_metastasis": "Biopsy",
    "palliative_surgery": "Primary tumour",
    "multidisciplinary_review": "MDT",
    "best_supportive_care": "Supportive care",
    "receptor_discordance": "Receptor discordance",
}
_ALGORITHM_TITLE = {
    "first_line": "first-line algorithm",
    "maintenance": "maintenance within the current line",
    "continue": "continue the current line",
    "second_line": "second-line algorithm",
    "later_line": "third line and beyond",
}


class _Refs:
    """Numbers citations in order of first use."""

    def __init__(self) -> None:
        self.order: dict[str, Citation] = {}

    def mark(self, citations: tuple[Citation, ...]) -> str:
        nums = []
        for c in citations:
            if c.id not in self.order:
                self.order[c.id] = c
            nums.append(list(self.order).index(c.id) + 1)
        return "[" + ",".join(str(n) for n in sorted(set(nums))) + "]" if nums else ""


_STATUS_LEGEND = {
    "probable": "a fact given from domain knowledge, consistent with the retrieved material, but not re-read from "
    "the primary source (the clinical reference's † marker): treat as probable and verify before clinical use.",
    "unconfirmed": "could not be verified against a retrievable source: needs review, never a hard rule.",
}
"""What the status markers of the source list mean (shared/reference/her2-mbc.md, 'Markers used throughout')."""


def _drugs_add_information(name: str, drugs: tuple[str, ...]) -> bool:
    """True when some drug is not already spelled out in the regimen name (so listing the drugs says more)."""
    lowered = name.lower()
    return not drugs or any(d.lower() not in lowered for d in drugs)


def _short(e: Excluded) -> str:
    """Regimen label for the withheld table: the short name, then the drugs it does not already spell out."""
    short = e.name.split(" (")[0]
    unnamed = [d for d in e.drugs if d.lower() not in short.lower()]
    return f"{short} ({' + '.join(unnamed)})" if unnamed else short


def _header(rec: Recommendation) -> RenderableType:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    grid.add_row("Patient", Text(rec.patient_id))
    grid.add_row("Decision date", Text(f"{rec.as_of} (knowledge {rec.kb_version})"))
    grid.add_row("Tumour", Text(f"{rec.her2_category} (HER2 {rec.her2_status}); hormone receptors {rec.hr_status}"))
    grid.add_row("Line", Text(f"{rec.line} — {_ALGORITHM_TITLE.get(rec.algorithm.value, rec.algorithm.value)}"))
    grid.add_row("Why this line", Text(rec.line_rationale))
    if rec.algorithm_rationale:
        grid.add_row("Algorithm", Text(rec.algorithm_rationale))
    return Panel(grid, title="[bold]oncoline — systemic options and actions[/]", border_style="blue")


def _no_option_text(rec: Recommendation) -> str:
    """Why no systemic option is shown, pointing only to sections this view prints."""
    where = [
        text
        for shown, text in (
            (bool(rec.missing), "the facts needed above"),
            (bool(rec.excluded), "why each regimen is withheld below"),
            (bool(rec.actions), "the actions below"),
        )
        if shown
    ]
    see = (
        f" — see {', '.join(where[:-1])} and {where[-1]}" if len(where) > 1 else (f" — see {where[0]}" if where else "")
    )
    return f"No systemic option is proposed at this decision point{see}; MDT review, clinical trial or supportive care."


def build_view(rec: Recommendation) -> RenderableType:
    """The whole view as one Rich renderable (used by :func:`render_recommendation` and golden tests)."""
    refs = _Refs()
    parts: list[RenderableType] = [_header(rec)]

    if rec.missing:
        body = Group(*(Text(f"• {m.text}  ({m.code})") for m in rec.missing))
        parts.append(Panel(body, title="[bold]Needed before deciding[/]", border_style="red"))

    n = 0
    for category in Category:
        group = [o for o in rec.options if o.category == category]
        if not group:
            continue
        title, style = _CATEGORY_TITLE[category]
        parts.append(Rule(Text(title, style=style), align="left", style=style.split()[-1]))
        for o in group:
            n += 1
            head = Text(f"{n}. ", style="bold")
            head.append(o.name, style="bold")
            head.append(f"  —  {' + '.join(o.drugs)}  " if _drugs_add_information(o.name, o.drugs) else "  ")
            head.append(refs.mark(o.citations), style="dim")
            grid = Table.grid(padding=(0, 1))
            grid.add_column(no_wrap=True, style="dim", width=9)
            grid.add_column()
            for ev in o.evidence:
                grid.add_row("Evidence", Text(ev, style="green"))
            if o.rationale:
                grid.add_row("Why", Text(o.rationale))
            if o.guideline_status:
                grid.add_row(Text("⚠ Status", style="yellow"), Text(o.guideline_status, style="yellow"))
            for f in o.flags:
                grid.add_row(Text("⚠ Flag", style="yellow"), Text(f, style="yellow"))
            for note in o.notes:
                grid.add_row("Note", Text(note, style="dim"))
            parts.append(Padding(Group(head, Padding(grid, (0, 0, 0, 3))), (0, 0, 1, 1)))
    if not rec.options:
        parts.append(Text(_no_option_text(rec), style="bold red"))

    if rec.excluded:
        # one row per withheld regimen, sources inside the reason cell (they wrap with it: nothing is cut at 80
        # columns); a reason repeated from the row above is not printed again
        table = Table(title="Withheld for this patient", title_justify="left", show_lines=True, expand=True)
        table.add_column("Regimen", ratio=1)
        table.add_column(Text("Why withheld [sources]"), ratio=2)
        previous: tuple[str, tuple[str, ...], str] | None = None
        for e in rec.excluded:
            mark = refs.mark(e.citations)
            key = (e.reason, e.also, mark)
            if key == previous:
                reason = Text("same reason as the row above", style="dim italic")
            else:
                reason = Text(e.reason)
                if e.also:
                    reason.append(f"  (also: {'; '.join(e.also)})", style="dim")
                reason.append(f" {mark}", style="dim")
            previous = key
            table.add_row(Text(_short(e)), reason)
        parts.append(table)

    if rec.actions:
        parts.append(Rule(Text("Actions", style="bold"), align="left"))
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True, style="bold")
        grid.add_column()
        for a in rec.actions:
            text = Text(a.text)
            text.append(f" {refs.mark(a.citations)}", style="dim")
            grid.add_row(Text(f"• {_ACTION_TITLE.get(a.code, a.code.replace('_', ' ').capitalize())}"), text)
        parts.append(Padding(grid, (0, 0, 0, 1)))

    if rec.monitoring:
        parts.append(Rule(Text("Safety monitoring for the options above", style="bold"), align="left"))
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="bold", max_width=28)
        grid.add_column()
        for m in rec.monitoring:
            text = Text(m.text)
            text.append(f" {refs.mark(m.citations)}", style="dim")
            grid.add_row(Text(f"• {', '.join(m.drugs)}"), text)
        parts.append(Padding(grid, (0, 0, 0, 1)))

    if rec.warnings:
        body = Group(*(Text(f"• {w}") for w in rec.warnings))
        parts.append(Panel(body, title=f"[bold]Warnings ({len(rec.warnings)})[/]", border_style="yellow"))

    sources = Table.grid(padding=(0, 1))
    sources.add_column(justify="right", style="dim", no_wrap=True)
    sources.add_column()
    for i, c in enumerate(refs.order.values(), start=1):
        text = Text(c.short, style="bold")
        ident = f" doi:{c.doi}" if c.doi else (f" PMID {c.pmid}" if c.pmid else (f" {c.url}" if c.url else ""))
        text.append(f" — {c.title}{ident}")
        if c.date:
            text.append(f" ({c.date})", style="dim")
        if c.status != "verified":
            text.append(f"  [{c.status.upper()}]", style="yellow")
        sources.add_row(Text(f"[{i}]"), text)
    parts.append(Rule(Text("Sources", style="bold"), align="left"))
    parts.append(sources)
    shown = dict.fromkeys(c.status for c in refs.order.values() if c.status in _STATUS_LEGEND)
    for status in shown:
        legend = Text(f"[{status.upper()}]", style="yellow")
        legend.append(f" = {_STATUS_LEGEND[status]}", style="dim")
        parts.append(legend)
    parts.append(Text(f"\nKnowledge {rec.kb_version} · as of {rec.as_of} · {rec.disclaimer}", style="dim italic"))
    return Group(*parts)


def build_trace(rec: Recommendation) -> RenderableType:
    """The rules that fired, in order (rule id → effect)."""
    table = Table(title="Trace: rules that fired", title_justify="left", expand=True)
    table.add_column("Rule", no_wrap=True, style="dim")
    table.add_column("Effect")
    for t in rec.trace:
        table.add_row(Text(t.rule), Text(t.effect))
    return table


def render_recommendation(rec: Recommendation, /, *, console: Console | None = None, trace: bool = False) -> None:
    """Print the view to ``console`` (default: stdout, at most 120 columns wide); ``trace`` adds the rule trace."""
    out = console or Console()
    if console is None and out.width > 120:
        out = Console(width=120)
    out.print(build_view(rec))
    if trace:
        out.print(build_trace(rec))
