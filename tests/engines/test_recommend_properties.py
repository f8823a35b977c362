"""Property tests of the recommender (house style S17), over generated realistic patients.

- no option for a HER2-0 / HER2-negative tumour (not low/ultralow), or a missing/equivocal HER2 result, holds a
  HER2-directed drug;
- no option holds a drug whose contraindication is present (checked independently of the safety rules);
- every option has ≥1 citation and every citation resolves in the sources registry;
- the input order of history entries does not change the answer; the answer is deterministic;
- history starting after ``as_of`` changes no option; the clinical-trial action is always there.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oncoline.engines.recommend import recommend
from oncoline.knowledge.loader import load_knowledge
from oncoline.model import Patient
from oncoline.model.recommendation import Recommendation

AS_OF = dt.date(2026, 10, 1)
KB = load_knowledge()
HER2_DIRECTED = set(KB.expand(("her2_directed",)))
TAXANES = set(KB.expand(("taxane",)))
ENDOCRINE = set(KB.expand(("endocrine_therapy",)))
REGIMENS = [
    ["pertuzumab", "trastuzumab", "docetaxel"],
    ["pertuzumab", "trastuzumab", "paclitaxel"],
    ["trastuzumab deruxtecan", "pertuzumab"],
    ["trastuzumab deruxtecan"],
    ["trastuzumab emtansine"],
    ["tucatinib", "trastuzumab", "capecitabine"],
    ["neratinib", "capecitabine"],
    ["lapatinib", "capecitabine"],
    ["trastuzumab", "vinorelbine"],
    ["pertuzumab", "trastuzumab", "letrozole"],
    ["letrozole", "ribociclib"],
    ["anastrozole", "palbociclib"],
    ["fulvestrant"],
    ["capecitabine"],
    ["paclitaxel"],
]
HER2 = st.sampled_from(
    [
        {"ihc": "3+"},
        {"ihc": "3+"},
        {},
        {"ihc": "2+"},
        {"ihc": "2+", "ish_ratio": 2.4, "her2_copies": 5.1},
        {"ihc": "2+", "ish_ratio": 1.3, "her2_copies": 2.1},
        {"ihc": "1+"},
        {"ihc": "ultralow"},
        {"ihc": "0"},
        {"status": "positive"},
        {"status": "negative"},
    ]
)


@st.composite
def patients(draw: st.DrawFn) -> dict[str, Any]:
    n_lines = draw(st.integers(0, 3))
    start = dt.date(2021, 1, 4)
    history: list[dict[str, Any]] = []
    for i in range(n_lines):
        length = draw(st.integers(60, 500))
        end = start + dt.timedelta(days=length)
        last = i == n_lines - 1
        stopped = draw(st.sampled_from(["progression", "toxicity", "ongoing" if last else "completed"]))
        entry: dict[str, Any] = {
            "drugs": draw(st.sampled_from(REGIMENS)),
            "start": start.isoformat(),
            "stopped": stopped,
        }
        if stopped != "ongoing":
            entry["end"] = end.isoformat()
        if stopped == "toxicity":
            entry["toxicity"] = draw(
                st.sampled_from(
                    [{"event": "interstitial lung disease", "grade": 2}, {"event": "diarrhoea", "grade": 3}]
                )
            )
        history.append(entry)
        start = end + dt.timedelta(days=draw(st.integers(7, 60)))
    sites = draw(st.lists(st.sampled_from(["liver", "lung", "bone", "lymph_node", "pleura"]), max_size=3, unique=True))
    site_rows: list[dict[str, Any]] = [{"site": s, "symptomatic": draw(st.booleans())} for s in sites]
    if draw(st.booleans()):
        site_rows.append({"site": "brain", "status": draw(st.sampled_from(["stable", "active", "progressing"]))})
    conditions: dict[str, Any] = {
        "lvef_percent": draw(st.one_of(st.none(), st.sampled_from([30, 38, 45, 55, 62]))),
        "heart_failure_nyha": draw(st.one_of(st.none(), st.integers(0, 4))),
        "pregnant": draw(st.sampled_from([False, None, False, True])),
        "neuropathy_grade": draw(st.one_of(st.none(), st.integers(0, 4))),
        "crcl_ml_min": draw(st.one_of(st.none(), st.sampled_from([20, 45, 90]))),
        "bilirubin_x_uln": draw(st.one_of(st.none(), st.sampled_from([1.0, 2.0, 4.0]))),
        "medications": draw(
            st.lists(st.sampled_from(["rifampicin", "omeprazole", "warfarin"]), max_size=2, unique=True)
        ),
    }
    if draw(st.booleans()):
        conditions["ild_history"] = {"grade": draw(st.integers(1, 3)), "drug": "trastuzumab deruxtecan"}
    early: list[dict[str, Any]] = []
    if draw(st.booleans()):
        end = dt.date(2020, 12, 1) - dt.timedelta(days=draw(st.integers(0, 900)))
        early.append({"setting": "adjuvant", "drugs": ["trastuzumab", "pertuzumab"], "end": end.isoformat()})
    tumor: dict[str, Any] = {"her2": draw(HER2)}
    if draw(st.integers(0, 4)):
        tumor["er_percent"] = draw(st.sampled_from([0, 0, 5, 80]))
        tumor["pr_percent"] = draw(st.sampled_from([0, 10]))
    return {
        "id": "H",
        "age": draw(st.integers(28, 85)),
        "ecog": draw(st.integers(0, 3)),
        "menopausal_status": draw(st.sampled_from([None, "pre", "post"])),
        "tumor": tumor,
        "presentation": "recurrent" if early else "de_novo",
        "early_therapy": early,
        "metastatic_diagnosis": "2021-01-01",
        "sites": site_rows,
        "history": history,
        "conditions": conditions,
        "preferences": {"declines_chemotherapy": draw(st.booleans())},
    }


def run(doc: dict[str, Any]) -> Recommendation:
    return recommend(Patient.model_validate(doc), knowledge=KB, as_of=AS_OF)


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(patients())
def test_no_her2_directed_drug_without_a_her2_result_that_supports_it(doc: dict[str, Any]) -> None:
    rec = run(doc)
    for option in rec.options:
        her2_drugs = set(option.drugs) & HER2_DIRECTED
        if rec.her2_status in ("missing", "equivocal") or rec.her2_category in ("HER2-0", "HER2-negative"):
            assert not her2_drugs, (rec.her2_category, option.drugs)
        elif rec.her2_category in ("HER2-low", "HER2-ultralow"):
            assert her2_drugs <= {"trastuzumab deruxtecan"}, option.drugs


@SETTINGS
@given(patients())
def test_no_option_holds_a_contraindicated_drug(doc: dict[str, Any]) -> None:
    rec = run(doc)
    c = doc["conditions"]
    for option in rec.options:
        drugs = set(option.drugs)
        if c["pregnant"]:
            assert not drugs & (HER2_DIRECTED | ENDOCRINE), option.drugs
        if (c["lvef_percent"] is not None and c["lvef_percent"] < 40) or (c["heart_failure_nyha"] or 0) >= 3:
            assert not drugs & {"trastuzumab", "pertuzumab", "margetuximab", "trastuzumab emtansine",
                                "trastuzumab deruxtecan", "lapatinib"}, option.drugs  # fmt: skip
        if (c.get("ild_history") or {}).get("grade", 0) >= 2:
            assert "trastuzumab deruxtecan" not in drugs
        if (c["neuropathy_grade"] or 0) >= 3:
            assert not drugs & TAXANES
        if "rifampicin" in c["medications"]:
            assert "tucatinib" not in drugs
        if c["crcl_ml_min"] is not None and c["crcl_ml_min"] < 30:
            assert "capecitabine" not in drugs
        if (c["bilirubin_x_uln"] or 0) > 1.5:
            assert "trastuzumab emtansine" not in drugs
        if doc["preferences"]["declines_chemotherapy"]:
            assert not drugs & set(KB.expand(("chemotherapy",)))
        assert not ({"palbociclib", "ribociclib", "abemaciclib"} & drugs and "tucatinib" in drugs)
        progressed = {d for h in doc["history"] if h["stopped"] == "progression" for d in h["drugs"]}
        assert not (drugs & progressed) - {"trastuzumab"}, (option.drugs, progressed)


@SETTINGS
@given(patients())
def test_every_option_cites_resolvable_sources_and_trial_action_is_always_there(doc: dict[str, Any]) -> None:
    rec = run(doc)
    for option in rec.options:
        assert option.citations
        assert all(c.id in KB.sources for c in option.citations)
    assert "clinical_trial" in {a.code for a in rec.actions}
    assert rec.kb_version == KB.version


@settings(max_examples=60, deadline=None)
@given(patients(), st.randoms(use_true_random=False))
def test_history_order_does_not_change_the_answer_and_the_answer_is_deterministic(
    doc: dict[str, Any], rnd: Any
) -> None:
    first = run(doc)
    shuffled = dict(doc, history=list(doc["history"]))
    rnd.shuffle(shuffled["history"])
    assert run(shuffled) == first
    assert run(doc) == first


@settings(max_examples=60, deadline=None)
@given(patients())
def test_history_after_as_of_changes_no_option(doc: dict[str, Any]) -> None:
    if any(h["stopped"] == "ongoing" for h in doc["history"]):
        return  # a later line would contradict an ongoing one; covered in test_recommend
    late = {"drugs": ["trastuzumab deruxtecan"], "start": "2026-11-01", "end": "2026-12-01", "stopped": "progression"}
    base, extra = run(doc), run(dict(doc, history=[*doc["history"], late]))
    assert (extra.line, extra.options, extra.excluded) == (base.line, base.options, base.excluded)
