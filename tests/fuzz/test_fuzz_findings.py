"""Regression tests for what the fuzzing suite found (issue 12 item 8): each is the minimal input of a finding
and fails on the code before its fix. Findings routed to another branch are listed in notes/fuzz-findings.md."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from oncoline.cli.app import app

runner = CliRunner()


def test_an_upper_case_key_in_a_file_is_bad_input_not_usage(tmp_path: Path) -> None:
    """Found: `TUMOR:` (or `IHC:`) in a file exited 2 ("usage") because the CLI took any upper-case field name for
    a missing argument such as FILE. An error inside a file is bad input (exit 1), naming the file and the key."""
    patient = tmp_path / "p.yaml"
    patient.write_text("id: P1\nTUMOR: {her2: {ihc: 3+}}\n", encoding="utf-8")
    her2 = tmp_path / "h.yaml"
    her2.write_text("IHC: 3+\n", encoding="utf-8")
    for argv in (["recommend", str(patient)], ["patient", str(patient)], ["her2", str(her2)]):
        result = runner.invoke(app, argv)
        assert result.exit_code == 1, (argv, result.stderr)
        assert "TUMOR" in result.stderr or "IHC" in result.stderr
        assert str(tmp_path) in result.stderr


def test_a_missing_file_argument_is_still_usage() -> None:
    result = runner.invoke(app, ["recommend"])
    assert result.exit_code == 2, result.stderr
    result = runner.invoke(app, ["recommend", "--as-of", "soon", "x.yaml"])
    assert result.exit_code == 2, result.stderr
