"""Public names imported on first access (PEP 562), shared by :mod:`oncoline` and :mod:`oncoline.app` so that
``import oncoline`` stays cheap (a command imports only what it uses)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, namespace: dict[str, Any], table: Mapping[str, str], /
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``: a name of ``table`` (name → defining module) is imported
    on first access and kept in ``namespace`` (the package's ``globals()``).

    Raises
    ------
    AttributeError
        From ``__getattr__`` for a name that is neither defined nor in ``table``.
    """

    def getattr_(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted([*namespace, *table])

    return getattr_, dir_
