"""Vignettes written from the clinical reference (shared/reference/her2-mbc.md), not from the shared cases.

Each test names the reference section and the source it encodes (issue 8 items 2-4) and failed on the code before
its rule was added. Patients are built here from the reference text; no test names a case or a real patient.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from oncoline.engines.recommend import recommend
from oncoline.knowledge.loader import load_knowledge
from oncoline.model import Patient
from oncoline.model.recommendation import Recommendation

THP = ["pertuzumab", "trastuzumab", "docetaxel"]
TODAY = dt.date(2026, 12, 6)


def _days(day: dt.date, n: int) -> str:
    return (day + dt.timedelta(days=n)).isoformat()


def vignette(**extra: Any) -> Patient:
    base: dict[str, Any] = {
        "id": "V",
        "age": 60,
        "ecog": 1,
        "menopausal_status": "post",
        "tumor": {"er_percent": 0, "pr_percent": 0, "her2": {"ihc": "3+"}},
        "presentation": "de_novo",
        "sites": [{"site": "liver"}],
        "conditions": {"lvef_percent": 60},
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return Patient.model_validate(base)


def run(p: Patient, as_of: dt.date = TODAY) -> Recommendation:
    return recommend(p, knowledge=load_knowledge(), as_of=as_of)


def by_regimen(rec: Recommendation) -> dict[str, str]:
    return {o.regimen: o.category.value for o in rec.options}


# ---------------------------------------------------------------------------------------------- as of (§a.1 KB
# rule, house style S2): no later source in any text of an earlier answer - actions, monitoring, labels, the
# reference itself.
def _trial_names() -> dict[str, dt.date]:
    """Trial name (and its DB-nn abbreviation) → the date of its earliest source."""
    kb = load_knowledge()
    out: dict[str, dt.date] = {}
    for src in kb.sources.values():
        if src.kind != "trial":
            continue
        name = src.short.split(" (")[0]
        names = [name]
        m = re.fullmatch(r"DESTINY-Breast(\d+)", name)
        if m:
            names.append(f"DB-{m.group(1)}")
        for n in names:
            out[n] = min(out.get(n, src.date), src.date)
    return out


def _texts(rec: Recommendation) -> list[str]:
    out = [rec.line_rationale, rec.algorithm_rationale, *rec.warnings]
    for o in rec.options:
        out += [o.rationale, *o.flags, *o.notes, *o.evidence]
    for e in rec.excluded:
        out += [e.reason, *e.also]
    out += [a.text for a in rec.actions] + [m.text for m in rec.monitoring] + [m.text for m in rec.missing]
    return out


def _scenarios(as_of: dt.date) -> list[Patient]:
    dx = as_of - dt.timedelta(days=700)
    thp_done = [{"drugs": THP, "start": _days(dx, 10), "end": _days(dx, 400), "stopped": "progression"}]
    brain = {"site": "brain", "status": "active", "lesions": 2, "largest_mm": 12, "symptomatic": False}
    return [
        vignette(metastatic_diagnosis=_days(as_of, -20)),
        vignette(metastatic_diagnosis=dx.isoformat(), history=thp_done),
        vignette(
            metastatic_diagnosis=dx.isoformat(),
            history=thp_done,
            sites=[{"site": "liver"}, brain],
            preferences={"declines_brain_local_therapy": True},
            menopausal_status="pre",
            tumor={"er_percent": 40},
        ),
        vignette(metastatic_diagnosis=dx.isoformat(), sites=[{"site": "leptomeningeal"}], history=thp_done),
        vignette(metastatic_diagnosis=_days(as_of, -20), conditions={"crcl_ml_min": 45}, menopausal_status="pre"),
    ]


@pytest.mark.parametrize(
    "as_of",
    [dt.date(2014, 6, 1), dt.date(2019, 6, 1), dt.date(2020, 6, 1), dt.date(2022, 6, 1), dt.date(2024, 2, 1)],
)
def test_no_text_of_an_earlier_answer_names_a_later_trial_or_cites_a_later_source(as_of: dt.date) -> None:
    """§a.1 KB rule, issue 8 item 3: --as-of lets no later source into action, label, monitoring texts."""
    kb = load_knowledge()
    later = {n: d for n, d in _trial_names().items() if d > as_of}
    for p in _scenarios(as_of):
        rec = run(p, as_of)
        for text in _texts(rec):
            named = [n for n in later if re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", text)]
            assert not named, (as_of, named, text)
        groups = [o.citations for o in rec.options] + [e.citations for e in rec.excluded]
        groups += [a.citations for a in rec.actions] + [m.citations for m in rec.monitoring]
        late = {c.id for g in groups for c in g if kb.sources[c.id].date > as_of}
        assert late == set(), (as_of, late)  # the reference itself (ONC-REF, 2026-11-29) included


def test_brain_action_before_destiny_breast12_names_only_what_existed() -> None:
    """§b.1 Rec 7.1 (ASCO-BM-2022) and §b.2 (DESTINY-Breast12, Sep 2024): the refusal wording follows the date."""
    dx = dt.date(2023, 1, 10)
    p = vignette(
        metastatic_diagnosis=dx.isoformat(),
        history=[{"drugs": THP, "start": "2023-01-20", "end": "2023-12-01", "stopped": "progression"}],
        sites=[{"site": "liver"}, {"site": "brain", "status": "active", "lesions": 1, "largest_mm": 9}],
        preferences={"declines_brain_local_therapy": True},
    )
    before = next(a for a in run(p, dt.date(2024, 2, 1)).actions if a.code == "brain_local_therapy")
    after = next(a for a in run(p, TODAY).actions if a.code == "brain_local_therapy")
    assert "DESTINY-Breast12" not in before.text and "TTC" in before.text
    assert "DESTINY-Breast12" not in {c.id for c in before.citations}
    assert "DESTINY-Breast12" in after.text


def test_label_titles_as_of_list_no_later_indication() -> None:
    """§f (approval dates): the Enhertu label cited in 2020 does not list the 2025 indications."""
    dx = dt.date(2019, 1, 10)
    history = [
        {"drugs": THP, "start": "2019-01-20", "end": "2019-08-01", "stopped": "progression"},
        {"drugs": ["trastuzumab emtansine"], "start": "2019-08-10", "end": "2020-03-01", "stopped": "progression"},
    ]
    rec = run(vignette(metastatic_diagnosis=dx.isoformat(), history=history), dt.date(2020, 6, 1))
    titles = [c.title for o in rec.options for c in o.citations] + [c.title for a in rec.actions for c in a.citations]
    assert any("ENHERTU" in t for t in titles)
    assert not [t for t in titles if "2025" in t or "2026" in t]


# ---------------------------------------------------------------------------------------------- §a.2 chemo-unsuitable
# Reference §a.2 (2026-11-29): chemotherapy-unsuitable = refusal; ECOG ≥2; G8 ≤14 or age ≥80 with ECOG ≥1; CrCl <30
# (KB convention, UNCONFIRMED). HR+: ET + trastuzumab ± pertuzumab co-preferred, HP + ET ahead of T + ET (PERTAIN);
# chemotherapy/ADC options carry a caution naming the factor and never rank above them.
UNSUITABLE = [
    ({"ecog": 2}, "ECOG ≥2"),
    ({"age": 76, "conditions": {"g8_score": 13}}, "abnormal G8"),
    ({"age": 81, "ecog": 1}, "age ≥80 with ECOG ≥1"),
    ({"conditions": {"crcl_ml_min": 25}}, "CrCl <30"),
]


@pytest.mark.parametrize(("factor", "label"), UNSUITABLE)
def test_hr_positive_first_line_chemo_unsuitable_puts_et_plus_her2_therapy_first(
    factor: dict[str, Any], label: str
) -> None:
    """§a.2 (PERTAIN; ASCO-HER2-2022 Rec 1.0): HP + ET, then T + ET, co-preferred and ranked first."""
    rec = run(vignette(metastatic_diagnosis="2026-11-01", tumor={"er_percent": 70}, **factor))
    order = [o.regimen for o in rec.options if o.category == "preferred"]
    assert order[:2] == ["hp_et", "h_et"], order
    assert "thp" in order and order.index("thp") > 1
    thp = next(o for o in rec.options if o.regimen == "thp")
    assert any("chemotherapy-unsuitable" in f and label in f for f in thp.flags), thp.flags
    assert any("UNCONFIRMED" in f for o in rec.options if o.regimen == "h_et" for f in o.flags)


def test_a_normal_g8_or_ecog_1_is_not_chemo_unsuitable() -> None:
    """§a.2: the convention's thresholds (G8 ≤14 is abnormal; 15 is not)."""
    rec = run(
        vignette(metastatic_diagnosis="2026-11-01", age=75, tumor={"er_percent": 70}, conditions={"g8_score": 15})
    )
    assert "h_et" not in by_regimen(rec)
    assert by_regimen(rec)["thp"] == "preferred"
    assert not any("chemotherapy-unsuitable" in f for o in rec.options for f in o.flags)


