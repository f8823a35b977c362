"""``oncoline recommend FILE [--json] [--as-of DATE]`` — options, exclusions and actions for one patient.

Thin over :func:`oncoline.app.recommend_document`: parse the options, call it, render. Heavy libraries stay out
of this path: YAML input needs only pydantic, PyYAML and Rich (FHIR input loads its models lazily).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from oncoline.cli.common import (
    document_or_example,
    err_console,
    esc,
    examples_help,
    guarded,
    output_console,
    parse_as_of,
    print_json,
)

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``recommend`` command to ``app``."""

    @app.command("recommend")
    @guarded
    def recommend_cmd(
        file: Path | None = typer.Argument(
            None,
            metavar="FILE",
            help="Patient file: YAML/JSON patient block or case file, or a FHIR bundle (or give --example NAME).",
            show_default=False,
        ),
        example: str | None = typer.Option(
            None,
            "--example",
            metavar="NAME",
            help="Use a patient bundled with oncoline instead of FILE: " + examples_help(),
        ),
        as_json: bool = typer.Option(
            False, "--json", help="Print the JSON output contract (`oncoline schema recommendation`)."
        ),
        as_of: str | None = typer.Option(
            None,
            "--as-of",
            metavar="DATE",
            help="Answer as the knowledge stood on DATE (YYYY-MM-DD). Default: the file's as_of, else today.",
        ),
        show_trace: bool = typer.Option(False, "--trace", help="Also show the rules that fired (human view)."),
        audience: str | None = typer.Option(
            None, "--for", metavar="READER", help="clinician (default) or patient: a plain-language summary."
        ),
        handout: Path | None = typer.Option(
            None,
            "--handout",
            metavar="OUT",
            help="Write the patient handout to OUT.html or OUT.pdf (implies --for patient).",
        ),
        language: str = typer.Option(
            "en", "--lang", metavar="LANG", help="Language of the patient summary (English fallback)."
        ),
    ) -> None:
        """Recommend the next systemic options for a patient with HER2-positive MBC, with sources.

        Exit codes: 0 ok (also when a critical fact is missing: see `missing`) · 1 bad input · 2 usage ·
        3 knowledge base.
        """
        from oncoline.app.recommend import recommend_document
        from oncoline.errors import InputError

        if audience not in (None, "clinician", "patient"):
            raise InputError(f"--for {audience!r}: choose clinician or patient", field="--for")
        if handout is not None and audience == "clinician":
            raise InputError("the handout is for the patient: drop --for clinician or --handout", field="--handout")
        if handout is not None and as_json:
            raise InputError("--handout writes a file and --json prints to the screen: choose one", field="--handout")
        file = document_or_example(file, example)
        today = dt.date.today()  # the CLI owns the clock
        outcome = recommend_document(file, as_of=parse_as_of(as_of), today=today)
        for line in outcome.findings:  # ingestion problems (FHIR): one short line each, counted
            err_console.print(f"[yellow]data quality:[/] {esc(line)}", highlight=False)
        if outcome.findings:
            err_console.print(
                f"[yellow]{len(outcome.findings)} data-quality problem(s) in {esc(file)}; `oncoline patient "
                f"{esc(file)}` shows the mapping[/]",
                highlight=False,
            )
        if audience == "patient" or handout is not None:
            from oncoline.knowledge.loader import load_knowledge
            from oncoline.outputs.patient_summary.door import deliver_patient_summary

            deliver_patient_summary(
                outcome.recommendation,
                patient=outcome.patient,
                knowledge=load_knowledge(),
                language=language,
                handout=handout,
                as_json=as_json,
                console=output_console(max_width=100),
            )
            return
        if as_json:
            print_json(outcome.to_json())
            return
        from oncoline.outputs.recommendation_view import render_recommendation

        render_recommendation(outcome.recommendation, console=output_console(max_width=120), trace=show_trace)
