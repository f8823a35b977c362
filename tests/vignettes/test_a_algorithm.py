"""Vignettes from the treatment algorithm, reference §a (shared/reference/her2-mbc.md, status 2026-11-29):
ASCO-HER2-2022 Rec 1.0-5.1, NCCN (pre-DB-09) footnotes, FDA labels, CLEOPATRA, DESTINY-Breast09, PERTAIN,
PATINA, HER2CLIMB-05, DESTINY-Breast03, HER2CLIMB, NALA, EGF100151, EGF104900, SOPHIA, monarcHER."""

from __future__ import annotations

import datetime as dt

import pytest
from tests.vignettes.vignette import (
    HR_POSITIVE,
    THP_PROGRESSED,
    THP_TDXD_PROGRESSED,
    action_codes,
    drugs_offered,
    excluded,
    flags,
    option,
    preferred,
    rank,
    regimens,
    run,
)

from oncoline.model.recommendation import Algorithm

# ------------------------------------------------------------------------------------------------ §a.1 / §a.2


def test_a1_first_line_thp_and_tdxdp_both_offered() -> None:
    """§a.1 1L row and "Secondary report": present both THP and T-DXd + pertuzumab as 1L options, state the
    divergence (ASCO Rec 1.1 / NCCN pre-DB-09 rank THP; FDA 15 Dec 2025 approved T-DXd + P)."""
    rec = run()
    assert rec.line == 1 and rec.algorithm == Algorithm.FIRST_LINE
    assert {"thp", "tdxd_p"} <= set(preferred(rec))
    assert "divergence" in flags(rec, "thp") and "divergence" in flags(rec, "tdxd_p")


def test_a1_kb_rule_newer_than_guideline_is_flagged() -> None:
    """§a.1 KB rule: where labels/trials go beyond ASCO-HER2-2022, show the option with guideline_status
    "not yet in retrieved guideline" rather than rank it silently (DESTINY-Breast09, PATINA, HER2CLIMB-05)."""
    rec = run()
    assert "not yet in retrieved guideline" in (option(rec, "tdxd_p").guideline_status or "")


def test_a2_tdxdp_only_from_its_approval() -> None:
    """§a.2 T-DXd + pertuzumab row / §f: FDA approved 15 Dec 2025 - not offered as of an earlier date."""
    early = {"metastatic_diagnosis": "2025-11-20"}
    assert "tdxd_p" not in regimens(run(early, as_of=dt.date(2025, 12, 1)))
    assert "tdxd_p" in regimens(run(early, as_of=dt.date(2025, 12, 20)))


def test_a2_thp_taxane_partner_and_biosimilar_names() -> None:
    """§a.2 THP row (paclitaxel or nab-paclitaxel may replace docetaxel, PERUSE), Phesgo row (interchangeable with
    IV HP) and pertuzumab biosimilar row (Poherdy): a 1L given as Phesgo + paclitaxel and progressed on counts as
    pertuzumab + trastuzumab + taxane - THP is not re-proposed and second-line T-DXd is preferred."""
    rec = run(
        {
            "metastatic_diagnosis": "2024-01-10",
            "history": [
                {"line": 1, "drugs": ["Phesgo", "paclitaxel"], "start": "2024-01-20", "end": "2026-10-01",
                 "stopped": "progression"},
            ],
        }
    )  # fmt: skip
    assert rec.line == 2 and preferred(rec)[0] == "tdxd"
    assert "thp" not in regimens(rec)
    first = run({"history": [{"line": 1, "drugs": ["Poherdy", "trastuzumab", "docetaxel"], "start": "2026-11-05",
                              "stopped": "ongoing"}]})  # fmt: skip
    assert "pertuzumab" in first.options[0].drugs
    assert "paclitaxel or nab-paclitaxel may replace docetaxel" in flags(run(), "thp")


def test_a2_trastuzumab_taxane_only_certain_circumstances() -> None:
    """§a.2 trastuzumab + taxane row: acceptable only if pertuzumab is unavailable/contraindicated - never
    preferred in first line."""
    rec = run()
    assert "th_taxane" in regimens(rec, "certain_circumstances")
    assert "th_taxane" not in preferred(rec)


