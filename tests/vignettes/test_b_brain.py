"""Vignettes from brain metastases, reference §b (shared/reference/her2-mbc.md): ASCO-BM-2022 Rec 1.0-10.2,
the CNS activity table (HER2CLIMB BM subgroup, DESTINY-Breast12, LANDSCAPE, TBCRC 022) and the KB decision
rules §b.3 1-5."""

from __future__ import annotations

from typing import Any

from tests.vignettes.vignette import (
    THP_PROGRESSED,
    THP_TDXD_PROGRESSED,
    action_rules,
    action_text,
    cited,
    flags,
    missing,
    preferred,
    regimens,
    run,
)

from oncoline.model.recommendation import Algorithm


def brain(**details: Any) -> dict[str, Any]:
    """Liver plus one brain site with the given details."""
    return {"sites": [{"site": "liver"}, {"site": "brain", **details}]}


SMALL_ACTIVE = brain(status="active", lesions=1, largest_mm=12, symptomatic=False, mass_effect=False)
ON_TDXD = {
    "metastatic_diagnosis": "2024-01-10",
    "history": [
        {"line": 1, "drugs": ["pertuzumab", "trastuzumab", "docetaxel"], "start": "2024-01-20", "end": "2025-05-01",
         "stopped": "progression"},
        {"line": 2, "drugs": ["trastuzumab deruxtecan"], "start": "2025-05-20", "stopped": "ongoing"},
    ],
}  # fmt: skip


def test_b1_mdt_and_small_lesion_local_options() -> None:
    """§b.1 Rec 1.0 (MDT), Rec 2.2 (single BM <3-4 cm: SRS or resection), Rec 2.3 (<2 cm with a CNS-active
    option: SRS or deferral discussed in the MDT)."""
    text = action_text(run(THP_PROGRESSED, SMALL_ACTIVE), "brain_local_therapy")
    assert "mdt" in text and "srs" in text and "resection" in text and "deferr" in text


def test_b1_mass_effect_local_therapy_first_with_steroids() -> None:
    """§b.1 Rec 2.1 / 2.4 and §b.3 rule 1: symptomatic mass effect or a >3-4 cm lesion → neurosurgical
    evaluation, local therapy first (postoperative SRS), dexamethasone for oedema, never systemic only: every
    systemic option carries the local-therapy-first caution."""
    rec = run(THP_PROGRESSED, brain(status="active", lesions=1, largest_mm=38, symptomatic=True, mass_effect=True))
    text = action_text(rec, "brain_local_therapy")
    assert "first" in text and "dexamethasone" in text and "postoperative" in text
    assert "ACT-BRAIN-MASS-EFFECT" in action_rules(rec)
    assert all("local therapy first" in " ".join(o.flags).lower() for o in rec.options if o.regimen != "trial")
    assert "brain_status" not in missing(rec)


def test_b1_recurrence_after_srs_options() -> None:
    """§b.1 Rec 6.1 / 6.2-6.3 and §b.3 rule 4: brain progression after local therapy → MDT, radionecrosis vs
    progression, repeat SRS / surgery / WBRT-memantine-HA, or CNS-active systemic therapy."""
    text = action_text(run(THP_PROGRESSED, brain(status="progressing", lesions=2, largest_mm=15, symptomatic=False,
                                                 mass_effect=False)), "brain_local_therapy")  # fmt: skip
    assert "radionecrosis" in text and "srs" in text and "wbrt" in text and "memantine" in text
    assert "systemic" in text


def test_b1_ttc_with_brain_metastases_without_mass_effect() -> None:
    """§b.1 Rec 7.1 / 8.2: TTC may be offered with BM without symptomatic mass effect after ≥1 prior HER2 regimen
    for MBC; with mass effect it is not offered as a systemic-only plan in the TTC-brain statement."""
    rec = run(THP_PROGRESSED, SMALL_ACTIVE)
    assert "ttc" in regimens(rec)
    assert "HER2CLIMB-BM" in cited(rec, "ttc")


