"""Vignettes from the safety rules, reference §d (shared/reference/her2-mbc.md): LVEF (Herceptin, Perjeta,
Kadcyla, Enhertu, Tykerb labels; ASCO-HER2-2022 key point), ILD, hepatotoxicity, diarrhoea, pregnancy,
interactions, neuropathy and the must-check items."""

from __future__ import annotations

from typing import Any

import pytest
from tests.vignettes.vignette import (
    HR_POSITIVE,
    THP_PROGRESSED,
    THP_TDXD_PROGRESSED,
    action_codes,
    drugs_offered,
    excluded,
    flags,
    missing,
    monitoring_text,
    preferred,
    regimens,
    run,
)

HER2_DIRECTED = {"trastuzumab", "pertuzumab", "trastuzumab emtansine", "trastuzumab deruxtecan", "tucatinib",
                 "lapatinib", "neratinib", "margetuximab"}  # fmt: skip


def lvef(now: float, baseline: float | None = None) -> dict[str, Any]:
    return {"conditions": {"lvef_percent": now, "lvef_baseline_percent": baseline}}


# ------------------------------------------------------------------------------------------------------ §d.1
def test_d1_lvef_assessed_before_her2_therapy() -> None:
    """§d.1 heading: assess LVEF (echo/MUGA) before any HER2 antibody/ADC/lapatinib; unknown LVEF → a warning."""
    assert "cardiac_monitoring" in action_codes(run())
    rec = run({"conditions": {"lvef_percent": None}})
    assert any("lvef" in w.lower() for w in rec.warnings)


def test_d1_trastuzumab_16_point_fall_withholds() -> None:
    """§d.1 trastuzumab row: withhold if LVEF falls ≥16 points from baseline (or below LLN and ≥10 points)
    during recent therapy - trastuzumab-containing options are not offered; monitoring every 3 months."""
    rec = run(THP_PROGRESSED, lvef(52, 70))
    assert "trastuzumab" not in drugs_offered(rec)
    assert "3 months" in monitoring_text(run(THP_PROGRESSED))


def test_d1_pertuzumab_tdm1_tdxd_40_45_with_10_point_fall() -> None:
    """§d.1 pertuzumab / T-DM1 / T-DXd rows: LVEF 40-45 % with a ≥10-point fall → withhold / do not give."""
    rec = run(THP_PROGRESSED, lvef(43, 58))
    assert not {"tdxd", "tdm1"} & set(regimens(rec))


def test_d1_lvef_below_40_contraindicates_antibodies_and_adcs() -> None:
    """§d.1 pertuzumab / T-DM1 / T-DXd rows: LVEF <40 % → do not give; HR-positive disease keeps endocrine
    therapy (ASCO: case-by-case with cardio-oncology)."""
    rec = run(THP_PROGRESSED, HR_POSITIVE, lvef(35))
    assert not {"trastuzumab", "pertuzumab", "trastuzumab emtansine", "trastuzumab deruxtecan"} & drugs_offered(rec)
    assert "et_alone" in preferred(rec)
    assert "cardiac_monitoring" in action_codes(rec)


def test_d1_tdxd_more_than_20_point_fall() -> None:
    """§d.1 T-DXd row: a >20-point fall → interrupt / discontinue - T-DXd not offered."""
    rec = run(THP_PROGRESSED, lvef(48, 70))
    assert "tdxd" not in regimens(rec)


def test_d1_symptomatic_heart_failure() -> None:
    """§d.1 T-DM1 / T-DXd rows: symptomatic CHF → discontinue; ASCO: clinical CHF is the exception to HER2 therapy."""
    rec = run(THP_PROGRESSED, {"conditions": {"heart_failure_nyha": 3}})
    assert excluded(rec).get("tdxd") == excluded(rec).get("tdm1") == "contraindicated_heart_failure"