def test_a2_hr_positive_et_options_not_default() -> None:
    """§a.2 ET + trastuzumab ± pertuzumab and ET alone rows (ASCO Rec 1.0 "highly selected", PERTAIN): shown for
    HR-positive disease under certain circumstances, never preferred by default; not for HR-negative disease."""
    rec = run(HR_POSITIVE)
    assert {"hp_et", "et_alone", "lapatinib_letrozole"} <= set(regimens(rec, "certain_circumstances"))
    assert not {"hp_et", "et_alone"} & set(preferred(rec))
    assert not {"hp_et", "et_alone"} & set(regimens(run()))


def test_a2_declines_chemotherapy_hp_et_preferred() -> None:
    """§a.2: an explicit refusal of chemotherapy makes an HR-positive patient chemo-unsuitable: HP + ET is
    preferred; chemotherapy-containing regimens are not offered (SAF-DECLINES-CHEMO)."""
    rec = run(HR_POSITIVE, {"preferences": {"declines_chemotherapy": True}})
    assert "hp_et" in preferred(rec)
    assert "thp" not in regimens(rec)


def test_a2_chemo_unsuitable_hr_positive_et_trastuzumab_co_preferred() -> None:
    """§a.2 chemo-unsuitable (KB convention, UNCONFIRMED): ECOG >= 2 -> for HR+ disease ET + trastuzumab ±
    pertuzumab is co-preferred beside THP / T-DXd + P, HP + ET ahead of T + ET (PERTAIN control arm)."""
    rec = run(HR_POSITIVE, {"ecog": 2})
    assert {"hp_et", "h_et"} <= set(preferred(rec))
    assert rank(rec, "hp_et") < rank(rec, "h_et")


def test_a2_chemo_unsuitable_caution_names_the_factor() -> None:
    """§a.2: for a chemo-unsuitable HR+ patient (age >= 80 with ECOG >= 1) the chemotherapy- and ADC-containing
    options carry a caution naming the factor."""
    rec = run(HR_POSITIVE, {"age": 83, "ecog": 1})
    assert "caution" in flags(rec, "thp") and "80" in flags(rec, "thp")
    assert "caution" in flags(rec, "tdxd_p") and "80" in flags(rec, "tdxd_p")


def test_a2_chemo_unsuitable_by_renal_function() -> None:
    """§a.2: CrCl < 30 mL/min counts as chemo-unsuitable: HP + ET co-preferred for HR+ disease."""
    rec = run(HR_POSITIVE, {"conditions": {"crcl_ml_min": 25}})
    assert "hp_et" in preferred(rec)


def test_a2_chemo_unsuitable_hr_negative_caution_and_mdt() -> None:
    """§a.2: for an HR-negative chemo-unsuitable patient (ECOG 2) the factor is a caution on every cytotoxic or ADC
    option and a reason for MDT review."""
    rec = run({"ecog": 2})
    assert "ecog" in flags(rec, "thp") and "ecog" in flags(rec, "tdxd_p")
    assert "multidisciplinary_review" in action_codes(rec)


def test_a2_abnormal_g8_counts_as_chemo_unsuitable() -> None:
    """§a.2 / FORMAT.md conditions.g8_score: an abnormal geriatric screen (G8 <= 14) makes an HR+ patient
    chemo-unsuitable: HP + ET co-preferred."""
    rec = run(HR_POSITIVE, {"age": 76, "conditions": {"g8_score": 12}})
    assert "hp_et" in preferred(rec)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"conditions": {"ild_history": {"grade": 1}}}, id="prior-ild"),
        pytest.param({"conditions": {"crcl_ml_min": 45}}, id="moderate-renal"),
    ],
)
def test_a2_favour_thp_caution_never_left_above_thp(change: dict[str, object]) -> None:
    """§a.2 "Favour THP" (prior ILD, moderate renal impairment) and the chemo-unsuitable paragraph: a caution that
    says "favour another regimen" never leaves the disfavoured T-DXd + P ranked above THP or alone as preferred."""
    rec = run(change)
    assert "thp" in preferred(rec)
    if "tdxd_p" in regimens(rec):
        assert "caution" in flags(rec, "tdxd_p")
        assert rank(rec, "thp") < rank(rec, "tdxd_p")


