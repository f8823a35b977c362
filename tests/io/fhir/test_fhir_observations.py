"""Observations: excluded statuses, several values, no value, components and unknown codes."""

from __future__ import annotations

from typing import Any

from tests.io.fhir.fhir_builders import LOINC, bundle, obs, read


def found(report: Any) -> set[tuple[str, str]]:
    return {(f.resource, f.code) for f in report.findings}


def test_an_entered_in_error_observation_is_not_used() -> None:
    patient, report = read(bundle(obs("h", "85319-2", status="entered-in-error", valueString="3+")))
    assert patient.tumor.her2.ihc is None
    assert ("Observation/h", "excluded") in found(report)


def test_two_values_are_each_read_and_reported() -> None:
    patient, report = read(bundle(obs("e", "85337-4", valueQuantity={"value": 80, "unit": "%"}, valueString="80 %")))
    assert patient.tumor.er_percent == 80
    assert ("Observation/e", "two_values") in found(report)


def test_an_observation_without_a_value_is_reported() -> None:
    patient, report = read(bundle(obs("e", "85337-4")))
    assert patient.tumor.er_percent is None
    assert ("Observation/e", "no_value") in found(report)


def test_components_with_known_codes_are_read_like_observations() -> None:
    panel = obs("panel", "00000-0")
    panel["component"] = [
        {"code": {"coding": [{"system": LOINC, "code": "85337-4"}]}, "valueQuantity": {"value": 90, "unit": "%"}},
        {"code": {"coding": [{"system": LOINC, "code": "85339-0"}]}, "valueQuantity": {"value": 5, "unit": "%"}},
        {"code": {"coding": [{"system": LOINC, "code": "11111-1"}]}, "valueString": "ignored"},
    ]
    patient, report = read(bundle(panel))
    assert (patient.tumor.er_percent, patient.tumor.pr_percent) == (90, 5)
    assert ("Observation/panel", "not_used") not in found(report)


def test_an_unknown_observation_is_noted_as_not_used() -> None:
    _, report = read(bundle(obs("x", "00000-0", valueString="whatever")))
    assert ("Observation/x", "not_used") in found(report)


def test_a_loinc_labelled_snomed_code_is_read_and_reported() -> None:
    wrong = obs("h", "85319-2", valueString="2+")
    wrong["code"] = {"coding": [{"system": LOINC, "code": "52399.100004300"}]}  # a CAP eCC code labelled LOINC
    patient, report = read(bundle(wrong))
    assert patient.tumor.her2.ihc is not None and patient.tumor.her2.ihc.value == "2+"
    assert ("Observation/h", "wrong_system") in found(report)
