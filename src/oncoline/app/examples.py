"""Example patients shipped inside the package, so a ``pip install oncoline`` user can try every door.

The list is data (``oncoline/examples/index.yaml``): name, file and a one-line description per example.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from oncoline.errors import InputError

__all__ = ["Example", "example_path", "list_examples"]


@dataclass(frozen=True)
class Example:
    """One bundled example: ``name`` (what ``--example`` takes), ``file`` (in the package) and ``description``."""

    name: str
    file: str
    description: str


@cache
def list_examples() -> tuple[Example, ...]:
    """The bundled examples, in the order of ``examples/index.yaml``."""
    import yaml

    text = resources.files("oncoline").joinpath("examples", "index.yaml").read_text(encoding="utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # safe; the C parser when PyYAML has it
    return tuple(Example(**item) for item in yaml.load(text, Loader=loader)["examples"])


def example_path(name: str, /) -> Path:
    """The path of a bundled example by name (a file or ``.../name``, as listed by :func:`list_examples`).

    Raises
    ------
    InputError
        Field ``--example`` (a usage error): no example has that name; the message lists the names.
    """
    for example in list_examples():
        if name in (example.name, example.file):
            return Path(str(resources.files("oncoline").joinpath("examples", example.file)))
    names = ", ".join(e.name for e in list_examples())
    raise InputError(f"no bundled example {name!r}; choose one of: {names}", field="--example")
