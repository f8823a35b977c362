"""FHIR R4 / mCODE STU4 → patient model: mapping, messy real bundles, bad input, validation policy."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from oncoline.engines.her2 import classify_her2
from oncoline.errors import DataQualityWarning, InputError
from oncoline.io.fhir import IngestionReport, patient_from_fhir
from oncoline.model.patient import Patient, SiteKind, StopReason

DATA = Path(__file__).resolve().parents[1] / "data"
SCT, LOINC, RX = "http://snomed.info/sct", "http://loinc.org", "http://www.nlm.nih.gov/research/umls/rxnorm"
SUBJECT = {"reference": "Patient/p1"}


def bundle(*resources: dict[str, Any], patient: bool = True) -> dict[str, Any]:
    entries = (
        [{"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1970-05-06"}] if patient else []
    )
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in [*entries, *resources]]}


def read(doc: Any, **kw: Any) -> tuple[Patient, IngestionReport]:
    kw.setdefault("policy", "ignore")
    return patient_from_fhir(doc, source="test.json", **kw)


def codes(report: IngestionReport, resource: str | None = None) -> set[str]:
    return {f.code for f in report.problems if resource is None or f.resource.startswith(resource)}


def obs(oid: str, code: str, date: str = "2024-01-10", **value: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": SUBJECT,
        "effectiveDateTime": date,
        **value,
    }


def med(
    mid: str, start: str | None = "2024-02-01", rt: str = "MedicationAdministration", **rest: Any
) -> dict[str, Any]:
    r: dict[str, Any] = {"resourceType": rt, "id": mid, "status": "completed", "subject": SUBJECT}
    if start is not None:
        r["effectiveDateTime"] = start
    r.update(rest)
    return r


def rx(code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": RX, "code": code, **({"display": display} if display else {})}
    return {"coding": [coding]}


def secondary(cid: str, code: str, **rest: Any) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "meta": {"profile": ["http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-secondary-cancer-condition"]},
        "code": {"coding": [{"system": SCT, "code": code}]},
        "subject": SUBJECT,
        **rest,
    }


# ------------------------------------------------------------------------------------------ shared data
# Every JSON file under shared/data: what `oncoline patient` must make of it (tests/data/shared-json-outcomes.yaml).
def _outcomes() -> dict[str, tuple[str, str]]:
    raw = yaml.safe_load((DATA / "shared-json-outcomes.yaml").read_text())
    return {name: (v["outcome"], v["expect"]) for name, v in raw.items()}


SHARED_OUTCOMES = _outcomes()


def test_every_shared_json_has_a_stated_outcome(shared_dir: Path) -> None:
    found = {str(p.relative_to(shared_dir / "data")) for p in (shared_dir / "data").rglob("*.json")}
    assert found == set(SHARED_OUTCOMES)


@pytest.mark.parametrize(("name", "outcome"), sorted(SHARED_OUTCOMES.items()))
def test_shared_json_yields_a_patient_or_a_specific_error(
    name: str, outcome: tuple[str, str], shared_data: Callable[[str], Path]
) -> None:
    from oncoline.cli.patient import load_with_report

    kind, expected = outcome
    if kind == "error":
        with pytest.raises(InputError, match=expected):
            load_with_report(shared_data(name), policy="ignore")
        return
    patient, report = load_with_report(shared_data(name), policy="ignore")
    assert patient.id == expected
    assert report is not None and sum(report.resources.values()) >= 1


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


def test_ctm_patient01_sites_and_medications(shared_data: Callable[[str], Path]) -> None:
    doc = json.loads(shared_data("ctm-app-test-patients/TrialMatching_Patient01.json").read_text())
    patient, report = read(doc)
    assert [s.site for s in patient.sites] == [SiteKind.LIVER, SiteKind.BONE, SiteKind.LYMPH_NODE]
    assert patient.ecog == 1
    rows = sorted((e.start.isoformat(), e.drug) for e in patient.exposures)
    assert rows == [
        ("2019-04-01", "abemaciclib"),
        ("2019-04-01", "fulvestrant"),
        ("2019-04-01", "leuprorelin"),
        ("2019-06-01", "fulvestrant"),
        ("2019-06-01", "ribociclib"),
    ]
    # RxNorm product codes the vocabulary lacks are reported, and the drug is read from the display
    by_text = [f for f in report.notes if f.code == "drug_by_text"]
    assert len(by_text) == 5 and "RxNorm 1163443" in by_text[0].message


def test_ctms_messy_bundle_defects_are_each_reported(shared_data: Callable[[str], Path]) -> None:
    doc = json.loads(shared_data("ctms-breastcancertrials/patient_data.json").read_text())
    patient, report = read(doc)
    assert "reused_id" in codes(report, "MedicationStatement/6556b6b3")
    assert "reused_id" in codes(report, "Condition/4dee068c")
    her2_obs = codes(report, "Observation/95d74cb0")
    assert {"bad_code", "two_values", "not_fhir_r4"} <= her2_obs  # "34566" labelled LOINC; two value[x]
    assert "placeholder_code" in codes(report, "Condition/4dee068c")  # stage "TEST"
    # the five paclitaxel statements (one via an unknown code, one via a code of another drug) are one exposure;
    # the -04:00 date stays 28 July, not the UTC 29 July
    assert [(e.drug, e.start) for e in patient.exposures] == [("paclitaxel", dt.date(2017, 7, 28))]
    assert any(f.code == "merged" and "5 medication entries" in f.message for f in report.notes)
    assert patient.tumor.her2.ihc is not None and patient.tumor.her2.ihc.value == "3+"


def test_mcode_extraction_placeholders_and_dstu2_are_reported(shared_data: Callable[[str], Path]) -> None:
    def rep(name: str) -> IngestionReport:
        return read(json.loads(shared_data(f"mcode-extraction-framework/fhir-json/{name}").read_text()))[1]

    assert {"placeholder_code", "unknown_drug", "bad_status"} <= codes(rep("csv-medication-administration-bundle.json"))
    assert "placeholder_date" in codes(rep("csv-condition-bundle.json"))
    secondary_report = rep("secondary-cancer-condition.json")
    assert {"dstu2", "conflicting_codes", "no_patient"} <= codes(secondary_report)


# ------------------------------------------------------------------------------------------ HER2+ fixture
def test_her2_positive_fixture_maps_fully_and_cleanly() -> None:
    doc = json.loads((DATA / "her2pos-thp-tdxd-brain.fhir.json").read_text())
    patient, report = patient_from_fhir(doc, source="fixture", policy="raise", as_of=dt.date(2025, 10, 1))
    assert report.problems == []
    her2 = patient.tumor.her2
    assert (her2.ihc and her2.ihc.value, her2.ish_ratio, her2.her2_copies, her2.ish_result) == (
        "2+",
        2.4,
        5.1,
        "positive",
    )
    assert classify_her2(her2).status == "positive"
    assert (patient.tumor.er_percent, patient.tumor.pr_percent) == (0, 0)
    assert patient.age == 57 and patient.sex == "female" and patient.ecog == 1
    assert patient.metastatic_diagnosis == dt.date(2022, 3, 2)
    assert patient.presentation == "de_novo"
    assert [s.site for s in patient.sites] == [SiteKind.BRAIN, SiteKind.LIVER]
    assert patient.conditions.lvef_percent == 58 and patient.conditions.lvef_baseline_percent == 62
    assert patient.conditions.pregnant is False
    stops = {(e.drug, e.start): e.stopped for e in patient.exposures if e.stopped}
    assert stops == {
        ("pertuzumab", dt.date(2024, 4, 15)): StopReason.PROGRESSION,
        ("trastuzumab", dt.date(2024, 4, 15)): StopReason.PROGRESSION,
        ("trastuzumab deruxtecan", dt.date(2025, 8, 25)): StopReason.PROGRESSION,
    }
    assert len(patient.exposures) == 102 and patient.history == []


def test_her2_positive_fixture_derives_the_two_lines_of_the_yaml_patient() -> None:
    from oncoline.engines.lines.params import load_line_params
    from oncoline.engines.lines.reference import derive_lines
    from oncoline.io.patient_file import load_patient

    patient, _ = read(json.loads((DATA / "her2pos-thp-tdxd-brain.fhir.json").read_text()))
    result = derive_lines(
        patient.exposures,
        metastatic_diagnosis=patient.metastatic_diagnosis,
        params=load_line_params(),
        as_of=dt.date(2025, 10, 1),
    )
    yaml_patient = load_patient(DATA / "her2pos-thp-tdxd-brain.yaml")
    assert [(set(x.drugs), x.start, x.end) for x in result.lines] == [
        (set(h.drugs), h.start, h.end) for h in yaml_patient.history
    ]


# ------------------------------------------------------------------------------------------ messy fixture
def test_messy_fixture_reports_every_defect() -> None:
    patient, report = read(json.loads((DATA / "messy-bundle.fhir.json").read_text()))
    expected = {
        ("Condition/met-brain-year", "partial_date"),  # metastatic date known to the year only
        ("Condition/met-liver-us", "bad_date"),  # "3/4/2021"
        ("Observation/her2-two-values", "two_values"),
        ("Observation/er-mislabelled", "wrong_system"),  # SNOMED answer labelled LOINC
        ("Observation/er-mislabelled", "duplicate"),
        ("MedicationAdministration/tras-compact", "bad_date"),  # "20190312"
        ("MedicationAdministration/tras-no-tz", "bad_date"),  # no time zone
        ("MedicationAdministration/pert-placeholder", "placeholder_code"),  # RxNorm "1234"
        ("MedicationAdministration/pert-placeholder", "unknown_drug"),
        ("MedicationAdministration/tdm1-month", "undated_exposure"),  # "2019-06": not an exposure row
        ("MedicationStatement/no-medication", "no_medication"),
        ("MedicationStatement/other-patient", "other_patient"),
    }
    assert expected <= {(f.resource, f.code) for f in report.problems}
    assert patient.metastatic_diagnosis is None and report.metastatic_diagnosis is not None
    assert str(report.metastatic_diagnosis) == "2019" and report.metastatic_diagnosis.precision == "year"
    assert {(e.drug, e.start.isoformat(), e.stopped) for e in patient.exposures} == {
        ("trastuzumab", "2019-03-12", None),
        ("trastuzumab", "2019-04-02", None),
        ("docetaxel", "2019-04-02", StopReason.TOXICITY),  # statusReason 407563006 "not tolerated"
    }  # docetaxel entered-in-error excluded; pertuzumab placeholder not guessed; T-DM1 "2019-06" not dated
    tdm1 = [r for r in report.exposures if r.drug == "trastuzumab emtansine"]
    assert len(tdm1) == 1 and not tdm1[0].used and tdm1[0].start is not None and tdm1[0].start.precision == "month"
    assert patient.age is None  # birth year only


# ------------------------------------------------------------------------------------------ bad input, one each
def test_us_style_date_is_reported_and_not_used() -> None:
    patient, report = read(bundle(med("m1", "3/4/2021", medicationCodeableConcept=rx("72962"))))
    assert patient.exposures == []
    [bad] = [f for f in report.problems if f.code == "bad_date"]
    assert bad.resource == "MedicationAdministration/m1" and "ambiguous" in bad.message


def test_compact_date_is_read_and_reported() -> None:
    patient, report = read(bundle(med("m1", "20190312", medicationCodeableConcept=rx("72962"))))
    assert [(e.drug, e.start) for e in patient.exposures] == [("docetaxel", dt.date(2019, 3, 12))]
    assert ("MedicationAdministration/m1", "bad_date") in {(f.resource, f.code) for f in report.problems}


def test_year_only_onset_leaves_the_metastatic_date_unset() -> None:
    patient, report = read(bundle(secondary("c1", "94225005", onsetDateTime="2019")))
    assert patient.metastatic_diagnosis is None
    assert patient.sites[0].site == SiteKind.BRAIN
    assert report.metastatic_diagnosis is not None and report.metastatic_diagnosis.precision == "year"
    assert any(f.code == "partial_date" and "left unset" in f.message for f in report.problems)


def test_medication_statement_without_medication_is_skipped_and_others_still_read() -> None:
    patient, report = read(
        bundle(
            med("s1", rt="MedicationStatement"),
            med("s2", rt="MedicationStatement", medicationCodeableConcept={"text": "Herceptin"}),
        )
    )
    assert [e.drug for e in patient.exposures] == ["trastuzumab"]
    assert ("MedicationStatement/s1", "no_medication") in {(f.resource, f.code) for f in report.problems}


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


def test_a_resource_that_cannot_be_read_does_not_stop_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    from oncoline.io import fhir

    original = fhir._Reader.read_condition

    def flaky(self: Any, res: dict[str, Any], label: str) -> None:
        if res.get("id") == "bad":
            raise TypeError("unexpected shape")
        original(self, res, label)

    monkeypatch.setattr(fhir._Reader, "read_condition", flaky)
    patient, report = read(bundle(secondary("bad", "94225005"), secondary("good", "94381002")))
    assert [s.site for s in patient.sites] == [SiteKind.LIVER]
    assert ("Condition/bad", "unreadable") in {(f.resource, f.code) for f in report.problems}


def test_not_fhir_is_a_specific_error() -> None:
    with pytest.raises(InputError, match="Synthea"):
        patient_from_fhir({"name": "x", "states": {}}, source="m.json")


# ------------------------------------------------------------------------------------------ policy
def test_policy_raise_names_the_resource_and_counts_the_rest() -> None:
    doc = bundle(med("m1", "3/4/2021", medicationCodeableConcept=rx("1234")))
    with pytest.raises(InputError, match=r"MedicationAdministration/m1: .*\[\d+ more problem\(s\)\]"):
        read(doc, policy="raise")


def test_policy_warn_emits_one_warning_per_problem() -> None:
    doc = bundle(med("m1", "3/4/2021", medicationCodeableConcept=rx("72962")))
    with pytest.warns(DataQualityWarning, match="MedicationAdministration/m1") as record:
        _, report = patient_from_fhir(doc, source="t.json")
    assert len(record) == len(report.problems) >= 1


def test_policy_ignore_records_without_warning() -> None:
    _, report = read(bundle(med("m1", "3/4/2021", medicationCodeableConcept=rx("72962"))), policy="ignore")
    assert report.problems and report.policy == "ignore"


def test_unknown_policy_is_an_error() -> None:
    with pytest.raises(InputError, match="validation policy"):
        read(bundle(), policy="loud")


# ------------------------------------------------------------------------------------------ mapping details
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


def test_single_resource_is_read_like_a_bundle() -> None:
    patient, report = read(secondary("c1", "94391008", onsetDateTime="2024-01-02"))
    assert patient.sites[0].site == SiteKind.LUNG and "no_patient" in codes(report)


def test_fhir_resources_is_not_imported_for_yaml_input() -> None:
    code = (
        "import sys; from oncoline.io.patient_file import load_patient; import oncoline.cli.app; "
        f"load_patient({str(DATA / 'her2pos-thp-tdxd-brain.yaml')!r}); "
        "assert not any(m.startswith('fhir.resources') for m in sys.modules), 'fhir.resources imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


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


def test_active_concomitant_drugs_become_conditions_medications() -> None:
    patient, _ = read(
        bundle(
            med("w", rt="MedicationStatement", status="active", medicationCodeableConcept={"text": "warfarin 5 MG"}),
            med("o", rt="MedicationStatement", status="completed", medicationCodeableConcept={"text": "omeprazole"}),
        )
    )
    assert patient.conditions.medications == ["warfarin"]


HER2POS = json.loads((DATA / "her2pos-thp-tdxd-brain.fhir.json").read_text())


@settings(max_examples=25, deadline=None)
@given(st.permutations(range(len(HER2POS["entry"]))), st.lists(st.integers(0, len(HER2POS["entry"]) - 1), max_size=5))
def test_entry_order_and_duplicated_entries_change_nothing(order: list[int], dupes: list[int]) -> None:
    entries = [HER2POS["entry"][i] for i in order] + [HER2POS["entry"][i] for i in dupes]
    shuffled, report = read({**HER2POS, "entry": entries})
    reference, _ = read(HER2POS)
    assert shuffled == reference
    assert len([f for f in report.problems if f.code != "duplicate"]) == 0


# ------------------------------------------------------------------------------ LVEF baseline, presentation
def lvef(oid: str, date: str, value: float, **rest: Any) -> dict[str, Any]:
    return obs(oid, "10230-1", date, valueQuantity={"value": value, "unit": "%"}, **rest)


def notes(report: IngestionReport, code: str) -> list[str]:
    return [f.message for f in report.notes if f.code == code]


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


def primary_condition(onset: str, **rest: Any) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": "prim",
        "code": {"coding": [{"system": SCT, "code": "254837009"}]},
        "subject": SUBJECT,
        "onsetDateTime": onset,
        **rest,
    }


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
