"""The recommender's clock (:class:`oncoline.engines.recommend.clock.Clock`) and the stretch of decision dates over
which its answers stay the same (``Clock.unchanged_between``), which the cohort concordance relies on to ask the
recommender once for many line start dates.

- property: any sequence of questions asked on one date gets the same answers on every other date of the stretch
  the clock reports;
- each question that decides what is offered is noted; what is only cited or said (``keep``, wording) is not;
- the knowledge base's own reference, which never dates knowledge, does not bound a lateness question.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from oncoline.engines.recommend.clock import Clock
from oncoline.knowledge.loader import load_knowledge

KB = load_knowledge()
SOURCES = sorted(KB.sources)
DATES = sorted({s.date for s in KB.sources.values()} | {s.effective for s in KB.statements})

QUESTIONS = ("late", "all_in_effect", "worded_later", "citable", "any_in_effect", "not_yet", "expired", "before")


def _ask(clock: Clock, question: str, ids: tuple[str, ...], day: dt.date) -> object:
    if question == "late":
        return clock.late(ids[0])
    if question == "all_in_effect":
        return clock.all_in_effect(ids, where="test", what="x")
    if question in ("worded_later", "citable", "any_in_effect"):
        return getattr(clock, question)(ids)
    return getattr(clock, question)(day)


question = st.tuples(
    st.sampled_from(QUESTIONS),
    st.lists(st.sampled_from(SOURCES), min_size=1, max_size=3, unique=True).map(tuple),
    st.sampled_from(DATES),
)


@settings(max_examples=200, deadline=None)
@given(
    asked=st.lists(question, min_size=1, max_size=8),
    as_of=st.dates(dt.date(2008, 1, 1), dt.date(2027, 12, 31)),
    where=st.floats(0, 1),
)
def test_same_answers_on_every_date_of_the_stretch(asked: list[Any], as_of: dt.date, where: float) -> None:
    clock = Clock(KB, as_of, [])
    answers = [_ask(clock, q, ids, day) for q, ids, day in asked]
    first, end = clock.unchanged_between()
    lo, hi = first or dt.date(1990, 1, 1), end or dt.date(2040, 1, 1)
    assert lo <= as_of < hi
    other = lo + dt.timedelta(days=int(where * ((hi - lo).days - 1)))
    replay = Clock(KB, other, [])
    assert [_ask(replay, q, ids, day) for q, ids, day in asked] == answers, (as_of, other, first, end)


def _dated_after(day: dt.date) -> str:
    return next(s.id for s in sorted(KB.sources.values(), key=lambda s: s.date) if s.date > day and s.dates_knowledge)


def test_every_choice_question_bounds_the_stretch() -> None:
    as_of = dt.date(2019, 1, 1)
    later = _dated_after(as_of)
    when = KB.sources[later].date
    for q in QUESTIONS:
        clock = Clock(KB, as_of, [])
        _ask(clock, q, (later,), when)
        assert clock.unchanged_between() == (None, when), q
    earlier = dt.date(2015, 6, 1)
    clock = Clock(KB, as_of, [])
    clock.not_yet(earlier)
    assert clock.unchanged_between() == (earlier, None)


def test_what_is_cited_or_said_does_not_bound_the_stretch() -> None:
    as_of = dt.date(2019, 1, 1)
    later = _dated_after(as_of)
    clock = Clock(KB, as_of, [])
    assert clock.keep([later], where="test") == []
    assert clock.all_in_effect((later,), where="test", what="flag", wording=True) is False
    assert clock.unchanged_between() == (None, None)


def test_the_knowledge_bases_own_reference_bounds_no_lateness_question() -> None:
    ref = next(s for s in KB.sources.values() if not s.dates_knowledge)
    as_of = ref.date - dt.timedelta(days=1)
    clock = Clock(KB, as_of, [])
    assert clock.late(ref.id) is False and clock.any_in_effect((ref.id,)) is True
    assert clock.unchanged_between() == (None, None)
    assert clock.citable((ref.id,)) is False  # not cited before it was compiled: that question does depend on it
    assert clock.unchanged_between() == (None, ref.date)
