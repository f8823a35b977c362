"""Brain-metastasis wording of the recommender: the missing details named from the facts, no question once mass
effect / symptoms / a large lesion decide "local therapy first", and the systemic options flagged then (reference
§b.3 rule 1)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from tests.engines.patients import merged_patient

from oncoline.engines.recommend import recommend
from oncoline.knowledge.loader import load_knowledge
from oncoline.model.recommendation import Recommendation

AS_OF = dt.date(2026, 10, 1)


def run(*sites: dict[str, Any]) -> Recommendation:
    p = merged_patient(
        {"id": "B", "age": 55, "metastatic_diagnosis": "2024-01-10"}, {"sites": [{"site": "liver"}, *sites]}
    )
    return recommend(p, knowledge=load_knowledge(), as_of=AS_OF)


def brain_texts(rec: Recommendation) -> tuple[str, str | None]:
    """(brain_local_therapy action text, brain_status missing-item text or None)."""
    action = next(a.text for a in rec.actions if a.code == "brain_local_therapy")
    ask = next((m.text for m in rec.missing if m.code == "brain_status"), None)
    return action, ask


@pytest.mark.parametrize(
    ("site", "missing", "given"),
    [
        (
            {"site": "brain", "status": "active"},
            ["symptoms", "mass effect", "lesion count", "largest size"],
            ["status", "stable / active / progressing"],
        ),
        (
            {"site": "brain", "status": "progressing", "symptomatic": False},
            ["lesion count", "largest size"],
            ["status", "symptoms", "mass effect"],
        ),
        (
            {"site": "brain", "lesions": 2, "largest_mm": 9},
            ["status (stable / active / progressing)", "symptoms"],
            ["lesion count", "largest size"],
        ),
    ],
)
def test_brain_texts_name_only_the_details_that_are_missing(
    site: dict[str, Any], missing: list[str], given: list[str]
) -> None:
    action, ask = brain_texts(run(site))
    assert ask is not None
    for text in (action, ask):
        assert all(m in text for m in missing), text
        assert not any(g in text for g in given), text


@pytest.mark.parametrize(
    "brain",
    [{"mass_effect": True}, {"symptomatic": True}, {"largest_mm": 35}, {"status": None, "mass_effect": True}],
)
def test_mass_effect_symptoms_or_a_large_lesion_decide_local_therapy_first_without_asking_more(
    brain: dict[str, Any],
) -> None:
    site = {"site": "brain", "status": "active", **brain}
    action, ask = brain_texts(run({k: v for k, v in site.items() if v is not None}))
    assert ask is None
    assert "local therapy FIRST" in action
    assert "no further brain details are needed" in action


@pytest.mark.parametrize(
    ("brain", "flagged"),
    [
        ({"mass_effect": True}, True),
        ({"symptomatic": True, "largest_mm": 10}, True),
        ({"symptomatic": False, "largest_mm": 32}, True),
        ({"symptomatic": False, "mass_effect": False, "largest_mm": 8, "lesions": 1}, False),
    ],
)
def test_systemic_options_are_flagged_local_therapy_first_with_mass_effect_symptoms_or_a_large_lesion(
    brain: dict[str, Any], flagged: bool
) -> None:
    rec = run({"site": "brain", "status": "active", **brain})
    assert rec.options
    for option in rec.options:
        hit = [f for f in option.flags if "local therapy first" in f.lower()]
        assert bool(hit) is flagged, (option.regimen, option.flags)
        if flagged:
            # ONC-REF (compiled 2026-11-29) is not listed as a source before its date (issue 8 item 3)
            assert "ASCO-BM-2022" in {c.id for c in option.citations}
