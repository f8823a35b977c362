"""``oncoline recommend FILE [--json] [--as-of DATE]`` — options, exclusions and actions for one patient.

Thin over :func:`oncoline.app.recommend_document`: parse the options, call it, render. Heavy libraries stay out
of this path: YAML input needs only pydantic, PyYAML and Rich (FHIR input loads its models lazily), and a plain
command line (``recommend FILE [--json] [--as-of DATE]``) runs without Typer (:func:`run_plain`).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from oncoline.cli.common import (
    document_or_example,
    err_console,
    esc,
    examples_help,
    exit_code_for,
    guarded,
    interrupted,
    output_console,
    parse_as_of,
    print_json,
)

if TYPE_CHECKING:
    import typer

__all__ = ["plain_arguments", "recommend_command", "register", "run_plain"]


def recommend_command(
    file: Path | None,
    *,
    example: str | None = None,
    as_json: bool = False,
    as_of: str | None = None,
    show_trace: bool = False,
    audience: str | None = None,
    handout: Path | None = None,
    language: str | None = None,
) -> None:
    """The body of ``oncoline recommend``, its options as parsed (see :func:`register` for their meaning).

    Raises
    ------
    InputError
        A bad combination of options, an unreadable or malformed patient file, a bad ``--as-of`` date.
    KnowledgeBaseError
        The knowledge failed to load.
    """
    from oncoline.app.recommend import recommend_document
    from oncoline.errors import InputError

    if audience not in (None, "clinician", "patient"):
        raise InputError(f"--for {audience!r}: choose clinician or patient", field="--for")
    if handout is not None and audience == "clinician":
        raise InputError("the handout is for the patient: drop --for clinician or --handout", field="--handout")
    if language is not None and audience != "patient" and handout is None:
        # a language the clinician view cannot honour is said, not ignored (any value: the view is English)
        raise InputError(
            "--lang chooses the language of the patient summary: add --for patient (or --handout), or drop --lang",
            field="--lang",
        )
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
            language="en" if language is None else language,
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


def plain_arguments(argv: Sequence[str], /) -> tuple[Path, bool, str | None] | None:
    """``(FILE, --json, --as-of DATE)`` of a plain ``recommend`` command line, or None for any other.

    Plain means: one FILE (not starting with ``-``), ``--json`` at most once, ``--as-of DATE`` (or
    ``--as-of=DATE``) at most once, nothing else, in any order. Such a line needs no parser: it runs without Typer
    (:func:`run_plain`; most of Typer's start-up cost is importing it). Anything else — another option, ``--help``,
    a missing or doubled argument, ``--`` — returns None and goes to Typer, which parses, helps and reports usage
    errors as always.

    Parameters
    ----------
    argv
        The words after ``recommend``.
    """
    file: str | None = None
    as_json = False
    as_of: str | None = None
    words = iter(argv)
    for word in words:
        if word == "--json" and not as_json:
            as_json = True
        elif word == "--as-of" and as_of is None:
            as_of = next(words, None)
            if not as_of or as_of.startswith("-"):
                return None
        elif word.startswith("--as-of=") and as_of is None and len(word) > len("--as-of="):
            as_of = word.removeprefix("--as-of=")
        elif word and not word.startswith("-") and file is None:
            file = word
        else:
            return None
    return None if file is None else (Path(file), as_json, as_of)


def run_plain(argv: Sequence[str], /) -> int | None:
    """Run a plain ``recommend`` command line (:func:`plain_arguments`) without Typer and return its exit code,
    the same code and messages as under Typer (:func:`oncoline.cli.common.exit_code_for`); None when the line is
    not plain (nothing has run then)."""
    plain = plain_arguments(argv)
    if plain is None:
        return None
    file, as_json, as_of = plain
    # Before it builds its first validator, pydantic looks for third-party plugins: a scan of the entry points of
    # every installed distribution (~4 ms of this run with the dev extras, more in a large environment). This run
    # uses none; PYDANTIC_DISABLE_PLUGINS is pydantic's own switch, and a value the user gave (even "", which lets
    # plugins load) is kept.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    try:
        recommend_command(file, as_json=as_json, as_of=as_of)
    except KeyboardInterrupt:  # as under Typer (oncoline.cli.common.guarded): one line, exit 130
        return interrupted()
    except Exception as exc:
        return exit_code_for(exc)
    return 0


def register(app: typer.Typer) -> None:
    """Add the ``recommend`` command to ``app``."""
    import typer

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
        language: str | None = typer.Option(
            None,
            "--lang",
            metavar="LANG",
            help="Language of the patient summary (with --for patient or --handout; default en).",
        ),
    ) -> None:
        """Recommend the next systemic options for a patient with HER2-positive MBC, with sources.

        Exit codes: 0 ok (also when a critical fact is missing: see `missing`) · 1 bad input · 2 usage ·
        3 knowledge base.
        """
        recommend_command(
            file,
            example=example,
            as_json=as_json,
            as_of=as_of,
            show_trace=show_trace,
            audience=audience,
            handout=handout,
            language=language,
        )
