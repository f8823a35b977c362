"""The patient and demographics: one patient per bundle, the subject when there is no Patient resource."""

from __future__ import annotations

import datetime as dt

import pytest
from tests.io.fhir.fhir_builders import (
    bundle,
    codes,
    read,
    secondary,
)

from oncoline.errors import InputError


def test_missing_patient_is_reported_and_the_subject_id_used() -> None:
    doc = bundle(secondary("c1", "94381002", onsetDateTime="2023-05-02"), patient=False)
    patient, report = read(doc)
    assert patient.id == "p1" and patient.sex is None
    assert "no_patient" in codes(report)
    assert patient.metastatic_diagnosis == dt.date(2023, 5, 2)


def test_missing_patient_with_two_subjects_is_an_error() -> None:
    other = secondary("c2", "94222008")
    other["subject"] = {"reference": "Patient/p2"}
    with pytest.raises(InputError, match="2 different subjects"):
        read(bundle(secondary("c1", "94381002"), other, patient=False))


def test_two_patients_in_one_bundle_is_an_error() -> None:
    doc = bundle({"resourceType": "Patient", "id": "p2"})
    with pytest.raises(InputError, match="2 different patients"):
        read(doc)