@pytest.mark.xfail(strict=True, reason="gap: a.2/a.5 'favour another regimen' caution leaves T-DXd+P ranked preferred")
def test_a2_favour_another_regimen_demotes_the_disfavoured() -> None:
    """§a.2 (last sentence of the chemo-unsuitable paragraph): a caution saying "favour THP" (moderate renal
    impairment, label: more grade 1-2 ILD) does not leave T-DXd + P ranked preferred."""
    rec = run({"conditions": {"crcl_ml_min": 45}})
    assert "tdxd_p" not in preferred(rec)


def test_a2_favour_tdxdp_with_taxane_contraindication() -> None:
    """§a.2 "Favour T-DXd+P" / §d.7: persistent grade >= 3 neuropathy contraindicates taxanes - THP is excluded,
    T-DXd + P preferred, a taxane-free HP partner (vinorelbine) shown."""
    rec = run({"conditions": {"neuropathy_grade": 3}})
    assert "thp" in excluded(rec)
    assert preferred(rec)[0] == "tdxd_p"
    assert "hp_vinorelbine" in regimens(rec)


# ------------------------------------------------------------------------------------------------------ §a.3
INDUCTION_THP = {"history": [{"line": 1, "drugs": ["pertuzumab", "trastuzumab", "docetaxel"], "start": "2026-04-01",
                              "stopped": "ongoing", "best_response": "PR"}],
                 "metastatic_diagnosis": "2026-03-20"}  # fmt: skip


def test_a3_hr_negative_maintenance_hp() -> None:
    """§a.3 HR− row (ASCO Rec 4.0; HER2CLIMB-05): after induction stop the taxane, continue HP; tucatinib + HP is an
    augmentation without FDA approval, flagged UNCONFIRMED."""
    rec = run(INDUCTION_THP)
    assert rec.algorithm == Algorithm.MAINTENANCE
    assert preferred(rec) == ["hp"]
    assert "tucatinib_hp" in regimens(rec, "other") and "unconfirmed" in flags(rec, "tucatinib_hp")


def test_a3_hr_positive_maintenance_hp_et() -> None:
    """§a.3 HR+ row (NCCN footnote c; PATINA; HER2CLIMB-05): HP + ET preferred; palbociclib + HP + ET (approval
    UNCONFIRMED) and tucatinib + HP ± ET as flagged augmentations."""
    rec = run(INDUCTION_THP, HR_POSITIVE)
    assert "hp_et" in preferred(rec)
    assert "unconfirmed" in flags(rec, "palbociclib_hp_et")
    assert "tucatinib_hp_et" in regimens(rec)


def test_a3_endocrine_partner_premenopausal_ofs() -> None:
    """§a.3 endocrine-partner row: no aromatase inhibitor without ovarian function suppression before menopause."""
    rec = run(INDUCTION_THP, HR_POSITIVE, {"age": 41, "menopausal_status": "pre"})
    drugs = set(option(rec, "hp_et").drugs)
    ai = {"letrozole", "anastrozole", "exemestane"}
    ofs = {"goserelin", "leuprorelin", "triptorelin"}
    assert drugs & ai and drugs & ofs
    post = set(option(run(INDUCTION_THP, HR_POSITIVE), "hp_et").drugs)
    assert not post & ofs


def test_a3_no_reuse_of_endocrine_therapy_progressed_on() -> None:
    """§a.3 endocrine-partner row: do not reuse an ET on which the patient progressed (relapse within 12 months of
    adjuvant letrozole counts as progression on the aromatase inhibitors)."""
    rec = run(INDUCTION_THP, HR_POSITIVE, {"presentation": "recurrent",
              "early_therapy": [{"setting": "adjuvant", "drugs": ["letrozole"], "end": "2026-01-01"}]})  # fmt: skip
    assert not {"letrozole", "anastrozole"} & drugs_offered(rec)


