"""The human view of a recommendation: what a tumour board reads (house style S19: checked by content)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from oncoline.cli.app import app
from oncoline.engines.recommend import recommend
from oncoline.io.patient_file import load_patient
from oncoline.knowledge.loader import load_knowledge
from oncoline.outputs.recommendation_view import render_recommendation


def _render(path: Path, as_of: dt.date) -> str:
    rec = recommend(load_patient(path), knowledge=load_knowledge(), as_of=as_of)
    console = Console(record=True, width=110, color_system=None)
    render_recommendation(rec, console=console)
    return console.export_text()


def test_third_line_view_reads_like_a_tumour_board_summary(case_path: Callable[[str], Path]) -> None:
    text = _render(case_path("patients/p-3l-after-thp-tdxd.yaml"), dt.date(2026, 10, 1))
    order = ["Line", "Preferred", "TTC", "Other recommended", "Withheld", "Actions", "Sources", "Knowledge 2026.11.29"]
    positions = [text.index(marker) for marker in order]
    assert positions == sorted(positions)
    assert "3 — third line and beyond" in text
    assert "HER2CLIMB: PFS 7.8 vs 5.6 mo (HR 0.54)" in text
    assert "progressed on trastuzumab deruxtecan (line 2)" in text
    assert "doi:10.1200/JCO.22.00519" in text  # ASCO 2022 resolved in the numbered source list
    assert "not a prescription" in text


def test_missing_her2_view_asks_for_the_test_first(case_path: Callable[[str], Path]) -> None:
    text = _render(case_path("patients/p-her2-missing.yaml"), dt.date(2026, 10, 1))
    assert text.index("Needed before deciding") < text.index("Withheld")
    assert "No systemic option is proposed" in text
    assert "(her2_status)" in text


def test_cli_human_view_exit_code_and_flags(case_path: Callable[[str], Path]) -> None:
    result = CliRunner().invoke(app, ["recommend", str(case_path("patients/p-1l-hrneg-denovo.yaml"))])
    assert result.exit_code == 0, result.output
    assert "T-DXd + pertuzumab" in result.stdout
    assert "guideline status" in result.stdout or "Status" in result.stdout


def test_cli_bad_file_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("tumor: {her2: {ihc: '4+'}}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["recommend", str(bad), "--json"])
    assert result.exit_code == 1
    assert "tumor.her2.ihc" in result.output and "Traceback" not in result.output


def test_cli_as_of_option_overrides_the_file(case_path: Callable[[str], Path]) -> None:
    import json

    path = str(case_path("patients/p-1l-hrneg-denovo.yaml"))
    result = CliRunner().invoke(app, ["recommend", path, "--json", "--as-of", "2025-12-01"])
    # the case's metastatic diagnosis (2026-09-08) is after that date: a clear input error, exit 1
    assert result.exit_code == 1 and "metastatic_diagnosis" in result.output
    later = CliRunner().invoke(app, ["recommend", path, "--json", "--as-of", "2026-11-01"])
    assert json.loads(later.stdout)["as_of"] == "2026-11-01"


def test_trace_option_lists_the_rules_that_fired(case_path: Callable[[str], Path]) -> None:
    path = str(case_path("patients/p-relapse-4mo-after-adjuvant.yaml"))
    result = CliRunner().invoke(app, ["recommend", path, "--trace"])
    assert result.exit_code == 0, result.output
    assert "rules that fired" in result.stdout
    assert "S2L-TDXD" in result.stdout and "PRQ-TTC-PRIOR" in result.stdout
