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
        db: Path | None = typer.Option(
            None,
            "--db",
            metavar="FILE",
            help="The feedback store (default: feedback_db of --config, else oncoline-feedback.sqlite).",
        ),
        config: Path | None = typer.Option(None, "--config", metavar="FILE", help="The service's TOML configuration."),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        """Summarise CDS Hooks feedback: cards accepted and overridden by service and card kind, override reasons.

        Exit codes: 2 no such store (--db) · 4 not a feedback store.
        """
        from oncoline.app.feedback import summarise_feedback

        path = db
        if path is None:
            if config is not None:
                from oncoline.api.config import load_config

                path = load_config(config).feedback_db
            else:
                path = Path("oncoline-feedback.sqlite")
        print_report(f"CDS Hooks feedback in {path}", summarise_feedback(path), as_json=as_json)
