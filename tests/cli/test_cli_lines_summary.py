"""The readable summary of ``oncoline lines`` on a cohort names the repaired rows, not only their counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from oncoline.cli.app import app

runner = CliRunner()


def _cohort(tmp_path: Path) -> tuple[Path, Path]:
    exposures = tmp_path / "exposures.csv"
    exposures.write_text(
        "person_id,drug,start_date,end_date,stopped\n"
        "A,trastuzumab,2024-01-10,,maybe\n"  # an undocumented stop value: kept, no boundary drawn from it
        "A,Enhertu,2024-03-01,,\n"
        "B,docetaxel,2024-02-01,,\n"
        "C,docetaxel,2024-02-01,,\n",
        encoding="utf-8",
    )
    index = tmp_path / "index.csv"
    index.write_text(
        # B: date not known (an empty cell; an unreadable date is refused: tests/cli/test_cli_index_policy.py);
        # C: after the cut-off
        "person_id,metastatic_diagnosis\nA,2024-01-01\nB,\nC,2025-06-01\n",
        encoding="utf-8",
    )
    return exposures, index


@pytest.mark.parametrize("engine", ["reference", "duckdb"])
def test_readable_summary_shows_examples_of_the_repaired_rows(tmp_path: Path, engine: str) -> None:
    exposures, index = _cohort(tmp_path)
    args = ["lines", str(exposures), "--index", str(index), "--out", str(tmp_path / "lines.parquet")]
    args += ["--as-of", "2025-01-01", "--engine", engine]
    as_json = runner.invoke(app, [*args, "--json"])
    assert as_json.exit_code == 0, as_json.output
    summary = json.loads(as_json.stdout)
    assert {"stopped_ignored", "index_after_cutoff"} <= set(summary["repaired"])

    shown = runner.invoke(app, args, env={"COLUMNS": "250"})
    assert shown.exit_code == 0, shown.output
    text = shown.stdout
    assert "rows repaired and kept" in text
    # each repair with examples shows them, in the row the user reads for that repair
    for name in ("stopped_ignored", "index_after_cutoff"):
        row = next(line for line in text.splitlines() if f" {name} " in line)
        first_example = summary["examples"][name][0]
        assert first_example[:60] in row, (name, row)
    assert "row 1 (person A)" in text and "'maybe'" in text
    assert "row 3 of the index (person C)" in text
    # a repair without examples is still counted
    assert next(line for line in text.splitlines() if " end_defaulted_to_start " in line).split("│")[2].strip() == "2"


def test_the_progress_display_runs_on_a_terminal(tmp_path: Path) -> None:
    exposures, index = _cohort(tmp_path)
    args = ["lines", str(exposures), "--index", str(index), "--out", str(tmp_path / "lines.parquet")]
    shown = runner.invoke(app, [*args, "--as-of", "2025-01-01"], env={"FORCE_TERMINAL": "1", "COLUMNS": "250"})
    assert shown.exit_code == 0, shown.output
    assert "rows repaired and kept" in shown.stdout
