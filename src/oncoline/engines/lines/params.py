"""Line-of-therapy parameters, loaded from ``knowledge/data/lines.yaml`` (defaults, meanings, sources).

>>> p = load_line_params()
>>> (p.index_lookback_days, p.regimen_window_days, p.gap_days)
(30, 28, 120)
>>> load_line_params({"gap_days": 90}).gap_days
90
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from oncoline.errors import InputError, KnowledgeBaseError

__all__ = ["LineParams", "line_params_documentation", "load_line_params"]


class LineParams(BaseModel):
    """The documented parameters of the line-of-therapy rules (all durations in whole days)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    index_lookback_days: int = Field(ge=0)
    regimen_window_days: int = Field(ge=0)
    gap_days: int = Field(ge=1)
    maintenance_ongoing_days: int = Field(ge=0)
    maintenance_addition_classes: tuple[str, ...]
    maintenance_addition_drugs: tuple[str, ...]
    maintenance_base_classes: tuple[str, ...]
    substitution_classes: tuple[str, ...]
    version: str


@cache
def _raw() -> dict[str, Any]:
    text = resources.files("oncoline.knowledge").joinpath("data/lines.yaml").read_text(encoding="utf-8")
    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # safe; C parser if present
    if not isinstance(data, dict) or "parameters" not in data:
        raise KnowledgeBaseError("lines.yaml: missing `parameters`")
    return data


def line_params_documentation() -> dict[str, dict[str, Any]]:
    """Parameter name → ``{"default", "meaning", "source"}`` as written in ``lines.yaml``."""
    return {k: dict(v) for k, v in _raw()["parameters"].items()}


def load_line_params(overrides: dict[str, Any] | None = None) -> LineParams:
    """The default parameters, with ``overrides`` applied.

    Raises
    ------
    InputError
        When an override names an unknown parameter or has an invalid value.
    KnowledgeBaseError
        When ``lines.yaml`` is malformed.
    """
    raw = _raw()
    values: dict[str, Any] = {k: v["default"] for k, v in raw["parameters"].items()}
    for key in (
        "maintenance_addition_classes",
        "maintenance_addition_drugs",
        "maintenance_base_classes",
        "substitution_classes",
    ):
        values[key] = tuple(raw.get(key) or ())
    values["version"] = str(raw.get("version", ""))
    for key, value in (overrides or {}).items():
        if key not in raw["parameters"]:
            known = ", ".join(sorted(raw["parameters"]))
            raise InputError(f"unknown line-of-therapy parameter {key!r}; known: {known}", field=f"params.{key}")
        values[key] = value
    try:
        return LineParams.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InputError(
            f"{first['msg']} (got {first.get('input')!r}); give a whole number of days",
            field="params." + ".".join(str(x) for x in first["loc"]),
        ) from exc
