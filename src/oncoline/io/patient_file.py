"""Read a patient from a YAML or JSON file: the FORMAT.md ``patient`` block, a whole case file, or a FHIR
bundle (dispatched to :mod:`oncoline.io.fhir`, which does not import this module: both parse documents through
:mod:`oncoline.io.document`).

Every problem becomes one :class:`~oncoline.errors.InputError` that names the file, the field and the fix —
never a traceback (issue #2, item 8).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from oncoline.errors import InputError
from oncoline.io.document import (
    PATIENT_FIELDS_HINT,
    is_fhir,
    load_document,
    not_a_patient_reason,
    parse_document,
    validation_to_input_error,
)
from oncoline.model import Patient

__all__ = [
    "is_fhir",
    "load_document",
    "load_patient",
    "parse_document",
    "patient_from_mapping",
    "validation_to_input_error",
]


def patient_from_mapping(doc: Any, *, source: str | None = None) -> Patient:
    """Build a :class:`Patient` from a parsed patient block or a whole ``kind: patient`` case file.

    Raises
    ------
    InputError
        When the mapping does not fit the patient model (names the field and the fix), or holds an
        unknown drug (names the closest known drugs).
    """
    if not isinstance(doc, dict):
        raise InputError(
            f"expected a mapping of patient fields, got {type(doc).__name__}; {PATIENT_FIELDS_HINT}",
            source=source,
        )
    if not doc:
        raise InputError(
            "holds no patient data (an empty mapping); give at least the tumour's HER2/ER/PR results, the metastatic "
            f"diagnosis date, the sites and the treatment history ({PATIENT_FIELDS_HINT})",
            source=source,
        )
    kind = doc.get("kind")
    if isinstance(kind, str) and kind != "patient" and "patient" not in doc:
        # another kind of case file (FORMAT.md): say which command reads it rather than "kind: extra input"
        command = {"her2": "oncoline her2", "lines": "oncoline lines"}.get(kind)
        hint = f"run `{command} FILE`" if command else "give a patient file (`kind: patient` or a patient block)"
        raise InputError(f"this is a `kind: {kind}` case file, not a patient: {hint}", field="kind", source=source)
    if "patient" in doc and isinstance(doc["patient"], dict):  # a whole case file
        block = dict(doc["patient"])
        if doc.get("as_of") and "as_of" not in block:
            block["as_of"] = doc["as_of"]
        doc = block
    try:
        return Patient.model_validate(doc)
    except ValidationError as exc:
        # A foreign document (a Synthea module, a test-vector file) shares no key with the patient model and has
        # several keys; say what it is. A patient block with a misspelt field keeps the field-level message.
        foreign = len(doc) >= 3 and not set(doc) & set(Patient.model_fields)
        reason = not_a_patient_reason(doc) if foreign else None
        if reason:
            raise InputError(reason, source=source) from exc
        raise validation_to_input_error(exc, source=source) from exc


def load_patient(
    path: str | Path,
    /,
    *,
    as_of: dt.date | None = None,
    policy: Literal["ignore", "warn", "raise"] = "warn",
) -> Patient:
    """Read one patient from a YAML/JSON patient file, case file or FHIR bundle.

    Parameters
    ----------
    path
        A ``.yaml``/``.yml``/``.json`` file.
    as_of
        For FHIR input: the date ages and the data cut-off are computed at (the patient's own ``as_of`` wins).
    policy
        For FHIR input: what to do with each data-quality problem — ``ignore``, ``warn`` (a
        :class:`~oncoline.errors.DataQualityWarning` each, the default) or ``raise``.

    Returns
    -------
    Patient
        For FHIR input, the patient mapped by :func:`oncoline.io.fhir.patient_from_fhir` (its ingestion
        report is dropped here; use that function to keep it).

    Raises
    ------
    InputError
        File missing/unreadable/not YAML or JSON, a malformed field, or an unknown drug.
    """
    doc = load_document(path)
    if is_fhir(doc):
        from oncoline.io import fhir  # lazy: keeps fhir.resources off the YAML path

        patient, _report = fhir.patient_from_fhir(doc, source=str(path), policy=policy, as_of=as_of)
        return patient
    return patient_from_mapping(doc, source=str(path))
