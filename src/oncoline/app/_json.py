"""JSON-ready values: what every door prints or sends is built once, here."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

__all__ = ["json_ready"]


def json_ready(value: Any, /) -> Any:
    """``value`` with dates as ISO text, tuples and sets as lists, pydantic models and dataclasses as mappings.

    >>> json_ready({"as_of": dt.date(2024, 6, 30), "drugs": ("a", "b")})
    {'as_of': '2024-06-30', 'drugs': ['a', 'b']}
    """
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_ready(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return json_ready(dataclasses.asdict(value))
    return value