def test_a_patient_declining_chemotherapy_also_gets_trastuzumab_plus_et() -> None:
    """§a.2: PERTAIN's control arm (T + AI) beside HP + ET for an explicit refusal."""
    rec = run(
        vignette(
            metastatic_diagnosis="2026-11-01", tumor={"er_percent": 70}, preferences={"declines_chemotherapy": True}
        )
    )
    order = [o.regimen for o in rec.options if o.category == "preferred"]
    assert order[:2] == ["hp_et", "h_et"]


def test_hr_negative_chemo_unsuitable_cautions_every_cytotoxic_and_adc_and_asks_for_mdt_review() -> None:
    """§a.2: for an HR− patient the factor is a caution on every cytotoxic or ADC option and a reason for MDT review."""
    rec = run(vignette(metastatic_diagnosis="2026-11-01", ecog=2))
    kb = load_knowledge()
    for o in rec.options:
        if any(kb.in_class(d, "chemotherapy") or kb.in_class(d, "anti_her2_adc") for d in o.drugs):
            assert any("chemotherapy-unsuitable (ECOG ≥2)" in f for f in o.flags), (o.regimen, o.flags)
    mdt = [a for a in rec.actions if a.code == "multidisciplinary_review"]
    assert mdt and "ECOG ≥2" in mdt[0].text