def test_d1_lapatinib_needs_normal_lvef() -> None:
    """§d.1 lapatinib row: baseline normal LVEF required - not offered below the lower limit of normal."""
    rec = run(THP_TDXD_PROGRESSED, lvef(45))
    assert "lapatinib" not in drugs_offered(rec)
    assert excluded(rec).get("lapatinib_cape") == "contraindicated_lvef"


def test_d1_lvef_40_50_caution_and_no_anthracycline() -> None:
    """§d.1 All row: trials excluded LVEF <50 % → case-by-case caution and cardio-oncology review; avoid
    anthracyclines with/after HER2 therapy."""
    rec = run(THP_PROGRESSED, lvef(47, 52))
    assert "caution" in flags(rec, "tdxd") and "lvef" in flags(rec, "tdxd")
    assert "cardio-oncology" in " ".join(a.text for a in rec.actions).lower()
    assert all(not {"doxorubicin", "epirubicin"} & set(o.drugs) for o in rec.options)


# ------------------------------------------------------------------------------------------------------ §d.2
def test_d2_tdxd_not_after_ild_requiring_steroids() -> None:
    """§d.2 T-DXd row: grade ≥2 ILD → permanently discontinue; history of ILD requiring steroids → do not
    recommend T-DXd; grade 1 → caution."""
    assert "tdxd" in excluded(run(THP_PROGRESSED, {"conditions": {"ild_history": {"grade": 2, "steroids": True}}}))
    grade1 = run(THP_PROGRESSED, {"conditions": {"ild_history": {"grade": 1}}})
    assert "caution" in flags(grade1, "tdxd") and "grade 1 ild" in flags(grade1, "tdxd")
    assert "ild_monitoring" in action_codes(run(THP_PROGRESSED))


def test_d2_tdxd_renal_impairment_caution() -> None:
    """§d.2 T-DXd row: higher grade 1-2 ILD in moderate renal impairment → caution."""
    assert "renal" in flags(run(THP_PROGRESSED, {"conditions": {"crcl_ml_min": 40}}), "tdxd")


@pytest.mark.parametrize(
    ("drug", "regimen"),
    [("trastuzumab emtansine", "tdm1"), ("trastuzumab", "trastuzumab_chemo"), ("lapatinib", "lapatinib_cape")],
)
def test_d2_ild_on_drug_discontinues_it(drug: str, regimen: str) -> None:
    """§d.2 T-DM1 / trastuzumab / lapatinib rows: ILD / pneumonitis on the drug → permanently discontinue."""
    rec = run(THP_TDXD_PROGRESSED, {"conditions": {"ild_history": {"grade": 2, "drug": drug}}})
    assert regimen not in regimens(rec)


def test_d2_known_ild_monitoring_for_every_option() -> None:
    """§d.2 (new paragraph): known ILD or significant lung disease raises a pulmonary/ILD monitoring action for every
    HER2 antibody, ADC, TKI or taxane option, not only when T-DXd is on the list."""
    rec = run(THP_PROGRESSED, {"conditions": {"ild_history": {"grade": 2, "steroids": True}}})
    assert "tdxd" not in regimens(rec)
    assert "ild_monitoring" in action_codes(rec)


# ------------------------------------------------------------------------------------------------------ §d.3
def test_d3_tdm1_liver_and_platelet_rules() -> None:
    """§d.3 T-DM1 row: grade 3 transaminases, transaminases >3× with bilirubin >2× ULN, platelets <50,000 → not
    given; LFTs before each dose."""
    for change in ({"alt_x_uln": 6}, {"alt_x_uln": 4, "bilirubin_x_uln": 2.5}, {"platelets_per_mm3": 30000}):
        assert "tdm1" in excluded(run(THP_PROGRESSED, {"conditions": change})), change
    assert "lft" in monitoring_text(run(THP_PROGRESSED))


