"""Read one patient from a document: a YAML/JSON patient block or case file, or an HL7 FHIR R4 / mCODE bundle."""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from oncoline.app.documents import DocumentSource, read_document
from oncoline.errors import InputError

if TYPE_CHECKING:
    from oncoline.io.fhir import IngestionReport
    from oncoline.model.patient import Patient

__all__ = ["POLICIES", "PatientReading", "Policy", "read_patient"]

Policy = Literal["ignore", "warn", "raise"]
POLICIES: tuple[Policy, ...] = ("ignore", "warn", "raise")


@dataclass(frozen=True)
class PatientReading:
    """A patient read from a document, with what the reading found.

    Attributes
    ----------
    patient
        The patient model.
    report
        For a FHIR document, what was read, every defect and what was done with it; None for a YAML/JSON patient
        file (read strictly: any defect is an error).
    source
        The document's name in messages (its path, or the upload's name).
    findings
        One line per data-quality problem (``"SOURCE: RESOURCE: what was wrong and what was done"``), the lines
        policy ``warn`` reports; empty for policy ``ignore`` and for YAML/JSON patient files.
    """

    patient: Patient
    report: IngestionReport | None
    source: str
    findings: tuple[str, ...] = ()


def check_policy(policy: str, /) -> Policy:
    """``policy`` if it is one of :data:`POLICIES`.

    Raises
    ------
    InputError
        Field ``--policy`` (a usage error), naming the allowed values.
    """
    if policy not in POLICIES:
        raise InputError(f"--policy {policy!r}: use ignore, warn or raise", field="--policy")
    return policy


def read_patient(
    source: DocumentSource,
    /,
    *,
    media_type: str | None = None,
    name: str | None = None,
    policy: str = "warn",
    as_of: dt.date | None = None,
    identify_foreign: bool = True,
) -> PatientReading:
    """Read one patient and, for FHIR, the ingestion report.

    Parameters
    ----------
    source, media_type, name
        The document: a path, or content with its media type (see :func:`oncoline.app.documents.read_document`).
    policy
        FHIR data-quality policy: ``ignore`` (report only), ``warn`` (report, and list each problem in
        ``findings``; the default) or ``raise`` (the first problem is an :class:`~oncoline.errors.InputError`).
        Nothing is ever emitted as a Python warning here: the findings are returned.
    as_of
        For FHIR input, the date ages and the data cut-off are computed at (a patient's own ``as_of`` wins).
    identify_foreign
        Name a document that is clearly not a patient (a Synthea module, a file of test cases) before
        validating it as one.

    Returns
    -------
    PatientReading

    Raises
    ------
    InputError
        Unreadable document, a document that is not a patient, a malformed field (named, with the fix), an
        unknown drug (with the closest names), an unknown ``policy`` (field ``--policy``) or, with policy
        ``raise``, any problem in a FHIR document.
    """
    chosen = check_policy(policy)
    doc = read_document(source, media_type=media_type, name=name)
    from oncoline.io.document import is_fhir
    from oncoline.io.patient_file import patient_from_mapping

    if is_fhir(doc.data):
        from oncoline.io import fhir  # lazy: keeps the FHIR models off the YAML path

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # problems are returned as findings below, never warned twice
            patient, report = fhir.patient_from_fhir(
                doc.data, source=doc.source, policy="raise" if chosen == "raise" else "ignore", as_of=as_of
            )
        report = report.model_copy(update={"policy": chosen})
        findings = (
            tuple(f"{doc.source}: {p.resource}: {p.message}" for p in report.problems) if chosen == "warn" else ()
        )
        return PatientReading(patient, report, doc.source, findings)
    if identify_foreign:
        from oncoline.io.document import not_a_patient_reason

        reason = not_a_patient_reason(doc.data)
        if reason:
            raise InputError(reason, source=doc.source)
    return PatientReading(patient_from_mapping(doc.data, source=doc.source), None, doc.source)
