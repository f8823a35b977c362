"""``oncoline her2`` — HER2 status from IHC/ISH values per ASCO/CAP 2018 (affirmed 2023).

Thin over :func:`oncoline.app.classify_her2_document`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from oncoline.cli.common import esc, guarded, output_console, print_json


def register(app: typer.Typer) -> None:
    """Add the ``her2`` command to ``app``."""

    @app.command("her2")
    @guarded
    def her2(
        file: Path = typer.Argument(
            ...,
            metavar="FILE",
            help="YAML/JSON with HER2 results (ihc, ish_ratio, her2_copies, ish_result, status), a "
            "`kind: her2` case file, or a patient file (its tumor.her2 is used).",
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """Classify HER2 per ASCO/CAP: status, ISH group (1–5), category (HER2-positive / low / ultralow / 0)
        and the further test needed, if any."""
        from oncoline.app.her2 import classify_her2_document

        result = classify_her2_document(file)
        if as_json:
            print_json(result.model_dump(mode="json"))
            return
        colour = {"positive": "red", "negative": "green", "equivocal": "yellow", "missing": "yellow"}
        console = output_console()
        console.print(
            f"[bold {colour[result.status]}]{esc(result.category)}[/]  (status {esc(result.status)}"
            + (f", ISH group {result.ish_group}" if result.ish_group else "")
            + ")"
        )
        console.print(f"rule: {esc(result.rule)}")
        if result.comment:
            console.print(f"comment: {esc(result.comment)}")
        if result.next_test:
            console.print(f"[yellow]further test needed:[/] {esc(result.next_test)}")
        console.print(f"sources: {esc(', '.join(result.citations))}")
