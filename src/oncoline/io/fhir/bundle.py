"""A FHIR document's entries: resource types checked (an unknown, misspelt or other-version type skips that entry
only, reported by its number and id — issue 12 item 5), identical copies read once, reused ids told apart, each
resource labelled ``Type/id`` for the report, its structure checked against the R4B models (reported, never
rejected) and its subject checked to be the bundle's patient.

``fhir.resources`` is imported only here and only when a FHIR document is read.
"""

from __future__ import annotations

import importlib
import json
import re
from functools import cache
from typing import Any

from pydantic import ValidationError

from oncoline.io.fhir.datatypes import as_dict, as_list, as_text
from oncoline.io.fhir.report import IngestionReport

__all__ = ["Entry", "entries", "label", "resource_type_problem", "subject_ok", "validate"]

Entry = tuple[str, dict[str, Any], str]
"""(label for the report, the resource, the entry's fullUrl)."""

_INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060\u00a0"


def _clean_type(name: str) -> str:
    return name.strip().strip(_INVISIBLE).strip()


@cache
def _model_names(version: str) -> dict[str, str]:
    """Lower-cased name → name of every model a FHIR version of fhir.resources knows (R4B, R5, STU3)."""
    module = importlib.import_module(
        "fhir.resources.fhirtypes" if version == "R5" else f"fhir.resources.{version}.fhirtypes"
    )
    return {n[:-4].lower(): n[:-4] for n in dir(module) if n.endswith("Type") and n[:1].isupper()}


def resource_type_problem(name: str) -> str | None:
    """Why ``name`` is not a FHIR R4 resource type oncoline can read (misspelt, a byte-order mark or space in it,
    another FHIR version's type, a data type, unknown), or None when it is one.

    >>> resource_type_problem("Observation") is None
    True
    >>> resource_type_problem("observation")
    "resourceType 'observation' is not a FHIR R4 resource type (did you mean 'Observation'?)"
    >>> resource_type_problem("GenomicStudy")
    "resourceType 'GenomicStudy' is a FHIR R5 resource, not R4"
    """
    r4 = _model_names("R4B")
    if name in r4.values():
        from fhir.resources.R4B import get_fhir_model_class
        from fhir.resources.R4B.resource import Resource

        if issubclass(get_fhir_model_class(name), Resource):
            return None
        return f"{name!r} is a FHIR data type, not a resource"
    shown = f"resourceType {name!r} is not a FHIR R4 resource type"
    near = r4.get(_clean_type(name).lower())
    if near:
        return f"{shown} (did you mean {near!r}?)"
    for version in ("R5", "STU3"):
        if name in _model_names(version).values():
            return f"resourceType {name!r} is a FHIR {version} resource, not R4"
    return shown


def label(res: dict[str, Any], entry: int, reused: bool) -> str:
    """``Type/id``; with the entry number when the id is reused or missing."""
    rt = res.get("resourceType", "resource")
    rid = res.get("id")
    if rid and not reused:
        return f"{rt}/{rid}"
    if rid:
        return f"{rt}/{rid} (entry {entry})"
    return f"{rt} (entry {entry})" if entry else str(rt)


