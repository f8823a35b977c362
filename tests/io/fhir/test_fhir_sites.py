"""Metastatic sites, the metastatic diagnosis date and the presentation (de novo / recurrent)."""

from __future__ import annotations

import datetime as dt

import pytest
from tests.io.fhir.fhir_builders import (
    SCT,
    SUBJECT,
    bundle,
    notes,
    obs,
    primary_condition,
    read,
    secondary,
)

from oncoline.model.patient import SiteKind


def test_year_only_onset_leaves_the_metastatic_date_unset() -> None:
    patient, report = read(bundle(secondary("c1", "94225005", onsetDateTime="2019")))
    assert patient.metastatic_diagnosis is None
    assert patient.sites[0].site == SiteKind.BRAIN
    assert report.metastatic_diagnosis is not None and report.metastatic_diagnosis.precision == "year"
    assert any(f.code == "partial_date" and "left unset" in f.message for f in report.problems)


def test_sites_from_body_site_icd10_and_leptomeningeal() -> None:
    by_body_site = secondary("c1", "128462008", bodySite=[{"coding": [{"system": SCT, "code": "12738006"}]}])
    icd = secondary("c2", "x")
    icd["code"] = {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C79.32"}]}
    nodes = secondary("c3", "x")
    nodes["code"] = {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C77.3"}]}
    patient, _ = read(bundle(by_body_site, icd, nodes))
    assert [s.site for s in patient.sites] == [SiteKind.BRAIN, SiteKind.LEPTOMENINGEAL, SiteKind.LYMPH_NODE]


def test_stage_iv_primary_gives_de_novo_and_the_date() -> None:
    primary = {
        "resourceType": "Condition",
        "id": "prim",
        "code": {"coding": [{"system": SCT, "code": "254837009"}]},
        "subject": SUBJECT,
        "onsetDateTime": "2023-02-01",
        "stage": [{"summary": {"coding": [{"system": "http://cancerstaging.org", "code": "c4"}]}}],
    }
    patient, _ = read(bundle(primary))
    assert patient.presentation == "de_novo" and patient.metastatic_diagnosis == dt.date(2023, 2, 1)


@pytest.mark.parametrize(
    ("primary", "metastatic", "want", "text"),
    [
        ("2016-05-03", "2022-03-02", "recurrent", "presentation recurrent: primary diagnosis 2016-05-03"),
        ("2016", "2022-03-02", "recurrent", "at least"),  # known to the year only: still years before
        ("2022-02-10", "2022-03-02", "de_novo", "within 90 days"),
        ("2021-11-01", "2022-03-02", None, "presentation unknown"),  # 121 days: between the windows
    ],
)
def test_presentation_from_the_primary_and_metastatic_dates(
    primary: str, metastatic: str, want: str | None, text: str
) -> None:
    patient, report = read(bundle(primary_condition(primary), secondary("m1", "94381002", onsetDateTime=metastatic)))
    assert patient.presentation == want
    assert any(text in n for n in notes(report, "presentation")), notes(report, "presentation")


def test_a_stage_iv_restaging_years_after_the_primary_is_not_de_novo() -> None:
    stage = obs(
        "st",
        "21908-9",
        "2022-03-02",
        valueCodeableConcept={"coding": [{"system": "http://cancerstaging.org", "code": "4"}]},
    )
    patient, _ = read(bundle(primary_condition("2015-06-01"), stage))
    assert patient.presentation == "recurrent"
    patient, _ = read(bundle(stage))  # no primary date: a stage group IV is read as stage IV at diagnosis
    assert patient.presentation == "de_novo"


def test_presentation_unknown_is_listed_in_the_notes() -> None:
    patient, report = read(bundle(secondary("m1", "94381002", onsetDateTime="2022-03-02")))
    assert patient.presentation is None
    (note,) = notes(report, "presentation")
    assert "presentation unknown: no stage at diagnosis and no primary diagnosis date" in note
    assert "give presentation (de_novo | recurrent)" in note


def test_brain_metastases_from_fhir_say_their_status_is_unknown() -> None:
    patient, report = read(bundle(secondary("mb", "94225005", onsetDateTime="2022-03-02")))
    assert patient.sites[0].site == SiteKind.BRAIN and patient.sites[0].status is None
    assert "the recommender asks for brain_status" in notes(report, "brain_status")[0]
