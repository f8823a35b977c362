"""Observations: status, date and code, then each ``value[x]`` and each coded component handed to the module that
reads that kind of fact (markers, conditions, sites, medications) through a meaning → handler table.

An observation with several ``value[x]`` (FHIR allows one) is a problem: each is read and they must agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from oncoline.io.fhir.datatypes import Context, as_dict, as_list, as_text, observation_meaning, read_date
from oncoline.io.fhir.dates import PartialDate

__all__ = ["ValueHandler", "observation_date", "read_observation"]

ValueHandler = Callable[[str, str, Any, PartialDate | None, str, dict[str, Any]], None]
"""``(meaning, value key, value, date, resource label, the Observation)`` → None; findings go to the report."""
Interpretation = Callable[[str, dict[str, Any], PartialDate | None, str], None]


def observation_date(ctx: Context, res: dict[str, Any], label: str) -> PartialDate | None:
    """effectiveDateTime, effectivePeriod.start, effectiveInstant or issued — the first one readable."""
    for what, value in (
        ("effectiveDateTime", res.get("effectiveDateTime")),
        ("effectivePeriod.start", as_dict(res.get("effectivePeriod")).get("start")),
        ("effectiveInstant", res.get("effectiveInstant")),
        ("issued", res.get("issued")),
    ):
        if value is not None:
            date = read_date(ctx, value, label, what)
            if date is not None:
                return date
    return None


def read_observation(
    ctx: Context,
    res: dict[str, Any],
    label: str,
    handlers: Mapping[str, ValueHandler],
    interpretation: Interpretation,
) -> None:
    """Read one Observation: excluded statuses noted, each value and known component dispatched by meaning."""
    status = as_text(res.get("status"))
    if status in ("entered-in-error", "cancelled"):
        ctx.report.note(label, "excluded", f"status {status}; not used")
        return
    date = observation_date(ctx, res, label)
    meaning = observation_meaning(ctx, res.get("code"), label)
    values = {k: v for k, v in res.items() if k.startswith("value") and v is not None}
    used = False
    if meaning:
        used = True
        if len(values) > 1:
            ctx.report.problem(
                label,
                "two_values",
                f"carries {len(values)} values ({', '.join(sorted(values))}); FHIR allows one — each is read "
                "and they must agree",
            )
        if not values and meaning not in ("her2_status",):
            ctx.report.problem(label, "no_value", "has no value; not used")
        for key, value in sorted(values.items()):
            handlers[meaning](meaning, key, value, date, label, res)
        interpretation(meaning, res, date, label)
    for comp in as_list(res.get("component")):
        cmeaning = observation_meaning(ctx, as_dict(comp).get("code"), label)
        if not cmeaning:
            continue
        used = True
        for key, value in as_dict(comp).items():
            if key.startswith("value") and value is not None:
                handlers[cmeaning](cmeaning, key, value, date, label, res)
    if not used:
        ctx.report.note(label, "not_used", "not an observation oncoline uses; ignored")
