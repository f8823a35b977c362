"""``oncoline recommend`` refuses dates from the future and names the file in every input error."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from oncoline.cli.app import app

runner = CliRunner()

PATIENT = """\
tumor: {her2: {ihc: "3+"}, er_percent: 0, pr_percent: 0}
metastatic_diagnosis: 2024-01-01
history:
  - {drugs: [pertuzumab, trastuzumab, docetaxel], start: 2024-01-10, end: 2025-01-01, stopped: progression}
  - {drugs: [trastuzumab deruxtecan], start: 2025-02-01, end: END, stopped: progression}
"""


def _write(tmp_path: Path, end: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(PATIENT.replace("END", end))
    return path


def test_a_date_in_the_future_is_an_input_error_naming_file_and_field(tmp_path: Path) -> None:
    path = _write(tmp_path, "2999-10-15")
    result = runner.invoke(app, ["recommend", str(path)])
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert str(path) in text and "history.1.end" in text and "in the future" in text


def test_an_explicit_as_of_answers_as_the_data_stood_then(tmp_path: Path) -> None:
    # As of 2025-06-01 the T-DXd line was still running: it is continued, not excluded.
    path = _write(tmp_path, "2026-03-01")
    result = runner.invoke(app, ["recommend", str(path), "--json", "--as-of", "2025-06-01"])
    assert result.exit_code == 0, result.output
    assert '"line": 2' in result.stdout


def test_engine_input_errors_name_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "2025-06-01")
    result = runner.invoke(app, ["recommend", str(path), "--as-of", "2023-01-01"])
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert str(path) in text and "metastatic_diagnosis" in text


def test_engine_as_of_error_names_the_cli_option(tmp_path: Path) -> None:
    path = _write(tmp_path, "2025-06-01")
    result = runner.invoke(app, ["recommend", str(path), "--as-of", "2023-01-01"])
    text = " ".join(result.output.split())
    assert "--as-of DATE on or after it" in text and "`as_of` argument" not in text


def test_a_future_as_of_in_the_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(PATIENT.replace("END", "2025-06-01") + "as_of: 2999-01-01\n")
    for command in (["recommend", str(path)], ["lines", str(path)]):
        result = runner.invoke(app, command)
        assert result.exit_code == 1, result.output
        text = " ".join(result.output.split())
        assert "field 'as_of'" in text and "in the future" in text


def test_a_future_as_of_option_is_a_usage_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "2025-06-01")
    result = runner.invoke(app, ["recommend", str(path), "--as-of", "2999-01-01"])
    assert result.exit_code == 2
    assert "in the future" in " ".join(result.output.split())


def test_an_impossible_date_names_its_field_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "ev.yaml"
    path.write_text("metastatic_diagnosis: 2024-01-01\nexposures:\n  - {drug: trastuzumab, start: 2024-13-01}\n")
    for command in (["lines", str(path)], ["recommend", str(path)]):
        result = runner.invoke(app, command)
        assert result.exit_code == 1, result.output
        text = " ".join(result.output.split())
        assert "2024-13-01" in text and "exposures" in text and "Traceback" not in text
