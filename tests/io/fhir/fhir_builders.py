"""Minimal FHIR resources and bundles for the FHIR reader tests (shared by tests/io/fhir/test_fhir_*.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from oncoline.io.fhir import IngestionReport, patient_from_fhir
from oncoline.model.patient import Patient

DATA = Path(__file__).resolve().parents[2] / "data"


SCT, LOINC, RX = "http://snomed.info/sct", "http://loinc.org", "http://www.nlm.nih.gov/research/umls/rxnorm"


SUBJECT = {"reference": "Patient/p1"}


def bundle(*resources: dict[str, Any], patient: bool = True) -> dict[str, Any]:
    entries = (
        [{"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1970-05-06"}] if patient else []
    )
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in [*entries, *resources]]}


def read(doc: Any, **kw: Any) -> tuple[Patient, IngestionReport]:
    kw.setdefault("policy", "ignore")
    return patient_from_fhir(doc, source="test.json", **kw)


def codes(report: IngestionReport, resource: str | None = None) -> set[str]:
    return {f.code for f in report.problems if resource is None or f.resource.startswith(resource)}


def obs(oid: str, code: str, date: str = "2024-01-10", **value: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": SUBJECT,
        "effectiveDateTime": date,
        **value,
    }


def med(
    mid: str, start: str | None = "2024-02-01", rt: str = "MedicationAdministration", **rest: Any
) -> dict[str, Any]:
    r: dict[str, Any] = {"resourceType": rt, "id": mid, "status": "completed", "subject": SUBJECT}
    if start is not None:
        r["effectiveDateTime"] = start
    r.update(rest)
    return r


def rx(code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": RX, "code": code, **({"display": display} if display else {})}
    return {"coding": [coding]}


def secondary(cid: str, code: str, **rest: Any) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "meta": {"profile": ["http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-secondary-cancer-condition"]},
        "code": {"coding": [{"system": SCT, "code": code}]},
        "subject": SUBJECT,
        **rest,
    }


HER2POS = json.loads((DATA / "her2pos-thp-tdxd-brain.fhir.json").read_text())


def lvef(oid: str, date: str, value: float, **rest: Any) -> dict[str, Any]:
    return obs(oid, "10230-1", date, valueQuantity={"value": value, "unit": "%"}, **rest)


def notes(report: IngestionReport, code: str) -> list[str]:
    return [f.message for f in report.notes if f.code == code]


def primary_condition(onset: str, **rest: Any) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": "prim",
        "code": {"coding": [{"system": SCT, "code": "254837009"}]},
        "subject": SUBJECT,
        "onsetDateTime": onset,
        **rest,
    }