def test_a_favour_caution_never_leaves_the_disfavoured_regimen_alone_as_preferred() -> None:
    """§a.2: moderate renal impairment favours THP; with THP contraindicated (grade 3 neuropathy, §d.7) T-DXd +
    pertuzumab is not left alone as preferred (LBL-ENHERTU: more grade 1-2 ILD in moderate renal impairment)."""
    alone = run(vignette(metastatic_diagnosis="2026-11-01", conditions={"crcl_ml_min": 45, "neuropathy_grade": 3}))
    assert by_regimen(alone)["tdxd_p"] == "other"
    assert "preferred" not in by_regimen(alone).values()
    beside = run(vignette(metastatic_diagnosis="2026-11-01", conditions={"crcl_ml_min": 45}))
    order = [o.regimen for o in beside.options if o.category == "preferred"]
    assert order.index("thp") < order.index("tdxd_p")
    second = run(
        vignette(
            metastatic_diagnosis="2025-01-01",
            conditions={"crcl_ml_min": 45},
            history=[{"drugs": THP, "start": "2025-01-10", "end": "2026-06-01", "stopped": "progression"}],
        )
    )
    assert by_regimen(second)["tdxd"] == "preferred"  # second line: THP is not placed, T-DXd stays the standard


def test_prior_neoadjuvant_tdxd_favours_regimens_without_tdxd() -> None:
    """§a.2 / §a.5: after (neo)adjuvant T-DXd there are no data for T-DXd-based metastatic therapy (UNCONFIRMED)."""
    p = vignette(
        presentation="recurrent",
        metastatic_diagnosis="2026-10-01",
        early_therapy=[{"setting": "neoadjuvant", "drugs": ["trastuzumab deruxtecan"], "end": "2024-06-01"}],
    )
    rec = run(p)
    order = [o.regimen for o in rec.options]
    assert order.index("thp") < order.index("tdxd_p")
    tdxd_p = next(o for o in rec.options if o.regimen == "tdxd_p")
    assert any("prior (neo)adjuvant T-DXd" in f for f in tdxd_p.flags)


