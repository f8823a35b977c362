"""``oncoline recommend FILE [--json] [--as-of DATE]`` — options, exclusions and actions for one patient.

Heavy libraries stay out of this path: YAML input needs only pydantic, PyYAML and Rich (FHIR input loads its
models lazily).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from oncoline.cli.common import guarded, parse_as_of, print_json

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``recommend`` command to ``app``."""

    @app.command("recommend")
    @guarded
    def recommend_cmd(
        file: Path = typer.Argument(..., help="Patient file: YAML/JSON patient block or case file, or a FHIR bundle."),
        as_json: bool = typer.Option(False, "--json", help="Print the JSON output contract (shared/cases/FORMAT.md)."),
        as_of: str | None = typer.Option(
            None,
            "--as-of",
            metavar="DATE",
            help="Answer as the knowledge stood on DATE (YYYY-MM-DD). Default: the file's as_of, else today.",
        ),
        show_trace: bool = typer.Option(False, "--trace", help="Also show the rules that fired (human view)."),
    ) -> None:
        """Recommend the next systemic options for a patient with HER2-positive MBC, with sources.

        Exit codes: 0 ok (also when a critical fact is missing: see `missing`) · 1 bad input · 3 knowledge base.
        """
        from oncoline.engines.recommend import recommend
        from oncoline.io.patient_file import load_patient
        from oncoline.knowledge.loader import load_knowledge

        patient = load_patient(file)
        when = parse_as_of(as_of) or patient.as_of or dt.date.today()  # the CLI owns the clock, not the engine
        result = recommend(patient, knowledge=load_knowledge(), as_of=when)
        if as_json:
            print_json(result.to_contract())
            return
        from oncoline.outputs.recommendation_view import render_recommendation

        render_recommendation(result, trace=show_trace)
