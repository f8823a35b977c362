"""Regression tests for what the fuzzing suite found (issue 12 item 8): each is the minimal input of a finding
and fails on the code before its fix. Findings routed to another branch are listed in notes/fuzz-findings.md."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from oncoline.cli.app import app
from tests.fuzz.check import engines_disagree_on_a_bad_index_date

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


BAD_INDEX_DATE_OPEN = engines_disagree_on_a_bad_index_date()


@pytest.mark.xfail(BAD_INDEX_DATE_OPEN, reason="fixed on branch perf (issue 12 item 3), not merged here", strict=True)
@pytest.mark.parametrize("value", ["01/05/2022", "2024-06", "1e-300", "True"])
def test_engines_agree_on_an_index_date_that_is_not_a_date(tmp_path: Path, value: str) -> None:
    """Found: the DuckDB engine anchored a person whose index date is not a date and derived lines; the reference
    engine counted the rows as no_index_date. Both must give the same lines and counts."""
    (tmp_path / "e.csv").write_text(
        "person_id,drug,start_date,end_date\n1,trastuzumab,2022-02-01,2022-02-01\n1,pertuzumab,2022-02-01,\n",
        encoding="utf-8",
    )
    (tmp_path / "i.csv").write_text(f"person_id,metastatic_diagnosis\n1,{value}\n", encoding="utf-8")
    summaries = []
    for engine in ("duckdb", "reference"):
        result = runner.invoke(
            app,
            [
                "lines",
                str(tmp_path / "e.csv"),
                "--index",
                str(tmp_path / "i.csv"),
                "--out",
                str(tmp_path / f"{engine}.csv"),
                "--json",
                "--engine",
                engine,
            ],
        )
        assert result.exit_code in (0, 1), result.stderr
        data = json.loads(result.stdout) if result.exit_code == 0 else {"exit": 1}
        summaries.append({k: v for k, v in data.items() if k not in ("engine", "out")})
    assert summaries[0] == summaries[1]
    assert summaries[0].get("rows_used") in (0, None), summaries[0]


LIMITED_RECOMMEND = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1536 * 2**20, 1536 * 2**20))  # 1.5 GB: the old code needed ~18 GB
from oncoline.cli.app import main
sys.argv = ["oncoline", "recommend", sys.argv[1], "--json"]
main()
"""


@pytest.mark.parametrize("line", [10**9, 2**63])
def test_a_huge_history_line_number_is_bad_input_not_a_memory_blowup(tmp_path: Path, line: int) -> None:
    """Found: `history[0].line: 9223372036854775808` made the history check list every absent line number from 1
    up — the campaign's process grew to 18 GB and was killed by the OOM killer (model/patient.py
    _refuse_missing_ordinals). Run in a process with 1.5 GB of address space: exit 1 naming the field, not exit
    70 (MemoryError) or a kill."""
    import subprocess
    import sys

    patient = tmp_path / "p.yaml"
    patient.write_text(
        "id: P1\nmetastatic_diagnosis: 2024-01-10\ntumor: {her2: {ihc: 3+}, er_percent: 0, pr_percent: 0}\n"
        f"history:\n- {{line: {line}, drugs: [docetaxel], start: 2024-01-20, end: 2024-06-01, stopped: progression}}\n"
        "as_of: 2026-06-01\n",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [sys.executable, "-c", LIMITED_RECOMMEND, str(patient)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "history" in proc.stderr and "more" in proc.stderr and "MemoryError" not in proc.stderr
