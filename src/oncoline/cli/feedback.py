"""``oncoline feedback`` — summarise what clinicians did with the CDS Hooks cards (accepted / overridden, why)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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

        summary = summarise_feedback(db)
        print_report(f"CDS Hooks feedback in {db}", summary if as_json else for_people(summary), as_json=as_json)


def for_people(summary: dict[str, Any], /) -> dict[str, Any]:
    """The summary for the tree view: each override reason one line ``"<display> (<code>): <n>"`` (the code alone
    when no display was given) instead of a numbered node holding ``code`` / ``display`` / ``n``.

    >>> for_people({"override_reasons": [{"code": "mdt", "display": "", "n": 2}]})
    {'override_reasons': {'mdt': 2}}
    """
    reasons = {
        (f"{r['display']} ({r['code']})" if r.get("display") else str(r["code"])): r["n"]
        for r in summary.get("override_reasons", [])
    }
    return {**summary, "override_reasons": reasons}