def test_a3_palbociclib_never_with_tucatinib() -> None:
    """§a.3: palbociclib + tucatinib together - no data, do not combine (KB rule)."""
    rec = run(INDUCTION_THP, HR_POSITIVE)
    assert all(not {"palbociclib", "tucatinib"} <= set(o.drugs) for o in rec.options)


def test_a3_after_tdxdp_induction_no_patina_or_tucatinib() -> None:
    """§a.3: after T-DXd + P induction maintenance continues T-DXd + P; PATINA / HER2CLIMB-05 augmentations were
    studied only after taxane induction - not offered."""
    rec = run(HR_POSITIVE, {"history": [{"line": 1, "drugs": ["trastuzumab deruxtecan", "pertuzumab"],
                                         "start": "2026-04-01", "stopped": "ongoing"}],
                            "metastatic_diagnosis": "2026-03-20"})  # fmt: skip
    assert not {"palbociclib", "tucatinib"} & drugs_offered(rec)
    assert set(option(rec, preferred(rec)[0]).drugs) == {"trastuzumab deruxtecan", "pertuzumab"}


# ------------------------------------------------------------------------------------------------------ §a.4


def test_a4_second_line_after_thp() -> None:
    """§a.4 / §a.1 2L row: T-DXd preferred after THP (ASCO Rec 2.1, DESTINY-Breast03); T-DM1 (prior trastuzumab +
    taxane) and TTC (≥1 prior metastatic anti-HER2 regimen) as other options."""
    rec = run(THP_PROGRESSED)
    assert rec.line == 2 and preferred(rec) == ["tdxd"]
    assert {"tdm1", "ttc"} <= set(regimens(rec, "other"))


def test_a4_tdm1_label_needs_prior_trastuzumab_and_taxane() -> None:
    """§a.4 T-DM1 row: the label requires prior trastuzumab and a taxane - after a taxane-free first line it is
    flagged or excluded, never offered as labelled."""
    rec = run({"metastatic_diagnosis": "2024-01-10", "history": [
        {"line": 1, "drugs": ["trastuzumab", "vinorelbine"], "start": "2024-01-20", "end": "2026-10-01",
         "stopped": "progression"}]})  # fmt: skip
    assert "off-label" in flags(rec, "tdm1") and "taxane" in flags(rec, "tdm1")


def test_a4_ttc_label_needs_prior_metastatic_regimen() -> None:
    """§a.4 TTC row: label requires ≥1 prior anti-HER2 regimen in the metastatic setting - not in first line."""
    assert "ttc" not in regimens(run())


def test_a4_second_line_after_first_line_tdxdp_evidence_gap() -> None:
    """§a.4: 2L after 1L T-DXd + P is an evidence gap (UNCONFIRMED): TTC, taxane + trastuzumab (taxane-naive),
    T-DM1 off-label without a taxane; no T-DXd re-use; nothing preferred."""
    rec = run({"metastatic_diagnosis": "2025-12-20", "history": [
        {"line": 1, "drugs": ["trastuzumab deruxtecan", "pertuzumab"], "start": "2025-12-28", "end": "2026-11-10",
         "stopped": "progression"}]})  # fmt: skip
    assert "tdxd" not in regimens(rec) and not preferred(rec)
    assert {"ttc", "th_taxane"} <= set(regimens(rec))
    assert "evidence gap" in flags(rec, "ttc")


# ------------------------------------------------------------------------------------------------------ §a.5
def _relapse(months_after: float, drugs: list[str] | None = None) -> dict[str, object]:
    end = dt.date(2026, 11, 1) - dt.timedelta(days=round(months_after * 30.4375))
    return {
        "presentation": "recurrent",
        "early_therapy": [{"setting": "adjuvant", "drugs": drugs or ["trastuzumab", "pertuzumab", "docetaxel"],
                           "end": end.isoformat()}],
    }  # fmt: skip


