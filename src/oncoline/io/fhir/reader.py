"""The entry point: a FHIR R4 / mCODE document → a :class:`~oncoline.model.patient.Patient` and its
:class:`~oncoline.io.fhir.report.IngestionReport`. Each resource goes to the module that reads its kind of fact;
the patient is then assembled from what each one collected, and the validation policy is applied.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections import Counter
from typing import Any

from pydantic import ValidationError

from oncoline.errors import DataQualityWarning, InputError
from oncoline.io.document import not_a_patient_reason, validation_to_input_error
from oncoline.io.fhir.bundle import entries, subject_ok, validate
from oncoline.io.fhir.codes import load_fhir_codes
from oncoline.io.fhir.conditions import ConditionReader
from oncoline.io.fhir.datatypes import Context
from oncoline.io.fhir.markers import MarkerReader
from oncoline.io.fhir.medications import MEDICATION_TYPES, MedicationReader
from oncoline.io.fhir.observations import read_observation
from oncoline.io.fhir.patient import PatientReader
from oncoline.io.fhir.report import POLICIES, IngestionReport, Policy
from oncoline.io.fhir.sites import SiteReader
from oncoline.knowledge.drugs import load_vocabulary
from oncoline.model.patient import Patient

__all__ = ["patient_from_fhir"]


def patient_from_fhir(
    doc: Any,
    /,
    *,
    source: str | None = None,
    policy: Policy = "warn",
    as_of: dt.date | None = None,
) -> tuple[Patient, IngestionReport]:
    """Map a FHIR R4 / mCODE STU4 Bundle (or one resource) to a :class:`Patient` and an ingestion report.

    Parameters
    ----------
    doc
        The parsed JSON: a ``Bundle`` (any type: collection, transaction, searchset) or a single resource.
    source
        The file name, used in messages.
    policy
        ``ignore``: problems are only recorded in the report; ``warn`` (default): each problem is also
        emitted as a :class:`~oncoline.errors.DataQualityWarning`; ``raise``: any problem raises.
    as_of
        The date the age is computed at (age is left unset without it).

    Returns
    -------
    (Patient, IngestionReport)
        The patient (``history`` empty, ``exposures`` one row per medication resource with a full start date,
        identical rows merged) and the report (findings, dates with precision, every medication record).

    Raises
    ------
    InputError
        When ``doc`` is not a FHIR resource, the bundle holds several patients, ``policy`` is unknown, or (policy
        ``raise``) any problem was found — naming the resource, the defect and the number of further problems.

    References
    ----------
    HL7 mCODE STU4, https://hl7.org/fhir/us/mcode/STU4/ ; code meanings and sources in
    ``knowledge/data/fhir_codes.yaml``.
    """
    if policy not in POLICIES:
        raise InputError(f"unknown validation policy {policy!r}; use one of {', '.join(POLICIES)}", source=source)
    if not isinstance(doc, dict) or not isinstance(doc.get("resourceType"), str):
        reason = not_a_patient_reason(doc) or "not a FHIR resource (no resourceType)"
        raise InputError(reason, source=source)
    report = IngestionReport(source=source, policy=policy)
    ctx = Context(codes=load_fhir_codes(), vocab=load_vocabulary(), report=report, as_of=as_of)
    found = entries(doc, report)
    report.resources = dict(sorted(Counter(res["resourceType"] for _, res, _ in found).items()))
    person = PatientReader(ctx)
    person.read(found, source)
    markers, conditions, sites, meds = MarkerReader(ctx), ConditionReader(ctx), SiteReader(ctx), MedicationReader(ctx)
    for where, res, url in found:
        if res["resourceType"] == "Medication":
            meds.index_medication(res, where, url)
    value_handlers = {**markers.handlers(), **conditions.handlers(), **sites.handlers(), **meds.handlers()}

    def observation(res: dict[str, Any], where: str) -> None:
        read_observation(ctx, res, where, value_handlers, markers.interpretation)

    handlers = {"Condition": sites.read_condition, "Observation": observation}
    handlers |= {rt: meds.read_medication for rt in MEDICATION_TYPES}
    ignored: Counter[str] = Counter()
    for where, res, _url in found:
        rt = res["resourceType"]
        if rt == "Patient" or not validate(res, where, report):
            continue
        handler = handlers.get(rt)
        if handler is None:
            if rt != "Medication":
                ignored[rt] += 1
            continue
        if not subject_ok(res, where, person.refs, report):
            continue
        try:
            handler(res, where)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            report.problem(where, "unreadable", f"could not be read ({type(exc).__name__}: {exc}); skipped")
    if ignored:
        shown = ", ".join(f"{n} {rt}" for rt, n in sorted(ignored.items()))
        report.note("Bundle", "not_used", f"resources oncoline does not use: {shown}")
    patient = _assemble(person, markers, conditions, sites, meds, source)
    problems = report.problems
    if policy == "raise" and problems:
        first = problems[0]
        more = f" [{len(problems) - 1} more problem(s)]" if len(problems) > 1 else ""
        raise InputError(f"{first.resource}: {first.message}{more}", source=source)
    if policy == "warn":
        for p in problems:
            warnings.warn(DataQualityWarning(f"{source or 'FHIR input'}: {p.resource}: {p.message}"), stacklevel=2)
    return patient, report


def _assemble(
    person: PatientReader,
    markers: MarkerReader,
    conditions: ConditionReader,
    sites: SiteReader,
    meds: MedicationReader,
    source: str | None,
) -> Patient:
    """The patient from what each module collected (in this order, so the report's findings keep their order)."""
    data = person.assemble()
    tumor = markers.assemble()
    if sites.histology:
        tumor["histology"] = sites.histology
    if tumor:
        data["tumor"] = tumor
    ecog = conditions.latest_ecog()
    if ecog is not None:
        data["ecog"] = ecog
    diagnosis = sites.metastatic_diagnosis()
    if diagnosis is not None:
        data["metastatic_diagnosis"] = diagnosis
    presentation = sites.presentation()
    if presentation:
        data["presentation"] = presentation
    if sites.sites:
        data["sites"] = sites.site_list()
    exposures = meds.assemble()
    if exposures:
        data["exposures"] = exposures
    cond = conditions.assemble(exposures, meds.records)
    if cond:
        data["conditions"] = cond
    try:
        return Patient.model_validate(data)
    except ValidationError as exc:
        raise validation_to_input_error(exc, source=source) from exc
