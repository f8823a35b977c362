"""``as_of`` answers as the knowledge stood then (issue #2), and the new-user findings of the same test round:
taxane-free first line in every era, severe renal impairment with T-DXd, untreated brain metastases on an
ongoing line, chemotherapy citations that fit the population, engine errors that name the argument."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from oncoline.engines.recommend import recommend
from oncoline.errors import InputError
from oncoline.knowledge.loader import load_knowledge
from oncoline.model import Patient
from oncoline.model.recommendation import Recommendation

THP = ["pertuzumab", "trastuzumab", "docetaxel"]
TODAY = dt.date(2026, 10, 1)


def patient(**extra: Any) -> Patient:
    base: dict[str, Any] = {
        "id": "A",
        "age": 58,
        "menopausal_status": "post",
        "tumor": {"er_percent": 0, "pr_percent": 0, "her2": {"ihc": "3+"}},
        "presentation": "de_novo",
        "metastatic_diagnosis": "2019-01-10",
        "sites": [{"site": "liver"}],
        "conditions": {"lvef_percent": 60, "pregnant": False, "neuropathy_grade": 0},
    }
    for key, value in extra.items():
        base[key] = {**base[key], **value} if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return Patient.model_validate(base)


def after_thp(**extra: Any) -> Patient:
    history = [{"drugs": THP, "start": "2019-01-20", "end": "2021-11-01", "stopped": "progression"}]
    return patient(history=history, **extra)


def run(p: Patient, as_of: dt.date) -> Recommendation:
    return recommend(p, knowledge=load_knowledge(), as_of=as_of)


def option(rec: Recommendation, regimen: str) -> Any:
    return next(o for o in rec.options if o.regimen == regimen)


def regimens(rec: Recommendation, category: str | None = None) -> list[str]:
    return [o.regimen for o in rec.options if category is None or o.category == category]


def cited_dates(rec: Recommendation) -> list[tuple[str, dt.date]]:
    kb = load_knowledge()
    groups = [o.citations for o in rec.options] + [e.citations for e in rec.excluded]
    groups += [a.citations for a in rec.actions] + [m.citations for m in rec.monitoring]
    return [(c.id, kb.sources[c.id].date) for g in groups for c in g if kb.sources[c.id].dates_knowledge]


# ------------------------------------------------------------------------------------------ issue #2
def test_second_line_before_tdxd_approval_offers_tdm1_as_the_standard_and_ttc() -> None:
    rec = run(after_thp(), dt.date(2022, 1, 1))
    assert regimens(rec, "preferred") == ["tdm1"] and "ttc" in regimens(rec, "other")
    assert "tdxd" not in regimens(rec)
    tdm1 = option(rec, "tdm1")
    assert "T-DXd" not in tdm1.rationale  # no "if T-DXd is contraindicated" before T-DXd is an option
    assert {c.id for c in tdm1.citations} == {"LBL-KADCYLA", "EMILIA"}
    assert tdm1.guideline_status and "label/trial-based" in tdm1.guideline_status


def test_tdxd_on_its_label_date_rests_on_the_label_not_on_the_later_asco_guideline() -> None:
    rec = run(after_thp(), dt.date(2022, 5, 4))
    tdxd = option(rec, "tdxd")
    assert tdxd.category == "preferred"
    assert "ASCO" not in tdxd.rationale
    assert "ASCO-HER2-2022" not in {c.id for c in tdxd.citations}
    assert {"LBL-ENHERTU-2L", "DESTINY-Breast03-2022"} <= {c.id for c in tdxd.citations}
    assert all("2024" not in ev for ev in tdxd.evidence) and "DESTINY-Breast03 (primary" in tdxd.evidence[0]


def test_asco_statements_take_over_on_the_guideline_date() -> None:
    rec = run(after_thp(), dt.date(2022, 5, 31))
    assert "Rec 2.1" in option(rec, "tdxd").rationale
    assert "ASCO-HER2-2022" in {c.id for c in option(rec, "tdm1").citations}


def test_a_flag_resting_on_a_later_secondary_report_is_left_out_and_traced() -> None:
    before = option(run(patient(), dt.date(2025, 12, 14)), "thp")
    assert not any("NCCN 2.2026" in f for f in before.flags)
    assert "OTK-2026" not in {c.id for c in before.citations}
    rec = run(patient(), dt.date(2025, 12, 14))
    assert any(t.rule == "S1L-THP" and "OTK-2026" in t.effect and "left out" in t.effect for t in rec.trace)
    now = option(run(patient(), TODAY), "thp")
    assert any("NCCN 2.2026" in f for f in now.flags) and "OTK-2026" in {c.id for c in now.citations}


def test_first_line_before_asco_2022_is_thp_on_the_perjeta_label_and_cleopatra() -> None:
    rec = run(patient(metastatic_diagnosis="2021-12-01"), dt.date(2022, 1, 1))
    thp = option(rec, "thp")
    assert thp.category == "preferred"
    assert {"LBL-PERJETA", "CLEOPATRA-2012"} <= {c.id for c in thp.citations}
    old = option(run(patient(metastatic_diagnosis="2013-01-01"), dt.date(2013, 1, 1)), "thp")
    assert old.evidence == ("CLEOPATRA (primary analysis, 2012): PFS 18.5 vs 12.4 mo (HR 0.62)",)
    assert not any("PERUSE" in n or "Phesgo" in n for n in old.notes)  # notes resting on later sources


def test_current_answers_are_unchanged_by_the_era_statements() -> None:
    rec = run(after_thp(), TODAY)
    assert regimens(rec, "preferred") == ["tdxd"] and set(regimens(rec, "other")) == {"tdm1", "ttc"}
    assert all(o.guideline_status is None or "label/trial-based" not in o.guideline_status for o in rec.options)
    assert regimens(run(patient(metastatic_diagnosis="2026-09-01"), TODAY), "preferred") == ["thp", "tdxd_p"]


@settings(max_examples=25, deadline=None)
@given(
    as_of=st.dates(dt.date(2013, 1, 1), dt.date(2026, 11, 29)),
    which=st.sampled_from(["first", "second", "third", "brain"]),
)
def test_no_answer_cites_a_source_dated_after_as_of(as_of: dt.date, which: str) -> None:
    tdm1 = {"drugs": ["trastuzumab emtansine"], "start": "2012-12-01", "end": "2012-12-20", "stopped": "progression"}
    history: list[dict[str, Any]] = {
        "first": [],
        "second": [{"drugs": THP, "start": "2012-07-01", "end": "2012-11-01", "stopped": "progression"}],
        "third": [{"drugs": THP, "start": "2012-07-01", "end": "2012-11-01", "stopped": "progression"}, tdm1],
        "brain": [{"drugs": THP, "start": "2012-07-01", "end": "2012-11-01", "stopped": "progression"}],
    }[which]
    sites = [{"site": "liver"}, {"site": "bone"}] + (
        [{"site": "brain", "status": "active"}] if which == "brain" else []
    )
    rec = run(patient(metastatic_diagnosis="2012-06-20", history=history, sites=sites), as_of)
    assert [(i, d) for i, d in cited_dates(rec) if d > as_of] == []
    assert "clinical_trial" in {a.code for a in rec.actions}
    assert all(o.citations for o in rec.options)


# ------------------------------------------------------------------------------------------ issue: taxane-free 1L
def test_grade_three_neuropathy_gets_a_taxane_free_first_line_before_asco_2022_too() -> None:
    rec = run(patient(metastatic_diagnosis="2021-12-01", conditions={"neuropathy_grade": 3}), dt.date(2022, 1, 1))
    assert "hp_vinorelbine" in regimens(rec)
    assert not any("docetaxel" in o.drugs or "paclitaxel" in o.drugs for o in rec.options)


# ------------------------------------------------------------------------------------------ issue: severe renal
def test_severe_renal_impairment_cautions_tdxd_like_moderate_with_its_own_text() -> None:
    severe = option(run(after_thp(conditions={"crcl_ml_min": 25}), TODAY), "tdxd")
    moderate = option(run(after_thp(conditions={"crcl_ml_min": 45}), TODAY), "tdxd")
    assert any("severe renal impairment" in f and "dose not established" in f for f in severe.flags)
    assert not any("moderate renal impairment" in f for f in severe.flags)
    assert any("moderate renal impairment" in f for f in moderate.flags)


# ------------------------------------------------------------------------------------------ issue: brain on a line
def test_untreated_brain_metastases_on_an_ongoing_line_are_not_called_no_progression() -> None:
    history = [
        {"drugs": THP, "start": "2024-01-20", "end": "2025-06-01", "stopped": "progression"},
        {"drugs": ["trastuzumab deruxtecan"], "start": "2025-06-20", "stopped": "ongoing"},
    ]
    sites = [{"site": "liver"}, {"site": "brain", "status": "active", "lesions": 2, "largest_mm": 7}]
    rec = run(patient(metastatic_diagnosis="2024-01-10", history=history, sites=sites), TODAY)
    assert rec.algorithm == "continue"
    said = " ".join((rec.algorithm_rationale, *(o.rationale for o in rec.options))).lower()
    assert "no progression" not in said and "no systemic progression" not in said
    assert "untreated brain metastases" in said and "extracranial disease is controlled" in said
    assert "brain_local_therapy" in {a.code for a in rec.actions}


# ------------------------------------------------------------------------------------------ issue: citations fit
def test_chemotherapy_after_chemotherapy_in_her2_low_hr_negative_cites_db04_not_db06() -> None:
    history = [{"drugs": ["paclitaxel"], "start": "2024-02-01", "end": "2025-01-10", "stopped": "progression"}]
    p = patient(tumor={"her2": {"ihc": "1+"}}, metastatic_diagnosis="2024-01-10", history=history)
    chemo = option(run(p, TODAY), "chemo_mono")
    cited = {c.id for c in chemo.citations}
    assert "DESTINY-Breast04" in cited and "DESTINY-Breast06" not in cited
    assert "DESTINY-Breast06" not in chemo.rationale


def test_chemotherapy_for_her2_null_cites_only_the_generic_sources() -> None:
    p = patient(tumor={"her2": {"ihc": "0"}}, metastatic_diagnosis="2026-09-01")
    chemo = option(run(p, TODAY), "chemo_mono")
    assert {c.id for c in chemo.citations} == {"ABC5"}  # ONC-REF: not listed before 2026-11-29
    later = option(run(p, dt.date(2026, 12, 1)), "chemo_mono")
    assert {c.id for c in later.citations} == {"ONC-REF", "ABC5"}


# ------------------------------------------------------------------------------------------ issue: engine errors
def test_engine_input_error_speaks_of_the_as_of_argument_not_a_cli_option() -> None:
    try:
        run(patient(metastatic_diagnosis="2026-09-01"), dt.date(2026, 1, 1))
    except InputError as exc:
        assert "`as_of` argument" in str(exc) and "--as-of" not in str(exc)
    else:  # pragma: no cover - the call must raise
        raise AssertionError("no InputError")
