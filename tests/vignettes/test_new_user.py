"""The issue-8 new-user check: ten patients written from different sections of the reference
(shared/reference/her2-mbc.md), kept as FORMAT.md patient files in tests/vignettes/patients/, run through the
recommender and checked against the reference section by section. A finding not fixed yet is a strict xfail that
names the gap (see notes/trace-gaps.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.vignettes.vignette import (
    PATIENTS,
    action_codes,
    action_text,
    drugs_offered,
    excluded,
    flags,
    preferred,
    rank,
    regimens,
    run_file,
)

from oncoline.model.recommendation import Algorithm

HER2_DIRECTED = {"trastuzumab", "pertuzumab", "trastuzumab emtansine", "trastuzumab deruxtecan", "tucatinib",
                 "lapatinib", "neratinib", "margetuximab"}  # fmt: skip


def test_new_user_patients_are_ten_format_files() -> None:
    """The ten files exist and are FORMAT.md ``kind: patient`` cases citing their reference section."""
    import yaml

    files = sorted(PATIENTS.glob("nu*.yaml"))
    assert len(files) == 10
    for f in files:
        doc = yaml.safe_load(f.read_text(encoding="utf-8"))
        assert doc["kind"] == "patient" and "§" in doc["source"], f.name


def test_nu01_first_line_hr_positive_frail() -> None:
    """§a.2 / §c.1 / §d.2: first line, HR+, 82 years, ECOG 2, CrCl 48: THP ranked above the renally cautioned
    T-DXd + P; bone → BMA with reduced-dose zoledronic acid; trial."""
    rec = run_file("nu01-first-line-hr-positive-frail")
    assert rec.line == 1 and "thp" in preferred(rec)
    assert rank(rec, "thp") < rank(rec, "tdxd_p") and "renal" in flags(rec, "tdxd_p")
    assert "reduced dose" in action_text(rec, "bone_modifying_agent")
    assert "clinical_trial" in action_codes(rec)


def test_nu01_chemo_unsuitable_endocrine_based_co_preferred() -> None:
    """§a.2: ECOG ≥2 and age ≥80 make the patient chemo-unsuitable: HP + ET and T + ET co-preferred, THP /
    T-DXd + P cautioned naming the factor."""
    rec = run_file("nu01-first-line-hr-positive-frail")
    assert {"hp_et", "h_et"} <= set(preferred(rec))
    assert "ecog" in flags(rec, "thp")


def test_nu02_brain_progression_continue_and_local_therapy() -> None:
    """§b.3 rule 3 / Rec 8.1: brain progression after SRS with controlled extracranial disease on ongoing T-DXd:
    continue it, treat the brain locally (MDT: radionecrosis vs progression)."""
    rec = run_file("nu02-brain-progression-continuing-line")
    assert rec.algorithm == Algorithm.CONTINUE and rec.options[0].drugs == ("trastuzumab deruxtecan",)
    assert "radionecrosis" in action_text(rec, "brain_local_therapy")


def test_nu02_brain_progression_switch_options() -> None:
    """§b.3 rule 5: CNS progression - TTC (preferred, CNS-active) is shown beside "continue + local therapy"."""
    rec = run_file("nu02-brain-progression-continuing-line")
    assert "ttc" in regimens(rec)


def test_nu03_early_relapse_second_line_algorithm() -> None:
    """§a.5 ≤6 months: relapse 3 months after adjuvant T-DM1 → 2L algorithm, T-DXd preferred, no THP / T-DXd + P."""
    rec = run_file("nu03-early-relapse-after-adjuvant-tdm1")
    assert rec.algorithm == Algorithm.SECOND_LINE and preferred(rec) == ["tdxd"]
    assert not {"thp", "tdxd_p"} & set(regimens(rec))


def test_nu03_tdm1_not_reoffered_after_adjuvant_resistance() -> None:
    """§a.5 / §0.1: relapse within 6 months of adjuvant T-DM1 (KATHERINE) is resistance to T-DM1."""
    assert "tdm1" not in regimens(run_file("nu03-early-relapse-after-adjuvant-tdm1"))


def test_nu04_pregnancy() -> None:
    """§d.5 / §c.1: 22 weeks pregnant: no HER2-directed or endocrine drug, chemotherapy of the 2nd trimester,
    maternal-fetal MDT, BMA deferred."""
    rec = run_file("nu04-pregnancy")
    assert not HER2_DIRECTED & drugs_offered(rec)
    assert set(preferred(rec)) == {"paclitaxel_weekly", "ac_pregnancy"}
    assert {"multidisciplinary_review", "defer_bone_modifying_agent"} <= action_codes(rec)
    assert "bone_modifying_agent" not in action_codes(rec)


def test_nu05_lvef_47() -> None:
    """§d.1: LVEF 47 % (baseline 55 %): T-DXd stays preferred with a caution (trials excluded <50 %), cardio-
    oncology review."""
    rec = run_file("nu05-lvef-47")
    assert preferred(rec) == ["tdxd"] and "caution" in flags(rec, "tdxd")
    assert "cardio-oncology" in action_text(rec, "cardiac_monitoring")


def test_nu06_ild_history_no_tdxd() -> None:
    """§d.2 / §a.4: steroid-treated grade 2 pneumonitis → no T-DXd; T-DM1 and TTC remain."""
    rec = run_file("nu06-ild-history")
    assert excluded(rec).get("tdxd") == "contraindicated_ild"
    assert {"tdm1", "ttc"} <= set(regimens(rec))


def test_nu06_ild_monitoring_for_every_option() -> None:
    """§d.2: known ILD raises pulmonary/ILD monitoring for every HER2 antibody/ADC/TKI/taxane option."""
    assert "ild_monitoring" in action_codes(run_file("nu06-ild-history"))


def test_nu07_fungating_primary() -> None:
    """§c.3 / §a.7 / §g.2: IHC 2+ with ISH group 1 is HER2-positive; THP and T-DXd + P; palliative surgery/RT of
    the fungating, bleeding primary; biopsy of the first metastasis."""
    rec = run_file("nu07-fungating-primary")
    assert rec.her2_category == "HER2-positive"
    assert {"thp", "tdxd_p"} <= set(preferred(rec))
    assert {"palliative_surgery", "biopsy_metastasis"} <= action_codes(rec)


def test_nu08_bone_poor_renal() -> None:
    """§c.1: painful bone metastasis with CrCl 24: denosumab with hypocalcaemia monitoring (zoledronic acid not
    recommended), palliative RT; §d.2: T-DXd + P cautioned (renal)."""
    rec = run_file("nu08-bone-poor-renal")
    bma = action_text(rec, "bone_modifying_agent")
    assert "not recommended" in bma and "hypocalcaemia" in bma
    assert "palliative_radiotherapy" in action_codes(rec)
    assert "caution" in flags(rec, "tdxd_p")


def test_nu08_chemo_unsuitable_by_renal_function() -> None:
    """§a.2: CrCl <30 mL/min makes the HR+ patient chemo-unsuitable: HP + ET co-preferred."""
    assert "hp_et" in preferred(run_file("nu08-bone-poor-renal"))


def test_nu09_her2_low_hr_positive() -> None:
    """§g.6 / §0.1: HR+ HER2-low after ET for MBC → T-DXd (DESTINY-Breast06) preferred; HER2-low is HER2-negative:
    no trastuzumab, pertuzumab, T-DM1 or TKI."""
    rec = run_file("nu09-her2-low-hr-positive")
    assert rec.her2_category == "HER2-low" and preferred(rec) == ["tdxd_her2low"]
    assert not (HER2_DIRECTED - {"trastuzumab deruxtecan"}) & drugs_offered(rec)


def test_nu10_third_line_after_thp_and_tdxd() -> None:
    """§a.6: third line after THP and T-DXd: TTC preferred; T-DM1, neratinib/lapatinib + capecitabine, lapatinib +
    trastuzumab options; T-DXd not re-proposed."""
    rec = run_file("nu10-third-line-after-thp-and-tdxd")
    assert rec.line == 3 and preferred(rec) == ["ttc"]
    assert {"tdm1", "neratinib_cape", "lapatinib_cape", "lapatinib_trastuzumab"} <= set(regimens(rec))
    assert excluded(rec).get("tdxd") == "progressed_on"


@pytest.mark.parametrize("path", sorted(PATIENTS.glob("nu*.yaml")), ids=lambda p: p.stem[:4])
def test_new_user_patients_through_the_command_line(path: Path) -> None:
    """As a new user runs them: ``oncoline recommend FILE --json`` exits 0 and says what the API says."""
    import json

    from typer.testing import CliRunner

    from oncoline.cli.app import app

    result = CliRunner().invoke(app, ["recommend", str(path), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    rec = run_file(path.stem)
    assert out["line"] == rec.line
    assert [o["drugs"] for o in out["options"]] == [list(o.drugs) for o in rec.options]


def test_new_user_patients_pass_the_shared_case_checker() -> None:
    """Each file's ``expected`` block (what the reference says, FORMAT.md contract) holds when the shared
    ``check_cases.py`` runs it through ``oncoline recommend {file} --json``."""
    import subprocess
    import sys

    checker = PATIENTS.parents[2].parent / "shared" / "cases" / "check_cases.py"
    if not checker.is_file():
        pytest.skip("shared/cases/check_cases.py not beside this checkout")
    bin_dir = Path(sys.executable).parent
    cmd = f"{bin_dir / 'oncoline'} recommend {{file}} --json"
    done = subprocess.run(
        [sys.executable, str(checker), "--cmd-recommend", cmd, str(PATIENTS)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "10 passed, 0 failed" in done.stdout