def test_b1_stable_brain_metastases_systemic_progression() -> None:
    """§b.1 Rec 8.2: systemic progression with treated stable BM → HER2 therapy per the MBC algorithm (T-DXd
    second line, DESTINY-Breast12) and TTC may be offered."""
    rec = run(THP_PROGRESSED, brain(status="stable", lesions=2, largest_mm=10, symptomatic=False, mass_effect=False))
    assert preferred(rec)[0] == "tdxd" and "ttc" in regimens(rec)
    assert "DESTINY-Breast12" in cited(rec, "tdxd")


def test_b1_isolated_cns_progression_continue_current_line() -> None:
    """§b.1 Rec 8.1 / §b.3 rule 3: isolated CNS progression with controlled extracranial disease → local therapy
    and continue the current HER2 therapy (do not switch)."""
    rec = run(ON_TDXD, brain(status="progressing", lesions=1, largest_mm=14, symptomatic=False, mass_effect=False))
    assert rec.algorithm == Algorithm.CONTINUE
    assert preferred(rec) == ["current_regimen"] or "current" in " ".join(preferred(rec))
    assert "brain_local_therapy" in {a.code for a in rec.actions}


def test_b3_brain_progression_on_continuing_line_switch_options() -> None:
    """§b.3 rule 5 / §b.1 Rec 9.1: CNS progression on a continuing line - besides "continue + local therapy" the
    CNS-active switch options (TTC; neratinib / lapatinib + capecitabine) are shown."""
    rec = run(ON_TDXD, brain(status="progressing", lesions=2, largest_mm=14, symptomatic=False, mass_effect=False))
    assert "ttc" in regimens(rec)


def test_b3_cns_progression_later_line_cns_active_regimens() -> None:
    """§b.3 rule 5 / Rec 9.1 / §b.2: CNS progression after local therapy at a new line → TTC preferred, T-DXd if
    naive, neratinib + capecitabine (TBCRC 022) and lapatinib + capecitabine (LANDSCAPE)."""
    rec = run(THP_TDXD_PROGRESSED, brain(status="progressing", lesions=3, largest_mm=12, symptomatic=False,
                                         mass_effect=False))  # fmt: skip
    assert preferred(rec)[0] == "ttc"
    assert {"neratinib_cape", "lapatinib_cape"} <= set(regimens(rec))
    assert "TBCRC-022" in cited(rec, "neratinib_cape") and "LANDSCAPE" in cited(rec, "lapatinib_cape")


def test_b3_small_untreated_with_extracranial_progression() -> None:
    """§b.3 rule 2: asymptomatic small untreated BM + extracranial progression → CNS-active systemic (T-DXd if
    naive; TTC) with SRS or MDT-agreed deferral and close MRI."""
    rec = run(THP_PROGRESSED, SMALL_ACTIVE)
    assert preferred(rec)[0] == "tdxd" and "ttc" in regimens(rec)
    assert "mri" in action_text(rec, "brain_local_therapy")


def test_b3_brain_details_missing_are_asked() -> None:
    """§b.3 rules 1-2 need the brain facts: without symptoms / size the recommender asks (brain_status)."""
    rec = run(THP_PROGRESSED, brain(status="active"))
    assert "brain_status" in missing(rec)


def test_b1_declined_local_therapy_cns_active() -> None:
    """§b.1 Rec 2.3 / 7.1: local therapy may be deferred with a CNS-active regimen - a patient declining it gets
    the CNS-active plan with MRI every 2-3 months."""
    rec = run(THP_PROGRESSED, SMALL_ACTIVE, {"preferences": {"declines_brain_local_therapy": True}})
    assert "ACT-BRAIN-DECLINED" in action_rules(rec)
    assert "tdxd" in preferred(rec)
    assert "mri" in flags(rec, "tdxd") or "mri" in action_text(rec, "brain_local_therapy")
