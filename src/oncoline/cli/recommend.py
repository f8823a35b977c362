"""``oncoline recommend FILE [--json] [--as-of DATE]`` — options, exclusions and actions for one patient.

Heavy libraries stay out of this path: YAML input needs only pydantic, PyYAML and Rich (FHIR input loads its
models lazily).
"""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import typer

from oncoline.cli.common import err_console, guarded, parse_as_of, print_json, refuse_future_dates
from oncoline.errors import DataQualityWarning, InputError

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``recommend`` command to ``app``."""

    @app.command("recommend")
    @guarded
    def recommend_cmd(
        file: Path = typer.Argument(
            ..., metavar="FILE", help="Patient file: YAML/JSON patient block or case file, or a FHIR bundle."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the JSON output contract (shared/cases/FORMAT.md)."),
        as_of: str | None = typer.Option(
            None,
            "--as-of",
            metavar="DATE",
            help="Answer as the knowledge stood on DATE (YYYY-MM-DD). Default: the file's as_of, else today.",
        ),
        show_trace: bool = typer.Option(False, "--trace", help="Also show the rules that fired (human view)."),
        audience: str = typer.Option(
            "clinician", "--for", metavar="READER", help="clinician (default) or patient: a plain-language summary."
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
        from oncoline.engines.recommend import recommend
        from oncoline.io.patient_file import load_patient
        from oncoline.knowledge.loader import load_knowledge

        if audience not in ("clinician", "patient"):
            raise InputError(f"--for {audience!r}: choose clinician or patient", field="--for")
        cli_as_of = parse_as_of(as_of)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DataQualityWarning)
            patient = load_patient(file, as_of=cli_as_of)
        for w in caught:  # ingestion problems (FHIR): one short line each, counted, never a raw warning dump
            err_console.print(f"[yellow]data quality:[/] {w.message}", highlight=False)
        if caught:
            err_console.print(
                f"[yellow]{len(caught)} data-quality problem(s) in {file}; `oncoline patient {file}` shows the "
                "mapping[/]",
                highlight=False,
            )
        when = cli_as_of or patient.as_of
        if cli_as_of is None and patient.as_of is not None and patient.as_of > dt.date.today():
            raise InputError(
                f"{patient.as_of} is in the future (today is {dt.date.today()}); correct it, or leave as_of out "
                "to use today",
                source=str(file),
                field="as_of",
            )
        if when is None:  # the CLI owns the clock, not the engine; "today" admits no date from the future
            when = dt.date.today()
            refuse_future_dates(patient.dates_after(when), today=when, source=str(file))
        try:
            result = recommend(patient, knowledge=load_knowledge(), as_of=when)
        except InputError as exc:
            if exc.source is None:  # the engine knows fields and arguments, not files and options: name them here
                text = str(exc).split(": ", 1)[-1].replace("an `as_of` argument", "--as-of DATE")
                raise InputError(text, source=str(file), field=exc.field) from exc
            raise
        if audience == "patient" or handout is not None:
            from oncoline.outputs.patient_summary.door import deliver_patient_summary

            deliver_patient_summary(
                result, knowledge=load_knowledge(), language=language, handout=handout, as_json=as_json
            )
            return
        if as_json:
            print_json(result.to_contract())
            return
        from oncoline.outputs.recommendation_view import render_recommendation

        render_recommendation(result, trace=show_trace)
