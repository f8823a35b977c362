"""ECOG, LVEF (latest and baseline), pregnancy and the concomitant drugs still active."""

from __future__ import annotations

from tests.io.fhir.fhir_builders import (
    LOINC,
    bundle,
    lvef,
    med,
    notes,
    obs,
    read,
    rx,
)


def test_ecog_lvef_pregnancy_latest_wins() -> None:
    patient, _ = read(
        bundle(
            obs("e1", "89247-1", "2024-01-01", valueInteger=2),
            obs(
                "e2", "89247-1", "2024-03-01", valueCodeableConcept={"coding": [{"system": LOINC, "code": "LA9623-5"}]}
            ),
            obs("l1", "10230-1", "2024-03-01", valueQuantity={"value": 48, "unit": "%"}),
            obs(
                "p1", "82810-3", "2024-03-01", valueCodeableConcept={"coding": [{"system": LOINC, "code": "LA15173-0"}]}
            ),
        )
    )
    assert patient.ecog == 1
    assert patient.conditions.lvef_percent == 48 and patient.conditions.pregnant is True


def test_active_concomitant_drugs_become_conditions_medications() -> None:
    patient, _ = read(
        bundle(
            med("w", rt="MedicationStatement", status="active", medicationCodeableConcept={"text": "warfarin 5 MG"}),
            med("o", rt="MedicationStatement", status="completed", medicationCodeableConcept={"text": "omeprazole"}),
        )
    )
    assert patient.conditions.medications == ["warfarin"]


TDM1 = [
    med(f"k{i}", day, medicationCodeableConcept=rx("1371046", "ado-trastuzumab emtansine"))
    for i, day in enumerate(["2024-03-01", "2024-03-22", "2024-04-12"])
]


def test_a_single_lvef_on_treatment_is_not_a_baseline() -> None:
    patient, report = read(bundle(lvef("l1", "2024-04-01", 60), *TDM1))
    assert patient.conditions.lvef_percent == 60 and patient.conditions.lvef_baseline_percent is None
    (note,) = notes(report, "lvef_baseline")
    assert "no LVEF is dated before the current anti-HER2 therapy (trastuzumab emtansine, started 2024-03-01)" in note


def test_an_lvef_on_the_first_day_of_therapy_is_not_clearly_before_it() -> None:
    patient, _ = read(bundle(lvef("l1", "2024-03-01", 60), *TDM1))
    assert patient.conditions.lvef_baseline_percent is None


def test_a_single_lvef_before_therapy_is_the_baseline_and_that_is_said() -> None:
    patient, report = read(bundle(lvef("l1", "2024-02", 61), *TDM1))  # month precision, wholly before
    assert (patient.conditions.lvef_percent, patient.conditions.lvef_baseline_percent) == (61, 61)
    (note,) = notes(report, "lvef_baseline")
    assert "started on 2024-03-01" in note and "none is recorded since that therapy started" in note


def test_the_baseline_is_before_the_current_anti_her2_therapy_not_the_first() -> None:
    thp = [
        med(f"t{i}", day, medicationCodeableConcept=rx("224905", "trastuzumab"))
        for i, day in enumerate(["2022-01-10", "2022-01-31", "2022-02-21"])
    ]
    tdxd = [
        med(f"d{i}", day, medicationCodeableConcept=rx("2267582", "fam-trastuzumab deruxtecan"))
        for i, day in enumerate(["2023-06-01", "2023-06-22"])
    ]
    doc = bundle(lvef("l0", "2022-01-02", 66), lvef("l1", "2023-05-20", 55), lvef("l2", "2023-07-01", 50), *thp, *tdxd)
    patient, report = read(doc)
    assert (patient.conditions.lvef_percent, patient.conditions.lvef_baseline_percent) == (50, 55)
    assert "trastuzumab deruxtecan) started on 2023-06-01" in notes(report, "lvef_baseline")[0]


def test_an_lvef_marked_baseline_is_the_baseline_without_therapy_dates() -> None:
    marked = lvef("l1", "2024-04-01", 63, note=[{"text": "Baseline echo before anti-HER2 therapy"}])
    patient, report = read(bundle(marked, lvef("l2", "2024-06-01", 57)))
    assert (patient.conditions.lvef_percent, patient.conditions.lvef_baseline_percent) == (57, 63)
    assert "marked as the baseline" in notes(report, "lvef_baseline")[0]
    coded = obs("l3", "10230-1", "2024-04-01", valueQuantity={"value": 59, "unit": "%"})
    coded["code"]["text"] = "LVEF (pre-treatment)"
    assert read(bundle(coded))[0].conditions.lvef_baseline_percent == 59