def test_d3_tki_hepatotoxicity() -> None:
    """§d.3 tucatinib / lapatinib / neratinib rows: LFT monitoring (lapatinib boxed warning); grade 3 liver
    toxicity holds neratinib and lapatinib; Hy's law stops tucatinib."""
    rec = run(THP_TDXD_PROGRESSED)
    text = monitoring_text(rec)
    assert "boxed warning hepatotoxicity" in text and "every 3 weeks" in text
    high = run(THP_TDXD_PROGRESSED, {"conditions": {"alt_x_uln": 6}})
    assert {"neratinib_cape", "lapatinib_cape"} <= set(excluded(high))
    hy = run(THP_TDXD_PROGRESSED, {"conditions": {"alt_x_uln": 4, "bilirubin_x_uln": 2.5}})
    assert "ttc" in excluded(hy)


# ------------------------------------------------------------------------------------------------------ §d.4
def test_d4_diarrhoea_management_for_tkis() -> None:
    """§d.4: neratinib loperamide prophylaxis mandatory (or dose escalation); tucatinib antidiarrhoeals at onset;
    lapatinib discontinued for grade 4 diarrhoea."""
    text = monitoring_text(run(THP_TDXD_PROGRESSED))
    assert "loperamide" in text and "antidiarrhoeals at the onset" in text and "grade 4 diarrhoea" in text


# ------------------------------------------------------------------------------------------------------ §d.5
PREGNANT = {"age": 32, "menopausal_status": "pre", "conditions": {"pregnant": True, "gestational_age_weeks": 20}}


def test_d5_no_her2_therapy_in_pregnancy() -> None:
    """§d.5 boxed warning embryo-fetal toxicity: no HER2-directed drug in pregnancy; no tamoxifen/ET; chemotherapy
    (weekly paclitaxel or anthracycline-based) in the 2nd/3rd trimester; MDT with maternal-fetal medicine."""
    rec = run(HR_POSITIVE, PREGNANT)
    assert not HER2_DIRECTED & drugs_offered(rec)
    assert not {"letrozole", "anastrozole", "tamoxifen", "fulvestrant"} & drugs_offered(rec)
    assert {"paclitaxel_weekly", "ac_pregnancy"} <= set(regimens(rec))
    assert "multidisciplinary_review" in action_codes(rec)


def test_d5_first_trimester_no_chemotherapy_and_gestational_age_asked() -> None:
    """§d.5: chemotherapy only in the 2nd/3rd trimester - none in the 1st; weeks not given → asked."""
    first = run(HR_POSITIVE, PREGNANT, {"conditions": {"pregnant": True, "gestational_age_weeks": 9}})
    assert not first.options or all(o.regimen not in {"paclitaxel_weekly", "ac_pregnancy"} for o in first.options)
    unknown = run(HR_POSITIVE, PREGNANT, {"conditions": {"pregnant": True, "gestational_age_weeks": None}})
    assert "gestational_age" in missing(unknown)


def test_d5_contraception_and_pregnancy_test() -> None:
    """§d.5 contraception after the last dose (T-DXd 7 months; tucatinib 1 week) and §d.8 pregnancy test before
    HER2 therapy in women of childbearing potential."""
    text = monitoring_text(run({"age": 38, "menopausal_status": "pre"}))
    assert "pregnancy test" in text and "7 months" in text and "1 week" in text


# ------------------------------------------------------------------------------------------------------ §d.6
@pytest.mark.parametrize(
    ("medication", "regimen", "how", "word"),
    [
        ("carbamazepine", "ttc", "excluded", ""),
        ("gemfibrozil", "ttc", "caution", "cyp2c8"),
        ("digoxin", "ttc", "caution", "p-gp"),
        ("carbamazepine", "lapatinib_cape", "excluded", ""),
        ("clarithromycin", "lapatinib_cape", "caution", "cyp3a4"),
        ("omeprazole", "neratinib_cape", "caution", "proton-pump"),
        ("warfarin", "ttc", "caution", "inr"),
    ],
)
def test_d6_interactions(medication: str, regimen: str, how: str, word: str) -> None:
    """§d.6: tucatinib (strong CYP3A / moderate CYP2C8 inducers avoided; strong CYP2C8 inhibitors → 100 mg BID;
    P-gp substrates), lapatinib (CYP3A4 inducers / inhibitors), neratinib (PPIs), capecitabine (warfarin INR)."""
    rec = run(THP_TDXD_PROGRESSED, {"conditions": {"medications": [medication]}})
    if how == "excluded":
        assert excluded(rec).get(regimen) == "interaction"
    else:
        text = flags(rec, regimen)
        assert "caution" in text and word in text, text


