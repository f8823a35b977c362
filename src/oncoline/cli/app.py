"""The ``oncoline`` command: decision support and line-of-therapy analytics for HER2-positive MBC.

Each sub-command lives in its own module and imports heavy libraries (DuckDB, Spark, FHIR models) only
inside its body, so ``oncoline recommend`` starts fast. The Typer application (:data:`app`) is built on first use:
a plain ``oncoline recommend FILE [--json] [--as-of DATE]`` runs without importing Typer at all
(:func:`oncoline.cli.recommend.run_plain`); every other command line goes through Typer.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from oncoline.cli.common import exit_code_for, interrupted

if TYPE_CHECKING:
    import typer

HELP = """\
oncoline — evidence-linked decision support for HER2-positive metastatic breast cancer.

Decision support for clinicians, not a prescription: every answer shows its guideline statements,
trial evidence and knowledge-base version.

Exit codes: 0 ok · 1 bad input (or output that cannot be written: a full disk) · 2 usage · 3 knowledge base ·
4 back end (DuckDB/Spark/PostgreSQL) · 70 bug · 130 interrupted (Ctrl-C).
"""

#: Help's width when it does not go to a terminal (wide enough that no option's help is cut).
PIPED_HELP_WIDTH = 160

#: Every sub-command, in the order ``--help`` lists them; each is the module ``oncoline.cli.<name>`` with a
#: ``register(app)`` function.
COMMANDS = ("recommend", "her2", "lines", "patient", "kb", "schema", "omop", "cohort", "serve", "feedback")

app: typer.Typer
"""The Typer application with the commands of this process's command line (:func:`commands_for`), built on first
access (``from oncoline.cli.app import app``)."""


def commands_for(argv: Sequence[str]) -> tuple[str, ...]:
    """The sub-commands to register for a command line ``argv`` (without the program name).

    A process runs one command, so when the first word that is not an option names one, only that command is
    registered (its module and Typer options are all it imports: ~5 ms of a 0.2 s ``recommend``). Anything else
    (``--help``, no command, a typo, a test importing :data:`app`) registers every command, so help, "no such
    command" and its suggestions see them all.
    """
    first = next((word for word in argv if not word.startswith("-")), None)
    return (first,) if first in COMMANDS else COMMANDS


def _own_argv() -> list[str]:
    """The words of this process's command line when it is the ``oncoline`` program, else none (a test runner's
    or ``python -m``'s words are not ours)."""
    return sys.argv[1:] if sys.argv and sys.argv[0].endswith("oncoline") else []


def _build() -> typer.Typer:
    import typer

    from oncoline import __version__
    from oncoline.cli.common import set_debug

    built = typer.Typer(
        name="oncoline",
        help=HELP,
        no_args_is_help=True,
        add_completion=False,
        rich_markup_mode="markdown",  # paragraphs re-wrap to the terminal; docstring line breaks do not show
        context_settings={"help_option_names": ["-h", "--help"]},
        pretty_exceptions_enable=False,
    )

    def _version(value: bool) -> None:
        if value:
            # the knowledge a quoted answer rests on, beside the program's version (every answer carries kb_version)
            try:
                from oncoline.knowledge.loader import load_knowledge

                knowledge = f" (knowledge {load_knowledge().version})"
            except Exception:  # a broken knowledge base must not hide the program's version
                knowledge = " (knowledge: failed to load; run `oncoline kb lint`)"
            typer.echo(f"oncoline {__version__}{knowledge}")
            raise typer.Exit()

    @built.callback()
    def _root(
        version: bool = typer.Option(
            False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
        debug: bool = typer.Option(
            False,
            "--debug",
            help="On an internal error (exit 70), print the traceback instead of writing it to a file "
            "(also ONCOLINE_DEBUG=1).",
        ),
    ) -> None:
        """oncoline — evidence-linked decision support for HER2-positive metastatic breast cancer."""
        set_debug(debug)

    for name in commands_for(_own_argv()):
        importlib.import_module(f"oncoline.cli.{name}").register(built)
    return built


def _app() -> typer.Typer:
    """:data:`app`, built now if it was not yet (a test may have replaced it)."""
    found: typer.Typer | None = globals().get("app")
    if found is None:
        found = globals()["app"] = _build()
    return found


def __getattr__(name: str) -> typer.Typer:
    if name == "app":
        return _app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _without_typer(argv: Sequence[str]) -> int | None:
    """The exit code of a command line that ran without Typer, or None when Typer must parse it (nothing ran)."""
    if argv[:1] == ["recommend"]:
        from oncoline.cli.recommend import run_plain

        return run_plain(argv[1:])
    return None


def main() -> None:
    """Console entry point: any exception that escapes a command is a bug, reported in one line (exit 70)."""
    # A command's objects die with its process: skip the interpreter's final full collection of every object
    # (~40 ms of a 0.2 s recommend). Outputs are written and closed by then (explicitly, or by reference counting,
    # which freezing does not stop); only cyclic garbage is left for the operating system to reclaim.
    atexit.register(gc.freeze)
    # Start-up builds many long-lived objects (models, knowledge); collecting young objects every 700 allocations
    # re-walks them for nothing (~20 ms). Cycles are still collected, only less often.
    gc.set_threshold(100_000, 20, 20)
    try:
        _run()
    except KeyboardInterrupt:  # Ctrl-C while loading or parsing, outside any command body: as inside one
        sys.exit(interrupted())


def _run() -> None:
    try:
        code = _without_typer(_own_argv())
    except Exception as exc:  # a bug outside any command body (the body's own errors are reported in it)
        code = exit_code_for(exc)
    if code is not None:
        sys.exit(code)
    if not sys.stdout.isatty() and not os.environ.get("COLUMNS") and not os.environ.get("TERMINAL_WIDTH"):
        # Piped or redirected help (`oncoline lines --help | less`, a file): Rich would assume 80 columns and
        # cut option help with "…"; Typer's help reads this width when it first renders.
        os.environ["TERMINAL_WIDTH"] = str(PIPED_HELP_WIDTH)
    try:
        _app()()
    except SystemExit:
        raise
    except Exception as exc:  # help or version on a full device, a bug in parsing …: as in a command body
        sys.exit(exit_code_for(exc))


if __name__ == "__main__":
    main()
