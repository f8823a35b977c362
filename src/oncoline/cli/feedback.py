"""``oncoline feedback`` — summarise what clinicians did with the CDS Hooks cards (accepted / overridden, why)."""

from __future__ import annotations

from pathlib import Path

import typer

from oncoline.cli.common import guarded, print_report

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``feedback`` command to ``app``."""

    @app.command("feedback")
    @guarded
    def feedback(
        db: Path = typer.Option(
            Path("oncoline-feedback.sqlite"),
            "--db",
            metavar="FILE",
            help="The feedback store: feedback_db of the service's configuration (`oncoline serve` names it).",
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        """Summarise CDS Hooks feedback: cards accepted and overridden by service and card kind, override reasons.

        Exit codes: 2 no such store (--db) · 4 not a feedback store.
        """
        from oncoline.app.feedback import summarise_feedback

        print_report(f"CDS Hooks feedback in {db}", summarise_feedback(db), as_json=as_json)