def test_a5_relapse_within_6_months() -> None:
    """§a.5 row ≤6 months (ASCO Rec 5.0, T-DXd and T-DM1 labels): treat as 2L - T-DXd preferred, T-DM1
    acceptable, THP and T-DXd + P not recommended."""
    rec = run(_relapse(3))
    assert rec.algorithm == Algorithm.SECOND_LINE
    assert preferred(rec) == ["tdxd"] and "tdm1" in regimens(rec)
    assert not {"thp", "tdxd_p"} & set(regimens(rec))


def test_a5_relapse_6_to_12_months_divergence() -> None:
    """§a.5 row >6 to ≤12 months: guideline divergence - T-DXd preferred, T-DXd + P acceptable, THP not
    preferred, divergence flagged."""
    rec = run(_relapse(9))
    assert preferred(rec)[0] == "tdxd"
    assert "tdxd_p" in regimens(rec) and "tdxd_p" not in preferred(rec)
    assert "thp" not in preferred(rec)
    assert "divergence" in flags(rec, "tdxd_p")


def test_a5_relapse_after_12_months_first_line() -> None:
    """§a.5 row >12 months (ASCO Rec 5.1): standard first line (THP or T-DXd + P)."""
    rec = run(_relapse(20))
    assert rec.algorithm == Algorithm.FIRST_LINE
    assert {"thp", "tdxd_p"} <= set(preferred(rec))


def test_a5_relapse_after_adjuvant_tdm1_not_reoffered() -> None:
    """§a.5 / §0.1: relapse within 6 months of (neo)adjuvant T-DM1 (KATHERINE) is resistance to it - T-DM1 is not
    re-offered as if new; T-DXd stays preferred."""
    rec = run(_relapse(3, ["trastuzumab emtansine"]))
    assert preferred(rec) == ["tdxd"]
    assert "tdm1" not in regimens(rec)


def test_a5_prior_adjuvant_tdxd_flagged() -> None:
    """§a.5: after (neo)adjuvant T-DXd any T-DXd choice has no supporting data - flagged UNCONFIRMED, non-T-DXd
    regimens preferred (THP first)."""
    rec = run(_relapse(20, ["trastuzumab deruxtecan"]))
    assert "thp" in preferred(rec)
    if "tdxd_p" in regimens(rec):
        assert "unconfirmed" in flags(rec, "tdxd_p")
        assert rank(rec, "thp") < rank(rec, "tdxd_p")


# ------------------------------------------------------------------------------------------------------ §a.6


def test_a6_third_line_after_thp_and_tdxd() -> None:
    """§a.6 table / §a.1 3L+ row: TTC preferred; T-DM1, neratinib + cape, lapatinib + cape, lapatinib +
    trastuzumab (off-label), margetuximab + chemo, trastuzumab + other chemo are options; T-DXd and THP (progressed
    on) are not re-proposed; tucatinib + T-DM1 is not in the default list; a trial is always offered."""
    rec = run(THP_TDXD_PROGRESSED)
    assert rec.line == 3 and preferred(rec) == ["ttc"]
    want = {"tdm1", "neratinib_cape", "lapatinib_cape", "lapatinib_trastuzumab", "margetuximab_chemo",
            "trastuzumab_chemo"}  # fmt: skip
    assert want <= set(regimens(rec, "other"))
    assert "off-label" in flags(rec, "lapatinib_trastuzumab")
    assert not {"tdxd", "thp"} & set(regimens(rec))
    assert all(not {"tucatinib", "trastuzumab emtansine"} <= set(o.drugs) for o in rec.options)
    assert "clinical_trial" in action_codes(rec)


