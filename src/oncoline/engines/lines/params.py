"""Line-of-therapy parameters, loaded from ``knowledge/data/lines.yaml`` (defaults, meanings, sources).

>>> p = load_line_params()
>>> (p.index_lookback_days, p.regimen_window_days, p.gap_days)
(30, 28, 120)
>>> load_line_params({"gap_days": 90}).gap_days
90
>>> load_line_params().toxicity_stop_ends_line
'all_drugs'
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from oncoline.errors import InputError, KnowledgeBaseError

__all__ = ["LineParams", "ParameterEntry", "line_params_documentation", "load_line_params"]


class LineParams(BaseModel):
    """The documented parameters of the line-of-therapy rules (all durations in whole days)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    index_lookback_days: int = Field(ge=0)
    regimen_window_days: int = Field(ge=0)
    gap_days: int = Field(ge=1)
    maintenance_ongoing_days: int = Field(ge=0)
    toxicity_stop_ends_line: Literal["all_drugs", "any_drug"] = Field(
        description="When a documented toxicity stop ends the line: `all_drugs` (nothing of the line continues "
        "after it, or the stopped drug is restarted: a drug dropped for intolerance while the rest continues is a "
        "de-escalation, the same line) or `any_drug` (every toxicity stop ends the line; the rule before "
        "2026-12-06, for sensitivity analyses and reproducing earlier results)."
    )
    maintenance_addition_classes: tuple[str, ...]
    maintenance_addition_drugs: tuple[str, ...]
    maintenance_base_classes: tuple[str, ...]
    substitution_classes: tuple[str, ...]
    version: str


class ParameterEntry(BaseModel):
    """The schema of one entry under ``parameters:`` in ``lines.yaml`` (house style S2/S3)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default: int | str = Field(description="The default value (a whole number of days, or one of ``values``).")
    meaning: str = Field(min_length=1, description="What the parameter decides, in the words the docs show.")
    source: tuple[str, ...] = Field(min_length=1, description="Source ids, each a key of the file's ``sources``.")
    effective: dt.date = Field(description="The date the parameter (with this meaning) took effect.")
    values: tuple[str, ...] | None = Field(default=None, description="The closed set of values, when not days.")


@cache
def _raw() -> dict[str, Any]:
    text = resources.files("oncoline.knowledge").joinpath("data/lines.yaml").read_text(encoding="utf-8")
    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # safe; C parser if present
    if not isinstance(data, dict) or "parameters" not in data:
        raise KnowledgeBaseError("lines.yaml: missing `parameters`")
    sources = data.get("sources") or {}
    for name, entry in data["parameters"].items():
        try:
            checked = ParameterEntry.model_validate(entry)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"])
            raise KnowledgeBaseError(f"lines.yaml: parameters.{name}.{where}: {first['msg']}") from exc
        dangling = [s for s in checked.source if s not in sources]
        if dangling:
            raise KnowledgeBaseError(
                f"lines.yaml: parameters.{name}.source names {', '.join(dangling)}, not in `sources`; add it there"
            )
        if checked.values is not None and checked.default not in checked.values:
            raise KnowledgeBaseError(f"lines.yaml: parameters.{name}.default is not one of its `values`")
    return data


def line_params_documentation() -> dict[str, dict[str, Any]]:
    """Parameter name → ``{"default", "meaning", "source", "effective", "values"?}`` as written in ``lines.yaml``."""
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
        fix = "give a whole number of days" if first["type"] != "literal_error" else "give one of the values named"
        raise InputError(
            f"{first['msg']} (got {first.get('input')!r}); {fix}",
            field="params." + ".".join(str(x) for x in first["loc"]),
        ) from exc
