"""The application layer: the same answers from a path and from content in memory, the clock injected,
nothing printed, the error tree raised."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pytest

from oncoline import app
from oncoline.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "cureus-2025-de-novo-brain-mets.yaml"
MESSY = ROOT / "tests" / "data" / "messy-bundle.fhir.json"
TODAY = dt.date(2026, 12, 6)


def test_recommend_from_bytes_equals_from_path(capsys: pytest.CaptureFixture[str]) -> None:
    from_path = app.recommend_document(EXAMPLE, today=TODAY)
    from_bytes = app.recommend_document(
        EXAMPLE.read_bytes(), media_type="application/yaml", name="upload.yaml", today=TODAY
    )
    assert from_bytes.to_json() == from_path.to_json()
    assert from_bytes.source == "upload.yaml" and from_path.source == str(EXAMPLE)
    assert from_path.as_of == TODAY and from_path.to_json()["as_of"] == TODAY.isoformat()
    json.dumps(from_path.to_json())  # JSON-ready as it is
    assert capsys.readouterr() == ("", "")  # prints nothing


def test_recommend_fhir_findings_follow_the_policy() -> None:
    content = MESSY.read_bytes()
    warn = app.recommend_document(content, media_type="application/fhir+json", name="b.json", today=TODAY)
    assert warn.report is not None and len(warn.findings) == len(warn.report.problems) > 0
    assert all(f.startswith("b.json: ") for f in warn.findings)
    ignore = app.recommend_document(content, media_type="application/fhir+json", today=TODAY, policy="ignore")
    assert ignore.findings == () and ignore.recommendation == warn.recommendation
    # the findings travel with the JSON every door sends (policy warn), never dropped silently; ignore: none
    assert warn.to_json()["data_quality"] == {"count": len(warn.findings), "findings": list(warn.findings)}
    assert "data_quality" not in ignore.to_json()
    assert {k: v for k, v in warn.to_json().items() if k != "data_quality"} == ignore.to_json()
    with pytest.raises(InputError, match="<upload>"):
        app.recommend_document(content, media_type="application/fhir+json", today=TODAY, policy="raise")


def test_today_is_injected_not_read() -> None:
    """A date in the document after the injected today is refused; the same document is fine a year later."""
    text = EXAMPLE.read_text(encoding="utf-8")
    with pytest.raises(InputError, match="in the future"):
        app.recommend_document(text, media_type="text/yaml", today=dt.date(2020, 1, 1))
    assert app.recommend_document(text, media_type="text/yaml", today=TODAY).as_of == TODAY


@pytest.mark.parametrize(
    ("content", "media_type", "message"),
    [
        (b"patient: {", "application/yaml", "not valid YAML at line"),
        (b'{"a": 1,}', "application/json", "not valid JSON at line 1"),
        (b"\xff\xfe", "application/yaml", "save it as UTF-8"),
        (b"a: 1", None, "without a media type"),
        (b"a: 1", "text/csv", "media type 'text/csv'"),
        (b"  ", "application/yaml", "empty"),
    ],
)
def test_bad_content_is_an_input_error_naming_the_upload(content: bytes, media_type: str | None, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        app.recommend_document(content, media_type=media_type, name="up.yaml", today=TODAY)
    assert info.value.source == "up.yaml"


def test_her2_from_mapping_and_content() -> None:
    result = app.classify_her2_document(
        b'{"ihc": "2+", "ish_ratio": 2.4, "her2_copies": 5.1}', media_type="application/json"
    )
    assert result.status == "positive" and result.ish_group == 1
    assert app.classify_her2_mapping({"tumor": {"her2": {"ihc": "0"}}}).status == "negative"
    with pytest.raises(InputError, match="mapping of HER2 results"):
        app.classify_her2_mapping([1, 2], source="x")


def test_patient_lines_from_content_with_cut_off_rule() -> None:
    events = {
        "metastatic_diagnosis": "2024-01-05",
        "exposures": [{"drug": "trastuzumab", "start": "2024-01-15"}, {"drug": "pertuzumab", "start": "2024-01-15"}],
    }
    run = app.derive_patient_lines(json.dumps(events), media_type="application/json", today=dt.date(2024, 3, 1))
    assert (run.cut.as_of, run.cut.source) == (dt.date(2024, 3, 1), "today")
    assert [ln["line"] for ln in run.to_json()["lines"]] == [1] and run.result is not None
    on_duckdb = app.derive_patient_lines(
        json.dumps(events), media_type="application/json", today=dt.date(2024, 3, 1), engine="duckdb"
    )
    assert on_duckdb.to_json() == run.to_json() and on_duckdb.result is None


def test_cohort_lines_from_tables_in_memory(tmp_path: Path) -> None:
    exposures = pa.table(
        {
            "person_id": ["1", "1", "2"],
            "drug": ["trastuzumab", "pertuzumab", "capecitabine"],
            "start_date": [dt.date(2024, 1, 10), dt.date(2024, 1, 10), dt.date(2023, 5, 1)],
        }
    )
    index = pa.table({"person_id": ["1", "2"], "metastatic_diagnosis": [dt.date(2024, 1, 1), dt.date(2023, 4, 1)]})
    steps: list[str] = []
    run = app.derive_cohort_lines(exposures, index, today=TODAY, progress=lambda d, done, total: steps.append(d))
    assert run.lines is not None and run.lines.num_rows == 2 and run.summary["out"] is None
    assert run.cut.source == "latest_in_data" and run.to_json()["as_of"] == "2024-01-10"
    assert steps[0] == "reading input" and steps[-1] == "done"
    with pytest.raises(InputError, match="not both"):
        app.derive_cohort_lines(exposures, index, omop="cdm.duckdb", today=TODAY)
    with pytest.raises(InputError, match="--partitions"):
        app.derive_cohort_lines(exposures, index, partitions=2, today=TODAY)


def test_omop_round_trip(tmp_path: Path) -> None:
    url = str(tmp_path / "cdm.duckdb")
    made = app.init_omop(url, demo=True)
    assert made["created_tables"] and made["demo_as_of"] == dt.date(2024, 6, 30)
    run = app.derive_omop_lines(url, write_episodes=True, today=TODAY)
    assert run.cut.source == "observation_period_end" and run.episodes is not None
    back = app.read_omop_episodes(url)
    assert len(back.rows) == run.result.lines.num_rows and all(r["n_events"] > 0 for r in back.rows)
    again = app.write_omop_episodes(url, run.result)
    assert again.n_replaced_episodes == run.result.lines.num_rows  # the same persons' derived regimens replaced
    via_cohort = app.derive_cohort_lines(omop=url, today=TODAY)
    assert via_cohort.summary["lines"] == run.result.lines.num_rows and "source_report" in via_cohort.summary


def test_knowledge_lookup() -> None:
    summary = app.knowledge_summary()
    assert summary["counts"]["regimen"] > 0
    entry = app.knowledge_entry("DESTINY-Breast09")
    assert entry.kind in ("source", "evidence") and entry.data
    with pytest.raises(InputError, match="no knowledge entry"):
        app.knowledge_entry("nonsense-id")


def test_no_module_outside_the_entry_point_imports_the_cli() -> None:
    src = ROOT / "src" / "oncoline"
    offenders = [
        str(p.relative_to(src))
        for p in src.rglob("*.py")
        if p.parent.name != "cli" and "oncoline.cli" in p.read_text(encoding="utf-8")
    ]
    assert offenders == []


def test_app_names_are_unique_and_importable() -> None:
    """Order is ruff's (RUF022); every listed name resolves through the lazy import."""
    assert len(app.__all__) == len(set(app.__all__))
    for name in app.__all__:
        assert getattr(app, name) is not None, name


def test_cohort_lines_from_paths_given_as_text(tmp_path: Path) -> None:
    (tmp_path / "e.csv").write_text("person_id,drug,start_date\n1,trastuzumab,2024-01-10\n", encoding="utf-8")
    (tmp_path / "i.csv").write_text("person_id,metastatic_diagnosis\n1,2024-01-01\n", encoding="utf-8")
    run = app.derive_cohort_lines(
        str(tmp_path / "e.csv"), str(tmp_path / "i.csv"), out=str(tmp_path / "o.csv"), today=TODAY
    )
    assert run.summary["lines"] == 1 and (tmp_path / "o.csv").exists() and run.summary["out"] == str(tmp_path / "o.csv")