def test_every_favoured_regimen_and_named_convention_exists() -> None:
    """Knowledge consistency: a `favours` id or a `convention` name that does not exist would silently never fire."""
    kb = load_knowledge()
    for rule in kb.safety.rules:
        assert set(rule.favours) <= set(kb.regimens), rule.id
    names = set(kb.params.conventions)
    assert "chemo_unsuitable" in names
    conditions = [s.when for s in kb.statements] + [r.when for r in kb.safety.rules] + [a.when for a in kb.actions]
    for cond in conditions:
        assert set(cond.convention or ()) <= names


# ---------------------------------------------------------------------------------------------- §d.2 lung disease
@pytest.mark.parametrize(
    "lung",
    [{"lung_disease": ["fibrosis"]}, {"lung_disease": ["home_oxygen"]}, {"ild_history": {"grade": 1}}],
)
def test_known_lung_disease_raises_ild_monitoring_for_a_regimen_without_tdxd(lung: dict[str, Any]) -> None:
    """§d.2 (2026-11-29): known ILD or significant lung disease raises pulmonary/ILD monitoring for every HER2
    antibody, ADC, TKI or taxane option (trastuzumab boxed warning; taxane pneumonitis), not only with T-DXd."""
    history = [
        {"drugs": THP, "start": "2024-01-20", "end": "2025-01-10", "stopped": "progression"},
        {"drugs": ["trastuzumab deruxtecan"], "start": "2025-01-20", "end": "2026-03-01", "stopped": "progression"},
    ]
    rec = run(vignette(metastatic_diagnosis="2024-01-10", history=history, conditions=lung))
    assert all("trastuzumab deruxtecan" not in o.drugs for o in rec.options)
    ild = [a for a in rec.actions if a.code == "ild_monitoring"]
    assert ild and "whatever regimen" in ild[0].text


def test_significant_lung_disease_favours_thp_over_tdxd_pertuzumab() -> None:
    """§a.2: history of / at risk for ILD (significant lung disease) favours THP over T-DXd + pertuzumab."""
    rec = run(vignette(metastatic_diagnosis="2026-11-01", conditions={"lung_disease": ["fibrosis"]}))
    order = [o.regimen for o in rec.options]
    assert order.index("thp") < order.index("tdxd_p")
    tdxd_p = next(o for o in rec.options if o.regimen == "tdxd_p")
    assert any("significant lung disease" in f and "favour THP" in f for f in tdxd_p.flags)
    neuro = run(
        vignette(metastatic_diagnosis="2026-11-01", conditions={"lung_disease": ["fibrosis"], "neuropathy_grade": 3})
    )
    assert by_regimen(neuro)["tdxd_p"] == "other"  # never alone as preferred


