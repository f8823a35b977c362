"""The CDS services this service offers, their prefetch templates and the request documents they read.

References
----------
HL7 CDS Hooks 2.0: https://cds-hooks.hl7.org/2.0/ (discovery, prefetch templates and tokens, requests, feedback).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "OVERRIDE_REASONS",
    "PREFETCH",
    "PREFETCH_KEY_BY_TYPE",
    "SERVICES",
    "TOKEN",
    "FeedbackRequest",
    "FhirAuthorization",
    "HookRequest",
]

PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}",
    "medicationRequests": "MedicationRequest?patient={{context.patientId}}&_include=MedicationRequest:medication",
    "medicationStatements": "MedicationStatement?patient={{context.patientId}}",
    "medicationAdministrations": "MedicationAdministration?patient={{context.patientId}}",
}
"""Prefetch templates: only root-level context tokens (``{{context.patientId}}``)."""

TOKEN = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
"""A prefetch token in a template."""

SERVICES: dict[str, dict[str, Any]] = {
    "oncoline-next-line": {
        "hook": "patient-view",
        "title": "oncoline: next line for HER2-positive metastatic breast cancer",
        "description": "When the chart opens: the line now being chosen, the preferred options with their evidence, "
        "the missing critical facts (e.g. no HER2 result) and safety findings. Decision support, not a prescription.",
        "prefetch": PREFETCH,
    },
    "oncoline-order-select": {
        "hook": "order-select",
        "title": "oncoline: check a HER2-directed regimen as it is selected",
        "description": "Maps the draft MedicationRequests to a regimen and checks it against the same exclusions "
        "and cautions as the next-line view; a withheld regimen gets a critical card and a preferred suggestion.",
        "prefetch": PREFETCH,
    },
    "oncoline-order-sign": {
        "hook": "order-sign",
        "title": "oncoline: check a HER2-directed regimen before it is signed",
        "description": "As order-select, when the orders are about to be signed.",
        "prefetch": PREFETCH,
    },
}

OVERRIDE_SYSTEM = "https://oncoline.readthedocs.io/cds/override-reason"
OVERRIDE_REASONS = [
    {"system": OVERRIDE_SYSTEM, "code": "mdt-decision", "display": "Multidisciplinary tumour board decision"},
    {"system": OVERRIDE_SYSTEM, "code": "record-incomplete", "display": "The record is incomplete or out of date"},
    {"system": OVERRIDE_SYSTEM, "code": "clinical-trial", "display": "Given within a clinical trial"},
    {"system": OVERRIDE_SYSTEM, "code": "patient-preference", "display": "Informed patient preference"},
]
TOPIC_SYSTEM = "https://oncoline.readthedocs.io/cds/card"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SAFETY = ("contraindicated", "interaction", "stopped_for_toxicity", "caution")

PREFETCH_KEY_BY_TYPE = {template.split("?")[0].split("/")[0]: key for key, template in PREFETCH.items()}
"""FHIR resource type → the prefetch key that holds it (``"Condition"`` → ``"conditions"``)."""


class FhirAuthorization(BaseModel):
    """The EHR's access token for its FHIR server (CDS Hooks 2.0 §fhirAuthorization)."""

    model_config = ConfigDict(extra="allow")

    access_token: str
    token_type: str = "Bearer"
    expires_in: int | None = None
    scope: str = ""
    subject: str = ""


class HookRequest(BaseModel):
    """A CDS Hooks call."""

    model_config = ConfigDict(extra="allow")

    hook: str
    hookInstance: str
    fhirServer: str | None = None
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None


class OverrideReason(BaseModel):
    """Why a clinician overrode a card: a coding from the card's ``overrideReasons`` and a comment."""

    model_config = ConfigDict(extra="allow")
    reason: dict[str, Any] | None = None
    userComment: str | None = None


class FeedbackItem(BaseModel):
    """What happened to one card: ``accepted`` (with the suggestions taken) or ``overridden`` (with why)."""

    model_config = ConfigDict(extra="allow")
    card: str
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[dict[str, Any]] = Field(default_factory=list)
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: str | None = None


class FeedbackRequest(BaseModel):
    """The body of ``POST /cds-services/{id}/feedback``: one or more feedback items."""

    feedback: list[FeedbackItem] = Field(min_length=1)
