"""Vignettes from site-specific care, reference §c (shared/reference/her2-mbc.md): bone (ASCO-BMA-2017,
ASTRO-BONE-2017, Zometa/Xgeva labels), liver (local therapy reviews, cholestatic pruritus, hepatic dosing),
the primary tumour and radiotherapy with T-DXd / tucatinib."""

from __future__ import annotations

from tests.vignettes.vignette import (
    THP_PROGRESSED,
    THP_TDXD_PROGRESSED,
    action_codes,
    action_rules,
    action_text,
    excluded,
    flags,
    run,
)

BONE = {"sites": [{"site": "bone"}, {"site": "liver"}]}


def test_c1_bone_modifying_agent_for_every_bone_patient() -> None:
    """§c.1 (ASCO-BMA-2017, strong): a BMA for every patient with bone metastases - denosumab, zoledronic acid or
    pamidronate, none preferred, never two together; dental examination first; bone markers not for routine
    monitoring."""
    rec = run(BONE)
    text = action_text(rec, "bone_modifying_agent")
    assert "denosumab" in text and "zoledronic" in text and "pamidronate" in text
    assert "never two" in text and "dental" in text and "markers" in text
    assert "bone_modifying_agent" not in action_codes(run())


def test_c1_two_bone_agents_warned() -> None:
    """§c.1: never give two BMAs together (KB rule) - listing both raises a warning."""
    rec = run(BONE, {"conditions": {"medications": ["denosumab", "zoledronic acid"]}})
    assert any("two bone-modifying agents" in w for w in rec.warnings)


def test_c1_renal_function_and_bma() -> None:
    """§c.1: zoledronic acid reduced for CrCl 30-60 (3.5/3.3/3.0 mg) and not recommended <30; denosumab with close
    hypocalcaemia monitoring in CrCl <30."""
    moderate = action_text(run(BONE, {"conditions": {"crcl_ml_min": 45}}), "bone_modifying_agent")
    assert "3.3 mg" in moderate
    severe = action_text(run(BONE, {"conditions": {"crcl_ml_min": 22}}), "bone_modifying_agent")
    assert "not recommended" in severe and "hypocalcaemia" in severe


def test_c1_painful_bone_metastasis_palliative_rt() -> None:
    """§c.1 (ASTRO-BONE-2017): painful bone metastasis → palliative RT (8 Gy × 1 = 20 Gy/5 = 30 Gy/10 for pain);
    fracture risk (Mirels), spinal stability (SINS), cord compression an emergency; a BMA alone is not pain
    treatment (ASCO-BMA-2017)."""
    rec = run({"sites": [{"site": "bone", "symptomatic": True}]})
    text = action_text(rec, "palliative_radiotherapy")
    assert "8 gy" in text and "mirels" in text and "cord compression" in text and "not pain treatment" in text


def test_c1_no_bma_in_pregnancy() -> None:
    """§c.1 / §d.5: denosumab and bisphosphonates are avoided in pregnancy (fetal harm)."""
    rec = run(BONE, {"age": 33, "menopausal_status": "pre",
                     "conditions": {"pregnant": True, "gestational_age_weeks": 24}})  # fmt: skip
    assert "defer_bone_modifying_agent" in action_codes(rec)
    assert "bone_modifying_agent" not in action_codes(rec)


def test_c2_liver_local_therapy_only_oligometastatic() -> None:
    """§c.2: local liver therapy only for selected oligometastatic, liver-limited, systemically controlled disease
    via MDT; never instead of systemic therapy."""
    oligo = run({"sites": [{"site": "liver", "oligometastatic": True}]})
    assert "liver_local_therapy" in action_codes(oligo)
    assert "never instead of systemic" in action_text(oligo, "liver_local_therapy")
    assert "liver_local_therapy" not in action_codes(run({"sites": [{"site": "liver", "oligometastatic": True},
                                                                    {"site": "bone"}]}))  # fmt: skip


def test_c2_cholestatic_pruritus_and_rifampicin() -> None:
    """§c.2 / §d.6: cholestasis with liver metastases → relieve obstruction first, pruritus drugs; rifampicin is a
    strong CYP3A inducer - avoid with tucatinib, neratinib, lapatinib (those options are excluded when listed)."""
    rec = run(THP_TDXD_PROGRESSED, {"conditions": {"bilirubin_x_uln": 2.0}})
    text = action_text(rec, "pruritus_management")
    assert "biliary obstruction" in text and "rifampicin" in text
    with_rif = run(THP_TDXD_PROGRESSED, {"conditions": {"medications": ["rifampicin"]}})
    assert {"ttc", "neratinib_cape", "lapatinib_cape"} <= set(excluded(with_rif))


def test_c2_hepatic_dosing() -> None:
    """§c.2 / §d.3: T-DM1 not while bilirubin >1.5× ULN; T-DXd not established >3× ULN and monitored in moderate
    impairment; tucatinib / neratinib / lapatinib reduced in Child-Pugh C."""
    rec = run(THP_PROGRESSED, {"conditions": {"bilirubin_x_uln": 1.8}})
    assert "tdm1" in excluded(rec)
    assert "caution" in flags(run(THP_PROGRESSED, {"conditions": {"hepatic_impairment": "moderate"}}), "tdxd")
    severe = run(THP_TDXD_PROGRESSED, {"conditions": {"hepatic_impairment": "severe"}})
    assert "200 mg" in flags(severe, "ttc")


def test_c3_symptomatic_primary_palliative_surgery() -> None:
    """§c.3: fungating / bleeding / painful primary → palliative ("toilet") mastectomy or RT; survival benefit not
    established."""
    rec = run({"primary_tumor": {"in_place": True, "symptoms": ["fungating"]}})
    assert "ACT-PALLIATIVE-SURGERY" in action_rules(rec)
    assert "no proven survival benefit" in action_text(rec, "palliative_surgery")


def test_c4_concurrent_radiotherapy_flagged() -> None:
    """§c.4: concurrent RT with T-DXd / tucatinib - limited data (UNCONFIRMED): flag for radiation oncology review
    rather than block; lung RT with T-DXd → ILD vigilance."""
    rec = run(THP_PROGRESSED, {"sites": [{"site": "bone", "symptomatic": True}]})
    assert any("radiation-oncology review" in w and "ild" in w.lower() for w in rec.warnings)
    assert "tdxd" not in excluded(rec)
