"""Tumour markers: HER2 (IHC, ISH, ratio, copies, the lab's call), ER and PR as labs send them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.io.fhir.fhir_builders import (
    SCT,
    bundle,
    codes,
    obs,
    read,
)

from oncoline.engines.her2 import classify_her2


@pytest.mark.parametrize("n", ["01", "02"])
def test_ctm_stage_iv_hr_positive_patients_are_not_her2_positive(n: str, shared_data: Callable[[str], Path]) -> None:
    doc = json.loads(shared_data(f"ctm-app-test-patients/TrialMatching_Patient{n}.json").read_text())
    patient, report = read(doc)
    assert patient.tumor.hr_positive is True
    assert patient.tumor.her2.ihc is None
    assert patient.tumor.her2.status == "negative"
    result = classify_her2(patient.tumor.her2)
    assert result.status == "negative"
    assert result.category == "HER2-negative"
    assert result.next_test == "her2_ihc_score"  # the HER2-low question is asked, not guessed
    assert patient.presentation == "de_novo"  # clinical stage group IV
    assert patient.metastatic_diagnosis is None
    assert "undated" in codes(report, "Bundle")  # ...and that is reported, not invented
    assert patient.history == []


def test_her2_values_as_labs_send_them() -> None:
    patient, report = read(
        bundle(
            obs("ihc", "85319-2", valueCodeableConcept={"text": "Equivocal (Score 2+)"}),
            obs("ratio", "49683-6", valueQuantity={"value": 1.7, "unit": "{ratio}"}),
            obs("copies", "74860-8", valueString="6.3"),
            obs("call", "48676-1", valueCodeableConcept={"coding": [{"system": SCT, "code": "10828004"}]}),
        )
    )
    her2 = patient.tumor.her2
    assert (her2.ihc and her2.ihc.value, her2.ish_ratio, her2.her2_copies) == ("2+", 1.7, 6.3)
    assert her2.status is None  # the lab's call is used only without raw values
    assert "status_not_used" in {f.code for f in report.notes}


def test_her2_lab_call_only_when_no_raw_value() -> None:
    patient, _ = read(
        bundle(obs("call", "48676-1", valueCodeableConcept={"coding": [{"system": SCT, "code": "10828004"}]}))
    )
    assert patient.tumor.her2.status == "positive"


def test_fish_text_threshold_is_a_call_not_a_ratio() -> None:
    patient, report = read(bundle(obs("fish", "85318-4", valueString="greater than 2.2")))
    assert patient.tumor.her2.ish_result == "positive" and patient.tumor.her2.ish_ratio is None
    assert "ish_text" in {f.code for f in report.notes}


def test_cap_ecc_ihc_score_zero() -> None:
    ihc = obs(
        "cap", "x", valueCodeableConcept={"coding": [{"system": "http://cap.org/eCC", "code": "40505.100004300"}]}
    )
    ihc["code"] = {"coding": [{"system": "http://cap.org/eCC", "code": "52399.100004300"}]}
    patient, _ = read(bundle(ihc))
    assert patient.tumor.her2.ihc is not None and patient.tumor.her2.ihc.value == "0"


def test_er_percent_needs_a_unit() -> None:
    patient, report = read(
        bundle(
            obs("er", "85337-4", valueQuantity={"value": 85, "unit": "%", "code": "%"}),
            obs("pr", "85339-0", valueQuantity={"value": 40}),
        )
    )
    assert patient.tumor.er_percent == 85 and patient.tumor.pr_percent is None
    assert ("Observation/pr", "no_unit") in {(f.resource, f.code) for f in report.problems}


def test_conflicting_her2_values_on_one_observation_are_reported() -> None:
    two = obs(
        "h",
        "85319-2",
        valueQuantity={"value": 1},
        valueCodeableConcept={"coding": [{"system": SCT, "code": "10828004"}]},
    )
    patient, report = read(bundle(two))
    assert patient.tumor.her2.ihc is not None and patient.tumor.her2.ihc.value == "1+"
    assert {"two_values", "conflicting_values"} <= codes(report, "Observation/h")