# ---------------------------------------------------------------------------------------------- §b.3 brain progression
@pytest.mark.parametrize("status", ["progressing", "active"])
def test_brain_progression_on_a_continuing_line_offers_cns_active_switches_beside_continuing(status: str) -> None:
    """§b.3 rules 3 and 5 (ASCO-BM-2022 Rec 7.1, 8.1, 9.1; HER2CLIMB brain subgroup; DESTINY-Breast12): continue +
    local therapy is preferred while extracranial disease is controlled; TTC and T-DXd (if never received) are the
    CNS-active switch options, the ongoing line counting as the HER2 regimen progressed on."""
    p = vignette(
        metastatic_diagnosis="2026-01-01",
        history=[{"drugs": THP, "start": "2026-01-10", "stopped": "ongoing"}],
        sites=[
            {"site": "liver"},
            {"site": "brain", "status": status, "lesions": 2, "largest_mm": 12, "symptomatic": False},
        ],
    )
    rec = run(p)
    assert rec.algorithm == "continue"
    cats = by_regimen(rec)
    assert cats["current_regimen"] == "preferred"
    assert cats["ttc"] == "other" and cats["tdxd"] == "other"
    assert "lapatinib_cape" in cats
    assert "brain_local_therapy" in {a.code for a in rec.actions}
    before_db12 = by_regimen(run(p, dt.date(2026, 3, 1)))
    assert "ttc" in before_db12


# ---------------------------------------------------------------------------------------------- §a.5 early relapse
def _after_adjuvant_tdm1(end: str) -> Patient:
    return vignette(
        presentation="recurrent",
        metastatic_diagnosis="2026-10-01",
        early_therapy=[
            {"setting": "neoadjuvant", "drugs": THP, "end": "2025-03-01"},
            {"setting": "adjuvant", "drugs": ["trastuzumab emtansine"], "end": end},
        ],
    )


def test_relapse_within_six_months_of_adjuvant_tdm1_is_resistance_to_tdm1() -> None:
    """§a.5 (LBL-KADCYLA, LBL-ENHERTU: recurrence ≤6 months after (neo)adjuvant therapy; KATHERINE): relapse 4
    months after adjuvant T-DM1 - T-DM1 is withheld as progressed on, T-DXd preferred."""
    rec = run(_after_adjuvant_tdm1("2026-06-01"))
    assert "tdm1" not in by_regimen(rec)
    tdm1 = next(e for e in rec.excluded if e.regimen == "tdm1")
    assert tdm1.reason_code == "progressed_on" and "(neo)adjuvant trastuzumab emtansine" in tdm1.reason
    assert by_regimen(rec)["tdxd"] == "preferred"


def test_relapse_later_than_six_months_after_adjuvant_tdm1_keeps_tdm1_an_option() -> None:
    """§a.5: outside the 6-month window T-DM1 stays an option of the second-line algorithm (ASCO Rec 5.0)."""
    assert "tdm1" in by_regimen(run(_after_adjuvant_tdm1("2026-01-01")))


def test_early_relapse_resistance_extends_to_the_taxane_class_but_not_to_trastuzumab() -> None:
    """§a.5 with §a.6 cross-resistance (safety.yaml): relapse 2 months after adjuvant docetaxel withholds every
    taxane regimen; trastuzumab is never counted as resisted (HER2 blockade beyond progression, §a.6)."""
    p = vignette(
        presentation="recurrent",
        metastatic_diagnosis="2026-10-01",
        early_therapy=[{"setting": "adjuvant", "drugs": ["docetaxel", "cyclophosphamide"], "end": "2026-08-01"}],
    )
    rec = run(p)
    kb = load_knowledge()
    assert not [o for o in rec.options if any(kb.in_class(d, "taxane") for d in o.drugs)]
    thp = next(e for e in rec.excluded if e.regimen == "thp")
    assert thp.reason_code == "progressed_on" and "(neo)adjuvant docetaxel" in thp.reason
    during = run(
        vignette(
            presentation="recurrent",
            metastatic_diagnosis="2026-10-01",
            early_therapy=[{"setting": "adjuvant", "drugs": ["trastuzumab"], "end": "2026-09-20"}],
        )
    )
    assert not any("trastuzumab is not re-offered" in e.reason for e in during.excluded)


