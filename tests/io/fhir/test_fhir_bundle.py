"""One bad bundle entry never loses the whole bundle (issue 12 item 5).

An entry with an unknown or misspelt ``resourceType`` ("Foo", "observation", "Observation ", a byte-order mark) or a
resource of another FHIR version (an R5 ``GenomicStudy``) raised an unguarded ValueError before: now that entry is
skipped and reported by its entry number and id, and the rest of the bundle is read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from oncoline.io.fhir import IngestionReport, patient_from_fhir
from oncoline.model.patient import Patient

DATA = Path(__file__).resolve().parents[2] / "data"
BUNDLE = json.loads((DATA / "her2pos-thp-tdxd-brain.fhir.json").read_text(encoding="utf-8"))


def read(doc: dict[str, Any]) -> tuple[Patient, IngestionReport]:
    return patient_from_fhir(doc, source="t.json", policy="ignore")


def with_entry(resource: dict[str, Any], at: int = 2) -> dict[str, Any]:
    doc = json.loads(json.dumps(BUNDLE))
    doc["entry"].insert(at, {"resource": resource})
    return doc


@pytest.mark.parametrize(
    ("resource_type", "says"),
    [
        ("Foo", "is not a FHIR R4 resource type; entry skipped"),
        ("observation", "(did you mean 'Observation'?)"),
        ("Observation ", "(did you mean 'Observation'?)"),
        ("\ufeffObservation", "(did you mean 'Observation'?)"),
        ("Patient\u200b", "(did you mean 'Patient'?)"),
        ("GenomicStudy", "is a FHIR R5 resource, not R4"),
        ("", "is not a FHIR R4 resource type"),
        ("CodeableConcept", "is a FHIR data type, not a resource"),
    ],
)
def test_an_entry_of_an_unknown_type_is_skipped_and_the_rest_is_read(resource_type: str, says: str) -> None:
    expected, _ = read(BUNDLE)
    resource = {"resourceType": resource_type, "id": "odd-1", "status": "final", "subject": {"reference": "Patient/x"}}
    patient, report = read(with_entry(resource, at=2))
    assert patient == expected  # everything else read as without the bad entry
    found = [f for f in report.problems if f.code == "unknown_type"]
    assert [f.resource for f in found] == ["Bundle entry 3 (id odd-1)"]
    assert says in found[0].message


def test_an_unknown_entry_without_an_id_is_named_by_its_number() -> None:
    _, report = read(with_entry({"resourceType": "Foo"}, at=0))
    assert ("Bundle entry 1 (no id)", "unknown_type") in {(f.resource, f.code) for f in report.problems}


def test_several_bad_entries_each_reported_once() -> None:
    doc = with_entry({"resourceType": "GenomicStudy", "id": "g1"}, at=0)
    doc["entry"].append({"resource": {"resourceType": "foo", "id": "f1"}})
    patient, report = read(doc)
    bad = sorted(f.resource for f in report.problems if f.code == "unknown_type")
    assert bad == ["Bundle entry 1 (id g1)", f"Bundle entry {len(doc['entry'])} (id f1)"]
    assert patient.tumor.her2.ihc is not None


def test_a_misspelt_bundle_is_read_as_a_bundle() -> None:
    expected, _ = read(BUNDLE)
    doc = {**BUNDLE, "resourceType": "\ufeffbundle"}
    patient, report = read(doc)
    assert patient == expected
    assert ("Bundle", "bad_resource_type") in {(f.resource, f.code) for f in report.problems}


def test_a_lone_resource_of_an_unknown_type_gives_a_reported_empty_patient() -> None:
    patient, report = read({"resourceType": "GenomicStudy", "id": "g1"})
    assert patient.tumor.her2.ihc is None and not patient.exposures
    assert "unknown_type" in {f.code for f in report.problems}


def test_policy_raise_names_the_entry() -> None:
    from oncoline.errors import InputError

    with pytest.raises(InputError, match=r"Bundle entry 3 \(id odd-1\): resourceType 'Foo'"):
        patient_from_fhir(with_entry({"resourceType": "Foo", "id": "odd-1"}), source="t.json", policy="raise")


def test_cli_patient_reads_a_bundle_with_a_bad_entry_and_a_byte_order_mark(tmp_path: Path) -> None:
    from oncoline.cli.app import app

    path = tmp_path / "b.fhir.json"
    doc = with_entry({"resourceType": "GenomicStudy", "id": "g1"})
    path.write_text("\ufeff" + json.dumps(doc), encoding="utf-8")
    result = CliRunner().invoke(app, ["patient", str(path), "--as-of", "2025-10-01"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "Bundle entry 3 (id g1)" in text and "FHIR R5 resource" in text
