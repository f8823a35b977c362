"""Shared CLI plumbing: exit codes, error reporting, JSON printing.

Exit codes (documented in ``oncoline --help`` and the README):

====  =====================================================================
0     success (also when the answer is "a critical fact is missing": see ``missing``)
1     bad input: a file, field or drug that cannot be used as given
2     usage error: unknown option or argument, or a bad option value (``--as-of soon``, ``--engine foo``)
3     knowledge-base error (``kb lint`` found problems, or the knowledge failed to load)
4     back-end error: DuckDB, Spark or PostgreSQL failed or is not installed
70    internal error (a bug: please report it with the command and input)
====  =====================================================================
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from oncoline.errors import BackendError, InputError, KnowledgeBaseError

if TYPE_CHECKING:
    from rich.console import Console

# Typer (with its Click) is imported by the functions that need it, not here: a command that runs without Typer
# (``oncoline recommend FILE --json``, see :func:`oncoline.cli.app.main`) imports this module too.

__all__ = [
    "EXIT_BACKEND",
    "EXIT_INPUT",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_KB",
    "EXIT_OK",
    "EXIT_PIPE_CLOSED",
    "EXIT_USAGE",
    "PIPED_WIDTH",
    "document_or_example",
    "err_console",
    "esc",
    "examples_help",
    "exit_code_for",
    "guarded",
    "output_console",
    "parse_as_of",
    "print_json",
    "print_report",
    "report_bug",
    "set_debug",
]

EXIT_OK = 0
EXIT_INPUT = 1
EXIT_USAGE = 2
EXIT_KB = 3
EXIT_BACKEND = 4
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130
"""Stopped by Ctrl-C (SIGINT): 128 + 2, as a shell reports a process the signal ended."""
EXIT_PIPE_CLOSED = 141
"""The reader of our output went away (``oncoline … | head``): stop quietly, as a process killed by SIGPIPE."""

PIPED_WIDTH = 10_000
"""Width of output written to a file or a pipe: lines and table cells are never cut at 80 columns there."""

_DEBUG = False


def set_debug(value: bool) -> None:
    """``--debug``: print the traceback of an internal error instead of writing it to a file."""
    global _DEBUG
    _DEBUG = value


def _debug() -> bool:
    return _DEBUG or os.environ.get("ONCOLINE_DEBUG", "") not in ("", "0")


def esc(value: object) -> str:
    """``value`` as text that Rich prints as typed: ``[red]`` stays ``[red]`` (user text is never markup) and a
    control character shows as its escape (``\\x1b``), never reaching the terminal
    (:func:`oncoline.outputs.printable.printable`)."""
    from rich.markup import escape

    from oncoline.outputs.printable import printable

    return escape(printable(value))


def output_console(*, stderr: bool = False, max_width: int | None = None) -> Console:
    """A Rich console for people: on a terminal, its width (at most ``max_width``); written to a file or a
    pipe, :data:`PIPED_WIDTH` (or ``max_width``) so that nothing is wrapped or cut with "…" at 80 columns.
    ``COLUMNS`` in the environment wins, as everywhere in Rich."""
    make = _pipe_console()
    console = make(stderr=stderr)
    if "COLUMNS" not in os.environ and not console.is_terminal:
        return make(stderr=stderr, width=max_width or PIPED_WIDTH)
    if max_width is not None and console.width > max_width:
        return make(stderr=stderr, width=max_width)
    return console


@functools.cache
def _pipe_console() -> type[Console]:
    """Rich's console, but a closed pipe raises :class:`BrokenPipeError` (→ :func:`guarded` → exit 141) instead of
    Rich's own ``SystemExit(1)``, which read as "bad input" with no message."""
    import re

    from rich.console import Console

    trailing = re.compile(r" +(?=\n)")

    class PipeConsole(Console):
        def on_broken_pipe(self) -> None:
            raise BrokenPipeError

        def _render_buffer(self, buffer: Any) -> str:
            # Written to a file or a pipe, tables and panels would pad every line with spaces to the console's
            # width (120 columns of blanks in a saved recommendation); a terminal keeps Rich's output as it is.
            text: str = super()._render_buffer(buffer)
            return text if self.is_terminal else trailing.sub("", text)

    return PipeConsole


