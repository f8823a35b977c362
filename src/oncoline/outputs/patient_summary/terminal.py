"""The patient summary in the terminal (Rich): large headings as questions, short paragraphs, bullets."""

from __future__ import annotations

from rich.console import Console
from rich.padding import Padding
from rich.panel import Panel
from rich.rule import Rule

from oncoline.outputs.patient_summary.model import PatientSummary
from oncoline.outputs.printable import SafeText as Text

__all__ = ["render_patient_summary"]


def render_patient_summary(summary: PatientSummary, /, *, console: Console | None = None) -> None:
    """Print ``summary`` readably: a title panel that says it is for discussion with the care team, one section
    per question, and the date and knowledge version at the end. Colours only on a terminal (Rich decides)."""
    out = console or Console()
    head = Text(summary.title.text, style="bold")
    head.append("\n" + summary.discuss.text, style="")
    if summary.fallback_note is not None:
        head.append("\n" + summary.fallback_note.text, style="italic")
    out.print(Panel(head, border_style="cyan", expand=False))
    for section in summary.sections:
        out.print()
        out.print(Rule(Text(section.heading.text, style="bold cyan"), align="left", style="cyan"))
        for line in section.intro:
            out.print(Padding(Text(line.text), (0, 0, 0, 2)))
        for item in section.items:
            if item.title is not None or item.label:
                title = Text("• ")
                if item.title is not None:
                    title.append(item.title.text, style="bold")
                if item.label:
                    title.append((": " if item.title is not None else "") + item.label, style="bold magenta")
                out.print(Padding(title, (0, 0, 0, 2)))
                for line in item.lines:
                    out.print(Padding(Text(line.text), (0, 0, 0, 4)))
            else:
                for line in item.lines:
                    out.print(Padding(Text("• " + line.text), (0, 0, 0, 2)))
            for name in item.names:
                out.print(Padding(Text("– " + name, style="bold magenta"), (0, 0, 0, 4)))
    out.print()
    out.print(Text(f"{summary.discuss.text} {summary.made.text}", style="dim"))
