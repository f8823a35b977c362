"""The fuzz properties can fail: each oracle of tests/fuzz/check.py is shown a broken outcome and must say so
(a property that cannot fail would let the suite pass on anything)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fuzz.check import Outcome, _check_patient_rows, _check_safety, count_rows, run_variant
from tests.fuzz.mutate import Variant

PATIENT = "id: P1\nmetastatic_diagnosis: 2024-01-10\ntumor: {her2: {ihc: '1+'}, er_percent: 0, pr_percent: 0}\n"
BUNDLE = {
    "resourceType": "Bundle",
    "type": "collection",
    "entry": [
        {
            "resource": {
                "resourceType": "Observation",
                "id": "her2",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "85319-2"}]},
                "valueString": "negative",
            }
        }
    ],
}


def _outcome(target: str, name: str, data: bytes, tmp_path: Path) -> tuple[Outcome, dict[str, Path]]:
    path = tmp_path / name
    path.write_bytes(data)
    return Outcome(Variant(target, "test", [], {name: data}, [target, "{" + name + "}"])), {name: path}


def _option(drugs: list[str], statement: str) -> dict[str, object]:
    return {"drugs": drugs, "statement": statement, "category": "preferred"}


@pytest.mark.parametrize(
    ("name", "content"),
    [("p.yaml", PATIENT.encode()), ("b.fhir.json", json.dumps(BUNDLE).encode())],
    ids=["yaml-her2-low", "fhir-her2-negative-text"],
)
def test_safety_flags_her2_directed_drugs_without_positive_evidence(tmp_path: Path, name: str, content: bytes) -> None:
    outcome, paths = _outcome("recommend", name, content, tmp_path)
    _check_safety(outcome, {"options": [_option(["trastuzumab", "pertuzumab", "docetaxel"], "S1L-THP")]}, paths)
    assert [k for k, _ in outcome.problems] == ["safety"], outcome.problems


def test_safety_accepts_tdxd_for_her2_low_by_its_statement_scope(tmp_path: Path) -> None:
    outcome, paths = _outcome("recommend", "p.yaml", PATIENT.encode(), tmp_path)
    _check_safety(outcome, {"options": [_option(["trastuzumab deruxtecan"], "SLOW-DB04")]}, paths)
    assert outcome.problems == []
    _check_safety(outcome, {"options": [_option(["trastuzumab deruxtecan"], "S2L-TDXD")]}, paths)  # a HER2+ one
    assert [k for k, _ in outcome.problems] == ["safety"]


def test_safety_flags_a_her2_positive_category_the_input_does_not_hold(tmp_path: Path) -> None:
    outcome, paths = _outcome("recommend", "p.yaml", PATIENT.encode(), tmp_path)
    _check_safety(outcome, {"options": [], "her2_category": "HER2-positive"}, paths)
    assert [k for k, _ in outcome.problems] == ["safety"]


def test_patient_rows_flag_an_exposure_neither_used_nor_excluded(tmp_path: Path) -> None:
    events = "metastatic_diagnosis: 2024-01-05\nexposures:\n- {drug: pertuzumab, start: 2024-01-15}\n" * 1
    events += "- {drug: trastuzumab, start: 2024-01-15}\n"
    outcome, paths = _outcome("lines", "e.yaml", events.encode(), tmp_path)
    _check_patient_rows(outcome, {"assignments": {"0": 1}, "excluded": {}}, paths["e.yaml"])
    assert [k for k, _ in outcome.problems] == ["rows"]


def test_count_rows_counts_data_rows_as_the_reader_does(tmp_path: Path) -> None:
    table = tmp_path / "e.csv"
    table.write_text('\ufeffperson_id,drug\n1,"a\nb"\n\n2,c\n', encoding="utf-8")
    assert count_rows(table) == 2


def test_a_crash_and_a_usage_exit_are_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    name = "p.yaml"
    variant = Variant("her2", "test", [], {name: b"ihc: 3+\n"}, ["her2", "{" + name + "}", "--json"])
    monkeypatch.setattr("oncoline.app.her2.classify_her2_document", boom)
    assert [k for k, _ in run_variant(variant, tmp_path / "a").problems] == ["crash"]
    monkeypatch.undo()
    variant.argv = ["her2", "{" + name + "}", "--no-such-option"]
    assert [k for k, _ in run_variant(variant, tmp_path / "b").problems] == ["exit"]
