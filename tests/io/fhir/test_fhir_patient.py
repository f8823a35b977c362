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


@pytest.mark.parametrize(
    ("birth", "as_of", "age", "note"),
    [
        ("1970-05-06", dt.date(2024, 5, 5), 53, None),  # the day before the birthday
        ("1970-05-06", dt.date(2024, 5, 6), 54, None),
        ("1970-05", dt.date(2024, 5, 6), None, "known to the month only"),  # no day is invented for an age
        ("1970-05-06", None, None, "no as-of date given"),
    ],
)
def test_age_only_from_a_full_birth_date_at_the_as_of_date(
    birth: str, as_of: dt.date | None, age: int | None, note: str | None
) -> None:
    doc = bundle()
    doc["entry"][0]["resource"]["birthDate"] = birth
    patient, report = read(doc, as_of=as_of)
    assert patient.age == age and patient.sex == "female"
    ages = [f.message for f in report.notes if f.code == "age"]
    assert (note is None and not ages) or (note is not None and note in ages[0])


def test_a_gender_that_is_not_fhir_is_reported_and_not_used() -> None:
    doc = bundle()
    doc["entry"][0]["resource"]["gender"] = "F"
    patient, report = read(doc)
    assert patient.sex is None
    assert ("Patient/p1", "bad_value") in {(f.resource, f.code) for f in report.problems}


def test_resources_about_another_patient_are_skipped() -> None:
    other = secondary("c2", "94222008", onsetDateTime="2023-05-02")
    other["subject"] = {"reference": "Patient/p2"}
    patient, report = read(bundle(secondary("c1", "94381002", onsetDateTime="2023-05-02"), other))
    assert [s.site.value for s in patient.sites] == ["liver"]
    assert ("Condition/c2", "other_patient") in {(f.resource, f.code) for f in report.problems}
