"""Free-text and unit-bearing FHIR results are read only when unambiguous (issue 12 item 1, a safety fault).

A HER2 text such as ``negative (3+ control)`` was read as IHC 3+ (the first "N+" won) and HER2-directed drugs
were offered; a HER2 IHC ``3 %`` was read as 3+ (the unit dropped). Each case below is a minimal bundle that
gave a wrong reading on the old code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from oncoline.engines.her2 import classify_her2
from oncoline.io.fhir import IngestionReport, patient_from_fhir
from oncoline.model.patient import Patient

LOINC, SCT = "http://loinc.org", "http://snomed.info/sct"
SUBJECT = {"reference": "Patient/p1"}
IHC, ER, PR, RATIO, COPIES, LAB_CALL = "85319-2", "85337-4", "85339-0", "49683-6", "74860-8", "48676-1"


def obs(oid: str, code: str, **value: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": SUBJECT,
        "effectiveDateTime": "2024-01-10",
        **value,
    }


def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    patient = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1970-05-06"}
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in [patient, *resources]]}


def read(*resources: dict[str, Any]) -> tuple[Patient, IngestionReport]:
    return patient_from_fhir(bundle(*resources), source="t.json", policy="ignore")


def problems(report: IngestionReport) -> set[tuple[str, str]]:
    return {(f.resource, f.code) for f in report.problems}


def her2_positive(patient: Patient) -> bool:
    her2 = patient.tumor.her2
    return (
        (her2.ihc is not None and her2.ihc.value == "3+")
        or her2.status == "positive"
        or classify_her2(her2).category == "HER2-positive"
    )


# ------------------------------------------------------------------------------------------ HER2 IHC free text
@pytest.mark.parametrize(
    "text",
    [
        "negative (3+ control)",  # the example: the control's score, not the tumour's
        "Negative; positive control 3+",
        "3+ (external control)",
        "not 3+",
        "HER2 negative 3+",
        "no 3+ staining",
        "1+ and 3+",  # two scores
        "2+ or 3+",
        "3+ in 5% of cells",  # a percentage of cells: not a 3+ tumour by ASCO/CAP 2018
        "3+ ?",
        "previous 3+, now 1+",
    ],
)
def test_ambiguous_her2_text_is_unreadable_and_her2_stays_missing(text: str) -> None:
    for value in ({"valueString": text}, {"valueCodeableConcept": {"text": text}}):
        patient, report = read(obs("ihc-1", IHC, **value))
        assert patient.tumor.her2.ihc is None, (text, value)
        assert patient.tumor.her2.status is None
        assert not her2_positive(patient)
        assert ("Observation/ihc-1", "ambiguous_text") in problems(report), (text, report.problems)
        assert classify_her2(patient.tumor.her2).category != "HER2-positive"


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("Equivocal (Score 2+)", "2+"),
        ("Negative (Score 0)", "0"),
        ("Negative (Score 1+)", "1+"),
        ("Positive (Score 3+)", "3+"),
        ("3+", "3+"),
        ("HER2 3+ (4B5)", "3+"),
        ("HER-2/neu: score 2+", "2+"),
        ("1+ (HER2-low)", "1+"),
        ("ultralow", "ultralow"),
    ],
)
def test_unambiguous_her2_text_is_read(text: str, score: str) -> None:
    patient, report = read(obs("ihc-1", IHC, valueString=text))
    assert patient.tumor.her2.ihc is not None and patient.tumor.her2.ihc.value == score
    assert not problems(report)


def test_her2_plus_is_not_an_ihc_2_plus() -> None:
    """ "HER2+" names the gene, it is not a score of 2+ (the old reader took its "2+")."""
    patient, report = read(obs("ihc-1", IHC, valueString="HER2+"))
    assert patient.tumor.her2.ihc is None
    assert ("Observation/ihc-1", "bad_value") in problems(report)


def test_a_coded_result_contradicting_the_text_score_is_unreadable() -> None:
    value = {"coding": [{"system": SCT, "code": "260385009", "display": "Negative (qualifier value)"}], "text": "3+"}
    patient, report = read(obs("ihc-1", IHC, valueCodeableConcept=value))
    assert patient.tumor.her2.ihc is None and patient.tumor.her2.status is None
    assert ("Observation/ihc-1", "ambiguous_text") in problems(report)


# ------------------------------------------------------------------------------------------ units
@pytest.mark.parametrize(
    "value",
    [
        {"valueQuantity": {"value": 3, "unit": "%", "code": "%"}},
        {"valueQuantity": {"value": 3, "unit": "%"}},
        {"valueString": "3 %"},
        {"valueQuantity": {"value": 3, "unit": "mg"}},
        {"valueRatio": {"numerator": {"value": 3}, "denominator": {"value": 1}}},
    ],
)
def test_her2_ihc_number_with_a_unit_that_is_not_a_score_is_not_3_plus(value: dict[str, Any]) -> None:
    patient, report = read(obs("ihc-1", IHC, **value))
    assert patient.tumor.her2.ihc is None
    assert ("Observation/ihc-1", "bad_unit") in problems(report)


@pytest.mark.parametrize(
    "value", [{"valueQuantity": {"value": 3}}, {"valueQuantity": {"value": 3, "code": "{score}"}}, {"valueInteger": 3}]
)
def test_her2_ihc_score_without_unit_or_with_a_score_unit_is_read(value: dict[str, Any]) -> None:
    patient, _ = read(obs("ihc-1", IHC, **value))
    assert patient.tumor.her2.ihc is not None and patient.tumor.her2.ihc.value == "3+"


@pytest.mark.parametrize(
    "value",
    [
        {"valueQuantity": {"value": 2, "unit": "{score}"}},  # a score where a percent is expected
        {"valueQuantity": {"value": 6, "unit": "Allred score"}},
        {"valueQuantity": {"value": 80, "code": "%", "unit": "{score}"}},  # code and unit disagree
        {"valueQuantity": {"value": 80, "unit": "mg/dL"}},
    ],
)
def test_er_pr_value_with_a_unit_that_is_not_a_percent_is_not_read(value: dict[str, Any]) -> None:
    patient, report = read(obs("er-1", ER, **value), obs("pr-1", PR, **value))
    assert patient.tumor.er_percent is None and patient.tumor.pr_percent is None
    assert patient.tumor.er_status is None and patient.tumor.pr_status is None
    assert {("Observation/er-1", "bad_unit"), ("Observation/pr-1", "bad_unit")} <= problems(report)


@pytest.mark.parametrize(
    "value",
    [
        {"valueQuantity": {"value": 80, "unit": "%"}},
        {"valueString": "80 %"},
        {"valueQuantity": {"value": 80, "unit": "% of cells"}},
    ],
)
def test_er_percent_with_its_unit_is_read(value: dict[str, Any]) -> None:
    patient, report = read(obs("er-1", ER, **value))
    assert patient.tumor.er_percent == 80
    assert not problems(report)


@pytest.mark.parametrize(
    ("code", "value"),
    [
        (RATIO, {"valueQuantity": {"value": 2.5, "unit": "%"}}),
        (RATIO, {"valueString": "2.5 %"}),
        (COPIES, {"valueQuantity": {"value": 6.5, "unit": "%"}}),
        (COPIES, {"valueQuantity": {"value": 6.5, "unit": "mg"}}),
    ],
)
def test_ish_ratio_and_copies_with_a_foreign_unit_are_not_read(code: str, value: dict[str, Any]) -> None:
    patient, report = read(obs("ish-1", code, **value))
    her2 = patient.tumor.her2
    assert her2.ish_ratio is None and her2.her2_copies is None
    assert ("Observation/ish-1", "bad_unit") in problems(report)


@pytest.mark.parametrize(
    ("code", "value", "field", "expected"),
    [
        (RATIO, {"valueQuantity": {"value": 2.5, "unit": "{ratio}"}}, "ish_ratio", 2.5),
        (RATIO, {"valueDecimal": 2.5}, "ish_ratio", 2.5),
        (COPIES, {"valueQuantity": {"value": 6.5, "code": "{copies}/{nucleus}"}}, "her2_copies", 6.5),
        (COPIES, {"valueQuantity": {"value": 6.5}}, "her2_copies", 6.5),
    ],
)
def test_ish_values_with_their_units_are_read(code: str, value: dict[str, Any], field: str, expected: float) -> None:
    patient, _ = read(obs("ish-1", code, **value))
    assert getattr(patient.tumor.her2, field) == expected


# ------------------------------------------------------------------------------------------ end to end
def test_recommend_on_a_negative_with_3_plus_control_offers_no_her2_directed_drug(tmp_path: Path) -> None:
    from oncoline.cli.app import app
    from oncoline.knowledge.drugs import load_vocabulary

    metastasis = {
        "resourceType": "Condition",
        "id": "met-1",
        "meta": {"profile": ["http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-secondary-cancer-condition"]},
        "code": {"coding": [{"system": SCT, "code": "94222008"}]},
        "subject": SUBJECT,
        "onsetDateTime": "2024-01-05",
    }
    doc = bundle(
        obs("ihc-1", IHC, valueString="negative (3+ control)"),
        obs("er-1", ER, valueQuantity={"value": 0, "unit": "%"}),
        obs("pr-1", PR, valueQuantity={"value": 0, "unit": "%"}),
        metastasis,
    )
    path = tmp_path / "b.fhir.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    result = CliRunner().invoke(app, ["recommend", str(path), "--json", "--as-of", "2024-02-01"])
    assert result.exit_code == 0, result.output
    stderr = " ".join(result.stderr.split())
    assert "Observation/ihc-1: her2_ihc text" in stderr, stderr
    assert "is ambiguous: control or reference wording" in stderr
    out = json.loads(result.stdout)
    assert "her2_status" in {m["code"] for m in out["missing"]}
    vocab = load_vocabulary()
    offered = [d for o in out["options"] for d in o["drugs"]]
    assert not [d for d in offered if vocab.in_class(d, "her2_directed")], offered


# ------------------------------------------------------------------------------------------ property
NEGATING = ["negative", "neg", "not", "no", "non", "without", "absent", "NEGATIVE", "Not"]
CONTROL = ["control", "positive control", "reference", "external control", "Control", "on-slide control"]
FILLER = [
    "her2",
    "ihc",
    "score",
    "tumour",
    "staining",
    "membrane",
    "(",
    ")",
    ":",
    ";",
    ",",
    "-",
    "result",
    "cells",
    "positive",
    "3+",
    "2+",
    "1+",
    "0",
    "strong",
    "complete",
    "her2 3+",
    "score 3+",
]


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    before=st.lists(st.sampled_from(FILLER) | st.text(max_size=6), max_size=4),
    after=st.lists(st.sampled_from(FILLER) | st.text(max_size=6), max_size=4),
    score=st.sampled_from(["3+", "3 +", "Score 3+", "score 3", "3"]),
    word=st.sampled_from(NEGATING + CONTROL),
    word_first=st.booleans(),
    code=st.sampled_from([IHC, LAB_CALL]),
    as_concept=st.booleans(),
)
def test_text_with_a_negating_or_control_word_never_yields_a_positive_her2(
    before: list[str], after: list[str], score: str, word: str, word_first: bool, code: str, as_concept: bool
) -> None:
    middle = [f" {word} ", score] if word_first else [score, f" {word} "]
    text = " ".join([*before, *middle, *after])
    value = {"valueCodeableConcept": {"text": text}} if as_concept else {"valueString": text}
    patient, _ = read(obs("h-1", code, **value))
    assert not her2_positive(patient), text