# ---------------------------------------------------------------------------------------------- §0.1 line counting
def test_a_history_that_starts_at_line_two_is_refused_with_the_reason() -> None:
    """§0.1 (metastatic line): a history recorded from line 2 leaves line 1 unknown - refused, not guessed."""
    with pytest.raises(ValueError, match=r"numbered up to line 2 but line\(s\) 1 not given"):
        vignette(
            metastatic_diagnosis="2024-01-10",
            history=[{"line": 2, "drugs": ["trastuzumab deruxtecan"], "start": "2025-01-10", "stopped": "ongoing"}],
        )
    with pytest.raises(ValueError, match="both recorded as line 1"):
        vignette(
            metastatic_diagnosis="2024-01-10",
            history=[
                {"line": 1, "drugs": THP, "start": "2024-01-20", "end": "2024-12-01", "stopped": "progression"},
                {"line": 1, "drugs": ["trastuzumab deruxtecan"], "start": "2025-01-10", "stopped": "ongoing"},
            ],
        )
    unnumbered = vignette(
        metastatic_diagnosis="2024-01-10",
        history=[{"drugs": ["trastuzumab deruxtecan"], "start": "2025-01-10", "stopped": "ongoing"}],
    )
    assert run(unnumbered).line == 1  # without numbers, lines count from the entries given


def test_a_metastatic_line_dated_before_the_metastatic_diagnosis_says_what_was_assumed() -> None:
    """§0.1 / §a.5: a line a year before the metastatic diagnosis may be (neo)adjuvant therapy or a wrong date - the
    answer says it was counted as a metastatic line and how to correct the input."""
    p = vignette(
        metastatic_diagnosis="2025-01-10",
        history=[{"drugs": THP, "start": "2024-01-10", "end": "2024-06-01", "stopped": "progression"}],
    )
    rec = run(p)
    said = [w for w in rec.warnings if "366 days before the metastatic diagnosis (2025-01-10" in w]
    assert said and "assumed to be a metastatic line" in said[0] and "early_therapy" in said[0]
    assert any(t.rule == "HISTORY-BEFORE-DIAGNOSIS" for t in rec.trace)
    near = vignette(
        metastatic_diagnosis="2025-01-10",
        history=[{"drugs": THP, "start": "2024-12-20", "end": "2025-06-01", "stopped": "progression"}],
    )
    assert not [w for w in run(near).warnings if "before the metastatic diagnosis" in w]  # within the 30-day lookback


def test_ild_that_required_steroids_excludes_tdxd_whatever_its_grade() -> None:
    """§d.2 T-DXd row (LBL-ENHERTU; NCCN-preDB09 footnote e): a history of ILD requiring steroids - no data, do not
    recommend T-DXd, also when the recorded grade is 1."""
    history = [{"drugs": THP, "start": "2024-01-20", "end": "2025-01-10", "stopped": "progression"}]
    p = vignette(
        metastatic_diagnosis="2024-01-10", history=history, conditions={"ild_history": {"grade": 1, "steroids": True}}
    )
    rec = run(p)
    assert "tdxd" not in by_regimen(rec)
    assert next(e for e in rec.excluded if e.regimen == "tdxd").reason_code == "contraindicated_ild"
    without = run(
        vignette(metastatic_diagnosis="2024-01-10", history=history, conditions={"ild_history": {"grade": 1}})
    )
    assert "tdxd" in by_regimen(without)  # grade 1 without steroids: a caution only (resume after resolution)


def test_tdxd_with_brain_metastases_shows_the_brain_subgroup_evidence() -> None:
    """§b.2 (DESTINY-Breast01 brain subgroup: cORR 58.3 %, PFS 18.1 mo; DESTINY-Breast03: IC-ORR ~65.7 % vs 34.3 %)."""
    history = [{"drugs": THP, "start": "2024-01-20", "end": "2025-01-10", "stopped": "progression"}]
    brain = {"site": "brain", "status": "stable", "lesions": 1, "largest_mm": 8, "symptomatic": False}
    rec = run(vignette(metastatic_diagnosis="2024-01-10", history=history, sites=[{"site": "liver"}, brain]))
    tdxd = next(o for o in rec.options if o.regimen == "tdxd")
    said = " ".join(tdxd.evidence)
    assert "58.3%" in said and "65.7%" in said
