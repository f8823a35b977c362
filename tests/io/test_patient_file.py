"""Patient files: FORMAT.md blocks load; every malformed input is one clear InputError (file, field, fix)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from oncoline.errors import InputError, UnknownDrugError
from oncoline.io.patient_file import load_patient


def _write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_every_shared_patient_block_loads(case_path: Callable[[str], Path], tmp_path: Path) -> None:
    folders = [case_path("patients"), case_path("real")]
    n = 0
    for folder in folders:
        for f in sorted(folder.glob("*.yaml")):
            for case in yaml.safe_load_all(f.read_text()):
                target = tmp_path / f"{case['id']}.yaml"
                target.write_text(yaml.safe_dump(case["patient"]))
                patient = load_patient(target)
                assert patient.id == str(case["patient"]["id"])
                n += 1
    assert n >= 18


def test_whole_case_file_is_accepted(case_path: Callable[[str], Path]) -> None:
    patient = load_patient(case_path("patients/p-2l-after-thp.yaml"))
    assert patient.history[0].drugs == ["pertuzumab", "trastuzumab", "docetaxel"]
    assert patient.as_of is not None and patient.as_of.isoformat() == "2026-10-01"


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("age: old\n", "age", "number"),
        ("metastatic_diagnosis: 03/04/2021\n", "metastatic_diagnosis", "YYYY-MM-DD"),
        ("tumor: {her2: {ihc: '4+'}}\n", "tumor.her2.ihc", "allowed"),
        ("sites: [{site: spleen-ish}]\n", "sites.0.site", "allowed"),
        ("histroy: []\n", "histroy", "spelling"),
        ("history: [{drugs: [docetaxel], start: 2024-05-01, end: 2024-01-01}]\n", "history.0", "before start"),
        ("conditions: {lvef_percent: 140}\n", "conditions.lvef_percent", "range"),
    ],
)
def test_malformed_field_names_file_field_and_fix(tmp_path: Path, text: str, field: str, words: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as info:
        load_patient(path)
    message = str(info.value)
    assert str(path) in message
    assert info.value.field == field
    assert words in message


def test_unknown_drug_is_named_with_suggestions(tmp_path: Path) -> None:
    path = _write(tmp_path, "history: [{drugs: [pertuzumab, trastuzamab, docetaxel]}]\n")
    with pytest.raises(UnknownDrugError) as info:
        load_patient(path)
    assert info.value.field is not None and info.value.field.startswith("history.0.drugs")
    assert "trastuzumab" in info.value.suggestions
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("text", "name", "words"),
    [
        ("", "p.yaml", "empty"),
        ("age: [1, 2\n", "p.yaml", "not valid YAML at line"),
        ('{"age": 50,}', "p.json", "not valid JSON at line 1"),
        ("- just\n- a list\n", "p.yaml", "expected a mapping"),
        ("{}", "p.json", "holds no patient data"),
        # a contradicting duplicate must never resolve as "the last one wins"
        ('tumor:\n  her2: {ihc: "0"}\n  her2: {ihc: "3+"}\n', "p.yaml", "'her2' is given twice"),
        ('{"id": "a", "tumor": {}, "id": "b"}', "p.json", "'id' is given twice"),
        ("id: a\n---\nid: b\n", "p.yaml", "holds 2 YAML documents"),
    ],
)
def test_unreadable_files(tmp_path: Path, text: str, name: str, words: str) -> None:
    path = _write(tmp_path, text, name)
    with pytest.raises(InputError, match=words):
        load_patient(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        load_patient(tmp_path / "nope.yaml")


def test_history_order_is_normalised(tmp_path: Path) -> None:
    a = _write(
        tmp_path,
        "history:\n- {drugs: [trastuzumab deruxtecan], start: 2025-01-01}\n"
        "- {drugs: [pertuzumab, trastuzumab, docetaxel], start: 2024-01-01}\n",
        "a.yaml",
    )
    assert load_patient(a).history[0].drugs == ["pertuzumab", "trastuzumab", "docetaxel"]


@pytest.mark.parametrize(
    ("name", "words"),
    [("cohort.csv", "is a table, not a patient file"), ("bundle.fsh", "FHIR Shorthand"), ("x.parquet", "a table")],
)
def test_tables_and_fhir_shorthand_get_a_specific_message(tmp_path: Path, name: str, words: str) -> None:
    with pytest.raises(InputError, match=words):
        load_patient(_write(tmp_path, "a,b\n1,2\n", name))
