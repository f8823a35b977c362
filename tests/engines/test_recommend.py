"""Behaviour of the recommender beyond the shared cases: line/algorithm decisions, as-of answers, safety rules,
bad input."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from tests.engines.patients import merged_patient

from oncoline.engines.recommend import recommend
from oncoline.errors import InputError
from oncoline.knowledge.loader import load_knowledge
from oncoline.model import Patient
from oncoline.model.recommendation import Recommendation

AS_OF = dt.date(2026, 10, 1)
THP = ["pertuzumab", "trastuzumab", "docetaxel"]


def patient(**extra: Any) -> Patient:
    return merged_patient({"id": "T", "age": 55, "metastatic_diagnosis": "2024-01-10"}, extra)


def run(p: Patient, as_of: dt.date = AS_OF) -> Recommendation:
    return recommend(p, knowledge=load_knowledge(), as_of=as_of)


def drug_sets(rec: Recommendation, category: str | None = None) -> list[frozenset[str]]:
    return [frozenset(o.drugs) for o in rec.options if category is None or o.category == category]


def excluded(rec: Recommendation) -> dict[str, str]:
    return {e.regimen: e.reason_code for e in rec.excluded}


def after_thp(**extra: Any) -> Patient:
    history = [{"drugs": THP, "start": "2024-01-20", "end": "2025-06-01", "stopped": "progression"}]
    return patient(history=history, **extra)


# ------------------------------------------------------------------------------------------ as of
def test_tdxd_pertuzumab_absent_before_its_approval_and_present_after() -> None:
    before = run(patient(), as_of=dt.date(2025, 12, 14))
    after = run(patient(), as_of=dt.date(2025, 12, 15))
    tdxd_p = frozenset({"trastuzumab deruxtecan", "pertuzumab"})
    assert tdxd_p not in drug_sets(before)
    assert tdxd_p in drug_sets(after, "preferred")
    assert any(t.rule == "S1L-TDXDP" and "takes effect on 2025-12-15" in t.effect for t in before.trace)
    assert frozenset(THP) in drug_sets(before, "preferred")


def test_tdxd_pertuzumab_carries_its_guideline_status_and_divergence() -> None:
    option = next(o for o in run(patient()).options if o.regimen == "tdxd_p")
    assert option.guideline_status and "UNCONFIRMED" in option.guideline_status
    assert any("divergence" in f for f in option.flags)
    assert {c.id for c in option.citations} >= {"LBL-ENHERTU-1L", "DESTINY-Breast09"}
    assert option.evidence and "40.7" in option.evidence[0]


# ------------------------------------------------------------------------------------------ line decision
def test_relapse_within_six_months_keeps_line_one_but_applies_second_line_algorithm() -> None:
    p = patient(
        presentation="recurrent",
        early_therapy=[{"setting": "adjuvant", "drugs": ["trastuzumab", "pertuzumab"], "end": "2023-11-10"}],
    )
    rec = run(p)
    assert rec.line == 1
    assert rec.algorithm == "second_line"
    assert "Rec 5.0" in rec.algorithm_rationale
    assert drug_sets(rec, "preferred") == [frozenset({"trastuzumab deruxtecan"})]
    assert frozenset(THP) not in drug_sets(rec)


def test_relapse_between_six_and_twelve_months_shows_the_divergence() -> None:
    p = patient(
        presentation="recurrent",
        early_therapy=[{"setting": "adjuvant", "drugs": ["trastuzumab"], "end": "2023-04-10"}],
    )
    rec = run(p)
    assert (rec.line, rec.algorithm) == (1, "second_line")
    by_regimen = {o.regimen: o for o in rec.options}
    assert by_regimen["tdxd"].category == "preferred"
    assert by_regimen["tdxd_p"].category == "other"
    assert any("divergence" in f for f in by_regimen["tdxd_p"].flags)
    assert by_regimen["thp"].category == "certain_circumstances"


def test_relapse_after_twelve_months_is_first_line() -> None:
    p = patient(
        presentation="recurrent",
        early_therapy=[{"setting": "adjuvant", "drugs": ["trastuzumab"], "end": "2021-01-10"}],
    )
    assert run(p).algorithm == "first_line"


def test_line_stopped_for_toxicity_counts_and_its_drug_is_not_rechallenged() -> None:
    history = [
        {"drugs": ["trastuzumab emtansine"], "start": "2024-01-20", "end": "2024-06-01", "stopped": "toxicity",
         "toxicity": {"event": "hepatotoxicity", "grade": 3}},
    ]  # fmt: skip
    rec = run(patient(history=history))
    assert rec.line == 2
    assert frozenset({"trastuzumab emtansine"}) not in drug_sets(rec)
    assert excluded(rec)["tdm1"] == "stopped_for_toxicity"


def test_maintenance_after_induction_de_escalates_within_the_same_line() -> None:
    history = [{"drugs": THP, "start": "2026-04-01", "stopped": "ongoing"}]
    rec = run(patient(history=history))
    assert (rec.line, rec.algorithm) == (1, "maintenance")
    assert drug_sets(rec, "preferred") == [frozenset({"pertuzumab", "trastuzumab"})]
    assert not any(frozenset(THP) <= s for s in drug_sets(rec))


def test_short_induction_is_continued() -> None:
    history = [{"drugs": THP, "start": "2026-09-01", "stopped": "ongoing"}]
    rec = run(patient(history=history))
    assert (rec.line, rec.algorithm) == (1, "continue")
    assert drug_sets(rec) == [frozenset(THP)]


def test_brain_only_progression_continues_the_current_line_with_local_therapy() -> None:
    history = [
        {"drugs": THP, "start": "2024-01-20", "end": "2025-06-01", "stopped": "progression"},
        {"drugs": ["trastuzumab deruxtecan"], "start": "2025-06-20", "stopped": "ongoing"},
    ]
    sites = [{"site": "liver"}, {"site": "brain", "status": "progressing", "lesions": 1, "largest_mm": 8}]
    rec = run(patient(history=history, sites=sites))
    assert (rec.line, rec.algorithm) == (2, "continue")
    assert drug_sets(rec, "preferred") == [frozenset({"trastuzumab deruxtecan"})]
    # reference §b.3 rule 5: the CNS-active switch options are shown beside it (issue 8 item 3)
    assert frozenset({"tucatinib", "trastuzumab", "capecitabine"}) in drug_sets(rec, "other")
    assert "brain_local_therapy" in {a.code for a in rec.actions}


def test_later_line_ordinal_and_brain_metastases_prefer_cns_active_options() -> None:
    history = [
        {"drugs": THP, "start": "2022-01-20", "end": "2023-06-01", "stopped": "progression"},
        {"drugs": ["trastuzumab deruxtecan"], "start": "2023-06-20", "end": "2025-01-01", "stopped": "progression"},
    ]
    sites = [{"site": "lung"}, {"site": "brain", "status": "active", "lesions": 2, "largest_mm": 35}]
    rec = run(patient(history=history, sites=sites))
    assert (rec.line, rec.algorithm) == (3, "later_line")
    assert frozenset({"tucatinib", "trastuzumab", "capecitabine"}) in drug_sets(rec, "preferred")
    brain = next(a for a in rec.actions if a.code == "brain_local_therapy")
    assert "local therapy FIRST" in brain.text  # 35 mm lesion: local therapy before systemic choice
    nera = next(o for o in rec.options if o.regimen == "neratinib_cape")
    assert any("TBCRC" in e for e in nera.evidence)


def test_history_input_order_does_not_matter() -> None:
    history = [
        {"drugs": THP, "start": "2022-01-20", "end": "2023-06-01", "stopped": "progression"},
        {"drugs": ["trastuzumab deruxtecan"], "start": "2023-06-20", "end": "2025-01-01", "stopped": "progression"},
    ]
    assert run(patient(history=history)) == run(patient(history=list(reversed(history))))


# ------------------------------------------------------------------------------------------ safety
def test_tucatinib_is_excluded_with_a_strong_cyp3a_inducer() -> None:
    rec = run(after_thp(conditions={"medications": ["rifampin"]}))
    assert excluded(rec)["ttc"] == "interaction"
    assert not any("tucatinib" in s for s in drug_sets(rec))


def test_grade_three_neuropathy_removes_taxanes_and_offers_a_taxane_free_first_line() -> None:
    rec = run(patient(conditions={"neuropathy_grade": 3}))
    assert excluded(rec)["thp"] == "contraindicated_neuropathy"
    assert frozenset({"trastuzumab deruxtecan", "pertuzumab"}) in drug_sets(rec, "preferred")
    assert frozenset({"pertuzumab", "trastuzumab", "vinorelbine"}) in drug_sets(rec)
    assert not any(s & {"docetaxel", "paclitaxel", "nab-paclitaxel"} for s in drug_sets(rec))


def test_premenopausal_aromatase_inhibitor_carries_ovarian_suppression() -> None:
    p = patient(menopausal_status="pre", tumor={"er_percent": 80, "pr_percent": 10, "her2": {"ihc": "3+"}})
    hp_et = next(o for o in run(p).options if o.regimen == "hp_et")
    assert "goserelin" in hp_et.drugs and "letrozole" in hp_et.drugs
    assert any("ovarian function suppression" in n for n in hp_et.notes)


def test_progression_on_an_aromatase_inhibitor_crosses_to_the_other_nonsteroidal_ai() -> None:
    p = patient(
        tumor={"er_percent": 90, "her2": {"ihc": "1+"}},
        history=[{"drugs": ["letrozole", "palbociclib"], "start": "2024-01-20", "end": "2025-01-01",
                  "stopped": "progression"}],
    )  # fmt: skip
    et = next(o for o in run(p).options if o.regimen == "et_mono")
    assert not set(et.drugs) & {"letrozole", "anastrozole"}


def test_patient_declining_chemotherapy_gets_no_cytotoxic_and_hr_positive_gets_hp_et_preferred() -> None:
    p = patient(tumor={"er_percent": 80, "her2": {"ihc": "3+"}}, preferences={"declines_chemotherapy": True})
    rec = run(p)
    assert excluded(rec)["thp"] == "patient_declines"
    assert frozenset({"pertuzumab", "trastuzumab", "letrozole"}) in drug_sets(rec, "preferred")


def test_capecitabine_contraindicated_with_severe_renal_impairment() -> None:
    history = [
        {"drugs": THP, "start": "2022-01-20", "end": "2023-06-01", "stopped": "progression"},
        {"drugs": ["trastuzumab deruxtecan"], "start": "2023-06-20", "end": "2025-01-01", "stopped": "progression"},
    ]
    rec = run(patient(history=history, conditions={"crcl_ml_min": 25}))
    assert not any("capecitabine" in s for s in drug_sets(rec))
    assert excluded(rec)["ttc"] == "contraindicated_renal"


def test_missing_lvef_is_warned_when_her2_antibodies_are_offered() -> None:
    p = Patient.model_validate(
        {"tumor": {"er_percent": 0, "her2": {"ihc": "3+"}}, "metastatic_diagnosis": "2026-01-05"}
    )
    rec = run(p)
    assert any("LVEF not recorded" in w for w in rec.warnings)


# ------------------------------------------------------------------------------------------ bad input
def test_metastatic_diagnosis_after_as_of_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="metastatic_diagnosis"):
        run(patient(metastatic_diagnosis="2027-01-01"))


def test_history_after_as_of_is_ignored_and_counted() -> None:
    late = [{"drugs": ["trastuzumab deruxtecan"], "start": "2026-12-01", "end": "2027-01-01", "stopped": "progression"}]
    rec = run(patient(history=late))
    assert rec.line == 1
    assert any("after as_of" in w and "1 history line" in w for w in rec.warnings)


def test_lines_are_derived_from_raw_exposures_and_the_answer_says_so() -> None:
    exposures = [
        {"drug": "Phesgo", "start": "2024-01-20"},
        {"drug": "docetaxel", "start": "2024-01-20"},
        {"drug": "Phesgo", "start": "2024-04-20", "end": "2025-05-01", "stopped": "progression"},
        {"drug": "Enhertu", "start": "2025-06-01", "end": "2026-08-01", "stopped": "progression"},
    ]
    rec = run(patient(exposures=exposures))
    assert rec.line == 3
    assert any("lines derived from 4 raw exposures" in w for w in rec.warnings)
    assert any(t.rule == "derive_lines" for t in rec.trace)


def test_every_answer_has_a_clinical_trial_action_and_kb_version() -> None:
    rec = run(patient())
    assert "clinical_trial" in {a.code for a in rec.actions}
    assert rec.kb_version == load_knowledge().version
    contract = rec.to_contract()
    for key in ("line", "options", "excluded", "actions", "missing", "kb_version"):
        assert key in contract


def test_ild_is_recognised_by_whole_words_only() -> None:
    def tdxd_reason(event: str) -> str:
        history = [
            {"drugs": ["trastuzumab deruxtecan"], "start": "2024-01-20", "end": "2024-06-01", "stopped": "toxicity",
             "toxicity": {"event": event, "grade": 2}},
        ]  # fmt: skip
        return excluded(run(patient(history=history)))["tdxd"]

    assert tdxd_reason("mild diarrhoea") == "stopped_for_toxicity"  # "mild" contains "ild": not ILD
    assert tdxd_reason("Pneumonitis (ILD)") == "contraindicated_ild"


def test_relapse_during_adjuvant_therapy_is_said_so() -> None:
    p = patient(
        presentation="recurrent",
        early_therapy=[{"setting": "adjuvant", "drugs": ["trastuzumab"], "end": "2024-03-01"}],
    )
    rec = run(p)
    assert rec.algorithm == "second_line"
    assert "during (neo)adjuvant" in rec.line_rationale


def test_raw_exposures_beside_history_are_reported_not_silently_dropped() -> None:
    rec = run(after_thp(exposures=[{"drug": "Enhertu", "start": "2025-07-01"}]))
    assert any("1 raw exposure(s) not used" in w for w in rec.warnings)


def test_lvef_fall_from_baseline_withholds_trastuzumab_and_adcs() -> None:
    # progression on THP a month ago: the fall happened on HER2 therapy, so the label hold rules apply
    history = [{"drugs": THP, "start": "2024-01-20", "end": "2026-09-01", "stopped": "progression"}]
    rec = run(patient(history=history, conditions={"lvef_percent": 44, "lvef_baseline_percent": 62}))
    reasons = excluded(rec)
    assert reasons["tdxd"] == "contraindicated_lvef_decline"
    assert reasons["tdm1"] == "contraindicated_lvef_decline"
    assert reasons["ttc"] == "contraindicated_lvef_decline"  # trastuzumab: fall ≥16 points


def test_tdm1_is_held_for_thrombocytopenia() -> None:
    rec = run(after_thp(conditions={"platelets_per_mm3": 30000}))
    assert excluded(rec)["tdm1"] == "contraindicated_thrombocytopenia"


def _q3w(drugs: list[str], first: str, n: int) -> list[dict[str, Any]]:
    start = dt.date.fromisoformat(first)
    return [{"drug": d, "start": (start + dt.timedelta(days=21 * i)).isoformat()} for i in range(n) for d in drugs]


def test_raw_exposures_are_derived_into_lines_and_said_so() -> None:
    exposures = _q3w(THP, "2024-01-20", 6) + _q3w(["trastuzumab deruxtecan"], "2024-09-01", 8)
    rec = run(patient(exposures=exposures, sites=[{"site": "liver"}]))
    # THP, then T-DXd (last dose 2025-01, more than gap_days before as_of): two lines ended, the third is chosen
    assert rec.line == 3
    assert any("lines derived from" in w for w in rec.warnings)
    assert not any("trastuzumab deruxtecan" in o.drugs for o in rec.options)


def test_exposures_without_a_metastatic_diagnosis_date_ask_for_it_and_propose_no_regimen() -> None:
    exposures = _q3w(THP, "2024-01-20", 6)
    rec = run(patient(exposures=exposures, metastatic_diagnosis=None))
    assert "metastatic_diagnosis" in {m.code for m in rec.missing}
    assert rec.options == ()
    assert {e.reason_code for e in rec.excluded} == {"line_unknown"}
    assert "Line unknown" in rec.line_rationale
    assert any(a.code == "clinical_trial" for a in rec.actions)


def test_no_exposures_and_no_metastatic_diagnosis_date_is_still_first_line() -> None:
    rec = run(patient(metastatic_diagnosis=None))
    assert rec.line == 1 and rec.options
    assert "metastatic_diagnosis" not in {m.code for m in rec.missing}


# ------------------------------------------------------------------------------------------ new-user findings
AFTER_THP_TDXD = [
    {"drugs": THP, "start": "2022-01-20", "end": "2023-06-01", "stopped": "progression"},
    {"drugs": ["trastuzumab deruxtecan"], "start": "2023-06-20", "end": "2025-01-01", "stopped": "progression"},
]
KB = load_knowledge()


def _names_a_drug(reason: str, drugs: tuple[str, ...]) -> bool:
    text = reason.lower()
    return any(n.lower() in text for d in drugs for n in (d, *KB.vocab.drug(d).aliases))


def test_strong_cyp3a_inducer_excludes_every_her2_tki_with_its_label() -> None:
    rec = run(patient(history=AFTER_THP_TDXD, conditions={"medications": ["rifampin"]}))
    by_regimen = {e.regimen: e for e in rec.excluded}
    for regimen, label in [
        ("ttc", "LBL-TUKYSA"),
        ("neratinib_cape", "LBL-NERLYNX"),
        ("lapatinib_cape", "LBL-TYKERB"),
        ("lapatinib_trastuzumab", "LBL-TYKERB"),
    ]:
        assert by_regimen[regimen].reason_code == "interaction", regimen
        assert label in {c.id for c in by_regimen[regimen].citations}
    assert not any(s & {"tucatinib", "neratinib", "lapatinib"} for s in drug_sets(rec))


def test_strong_cyp3a_inhibitor_excludes_neratinib_and_gives_the_lapatinib_dose() -> None:
    rec = run(patient(history=AFTER_THP_TDXD, conditions={"medications": ["clarithromycin"]}))
    assert excluded(rec)["neratinib_cape"] == "interaction"
    lapcape = next(o for o in rec.options if o.regimen == "lapatinib_cape")
    assert any("500 mg/day" in f for f in lapcape.flags)


@pytest.mark.parametrize(
    "conditions",
    [
        {"lvef_percent": 35},
        {"lvef_percent": 45},
        {"heart_failure_nyha": 3, "lvef_percent": 55},
        {"heart_failure_nyha": 1},
    ],
)
def test_reduced_lvef_or_heart_failure_flags_every_her2_directed_option(conditions: dict[str, Any]) -> None:
    rec = run(patient(history=AFTER_THP_TDXD, conditions=conditions))
    her2_options = [o for o in rec.options if any(KB.in_class(d, "her2_directed") for d in o.drugs)]
    assert her2_options  # neratinib + capecitabine at least
    for o in her2_options:
        assert any("cardio-oncology" in f for f in o.flags), o.regimen


@pytest.mark.parametrize(
    "conditions",
    [
        {"heart_failure_nyha": 3, "lvef_percent": 55},
        {"lvef_percent": 35},
        {"pregnant": True, "gestational_age_weeks": 22},
        {"medications": ["rifampin"]},
        {"crcl_ml_min": 20},
    ],
)
def test_every_safety_exclusion_reason_names_a_drug_of_its_regimen(conditions: dict[str, Any]) -> None:
    rec = run(patient(history=AFTER_THP_TDXD, conditions=conditions))
    assert rec.excluded
    for e in rec.excluded:
        assert _names_a_drug(e.reason, e.drugs), (e.regimen, e.reason)
    ttc = next((e for e in rec.excluded if e.regimen == "ttc"), None)
    assert ttc is None or "T-DM1" not in ttc.reason


def test_notes_and_monitoring_apply_only_where_their_condition_holds() -> None:
    cardiac = run(patient(conditions={"lvef_percent": 35}))  # first line, HR-negative: paclitaxel without HER2
    paclitaxel = next(o for o in cardiac.options if o.regimen == "paclitaxel_weekly")
    assert not any("pregnan" in n.lower() for n in paclitaxel.notes)
    assert not any("HER2 therapy" in m.text for m in cardiac.monitoring if "paclitaxel" in m.drugs)
    pregnant = run(patient(conditions={"pregnant": True, "gestational_age_weeks": 20}))
    assert any("2nd/3rd trimester" in n for o in pregnant.options for n in o.notes)
    assert not any(m.rule == "MON-TAXANE-DEESCALATION" for m in pregnant.monitoring)
    standard = run(patient())  # THP: the de-escalation text belongs beside HER2 therapy
    assert any(m.rule == "MON-TAXANE-DEESCALATION" for m in standard.monitoring)


def test_patient_declining_brain_local_therapy_is_acknowledged_in_the_brain_action() -> None:
    sites = [{"site": "lymph_node"}, {"site": "brain", "status": "active", "symptomatic": False}]
    declined = run(patient(sites=sites, preferences={"declines_brain_local_therapy": True}))
    action = next(a for a in declined.actions if a.code == "brain_local_therapy")
    assert "declines" in action.text and "MRI every 2-3 months" in action.text
    assert "intracranial progression" in action.text
    assert {"ASCO-BM-2022", "DESTINY-Breast12"} <= {c.id for c in action.citations}
    usual = next(a for a in run(patient(sites=sites)).actions if a.code == "brain_local_therapy")
    assert "declines" not in usual.text and "SRS" in usual.text


def test_lvef_monitoring_is_given_per_adc_with_its_own_label() -> None:
    rec = run(after_thp())  # second line: T-DXd and T-DM1 both offered
    by_rule = {m.rule: m for m in rec.monitoring}
    tdm1, tdxd = by_rule["MON-LVEF-TDM1"], by_rule["MON-LVEF-TDXD"]
    assert [c.id for c in tdm1.citations] == ["LBL-KADCYLA"] and tdm1.drugs == ("trastuzumab emtansine",)
    assert [c.id for c in tdxd.citations] == ["LBL-ENHERTU"] and tdxd.drugs == ("trastuzumab deruxtecan",)
    assert "40-45 % with a fall ≥10 points" in tdm1.text and "repeat within 3 weeks" in tdm1.text
    assert "fall >20 points" in tdxd.text and ">20" not in tdm1.text


def test_pregnant_patient_after_taxane_progression_is_not_offered_another_taxane() -> None:
    history = [
        {"drugs": THP, "start": "2022-01-20", "end": "2023-06-01", "stopped": "progression"},
        {"drugs": ["capecitabine"], "start": "2023-06-20", "end": "2025-01-01", "stopped": "progression"},
    ]
    rec = run(patient(history=history, conditions={"pregnant": True, "gestational_age_weeks": 22}))
    assert rec.line == 3
    assert not any(s & {"docetaxel", "paclitaxel", "nab-paclitaxel"} for s in drug_sets(rec))
    paclitaxel = next(e for e in rec.excluded if e.regimen == "paclitaxel_weekly")
    assert paclitaxel.reason_code == "progressed_on"
    assert "progressed on docetaxel (line 1)" in paclitaxel.reason and "cross-resistance" in paclitaxel.reason


def test_pregnancy_asks_for_gestational_age_and_excludes_chemotherapy_in_the_first_trimester() -> None:
    unknown = run(patient(conditions={"pregnant": True}))
    assert "gestational_age" in {m.code for m in unknown.missing}
    assert frozenset({"paclitaxel"}) in drug_sets(unknown)
    first = run(patient(conditions={"pregnant": True, "gestational_age_weeks": 10}))
    assert excluded(first)["paclitaxel_weekly"] == "contraindicated_pregnancy"
    assert not drug_sets(first)
    second = run(patient(conditions={"pregnant": True, "gestational_age_weeks": 20}))
    assert frozenset({"paclitaxel"}) in drug_sets(second) and not second.missing


@pytest.mark.parametrize(
    ("tumor", "history", "code", "words"),
    [
        ({"er_percent": 80, "her2": {"ihc": "0"}}, [["letrozole", "palbociclib"]], "not_labelled", "HER2-0"),
        ({"er_percent": 0, "her2": {"ihc": "ultralow"}}, [["paclitaxel"]], "not_labelled", "HR-negative HER2-ultralow"),
        ({"er_percent": 80, "her2": {"ihc": "ultralow"}}, [["paclitaxel"]], "label_prerequisite", "endocrine therapy"),
    ],
)
def test_tdxd_withheld_in_her2_negative_disease_says_why(
    tumor: dict[str, Any], history: list[list[str]], code: str, words: str
) -> None:
    lines = [{"drugs": d, "start": "2024-01-20", "end": "2025-01-01", "stopped": "progression"} for d in history]
    rec = run(patient(tumor=tumor, history=lines))
    tdxd = [e for e in rec.excluded if set(e.drugs) == {"trastuzumab deruxtecan"}]
    assert len(tdxd) == 1
    assert tdxd[0].reason_code == code and words in tdxd[0].reason
    assert "HER2-positive-only" not in tdxd[0].reason
    assert "LBL-ENHERTU" in {c.id for c in tdxd[0].citations}
    for e in rec.excluded:
        assert "is HER2-negative (ASCO/CAP)" not in e.reason and _names_a_drug(e.reason, e.drugs), e.reason


def test_her2_low_after_tdxd_lists_tdxd_once_with_the_most_specific_reason() -> None:
    history = [
        {"drugs": ["letrozole", "palbociclib"], "start": "2023-01-20", "end": "2024-01-01", "stopped": "progression"},
        {"drugs": ["trastuzumab deruxtecan"], "start": "2024-01-20", "end": "2025-01-01", "stopped": "progression"},
    ]
    rec = run(patient(tumor={"er_percent": 80, "her2": {"ihc": "1+"}}, history=history))
    tdxd = [e for e in rec.excluded if set(e.drugs) == {"trastuzumab deruxtecan"}]
    assert [e.reason_code for e in tdxd] == ["progressed_on"]
    assert not tdxd[0].also


# ------------------------------------------------------------------------------------------ brain (§b)
def _brain_action(rec: Recommendation) -> str:
    return next(a.text for a in rec.actions if a.code == "brain_local_therapy")


@pytest.mark.parametrize("site", [{"site": "leptomeningeal", "symptomatic": True}, {"site": "leptomeningeal"}])
def test_leptomeningeal_disease_gets_neuraxis_work_up_not_resection_or_srs(site: dict[str, Any]) -> None:
    rec = run(after_thp(sites=[{"site": "liver"}, site]))
    text = _brain_action(rec)
    assert "whole neuraxis" in text and "CSF cytology" in text and "UNCONFIRMED" in text
    assert "neurosurgical resection" not in text and "deferring local therapy" not in text
    tdxd = next(o for o in rec.options if o.regimen == "tdxd")  # CNS-active option kept, flagged
    assert any("leptomeningeal" in f and "UNCONFIRMED" in f for f in tdxd.flags)


def test_leptomeningeal_disease_with_a_mass_effect_lesion_keeps_local_therapy_first() -> None:
    brain = {"site": "brain", "status": "active", "mass_effect": True, "symptomatic": True, "largest_mm": 32}
    rec = run(after_thp(sites=[{"site": "liver"}, {"site": "leptomeningeal"}, brain]))
    [text] = [a.text for a in rec.actions if a.code == "brain_local_therapy"]
    assert "local therapy FIRST" in text and "dexamethasone" in text and "never systemic therapy alone" in text
    assert "whole neuraxis" in text and "CSF cytology" in text and "UNCONFIRMED" in text
    only_lepto = _brain_action(run(after_thp(sites=[{"site": "liver"}, {"site": "leptomeningeal"}])))
    assert "local therapy FIRST" not in only_lepto


@pytest.mark.parametrize(
    ("site", "said", "not_said"),
    [
        ({"site": "leptomeningeal"}, ["whole neuraxis", "CSF cytology", "UNCONFIRMED"], ["SRS or resection"]),
        ({"site": "brain"}, ["MDT evaluation", "brain_status"], ["SRS or resection", "neuraxis"]),
        ({"site": "brain", "status": "active", "symptomatic": False, "largest_mm": 8}, ["SRS or resection"], []),
    ],
)
def test_ongoing_line_with_cns_disease_words_the_continue_decision_by_kind_of_site(
    site: dict[str, Any], said: list[str], not_said: list[str]
) -> None:
    history = [
        {"drugs": THP, "start": "2024-01-20", "end": "2025-06-01", "stopped": "progression"},
        {"drugs": ["trastuzumab deruxtecan"], "start": "2025-06-20", "stopped": "ongoing"},
    ]
    rec = run(patient(history=history, sites=[{"site": "liver"}, site]))
    assert rec.algorithm == "continue"
    why = rec.algorithm_rationale
    assert all(s in why for s in said), why
    assert not any(s in why for s in not_said), why
    assert ("untreated brain metastases" in why) == (site.get("status") == "active")


@pytest.mark.parametrize(
    "brain",
    [
        {"mass_effect": True, "symptomatic": False, "largest_mm": 12},
        {"symptomatic": True, "largest_mm": 12},
        {"symptomatic": False, "largest_mm": 35},
    ],
)
def test_ttc_deferral_statement_never_fires_with_mass_effect_symptoms_or_a_large_lesion(brain: dict[str, Any]) -> None:
    rec = run(after_thp(sites=[{"site": "liver"}, {"site": "brain", "status": "active", **brain}]))
    assert not any(t.rule == "S2L-TTC-BRAIN" for t in rec.trace)
    ttc = next(o for o in rec.options if o.regimen == "ttc")  # still offered by the generic statement
    assert "deferred" not in ttc.rationale
    assert "local therapy FIRST" in _brain_action(rec)


def test_brain_site_without_details_asks_for_them_and_gives_neutral_local_therapy_advice() -> None:
    rec = run(after_thp(sites=[{"site": "liver"}, {"site": "brain"}]))
    assert "brain_status" in {m.code for m in rec.missing}
    text = _brain_action(rec)
    assert "MDT evaluation" in text and "asymptomatic" not in text
    assert not any(t.rule == "S2L-TTC-BRAIN" for t in rec.trace)
    full = run(after_thp(sites=[{"site": "brain", "status": "active", "symptomatic": False, "largest_mm": 9}]))
    assert "brain_status" not in {m.code for m in full.missing}
    assert "asymptomatic" in _brain_action(full)


# ------------------------------------------------------------------------------------------ endocrine (§a.3)
def test_relapse_on_adjuvant_aromatase_inhibitor_excludes_the_class_and_picks_fulvestrant_or_tamoxifen() -> None:
    early = [{"setting": "adjuvant", "drugs": ["anastrozole", "goserelin"], "start": "2020-01-01", "end": "2024-01-05"}]
    rec = run(
        patient(
            menopausal_status="pre",
            tumor={"er_percent": 90, "pr_percent": 50},
            early_therapy=early,
            sites=[{"site": "bone"}],
        )
    )
    endocrine = [o for o in rec.options if any(KB.in_class(d, "endocrine_therapy") for d in o.drugs)]
    assert endocrine
    for o in endocrine:
        assert not any(KB.in_class(d, "aromatase_inhibitor") for d in o.drugs), o.drugs
        assert {"fulvestrant", "tamoxifen"} & set(o.drugs)
    late = run(
        patient(
            menopausal_status="pre",
            tumor={"er_percent": 90, "pr_percent": 50},
            early_therapy=[{**early[0], "end": "2021-06-01"}],
        )
    )
    assert any("letrozole" in o.drugs for o in late.options)  # relapse > 12 months after: not resistant


def test_old_baseline_before_adjuvant_therapy_does_not_trigger_on_treatment_hold_rules_at_first_line() -> None:
    early = [
        {"setting": "adjuvant", "drugs": ["trastuzumab", "paclitaxel"], "start": "2018-06-01", "end": "2019-06-01"}
    ]
    rec = run(patient(early_therapy=early, conditions={"lvef_percent": 45, "lvef_baseline_percent": 60}))
    thp = next(o for o in rec.options if o.regimen == "thp")
    assert thp.category == "preferred"
    assert any("cardio-oncology" in f and "case-by-case" in f for f in thp.flags)
    assert not any(e.reason_code == "contraindicated_lvef_decline" for e in rec.excluded)
    low = run(patient(early_therapy=early, conditions={"lvef_percent": 38, "lvef_baseline_percent": 60}))
    assert excluded(low)["thp"] == "contraindicated_lvef"  # < 40 % still excludes


def test_declining_chemotherapy_puts_hp_endocrine_first_and_adcs_to_discuss() -> None:
    p = patient(tumor={"er_percent": 80, "her2": {"ihc": "3+"}}, preferences={"declines_chemotherapy": True})
    rec = run(p)
    first = rec.options[0]
    assert first.regimen == "hp_et" and first.category == "preferred"
    adcs = [o for o in rec.options if any(KB.in_class(d, "anti_her2_adc") for d in o.drugs)]
    assert adcs and all(o.category != "preferred" for o in adcs)
    assert all(any("cytotoxic payload" in f for f in o.flags) for o in adcs)
    preferred = [o for o in rec.options if o.category == "preferred"]
    assert not any(KB.in_class(d, "chemotherapy") for o in preferred for d in o.drugs)


def test_second_line_after_first_line_tdxd_pertuzumab_flags_every_option_as_the_evidence_gap() -> None:
    history = [
        {"drugs": ["trastuzumab deruxtecan", "pertuzumab"], "start": "2026-01-05", "end": "2026-09-01",
         "stopped": "progression"},
    ]  # fmt: skip
    rec = run(patient(history=history))
    by_regimen = {o.regimen: o for o in rec.options}
    assert {"ttc", "th_taxane", "tdm1"} <= set(by_regimen)
    assert rec.options[0].regimen == "ttc"
    for o in rec.options:
        assert any("evidence gap" in f and "UNCONFIRMED" in f for f in o.flags), o.regimen
        assert "If T-DXd is contraindicated" not in o.rationale
    assert not any("Pre-CLEOPATRA" in n for n in by_regimen["th_taxane"].notes)
    assert any("off-label" in f and "taxane" in f for f in by_regimen["tdm1"].flags)
    assert excluded(rec)["tdxd"] == "progressed_on"


def test_cdk46_monitoring_is_per_drug_with_its_own_label() -> None:
    after_two = [
        {"drugs": THP, "start": "2024-01-20", "end": "2025-01-01", "stopped": "progression"},
        {"drugs": ["trastuzumab deruxtecan"], "start": "2025-01-10", "end": "2026-06-01", "stopped": "progression"},
    ]
    rec = run(patient(tumor={"er_percent": 80, "her2": {"ihc": "3+"}}, history=after_two))
    assert any("abemaciclib" in o.drugs for o in rec.options)
    abema = [m for m in rec.monitoring if "abemaciclib" in m.drugs]
    assert len(abema) == 1 and "diarrhoea" in abema[0].text.lower()
    assert "PATINA" not in abema[0].text and "79.7" not in abema[0].text
    assert {c.id for c in abema[0].citations} == {"LBL-VERZENIO"}


def test_expired_statement_is_traced_as_expired_and_superseded_never_as_not_yet_in_effect() -> None:
    rec = run(after_thp())
    entry = next(t.effect for t in rec.trace if t.rule == "SE-2L-TDM1")
    assert entry.startswith("expired on 2022-05-04") and "superseded by SE-2L-TDM1-AFTER-TDXD-LABEL" in entry
    assert "not in effect" not in entry


def test_rows_left_out_of_derived_lines_are_counted_in_words() -> None:
    exposures = [*_q3w(THP, "2024-01-20", 6), {"drug": "ondansetron", "start": "2024-01-20"}]
    rec = run(patient(exposures=exposures))
    text = next(w for w in rec.warnings if "lines derived from" in w)
    assert "rows left out: 1 supportive" in text and "{" not in text


def test_ecog_three_at_third_line_presents_best_supportive_care_and_flags_every_systemic_option() -> None:
    after_two = [
        {"drugs": THP, "start": "2024-01-20", "end": "2025-01-01", "stopped": "progression"},
        {"drugs": ["trastuzumab deruxtecan"], "start": "2025-01-10", "end": "2026-06-01", "stopped": "progression"},
    ]
    rec = run(patient(history=after_two, ecog=3))
    bsc = next(a for a in rec.actions if a.code == "best_supportive_care")
    assert "real alternative" in bsc.text
    assert rec.options
    for o in rec.options:
        assert any("performance status" in f for f in o.flags), o.regimen
