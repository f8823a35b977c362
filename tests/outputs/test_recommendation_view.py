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
from oncoline.model import Patient
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


def _render_patient(data: dict[str, object], width: int) -> tuple[str, int]:
    from oncoline.model import Patient

    rec = recommend(Patient.model_validate(data), knowledge=load_knowledge(), as_of=dt.date(2026, 10, 1))
    console = Console(record=True, width=width, color_system=None)
    render_recommendation(rec, console=console)
    return console.export_text(), len(rec.excluded)


_MANY_WITHHELD: dict[str, object] = {
    "tumor": {"er_percent": 0, "her2": {"ihc": "3+"}},
    "metastatic_diagnosis": "2024-01-10",
    "history": [
        {"drugs": ["pertuzumab", "trastuzumab", "docetaxel"], "start": "2022-01-20", "end": "2023-06-01",
         "stopped": "progression"},
        {"drugs": ["trastuzumab deruxtecan"], "start": "2023-06-20", "end": "2025-01-01", "stopped": "progression"},
    ],
    "conditions": {"pregnant": True, "gestational_age_weeks": 22, "lvef_percent": 60},
}  # fmt: skip


def test_option_heading_lists_the_drugs_only_when_they_add_information(case_path: Callable[[str], Path]) -> None:
    text = _render(case_path("patients/p-2l-after-thp.yaml"), dt.date(2026, 10, 1))
    assert "T-DM1 (trastuzumab emtansine)" in text
    assert "T-DM1 (trastuzumab emtansine)  —  trastuzumab emtansine" not in text
    first_line = _render(case_path("patients/p-1l-hrneg-denovo.yaml"), dt.date(2026, 11, 1))
    assert "—  pertuzumab + trastuzumab + docetaxel" in first_line  # the taxane slot's choice is new information


def test_probable_marker_is_explained_once_in_the_sources_footer(case_path: Callable[[str], Path]) -> None:
    text = _render(case_path("patients/p-3l-after-thp-tdxd.yaml"), dt.date(2026, 10, 1))
    assert "[PROBABLE]" in text
    assert text.count("[PROBABLE] =") == 1
    legend = text[text.index("[PROBABLE] =") :]
    assert "not re-read from the primary source" in " ".join(legend.split()) and "†" in legend
    assert text.index("Sources") < text.index("[PROBABLE] =")


def test_withheld_table_keeps_one_row_per_regimen_and_every_source_at_80_columns() -> None:
    text, n_excluded = _render_patient(_MANY_WITHHELD, 80)
    assert n_excluded >= 6
    assert "…" not in text  # nothing cut
    assert all(len(line) <= 80 for line in text.splitlines())
    table = text[text.index("Withheld for this patient") : text.index("Actions")]
    rows = [line for line in table.splitlines() if line.startswith("├")]
    assert len(rows) == n_excluded - 1  # one row per withheld regimen, separated by rules


def test_no_option_message_points_only_to_sections_that_are_shown() -> None:
    # grade 3 neuropathy and LVEF 30 %, HR-negative: nothing remains, and no fact is missing (no "needed" box)
    patient = Patient.model_validate(
        {
            "id": "V",
            "tumor": {"er_percent": 0, "pr_percent": 0, "her2": {"ihc": "3+"}},
            "metastatic_diagnosis": "2026-09-01",
            "sites": [{"site": "liver"}],
            "conditions": {"lvef_percent": 30, "pregnant": False, "neuropathy_grade": 3},
        }
    )
    rec = recommend(patient, knowledge=load_knowledge(), as_of=dt.date(2026, 10, 1))
    assert not rec.options and not rec.missing
    console = Console(record=True, width=200, color_system=None)
    render_recommendation(rec, console=console)
    text = console.export_text()
    assert "No systemic option is proposed" in text
    assert "facts needed" not in text and "Needed before deciding" not in text
    assert "why each regimen is withheld below" in text and "Withheld for this patient" in text