def entries(doc: dict[str, Any], report: IngestionReport) -> list[Entry]:
    """The resources of a Bundle (or the single resource), bad entries skipped and duplicates read once, each
    defect reported."""
    top = doc["resourceType"]
    if top != "Bundle" and _clean_type(top).lower() == "bundle":
        report.problem("Bundle", "bad_resource_type", f"resourceType written {top!r}; read as a Bundle")
        top = "Bundle"
    if top != "Bundle":
        why = resource_type_problem(top)
        if why:
            report.problem(label(doc, 0, False), "unknown_type", f"{why}; skipped")
            return []
        return [(label(doc, 0, False), doc, "")]
    raw = doc.get("entry")
    if raw is None:
        report.problem("Bundle", "empty_bundle", "the bundle has no entries")
        return []
    keyed: dict[tuple[str, str], list[int]] = {}
    items: list[tuple[int, dict[str, Any], str]] = []
    for i, e in enumerate(as_list(raw), start=1):
        res = as_dict(e).get("resource")
        if not isinstance(res, dict) or not isinstance(res.get("resourceType"), str):
            report.problem(f"Bundle entry {i}", "no_resource", "entry holds no resource; skipped")
            continue
        why = resource_type_problem(res["resourceType"])
        if why:
            rid = as_text(res.get("id"))
            shown = f"Bundle entry {i}" + (f" (id {rid})" if rid else " (no id)")
            report.problem(shown, "unknown_type", f"{why}; entry skipped, the rest of the bundle is read")
            continue
        items.append((i, res, as_text(as_dict(e).get("fullUrl"))))
        if res.get("id"):
            keyed.setdefault((res["resourceType"], str(res["id"])), []).append(len(items) - 1)
    drop: set[int] = set()
    reused: set[int] = set()
    for (rt, rid), idx in keyed.items():
        if len(idx) < 2:
            continue
        texts = [json.dumps(items[j][1], sort_keys=True) for j in idx]
        distinct = len(set(texts))
        seen: set[str] = set()
        for j, t in zip(idx, texts, strict=True):
            if t in seen:
                drop.add(j)
            seen.add(t)
        if distinct == 1:
            report.problem(f"{rt}/{rid}", "duplicate", f"{len(idx)} identical copies in the bundle; read once")
        else:
            reused.update(idx)
            report.problem(
                f"{rt}/{rid}",
                "reused_id",
                f"the id is used by {len(idx)} entries with {distinct} different contents; each distinct "
                "one is read on its own and identical results are merged",
            )
    return [(label(res, i, j in reused), res, url) for j, (i, res, url) in enumerate(items) if j not in drop]


def validate(res: dict[str, Any], where: str, report: IngestionReport) -> bool:
    """Check the resource against the R4B model; report, never reject. False for an unknown type."""
    from fhir.resources.R4B import get_fhir_model_class  # lazy: keeps fhir.resources off the YAML path

    try:
        cls = get_fhir_model_class(res["resourceType"])
    except (KeyError, ValueError, AttributeError, TypeError):
        report.problem(where, "unknown_type", f"unknown FHIR resource type {res['resourceType']!r}; skipped")
        return False
    try:
        cls.model_validate(res)
    except ValidationError as exc:
        errs = exc.errors()
        first = errs[0]
        at = ".".join(str(p) for p in first["loc"]) or "(resource)"
        msg = str(first["msg"]).removeprefix("Value error, ")
        msg = re.sub(r"\s+", " ", re.sub(r"\[[^\]]*\]", "[...]", msg))[:200]
        more = f" (+{len(errs) - 1} more)" if len(errs) > 1 else ""
        report.problem(where, "not_fhir_r4", f"does not conform to FHIR R4 at {at}: {msg}{more}; read field by field")
    except (TypeError, ValueError) as exc:
        report.problem(where, "not_fhir_r4", f"does not conform to FHIR R4 ({exc}); read field by field")
    return True


def subject_ok(res: dict[str, Any], where: str, patient_refs: set[str], report: IngestionReport) -> bool:
    """False (reported) when the resource refers to another patient than the bundle's."""
    subj = res.get("subject")
    if subj is None and "patient" in res and res.get("resourceType") != "Patient":
        report.problem(where, "dstu2", "uses the DSTU2 field 'patient' instead of 'subject'; read as the subject")
        subj = res.get("patient")
    ref = as_text(as_dict(subj).get("reference"))
    if not ref or not patient_refs:
        return True
    if ref in patient_refs or ref.split("/")[-1] in patient_refs:
        return True
    report.problem(where, "other_patient", f"refers to another patient ({ref}); skipped")
    return False
