"""Safety knowledge of reference §c-§d as the recommender applies it: pregnancy options, interactions, hepatic and
renal dosing, cardiac and ILD stops, bone and liver actions, monitoring texts (issue #2: the KB holds §a-§g)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from tests.engines.patients import merged_patient

from oncoline.engines.recommend import recommend
from oncoline.knowledge.loader import load_knowledge
from oncoline.model import Patient
from oncoline.model.recommendation import Option, Recommendation

AS_OF = dt.date(2026, 10, 1)
KB = load_knowledge()
THP = ["pertuzumab", "trastuzumab", "docetaxel"]
AFTER_THP_TDXD = [
    {"drugs": THP, "start": "2022-01-20", "end": "2023-06-01", "stopped": "progression"},
    {"drugs": ["trastuzumab deruxtecan"], "start": "2023-06-20", "end": "2025-01-01", "stopped": "progression"},
]
AFTER_THP = [{"drugs": THP, "start": "2024-01-20", "end": "2025-06-01", "stopped": "progression"}]


def patient(**extra: Any) -> Patient:
    return merged_patient({"id": "S", "age": 50, "metastatic_diagnosis": "2022-01-10"}, extra)


def run(p: Patient) -> Recommendation:
    return recommend(p, knowledge=KB, as_of=AS_OF)


def option(rec: Recommendation, regimen: str) -> Option:
    return next(o for o in rec.options if o.regimen == regimen)


def reasons(rec: Recommendation) -> dict[str, str]:
    return {e.regimen: e.reason_code for e in rec.excluded}


def action_text(rec: Recommendation, code: str) -> str:
    return next(a.text for a in rec.actions if a.code == code)


# ------------------------------------------------------------------------------------------ pregnancy (§d.5)
def test_pregnant_patient_who_progressed_on_a_taxane_is_offered_anthracycline_based_chemotherapy() -> None:
    history = [
        {"drugs": THP, "start": "2022-01-20", "end": "2023-06-01", "stopped": "progression"},
        {"drugs": ["capecitabine"], "start": "2023-06-20", "end": "2025-01-01", "stopped": "progression"},
    ]
    rec = run(patient(history=history, conditions={"pregnant": True, "gestational_age_weeks": 22}))
    ac = option(rec, "ac_pregnancy")
    assert set(ac.drugs) == {"doxorubicin", "cyclophosphamide"}
    assert not any(KB.in_class(d, "her2_directed") for o in rec.options for d in o.drugs)
    assert any("2nd/3rd trimester" in n and "after delivery" in n for n in ac.notes)
    assert "ESMO-PREG-2013" in {c.id for c in ac.citations}
    assert any("cardiotoxicity" in f for f in ac.flags)  # anthracycline after trastuzumab
    assert any(m.rule == "MON-ANTHRACYCLINE" for m in rec.monitoring)


def test_anthracycline_is_not_given_in_the_first_trimester_nor_with_reduced_lvef() -> None:
    first = run(patient(conditions={"pregnant": True, "gestational_age_weeks": 10}))
    assert reasons(first)["ac_pregnancy"] == "contraindicated_pregnancy"
    heart = run(patient(conditions={"pregnant": True, "gestational_age_weeks": 20, "lvef_percent": 45}))
    assert reasons(heart)["ac_pregnancy"] == "contraindicated_cardiomyopathy"
    assert "ac_pregnancy" not in {o.regimen for o in run(patient()).options}  # only in pregnancy


# ------------------------------------------------------------------------------------------ interactions (§d.6)
@pytest.mark.parametrize("drug", ["diltiazem", "verapamil", "fluconazole", "erythromycin", "efavirenz", "bosentan"])
def test_moderate_cyp3a_inhibitor_or_inducer_excludes_neratinib_only(drug: str) -> None:
    rec = run(patient(history=AFTER_THP_TDXD, conditions={"medications": [drug]}))
    ner = next(e for e in rec.excluded if e.regimen == "neratinib_cape")
    assert ner.reason_code == "interaction" and "moderate" in ner.reason
    assert "LBL-NERLYNX" in {c.id for c in ner.citations}
    assert {"ttc", "lapatinib_cape"} <= {o.regimen for o in rec.options}  # moderate: no label rule for these


@pytest.mark.parametrize(
    ("drug", "words"),
    [
        ("simvastatin", "strong CYP3A inhibitor"),
        ("midazolam", "reduce the substrate dose"),
        ("dabigatran", "P-gp"),
        ("digoxin", "P-gp"),
        ("gemfibrozil", "100 mg BID"),
    ],
)
def test_tucatinib_interactions_are_flagged_on_ttc(drug: str, words: str) -> None:
    ttc = option(run(patient(history=AFTER_THP_TDXD, conditions={"medications": [drug]})), "ttc")
    assert any(f.startswith("caution:") and words in f for f in ttc.flags), ttc.flags
    assert "LBL-TUKYSA" in {c.id for c in ttc.citations}


def test_capecitabine_flags_warfarin_inr_and_phenytoin_levels() -> None:
    warfarin = run(patient(history=AFTER_THP_TDXD, conditions={"medications": ["warfarin"]}))
    for o in warfarin.options:
        if "capecitabine" in o.drugs:
            assert any("monitor the INR" in f for f in o.flags), o.regimen
    phenytoin = run(patient(history=AFTER_THP_TDXD, conditions={"medications": ["phenytoin"]}))
    marg = option(phenytoin, "margetuximab_chemo")
    assert "capecitabine" in marg.drugs and any("phenytoin levels" in f for f in marg.flags)
    assert reasons(phenytoin)["ttc"] == "interaction"  # phenytoin is also a strong CYP3A inducer


@pytest.mark.parametrize(("drug", "words"), [("esomeprazole", "stop the PPI"), ("famotidine", "10 h after")])
def test_neratinib_with_acid_suppression_says_what_to_do(drug: str, words: str) -> None:
    ner = option(run(patient(history=AFTER_THP_TDXD, conditions={"medications": [drug]})), "neratinib_cape")
    assert any(words in f for f in ner.flags), ner.flags


# ------------------------------------------------------------------------------------------ hepatic (§c.2, §d.3)
def test_child_pugh_c_gives_each_tki_its_own_dose() -> None:
    rec = run(patient(history=AFTER_THP_TDXD, conditions={"hepatic_impairment": "severe"}))
    ttc, ner, lap = (option(rec, r) for r in ("ttc", "neratinib_cape", "lapatinib_cape"))
    hepatic = {r: [f for f in o.flags if "hepatic impairment" in f] for r, o in (("t", ttc), ("n", ner), ("l", lap))}
    assert len(hepatic["t"]) == 1 and "200 mg BID" in hepatic["t"][0] and "neratinib" not in hepatic["t"][0]
    assert len(hepatic["n"]) == 1 and "80 mg" in hepatic["n"][0] and "tucatinib" not in hepatic["n"][0]
    assert len(hepatic["l"]) == 1 and "750 mg" in hepatic["l"][0]


def test_grade_three_transaminases_hold_tdm1_and_neratinib() -> None:
    rec = run(patient(history=AFTER_THP_TDXD, conditions={"alt_x_uln": 6}))
    by_regimen = {e.regimen: e for e in rec.excluded}
    assert by_regimen["tdm1"].reason_code == "contraindicated_hepatic"
    assert "reduce one dose level" in by_regimen["tdm1"].reason
    assert by_regimen["neratinib_cape"].reason_code == "contraindicated_hepatic"
    assert "ttc" in {o.regimen for o in run(patient(history=AFTER_THP_TDXD, conditions={"alt_x_uln": 4})).options}


@pytest.mark.parametrize(("platelets", "words"), [(20000, "reduce one dose level"), (40000, "the same dose")])
def test_tdm1_thrombocytopenia_gives_the_label_step(platelets: int, words: str) -> None:
    rec = run(patient(history=AFTER_THP, conditions={"platelets_per_mm3": platelets}))
    tdm1 = next(e for e in rec.excluded if e.regimen == "tdm1")
    assert tdm1.reason_code == "contraindicated_thrombocytopenia"
    assert words in tdm1.reason and not tdm1.also


# ------------------------------------------------------------------------------------------ cardiac, ILD (§d.1, §d.2)
def test_lvef_below_normal_with_a_ten_point_fall_withholds_trastuzumab() -> None:
    recent = [{**AFTER_THP[0], "end": "2026-09-01"}]  # the fall happened on trastuzumab, a month ago
    rec = run(patient(history=recent, conditions={"lvef_percent": 47, "lvef_baseline_percent": 59}))
    assert reasons(rec)["ttc"] == "contraindicated_lvef_decline"
    assert not any("trastuzumab" in o.drugs for o in rec.options)
    small_fall = run(patient(history=AFTER_THP, conditions={"lvef_percent": 47, "lvef_baseline_percent": 52}))
    assert "ttc" in {o.regimen for o in small_fall.options}


def test_pneumonitis_on_trastuzumab_stops_trastuzumab() -> None:
    history = [
        {"drugs": THP, "start": "2024-01-20", "end": "2025-06-01", "stopped": "toxicity",
         "toxicity": {"event": "pneumonitis", "grade": 2}},
    ]  # fmt: skip
    rec = run(patient(history=history))
    assert not any("trastuzumab" in o.drugs for o in rec.options)
    ttc = next(e for e in rec.excluded if e.regimen == "ttc")
    assert ttc.reason_code == "contraindicated_ild" or "boxed warning" in " ".join(ttc.also)


# ------------------------------------------------------------------------------------------ bone, liver (§c)
@pytest.mark.parametrize(
    ("crcl", "words"),
    [(None, "Bone turnover markers"), (45, "3.3 mg for 40-49"), (20, "hypocalcaemia")],
)
def test_bone_modifying_agent_action_follows_renal_function(crcl: float | None, words: str) -> None:
    rec = run(patient(sites=[{"site": "bone"}], conditions={"crcl_ml_min": crcl}))
    text = action_text(rec, "bone_modifying_agent")
    assert words in text and "Dental examination" in text and "never two" in text.lower()


@pytest.mark.parametrize(
    ("conditions", "words"),
    [
        ({"medications": ["denosumab", "zoledronic acid"]}, "never give two bone-modifying agents"),
        ({"pregnant": True, "gestational_age_weeks": 20, "medications": ["denosumab"]}, "fetal harm"),
        ({"crcl_ml_min": 25, "medications": ["zoledronic acid"]}, "not recommended"),
    ],
)
def test_bone_modifying_agents_already_given_are_checked(conditions: dict[str, Any], words: str) -> None:
    rec = run(patient(sites=[{"site": "bone"}], conditions=conditions))
    assert any(words in w for w in rec.warnings), rec.warnings


def test_liver_local_therapy_only_for_liver_limited_oligometastatic_disease() -> None:
    liver_only = run(patient(sites=[{"site": "liver", "oligometastatic": True}]))
    assert "retrospective evidence only" in action_text(liver_only, "liver_local_therapy")
    with_bone = run(patient(sites=[{"site": "liver", "oligometastatic": True}, {"site": "bone"}]))
    assert "liver_local_therapy" not in {a.code for a in with_bone.actions}


# ------------------------------------------------------------------------------------------ monitoring (§d.4, §d.5)
def test_tki_monitoring_carries_the_diarrhoea_and_qt_rules() -> None:
    rec = run(patient(history=AFTER_THP_TDXD))
    text = {m.rule: m.text for m in rec.monitoring}
    assert "≤16 mg/day" in text["MON-NERATINIB"] and "1-2 bowel movements/day" in text["MON-NERATINIB"]
    assert "acute kidney injury" in text["MON-TUCATINIB"] and "onset of diarrhoea" in text["MON-TUCATINIB"]
    assert "potassium/magnesium" in text["MON-LAPATINIB"] and "1000 mg/day" in text["MON-LAPATINIB"]
    assert "Nodular regenerative hyperplasia" in text["MON-LFT-TDM1"]


def test_contraception_advice_covers_every_her2_drug_class() -> None:
    rec = run(patient(menopausal_status="pre"))
    text = next(m.text for m in rec.monitoring if m.rule == "MON-PREGNANCY-TEST")
    for words in ("margetuximab: 4 months", "3 months (males)", "lapatinib: 1 week", "male partners 4 months"):
        assert words in text


# ------------------------------------------------------------------------------------------ biopsy (§a.7)
@pytest.mark.parametrize(
    ("earlier", "flagged"),
    [
        ({"er_percent": 0, "pr_percent": 0, "her2": {"ihc": "3+"}}, False),
        ({"er_percent": 90, "pr_percent": 50, "her2": {"ihc": "3+"}}, True),  # HR-positive primary, HR-negative now
        ({"er_percent": 0, "pr_percent": 0, "her2": {"ihc": "1+"}}, True),  # HER2-negative primary
        ({"her2": {"ihc": "2+"}}, False),  # earlier HER2 equivocal, ER unknown: nothing known differs
    ],
)
def test_receptor_discordance_between_primary_and_metastasis_asks_for_mdt_review(
    earlier: dict[str, Any], flagged: bool
) -> None:
    rec = run(patient(tumor={"earlier": earlier}))
    codes = {a.code for a in rec.actions}
    assert ("receptor_discordance" in codes) is flagged
    if flagged:
        assert "at least one sample" in action_text(rec, "receptor_discordance")


# ------------------------------------------------------------------------------------------ evidence, §a.5
def test_later_line_tdxd_carries_destiny_breast01_beside_destiny_breast02() -> None:
    rec = run(patient(history=[*AFTER_THP, {"drugs": ["trastuzumab emtansine"], "start": "2025-06-20",
                                            "end": "2026-01-01", "stopped": "progression"}]))  # fmt: skip
    tdxd = option(rec, "tdxd")
    assert any(e.startswith("DESTINY-Breast01") for e in tdxd.evidence)
    assert {"DESTINY-Breast01", "DESTINY-Breast02"} <= {c.id for c in tdxd.citations}


def test_prior_neoadjuvant_tdxd_flags_every_tdxd_option_as_unconfirmed() -> None:
    early = [{"setting": "neoadjuvant", "drugs": ["trastuzumab deruxtecan"], "end": "2021-01-10"}]
    rec = run(patient(presentation="recurrent", early_therapy=early))
    tdxd_options = [o for o in rec.options if "trastuzumab deruxtecan" in o.drugs]
    assert tdxd_options
    for o in tdxd_options:
        assert any(f.startswith("UNCONFIRMED") and "after (neo)adjuvant T-DXd" in f for f in o.flags), o.regimen
