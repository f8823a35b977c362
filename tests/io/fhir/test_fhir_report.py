"""The one ingestion report every FHIR module appends to: problems and notes, kept in order."""

from __future__ import annotations

from tests.io.fhir.fhir_builders import bundle, obs, read

from oncoline.io.fhir.report import IngestionReport


def test_problems_and_notes_are_kept_apart_and_in_order() -> None:
    report = IngestionReport(source="b.json")
    report.note("Observation/a", "ihc_number", "read as 3+")
    report.problem("Observation/b", "bad_unit", "not used")
    report.problem("Observation/c", "bad_value", "not used")
    assert [f.resource for f in report.problems] == ["Observation/b", "Observation/c"]
    assert [f.code for f in report.notes] == ["ihc_number"]
    assert [f.severity for f in report.findings] == ["note", "problem", "problem"]


def test_the_report_round_trips_as_json() -> None:
    _, report = read(bundle(obs("h", "85319-2", valueString="negative (3+ control)")))
    again = IngestionReport.model_validate_json(report.model_dump_json())
    assert again == report and again.problems[0].code == "ambiguous_text"
