"""The FHIR reader end to end: real shared bundles, the fixtures, bad documents, the validation policy, order."""

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
from tests.io.fhir.fhir_builders import (
    DATA,
    HER2POS,
    bundle,
    codes,
    med,
    read,
    rx,
    secondary,
)

from oncoline.engines.her2 import classify_her2
from oncoline.errors import DataQualityWarning, InputError
from oncoline.io.fhir import IngestionReport, patient_from_fhir
from oncoline.model.patient import SiteKind, StopReason


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


def test_a_resource_that_cannot_be_read_does_not_stop_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    from oncoline.io.fhir.sites import SiteReader

    original = SiteReader.read_condition

    def flaky(self: Any, res: dict[str, Any], label: str) -> None:
        if res.get("id") == "bad":
            raise TypeError("unexpected shape")
        original(self, res, label)

    monkeypatch.setattr(SiteReader, "read_condition", flaky)
    patient, report = read(bundle(secondary("bad", "94225005"), secondary("good", "94381002")))
    assert [s.site for s in patient.sites] == [SiteKind.LIVER]
    assert ("Condition/bad", "unreadable") in {(f.resource, f.code) for f in report.problems}


def test_not_fhir_is_a_specific_error() -> None:
    with pytest.raises(InputError, match="Synthea"):
        patient_from_fhir({"name": "x", "states": {}}, source="m.json")


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


@settings(max_examples=25, deadline=None)
@given(st.permutations(range(len(HER2POS["entry"]))), st.lists(st.integers(0, len(HER2POS["entry"]) - 1), max_size=5))
def test_entry_order_and_duplicated_entries_change_nothing(order: list[int], dupes: list[int]) -> None:
    entries = [HER2POS["entry"][i] for i in order] + [HER2POS["entry"][i] for i in dupes]
    shuffled, report = read({**HER2POS, "entry": entries})
    reference, _ = read(HER2POS)
    assert shuffled == reference
    assert len([f for f in report.problems if f.code != "duplicate"]) == 0