def test_a6_tdxd_preferred_if_never_received() -> None:
    """§a.6 T-DXd row: preferred in later lines if T-DXd-naive (DESTINY-Breast02)."""
    rec = run({"metastatic_diagnosis": "2022-01-10", "history": [
        {"line": 1, "drugs": ["pertuzumab", "trastuzumab", "docetaxel"], "start": "2022-01-20", "end": "2024-01-15",
         "stopped": "progression"},
        {"line": 2, "drugs": ["trastuzumab emtansine"], "start": "2024-02-01", "end": "2026-10-20",
         "stopped": "progression"}]})  # fmt: skip
    assert "tdxd" in preferred(rec)


def test_a6_neratinib_needs_two_prior_regimens_and_not_capecitabine_refractory() -> None:
    """§a.6 neratinib + capecitabine row: label ≥2 prior metastatic anti-HER2 regimens; avoid if
    capecitabine-refractory (progressed on capecitabine)."""
    rec = run(THP_TDXD_PROGRESSED)
    assert "neratinib_cape" in regimens(rec)
    cape = run({"metastatic_diagnosis": "2021-01-10", "history": [
        *THP_TDXD_PROGRESSED["history"][:1],  # type: ignore[index]
        {"line": 2, "drugs": ["trastuzumab", "capecitabine"], "start": "2024-02-01", "end": "2025-01-10",
         "stopped": "progression"},
        {"line": 3, "drugs": ["trastuzumab deruxtecan"], "start": "2025-02-01", "end": "2026-10-20",
         "stopped": "progression"}]})  # fmt: skip
    assert not {"neratinib_cape", "lapatinib_cape", "ttc"} & set(regimens(cape))


def test_a6_hr_positive_later_line_endocrine_options() -> None:
    """§a.6 HR+ rows (ASCO Rec 3.2.0 / 3.2.1, weak): ET + HER2-targeted therapy; abemaciclib + trastuzumab +
    fulvestrant (monarcHER, off-label)."""
    rec = run(THP_TDXD_PROGRESSED, HR_POSITIVE)
    assert {"h_et", "abema_h_fulv"} <= set(regimens(rec))
    assert "off-label" in flags(rec, "abema_h_fulv")


def test_a6_pertuzumab_if_never_received() -> None:
    """§a.1 3L+ row (ASCO Rec 3.1.9): pertuzumab-based therapy if pertuzumab was never received."""
    rec = run({"metastatic_diagnosis": "2022-01-10", "history": [
        {"line": 1, "drugs": ["trastuzumab", "paclitaxel"], "start": "2022-01-20", "end": "2024-01-15",
         "stopped": "progression"},
        {"line": 2, "drugs": ["trastuzumab deruxtecan"], "start": "2024-02-01", "end": "2026-10-20",
         "stopped": "progression"}]})  # fmt: skip
    assert "hp_chemo" in regimens(rec)
    assert "hp_chemo" not in regimens(run(THP_TDXD_PROGRESSED))


def test_a6_best_supportive_care_ecog_3() -> None:
    """§a.6 last row: best supportive care if ECOG ≥3 in later lines; always offer a trial."""
    rec = run(THP_TDXD_PROGRESSED, {"ecog": 3})
    assert {"best_supportive_care", "clinical_trial"} <= action_codes(rec)


def test_a6_toxicity_stop_rule() -> None:
    """§a.6 Rules: never re-propose a regimen the patient progressed on; a drug stopped for toxicity only if the
    toxicity rule allows - T-DXd stopped for grade 2 ILD is not re-proposed (§d.2)."""
    rec = run({"metastatic_diagnosis": "2024-01-10", "history": [
        {"line": 1, "drugs": ["pertuzumab", "trastuzumab", "docetaxel"], "start": "2024-01-20", "end": "2025-01-15",
         "stopped": "progression"},
        {"line": 2, "drugs": ["trastuzumab deruxtecan"], "start": "2025-02-01", "end": "2026-10-20",
         "stopped": "toxicity", "toxicity": {"event": "interstitial lung disease", "grade": 2}}]})  # fmt: skip
    assert "tdxd" not in regimens(rec)
    assert "thp" not in regimens(rec)


# ------------------------------------------------------------------------------------------------------ §a.7


