"""Reading FHIR data types leniently: JSON shapes, CodeableConcept codings and texts, coded answers, observation
codes, numbers with their units, and dates with their precision — each defect reported on the shared
:class:`~oncoline.io.fhir.report.IngestionReport` held by the reading :class:`Context`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from oncoline.io.fhir.codes import LOINC_SHAPE, FhirCodes
from oncoline.io.fhir.dates import PartialDate, parse_fhir_date, sort_key
from oncoline.io.fhir.report import IngestionReport
from oncoline.knowledge.drugs import DrugVocabulary

__all__ = [
    "Coding",
    "Context",
    "Dated",
    "answer",
    "as_dict",
    "as_list",
    "as_text",
    "codings",
    "latest",
    "number",
    "observation_meaning",
    "read_date",
    "texts",
    "unreadable",
    "wrong_unit",
]


def as_dict(x: Any) -> dict[str, Any]:
    """``x`` when it is a JSON object, else an empty one."""
    return x if isinstance(x, dict) else {}


def as_list(x: Any) -> list[Any]:
    """``x`` when it is a JSON array, ``[]`` for None, else ``[x]``."""
    if isinstance(x, list):
        return x
    return [] if x is None else [x]


def as_text(x: Any) -> str:
    """A scalar as trimmed text; ``""`` for None, objects and arrays."""
    return "" if x is None or isinstance(x, (dict, list)) else str(x).strip()


@dataclass
class Context:
    """What every reading module shares: the code tables, the drug vocabulary, the report findings go to and the
    as-of date."""

    codes: FhirCodes
    vocab: DrugVocabulary
    report: IngestionReport
    as_of: dt.date | None


class Coding:
    """One coding: ``system`` is the short key (``loinc``, ``snomed`` …) or None when unknown."""

    __slots__ = ("code", "display", "raw_system", "system")

    def __init__(self, system: str | None, raw_system: str, code: str, display: str) -> None:
        self.system, self.raw_system, self.code, self.display = system, raw_system, code, display


class Dated(BaseModel):
    """A value with its date and resource (ER/PR, ECOG, LVEF, pregnancy); the latest one wins."""

    value: Any
    date: PartialDate | None
    resource: str
    marked_baseline: bool = False


def latest(values: Iterable[Dated]) -> Dated:
    """The latest-dated value (the last one given among equally dated values)."""
    return sorted(values, key=lambda v: sort_key(v.date))[-1]


def codings(codes: FhirCodes, cc: Any) -> list[Coding]:
    """The codings of a CodeableConcept."""
    out = []
    for c in as_list(as_dict(cc).get("coding")):
        c = as_dict(c)
        raw_system = as_text(c.get("system"))
        code = c.get("code")
        code_text = "" if code is None else str(code).strip()
        out.append(Coding(codes.system_key(raw_system), raw_system, code_text, as_text(c.get("display"))))
    return out


def texts(codes: FhirCodes, cc: Any) -> list[str]:
    """A CodeableConcept's text, then its codings' displays (non-empty)."""
    found = [as_text(as_dict(cc).get("text"))] + [c.display for c in codings(codes, cc)]
    return [t for t in found if t]


def read_date(ctx: Context, value: Any, label: str, what: str) -> PartialDate | None:
    """A FHIR date kept with its precision; a placeholder or unreadable date is reported and None."""
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    if ctx.codes.is_placeholder_date(text):
        ctx.report.problem(label, "placeholder_date", f'{what} is the placeholder "{text}"; not used')
        return None
    pd = parse_fhir_date(text)
    if pd.problem:
        ctx.report.problem(label, "bad_date", f"{what}: {pd.problem}")
    if pd.precision in ("year", "month"):
        ctx.report.note(
            label,
            "partial_date",
            f'{what} "{text}" is known to the {pd.precision} only; kept with that precision, no day is assumed',
        )
    return None if pd.precision == "none" else pd


def observation_meaning(ctx: Context, cc: Any, label: str) -> str | None:
    """What an observation code measures (``her2_ihc``, ``lvef`` …): by code, by a code labelled with the wrong
    system, or by display (each fallback reported); None when unknown."""
    codes, report = ctx.codes, ctx.report
    found = codings(codes, cc)
    for c in found:
        hit = codes.observation(c.system, c.code)
        if hit:
            return hit.meaning
    for c in found:
        if c.system == "loinc" and c.code and not LOINC_SHAPE.match(c.code):
            other = codes.observation_any_system(c.code)
            if other:
                report.problem(
                    label,
                    "wrong_system",
                    f'code "{c.code}" is labelled LOINC but is a {other.system} code ({other.display}); read as that',
                )
                return other.meaning
            for t in texts(codes, cc):
                by_display = codes.observation_by_display(t)
                if by_display:
                    report.problem(
                        label,
                        "bad_code",
                        f'"{c.code}" is not a LOINC code; read from its display "{t}" as '
                        f"LOINC {by_display.code} ({by_display.meaning})",
                    )
                    return by_display.meaning
    if not found:
        for t in texts(codes, cc):
            by_display = codes.observation_by_display(t)
            if by_display:
                report.note(label, "display_only", f'no code; read from its text "{t}" as LOINC {by_display.code}')
                return by_display.meaning
    return None


def answer(ctx: Context, cc: Any, label: str) -> tuple[str, str] | None:
    """(kind, value) of a coded answer, by code, wrong system, or display."""
    codes, report = ctx.codes, ctx.report
    found = codings(codes, cc)
    for c in found:
        a = codes.answer(c.system, c.code)
        if a:
            return a.kind, a.value
    for c in found:
        a = codes.answer_any_system(c.code) if c.code else None
        if a:
            report.problem(
                label,
                "wrong_system",
                f'answer "{c.code}" is labelled {c.raw_system or "no system"} but is '
                f"a {a.system} code ({a.display}); read as that",
            )
            return a.kind, a.value
    for t in texts(codes, cc):
        a = codes.answer_by_display(t)
        if a:
            if found:
                report.note(label, "display_only", f'answer read from its display "{t}"')
            return a.kind, a.value
    return None


def number(key: str, value: Any) -> tuple[float | None, list[str]]:
    """(number, units given) from valueQuantity/valueInteger/valueDecimal/valueRatio/valueString; the units are
    the Quantity's ``code`` and ``unit`` (each one given), or the ``%`` written in a text; ``[]`` for none."""
    if key in ("valueInteger", "valueDecimal") and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value), []
    if key == "valueQuantity":
        q = as_dict(value)
        v = q.get("value")
        units = [u for u in (as_text(q.get("code")), as_text(q.get("unit"))) if u]
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if as_text(q.get("comparator")):
                return None, units
            return float(v), units
        return None, units
    if key == "valueRatio":
        num = as_dict(as_dict(value).get("numerator")).get("value")
        den = as_dict(as_dict(value).get("denominator")).get("value")
        if isinstance(num, (int, float)) and isinstance(den, (int, float)) and den:
            return float(num) / float(den), []
    if key == "valueString":
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(%?)\s*", as_text(value))
        if m:
            return float(m.group(1)), ([m.group(2)] if m.group(2) else [])
    return None, []


def unreadable(ctx: Context, meaning: str, key: str, value: Any, label: str) -> None:
    """Report a value that cannot be read (nothing is taken from it)."""
    shown = json.dumps(value)[:80]
    ctx.report.problem(label, "bad_value", f"{meaning} value {key}={shown} cannot be read; not used")


def wrong_unit(ctx: Context, what: str, num: float, units: list[str], expected: str, label: str) -> None:
    """Report a number whose unit is not the one its field needs (nothing is taken from it)."""
    shown = " / ".join(f'"{u}"' for u in units)
    ctx.report.problem(
        label,
        "bad_unit",
        f"{what} value {num:g} has the unit {shown}, not {expected}; not used (a value is read with its unit "
        "or not at all)",
    )
