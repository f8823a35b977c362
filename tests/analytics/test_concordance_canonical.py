"""The canonical concordance state (:func:`oncoline.analytics.concordance.canonical_state`) gives the same answers
as the full state: on a generated cohort (every line judged on its full state — lines in order, drugs as derived,
``progression`` kept apart from an undocumented stop — against the report's canonical judgement) and on random
histories (the recommender's whole answer: options with categories, exclusions with reason codes, missing facts).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oncoline.analytics.concordance import Judge, LineState, canonical_state, concordance
from oncoline.engines.lines.params import load_line_params
from oncoline.knowledge.loader import load_knowledge

REGIMENS: list[tuple[str, ...]] = [
    ("docetaxel", "pertuzumab", "trastuzumab"),
    ("paclitaxel", "pertuzumab", "trastuzumab"),
    ("pertuzumab", "trastuzumab"),
    ("letrozole", "pertuzumab", "trastuzumab"),
    ("trastuzumab deruxtecan",),
    ("trastuzumab emtansine",),
    ("capecitabine", "trastuzumab", "tucatinib"),
    ("capecitabine", "neratinib"),
    ("capecitabine", "lapatinib"),
    ("capecitabine", "trastuzumab"),
    ("letrozole",),
]
STOPS = ("progression", "toxicity", None)


@pytest.fixture(scope="module")
def kb() -> Any:
    return load_knowledge()


def _answer(judge: Judge, state: LineState) -> tuple[object, ...]:
    rec = judge.recommendation(state)
    return (
        rec.hr_status,
        tuple((o.name, o.category.value, tuple(o.drugs)) for o in rec.options),
        tuple((e.name, e.reason_code, tuple(e.drugs)) for e in rec.excluded),
        tuple(m.code for m in rec.missing),
    )


def test_cohort_full_states_judged_like_canonical(kb: Any) -> None:
    from tests.analytics.cohort import small_cohort

    _exposures, index, lines = small_cohort()
    judged = concordance(lines, index, judge=Judge(kb, load_line_params()), workers=1).to_pylist()
    full = Judge(kb, load_line_params(), canonical=False)
    status = {str(r["person_id"]): (r["her2_status"], r["hr_status"]) for r in index.to_pylist()}
    rows = lines.select(["person_id", "line", "drugs", "start_date", "end_reason"]).to_pylist()
    prior: dict[str, list[tuple[tuple[str, ...], str | None]]] = {}
    full_states: set[LineState] = set()
    documented = 0
    for row, got in zip(rows, judged, strict=True):
        assert (got["person_id"], got["line"]) == (str(row["person_id"]), row["line"])
        her2, hr = status[str(row["person_id"])]
        before = prior.setdefault(row["person_id"], [])
        state = LineState(full.period_start(row["start_date"]), her2, hr, tuple(before))
        full_states.add(state)
        expected = full.judge(state, tuple(sorted(row["drugs"])))
        assert (got["category"], got["reason"], got["matched"]) == (
            expected.category.value,
            expected.reason,
            expected.matched,
        ), state
        stop = row["end_reason"] if row["end_reason"] in ("progression", "toxicity") else None
        documented += stop == "progression"
        before.append((tuple(row["drugs"]), stop))
    canonical = {canonical_state(s) for s in full_states}
    # the cohort exercises the reduction: progression documented on some lines, fewer canonical states
    assert documented > 0
    assert len(canonical) < len(full_states)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    history=st.lists(st.tuples(st.sampled_from(REGIMENS), st.sampled_from(STOPS)), max_size=4),
    when=st.sampled_from([dt.date(2019, 6, 1), dt.date(2022, 9, 1), dt.date(2025, 3, 1)]),
    hr=st.sampled_from(["positive", "negative", None]),
    order=st.randoms(use_true_random=False),
)
def test_canonical_state_same_answer(
    kb: Any,
    history: list[tuple[tuple[str, ...], str | None]],
    when: dt.date,
    hr: str | None,
    order: Any,
) -> None:
    """Shuffling the earlier lines and their drugs, or writing progression as an undocumented stop, changes no
    option, category, exclusion reason or missing fact."""
    judge = Judge(kb, load_line_params(), canonical=False)
    state = LineState(judge.period_start(when), "positive", hr, tuple(history))
    shuffled = [
        (tuple(order.sample(drugs, len(drugs))), None if stop == "progression" else stop) for drugs, stop in history
    ]
    order.shuffle(shuffled)
    other = LineState(state.period_start, "positive", hr, tuple(shuffled))
    assert canonical_state(other) == canonical_state(state)
    assert _answer(judge, other) == _answer(judge, state) == _answer(judge, canonical_state(state))