class _ErrConsole:
    """stderr for messages, made on first use (Rich stays out of a command that prints none) and anew for each
    stream (tests swap ``sys.stderr``); behaves as a :class:`rich.console.Console`."""

    def __getattr__(self, name: str) -> Any:
        return getattr(output_console(stderr=True), name)


err_console: Any = _ErrConsole()
"""Where messages go (stderr); use as a Rich console: ``err_console.print(f"[yellow]note:[/] {esc(text)}")``."""


@functools.cache
def _cli_flow() -> tuple[type[BaseException], ...]:
    """Typer's Exit and Abort and Click's usage-error base (whichever click typer uses: its vendored copy, or
    click itself): exceptions that carry their own exit code and message."""
    import typer

    return (
        typer.Exit,
        typer.Abort,
        next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"),
    )


P = ParamSpec("P")
R = TypeVar("R")


def pipe_closed() -> int:
    """Silence the rest of stdout (its reader is gone) and return :data:`EXIT_PIPE_CLOSED`."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real stdout (tests): nothing to silence
        pass
    return EXIT_PIPE_CLOSED


def interrupted() -> int:
    """Report a Ctrl-C in one line on stderr and return :data:`EXIT_INTERRUPTED` (every path of every command)."""
    sys.stderr.write("\ninterrupted (Ctrl-C): nothing more was written\n")
    return EXIT_INTERRUPTED


def os_failure(exc: OSError) -> int:
    """Report an operating-system failure outside oncoline's control (a full disk, stdout on a full device, a
    device error) in one line on stderr and return :data:`EXIT_INPUT` — not a bug, not a traceback.

    Standard output is pointed at the null device afterwards, so the interpreter's last flush of the lines that
    could not be written does not fail again.
    """
    where = f" {exc.filename}" if exc.filename else " the output"
    reason = exc.strerror or type(exc).__name__
    err_console.print(
        f"[bold red]error:[/] could not read or write{esc(where)}: {esc(reason)} — free space or choose another "
        "place, then run again",
        highlight=False,
    )
    with contextlib.suppress(OSError, ValueError):  # no real stdout (tests): nothing to silence
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return EXIT_INPUT


def report_bug(exc: BaseException) -> int:
    """Report an internal error in one line (where the traceback was written) and return :data:`EXIT_INTERNAL`.

    With ``--debug`` (or ``ONCOLINE_DEBUG=1``) the traceback is printed to stderr instead. The file holds the
    version, Python, the platform and the traceback; not the command line, whose file names may name a patient.
    """
    import platform
    import tempfile
    import traceback

    from oncoline import __version__

    text = "".join(traceback.format_exception(exc))
    what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if _debug():
        sys.stderr.write(text)
        err_console.print(
            f"[bold red]internal error:[/] {esc(what)} — a bug in oncoline, not a problem with your input; please "
            "report it with the traceback above",
            highlight=False,
        )
        return EXIT_INTERNAL
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        fd, name = tempfile.mkstemp(prefix=f"oncoline-crash-{stamp}-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(f"oncoline {__version__}, Python {platform.python_version()}, {platform.platform()}\n\n{text}")
    except OSError:  # nowhere to write it: show it here rather than lose it
        sys.stderr.write(text)
        name = "the lines above"
    err_console.print(
        f"[bold red]internal error:[/] {esc(what)} — a bug in oncoline, not a problem with your input; please report "
        f"it with the command you ran. Traceback written to {esc(Path(name))} (run with --debug to print it).",
        highlight=False,
    )
    return EXIT_INTERNAL


def exit_code_for(exc: Exception) -> int:
    """Report an error that escaped a command body and return its exit code (without Typer).

    Oncoline errors become one clear message on stderr and a documented exit code: :class:`InputError` 1 (2 for a
    bad option value or a missing argument), :class:`KnowledgeBaseError` 3, :class:`BackendError` 4; a closed
    output pipe 141 (silently); an operating-system failure (a full disk) 1 with its reason; anything else is a
    bug: one line saying so and where its traceback is, 70.
    """
    if isinstance(exc, BrokenPipeError):
        return pipe_closed()
    if isinstance(exc, InputError):
        err_console.print(f"[bold red]error:[/] {esc(exc)}", highlight=False)
        # a bad option value (field "--as-of", "--engine" …) or a missing argument (field "FILE", no file
        # named) is a usage error, like Click's own; a key inside a file (the error names the file) is bad
        # input even when written in capitals ("TUMOR:" in a patient file)
        field = exc.field or ""
        usage = field.startswith("--") or (exc.source is None and field.isupper())
        return EXIT_USAGE if usage else EXIT_INPUT
    if isinstance(exc, KnowledgeBaseError):
        err_console.print(f"[bold red]knowledge-base error:[/] {esc(exc)}", highlight=False)
        return EXIT_KB
    if isinstance(exc, BackendError):
        err_console.print(f"[bold red]back-end error:[/] {esc(exc)}", highlight=False)
        return EXIT_BACKEND
    if isinstance(exc, OSError):  # the machine failed us (ENOSPC on stdout, EIO …): said plainly, exit 1
        return os_failure(exc)
    return report_bug(exc)  # EngineError, any other OncolineError and anything unexpected: a bug


def guarded(fn: Callable[P, R]) -> Callable[P, R]:
    """Run a command body under Typer, turning oncoline errors into one clear message on stderr and a documented
    exit code (:func:`exit_code_for`); Typer's and Click's own exits and usage errors keep their meaning."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except KeyboardInterrupt:  # the same exit on every path (Click would say "Aborted!" and exit 1)
            import typer

            raise typer.Exit(interrupted()) from None
        except Exception as exc:
            if isinstance(exc, _cli_flow()):  # Exit, Abort and Click's own usage errors keep their meaning
                raise
            import typer

            raise typer.Exit(exit_code_for(exc)) from None

    return wrapper


