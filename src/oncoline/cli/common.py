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

import datetime as dt
import functools
import json
import sys
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from oncoline.errors import BackendError, InputError, KnowledgeBaseError, OncolineError

__all__ = [
    "EXIT_BACKEND",
    "EXIT_INPUT",
    "EXIT_INTERNAL",
    "EXIT_KB",
    "EXIT_OK",
    "EXIT_USAGE",
    "err_console",
    "guarded",
    "parse_as_of",
    "print_json",
    "print_report",
]

EXIT_OK = 0
EXIT_INPUT = 1
EXIT_USAGE = 2
EXIT_KB = 3
EXIT_BACKEND = 4
EXIT_INTERNAL = 70

err_console = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")


def guarded(fn: Callable[P, R]) -> Callable[P, R]:
    """Run a command body, turning oncoline errors into one clear message on stderr and a documented exit code."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except InputError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
            # a bad option value (field "--as-of", "--engine" …) or a missing argument (field "FILE") is a usage
            # error, like Click's own
            usage = exc.field is not None and (exc.field.startswith("--") or exc.field.isupper())
            raise typer.Exit(EXIT_USAGE if usage else EXIT_INPUT) from None
        except KnowledgeBaseError as exc:
            err_console.print(f"[bold red]knowledge-base error:[/] {exc}", highlight=False)
            raise typer.Exit(EXIT_KB) from None
        except BackendError as exc:
            err_console.print(f"[bold red]back-end error:[/] {exc}", highlight=False)
            raise typer.Exit(EXIT_BACKEND) from None
        except OncolineError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(EXIT_INTERNAL) from None

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
    from rich.console import Console
    from rich.tree import Tree

    def add(node: Tree, value: Any) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                if sub is None or sub == {} or sub == []:
                    continue
                label = str(key).replace("_", " ")
                if isinstance(sub, (dict, list)):
                    add(node.add(f"[bold]{label}[/]"), sub)
                else:
                    node.add(f"{label}: {_default(sub) if isinstance(sub, (dt.date, dt.datetime)) else sub}")
        elif isinstance(value, list):
            for i, item in enumerate(value, start=1):
                if isinstance(item, dict):
                    add(node.add(f"[dim]{i}[/]"), item)
                else:
                    node.add(str(item))
        else:
            node.add(str(value))

    tree = Tree(f"[bold]{title}[/]")
    add(tree, data)
    Console().print(tree)