def test_a7_biopsy_first_metastasis_and_discordance() -> None:
    """§a.7 / §g.5: biopsy the first metastasis to re-assess ER/PR/HER2; a receptor change raises a discordance
    flag for MDT review (ABC5)."""
    assert "biopsy_metastasis" in action_codes(run())
    rec = run({"tumor": {"er_percent": 0, "earlier": {"er_percent": 70, "pr_percent": 20, "her2": {"ihc": "3+"}}}})
    assert "receptor_discordance" in action_codes(rec)


def test_a7_her2_only_drugs_before_a_her2_low_result_flag_discordance() -> None:
    """§a.7 (ABC5 "positive in at least one sample" → discordance flag for MDT review) when the earlier result is not
    in the file: adjuvant or metastatic drugs given only for HER2-positive disease before a HER2-low result imply
    an earlier positive one (a new user's finding: four years of HER2 therapy, now IHC 1+, and no flag)."""
    low = {"tumor": {"her2": {"ihc": "1+"}}}
    adjuvant_thp = _relapse(30)
    rec = run(low, adjuvant_thp)
    assert rec.her2_category == "HER2-low"
    assert "receptor_discordance" in action_codes(rec)
    text = next(a.text for a in rec.actions if a.code == "receptor_discordance")
    assert "earlier treatment included drugs given only for HER2-positive disease" in text
    # a metastatic T-DM1 line too
    tdm1 = {"metastatic_diagnosis": "2024-01-10", "history": [
        {"line": 1, "drugs": ["trastuzumab emtansine"], "start": "2024-01-20", "end": "2026-10-01",
         "stopped": "progression"}]}  # fmt: skip
    assert "receptor_discordance" in action_codes(run(low, tdm1))
    # T-DXd is also given for HER2-low disease: no inference from it; nor with no HER2-only drug at all
    assert "receptor_discordance" not in action_codes(run(low, _relapse(30, ["docetaxel", "cyclophosphamide"])))
    tdxd = {"metastatic_diagnosis": "2024-01-10", "history": [
        {"line": 1, "drugs": ["trastuzumab deruxtecan"], "start": "2024-01-20", "end": "2026-10-01",
         "stopped": "progression"}]}  # fmt: skip
    assert "receptor_discordance" not in action_codes(run(low, tdxd))
    # HER2-positive now: nothing discordant
    assert "receptor_discordance" not in action_codes(run(adjuvant_thp))
    # both results in the file: the explicit discordance text is shown (first entry of the code wins)
    both = run({"tumor": {"her2": {"ihc": "1+"}, "earlier": {"her2": {"ihc": "3+"}}}}, adjuvant_thp)
    shown = next(a.text for a in both.actions if a.code == "receptor_discordance")
    assert shown.startswith("Receptor discordance:")


def test_a7_de_novo_and_recurrent_same_first_line() -> None:
    """§a.7: de novo vs recurrent (relapse >12 months) does not change the 1L regimen choice."""
    de_novo = run()
    recurrent = run(_relapse(30))
    assert preferred(de_novo) == preferred(recurrent)


def test_a7_primary_surgery_only_for_symptoms() -> None:
    """§a.7 / §c.3: surgery/RT of the primary is for symptom control (fungating, bleeding, pain), not survival."""
    assert "palliative_surgery" in action_codes(run({"primary_tumor": {"in_place": True, "symptoms": ["bleeding"]}}))
    assert "palliative_surgery" not in action_codes(run({"primary_tumor": {"in_place": True}}))


def test_a2_significant_lung_disease_favours_thp() -> None:
    """§a.2 "Favour THP" (significant lung disease) and §d.2: pulmonary fibrosis cautions T-DXd + P, which is never
    left above THP, and raises ILD monitoring whatever regimen is chosen."""
    rec = run({"conditions": {"lung_disease": ["fibrosis"]}})
    assert "thp" in preferred(rec)
    assert "lung disease" in flags(rec, "tdxd_p")
    assert rank(rec, "thp") < rank(rec, "tdxd_p")
    assert "ild_monitoring" in action_codes(rec)