def parse_as_of(value: str | None) -> dt.date | None:
    """Parse ``--as-of YYYY-MM-DD`` against the clock (the CLI owns it; see :func:`oncoline.app.parse_as_of`).

    Raises
    ------
    InputError
        When the value is not an ISO date, or lies after today (field ``--as-of``: a usage error, exit 2).
    """
    from oncoline.app.dates import parse_as_of as parse

    return parse(value, today=dt.date.today())


def _default(o: Any) -> Any:
    if isinstance(o, (dt.date, dt.datetime)):
        return o.isoformat()
    if hasattr(o, "model_dump"):
        return o.model_dump(mode="json")
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def print_json(data: Any) -> None:
    """Write ``data`` as indented JSON to stdout (dates as ISO strings)."""
    sys.stdout.write(json.dumps(data, indent=2, default=_default, ensure_ascii=False) + "\n")


def print_report(title: str, data: Any, /, *, as_json: bool) -> None:
    """Print a nested mapping either as JSON (``as_json``) or as a readable indented tree for people.

    Parameters
    ----------
    title
        The tree's heading (e.g. ``"OMOP cohort read from cdm.duckdb"``).
    data
        Mappings, lists and scalars (dates are shown as ISO text); ``None`` values are left out of the tree.
    """
    if as_json:
        print_json(data)
        return
    from rich.tree import Tree

    def add(node: Tree, value: Any) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                if sub is None or sub == {} or sub == []:
                    continue
                label = esc(str(key).replace("_", " "))
                if isinstance(sub, (dict, list)):
                    add(node.add(f"[bold]{label}[/]"), sub)
                else:
                    node.add(f"{label}: {esc(_default(sub) if isinstance(sub, (dt.date, dt.datetime)) else sub)}")
        elif isinstance(value, list):
            for i, item in enumerate(value, start=1):
                if isinstance(item, dict):
                    add(node.add(f"[dim]{i}[/]"), item)
                else:
                    node.add(esc(item))
        else:
            node.add(esc(value))

    tree = Tree(f"[bold]{esc(title)}[/]")
    add(tree, data)
    output_console().print(tree)


def examples_help() -> str:
    """The bundled examples for an option's help: "NAME (description); …"."""
    from oncoline.app.examples import list_examples

    return "; ".join(f"{e.name} ({e.description})" for e in list_examples()) + "."


def document_or_example(file: Path | None, example: str | None) -> Path:
    """FILE, or the bundled example's path; exactly one of them (a usage error otherwise)."""
    if file is not None and example is not None:
        raise InputError("give FILE or --example NAME, not both", field="--example")
    if example is not None:
        from oncoline.app.examples import example_path

        return example_path(example)
    if file is None:
        raise InputError("give a patient FILE (or --example NAME; --help lists the examples)", field="FILE")
    return file
