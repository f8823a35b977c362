"""Medications → exposures: drug resolution, statuses, stop reasons and documented progression."""

from __future__ import annotations

from tests.io.fhir.fhir_builders import (
    SCT,
    bundle,
    med,
    obs,
    read,
    rx,
)

from oncoline.model.patient import StopReason


def test_medication_statement_without_medication_is_skipped_and_others_still_read() -> None:
    patient, report = read(
        bundle(
            med("s1", rt="MedicationStatement"),
            med("s2", rt="MedicationStatement", medicationCodeableConcept={"text": "Herceptin"}),
        )
    )
    assert [e.drug for e in patient.exposures] == ["trastuzumab"]
    assert ("MedicationStatement/s1", "no_medication") in {(f.resource, f.code) for f in report.problems}


def test_drug_resolution_by_code_text_brand_reference_and_product() -> None:
    medication = {"resourceType": "Medication", "id": "med-phesgo", "code": {"text": "Phesgo"}}
    patient, report = read(
        bundle(
            medication,
            med("a", medicationCodeableConcept=rx("2267582", "fam-trastuzumab deruxtecan-nxki")),
            med("b", "2024-02-02", medicationCodeableConcept={"text": "ado-trastuzumab emtansine 100 MG Injection"}),
            med("c", "2024-02-03", medicationCodeableConcept={"text": "trastuzumab 150 MG Injection [Herceptin]"}),
            med("d", "2024-02-04", medicationReference={"reference": "Medication/med-phesgo"}),
            med("e", "2024-02-05", medicationCodeableConcept=rx("72962", "capecitabine 500 MG Oral Tablet")),
        )
    )
    assert [e.drug for e in patient.exposures] == [
        "trastuzumab deruxtecan",
        "trastuzumab emtansine",
        "trastuzumab",
        "pertuzumab",
        "trastuzumab",
    ]
    assert ("MedicationAdministration/e", "conflicting_drug") in {(f.resource, f.code) for f in report.problems}


def test_medication_statuses() -> None:
    patient, report = read(
        bundle(
            med("given", medicationCodeableConcept=rx("72962")),
            med("notdone", medicationCodeableConcept=rx("72962"), status="not-done"),
            med("error", medicationCodeableConcept=rx("72962"), status="entered-in-error"),
            med("req", None, rt="MedicationRequest", medicationCodeableConcept=rx("194000"), authoredOn="2024-03-01"),
        )
    )
    assert [(e.drug, e.start.isoformat()) for e in patient.exposures] == [
        ("docetaxel", "2024-02-01"),
        ("capecitabine", "2024-03-01"),
    ]
    assert {"excluded", "order_date"} <= {f.code for f in report.notes}


def test_progression_marks_the_treatment_in_force() -> None:
    progression = obs(
        "prog",
        "97509-4",
        "2024-05-01",
        valueCodeableConcept={"coding": [{"system": SCT, "code": "271299001"}]},
    )
    patient, _ = read(
        bundle(
            med("a1", "2024-03-01", medicationCodeableConcept=rx("72962")),
            med("a2", "2024-04-01", medicationCodeableConcept=rx("72962")),
            med("b1", "2024-05-10", medicationCodeableConcept=rx("194000")),
            progression,
        )
    )
    assert [(e.drug, e.start.isoformat(), e.stopped) for e in patient.exposures] == [
        ("docetaxel", "2024-03-01", None),
        ("docetaxel", "2024-04-01", StopReason.PROGRESSION),
        ("capecitabine", "2024-05-10", None),
    ]