def test_d6_lapatinib_qt_monitoring() -> None:
    """§d.6 lapatinib: QT prolongation - ECG and electrolytes (K, Mg)."""
    assert "qt" in monitoring_text(run(THP_TDXD_PROGRESSED))


# ------------------------------------------------------------------------------------------------------ §d.7
def test_d7_neuropathy() -> None:
    """§d.7: pre-existing grade ≥3 neuropathy → taxanes contraindicated (taxane-free 1L); grade 2 → caution;
    T-DM1 held for grade 3-4 neuropathy."""
    g3 = run({"conditions": {"neuropathy_grade": 3}})
    assert not {"docetaxel", "paclitaxel", "nab-paclitaxel"} & drugs_offered(g3)
    assert "caution" in flags(run({"conditions": {"neuropathy_grade": 2}}), "thp")
    tdm1 = run(THP_PROGRESSED, {"conditions": {"neuropathy_grade": 3}})
    assert "caution" in flags(tdm1, "tdm1") and "neuropathy" in flags(tdm1, "tdm1")


# ------------------------------------------------------------------------------------------------------ §d.8
def test_d8_her2_missing_or_equivocal_asks() -> None:
    """§d.8: missing HER2 → ask (hard stop, no HER2-directed drug); IHC 2+ without ISH → reflex ISH first."""
    none = run({"tumor": {"her2": {"ihc": None}}})
    assert "her2_status" in missing(none) and not HER2_DIRECTED & drugs_offered(none)
    equivocal = run({"tumor": {"her2": {"ihc": "2+"}}})
    assert "reflex_ish" in missing(equivocal) and not HER2_DIRECTED & drugs_offered(equivocal)


def test_d8_capecitabine_contraindicated_below_crcl_30() -> None:
    """§d.8 / §d.6: capecitabine-containing regimens contraindicated with CrCl <30 mL/min (tucatinib with
    capecitabine not recommended either)."""
    rec = run(THP_TDXD_PROGRESSED, {"conditions": {"crcl_ml_min": 25}})
    assert "capecitabine" not in drugs_offered(rec)
    assert {"ttc", "neratinib_cape", "lapatinib_cape"} <= set(excluded(rec))


def test_d2_ild_requiring_steroids_excludes_tdxd_whatever_grade() -> None:
    """§d.2 T-DXd row: "History of ILD requiring steroids / current ILD: excluded from trials; 'no data' (NCCN
    footnote e) → KB: do not recommend T-DXd" - also when the recorded grade is 1."""
    rec = run(THP_PROGRESSED, {"conditions": {"ild_history": {"grade": 1, "steroids": True}}})
    assert "tdxd" in excluded(rec)


def test_d2_lung_disease_monitoring_without_tdxd() -> None:
    """§d.2: home oxygen (significant lung disease, no ILD event) is a pulmonary-risk fact for every HER2 antibody,
    ADC, TKI or taxane option - ILD monitoring at third line after T-DXd too."""
    rec = run(THP_TDXD_PROGRESSED, {"conditions": {"lung_disease": ["home_oxygen"]}})
    assert "tdxd" not in regimens(rec)
    assert "ild_monitoring" in action_codes(rec)
    assert "whatever regimen" in " ".join(a.text for a in rec.actions if a.code == "ild_monitoring").lower()
