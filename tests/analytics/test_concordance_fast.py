"""The fast concordance path judges every line as the whole recommender does.

The fast path (``Judge(fast=True)``, the report's) asks :func:`oncoline.engines.recommend.engine.decide` (the
recommender's steps 1-6) once per canonical patient state and stretch of unchanged knowledge
(``Decision.unchanged_between``); the reference path (``Judge(fast=False, canonical=False)``) asks the whole
:func:`~oncoline.engines.recommend.recommend` for every full state and knowledge period. Both must give every line
the same category, reason code and matched option or exclusion:

- on every line of a seeded generated cohort whose index mixes HER2 positive, negative, equivocal and missing and
  HR positive, negative and missing (every distinct state of the cohort, across 2010-2026);
- on the shared line cases (shared/cases/lines), for each HR status;
- on random states (hypothesis): the choice ``decide`` makes on one date is the whole recommender's choice on any
  other date of its ``unchanged_between`` stretch (the patient's dates moved with it), and ``decide`` is the
  recommender's steps 1-6 (same options, exclusions and missing facts on the same date).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oncoline.analytics.concordance import Judge, LineState, concordance
from oncoline.engines.lines.params import load_line_params
from oncoline.engines.lines.reference import derive_lines_reference_cohort
from oncoline.engines.recommend import recommend
from oncoline.engines.recommend.engine import decide
from oncoline.knowledge.loader import load_knowledge
from tests.analytics.test_concordance_canonical import REGIMENS, STOPS
from tests.analytics.test_concordance_cases import _cases, _tables

KB = load_knowledge()
PARAMS = load_line_params()


def _choice(answer: Any) -> tuple[object, ...]:
    """What a line's verdict can read of an answer (Recommendation or Decision)."""
    return (
        answer.hr_status,
        tuple((o.name, o.category.value, tuple(o.drugs)) for o in answer.options),
        tuple((e.name, e.reason_code, tuple(e.drugs)) for e in answer.excluded),
        tuple(m.code for m in answer.missing),
    )


def _mixed_index(index: pa.Table) -> pa.Table:
    """The cohort index with HER2 and HR statuses cycled over every value the report reads (missing included)."""
    n = index.num_rows
    her2 = ["positive", "positive", "negative", "equivocal", None]
    hr = ["positive", "negative", None]
    cols = index.column_names
    index = index.set_column(
        cols.index("her2_status"), "her2_status", pa.array([her2[i % 5] for i in range(n)], pa.string())
    )
    return index.set_column(cols.index("hr_status"), "hr_status", pa.array([hr[i % 3] for i in range(n)], pa.string()))


def test_generated_cohort_fast_path_judges_like_the_whole_recommender() -> None:
    from tests.analytics.cohort import small_cohort

    _exposures, index, lines = small_cohort()
    index = _mixed_index(index)
    fast = Judge(KB, PARAMS)
    reference = Judge(KB, PARAMS, canonical=False, fast=False)
    got = concordance(lines, index, judge=fast, workers=1)
    expected = concordance(lines, index, judge=reference, workers=1)
    assert got.num_rows == lines.num_rows > 300
    assert got.equals(expected)
    # every category occurs, so the comparison covers them all; and the fast path asks less often
    assert set(got.column("category").to_pylist()) == {
        "concordant_preferred",
        "concordant_other",
        "not_concordant",
        "not_assessable",
    }
    assert 0 < fast.calls < reference.calls


@pytest.mark.parametrize("hr", ["positive", "negative", None])
def test_shared_line_cases_fast_path_judges_like_the_whole_recommender(
    case_path: Callable[[str], Path], hr: str | None
) -> None:
    for case in _cases(case_path("lines/her2-lines.yaml")):
        exposures, index = _tables(case, hr)
        lines = derive_lines_reference_cohort(
            exposures, index, params=load_line_params(case.get("params") or {}), as_of=None
        ).lines
        fast = concordance(lines, index, judge=Judge(KB, PARAMS), workers=1)
        reference = concordance(lines, index, judge=Judge(KB, PARAMS, canonical=False, fast=False), workers=1)
        assert fast.equals(reference), case["id"]


def _state_patient(day: dt.date, her2: str | None, hr: str | None, history: list[Any]) -> Any:
    return Judge._patient(LineState(day, her2, hr, tuple(history)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    history=st.lists(st.tuples(st.sampled_from(REGIMENS), st.sampled_from(STOPS)), max_size=4),
    day=st.dates(dt.date(2011, 1, 1), dt.date(2026, 11, 30)),
    her2=st.sampled_from(["positive", "positive", "negative", "equivocal", None]),
    hr=st.sampled_from(["positive", "negative", None]),
    where=st.floats(0, 1),
)
def test_same_choice_on_every_date_of_the_unchanged_stretch(
    history: list[Any], day: dt.date, her2: str | None, hr: str | None, where: float
) -> None:
    decision = decide(_state_patient(day, her2, hr, history), knowledge=KB, as_of=day)
    whole = recommend(_state_patient(day, her2, hr, history), knowledge=KB, as_of=day)
    assert _choice(decision) == _choice(whole)
    first, end = decision.unchanged_between
    assert first is None or first <= day
    assert end is None or day < end
    lo = first or dt.date(2005, 1, 1)
    hi = end or dt.date(2030, 1, 1)
    other = lo + dt.timedelta(days=int(where * ((hi - lo).days - 1)))
    again = recommend(_state_patient(other, her2, hr, history), knowledge=KB, as_of=other)
    assert _choice(again) == _choice(decision), (day, other, first, end)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    history=st.lists(st.tuples(st.sampled_from(REGIMENS), st.sampled_from(STOPS)), max_size=4),
    days=st.tuples(
        st.dates(dt.date(2011, 1, 1), dt.date(2026, 11, 30)), st.dates(dt.date(2011, 1, 1), dt.date(2026, 11, 30))
    ),
    her2=st.sampled_from(["positive", "negative", "equivocal", None]),
    hr=st.sampled_from(["positive", "negative", None]),
)
def test_patient_validated_once_per_state_equals_one_built_anew(
    history: list[Any], days: tuple[dt.date, dt.date], her2: str | None, hr: str | None
) -> None:
    """The judge validates a state's patient once and copies it to other decision dates (``Judge._patient_on``):
    the copy equals the patient built and validated on that date, and the recommender answers both alike."""
    first, other = days
    try:
        built = Judge._patient(LineState(first, her2, hr, tuple(history)))
    except ValueError:  # a history the model refuses (the same line written twice) is refused on any date
        with pytest.raises(ValueError):
            Judge._patient(LineState(other, her2, hr, tuple(history)))
        return
    judge = Judge(KB, PARAMS)
    assert judge._patient_on(LineState(first, her2, hr, tuple(history))) == built
    moved = judge._patient_on(LineState(other, her2, hr, tuple(history)))
    anew = Judge._patient(LineState(other, her2, hr, tuple(history)))
    assert moved == anew
    assert _choice(decide(moved, knowledge=KB, as_of=other)) == _choice(decide(anew, knowledge=KB, as_of=other))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    history=st.lists(st.tuples(st.sampled_from(REGIMENS), st.sampled_from(STOPS)), max_size=4),
    days=st.tuples(
        st.dates(dt.date(2011, 1, 1), dt.date(2026, 11, 30)), st.dates(dt.date(2011, 1, 1), dt.date(2026, 11, 30))
    ),
    her2=st.sampled_from(["positive", "negative", "equivocal", None]),
    hr=st.sampled_from(["positive", "negative", None]),
)
def test_steps_prepared_on_one_date_serve_another(
    history: list[Any], days: tuple[dt.date, dt.date], her2: str | None, hr: str | None
) -> None:
    """The judge prepares a state's steps 1-3 (``engine.prepare``) on its first decision date and reuses them on
    the others (the patient's dates move with the decision date): the same choice and the same stretch of unchanged
    knowledge as deciding anew."""
    from oncoline.engines.recommend.engine import prepare

    first, other = days
    try:
        patient = Judge._patient(LineState(first, her2, hr, tuple(history)))
    except ValueError:  # refused on every date (see above)
        return
    moved = Judge._patient(LineState(other, her2, hr, tuple(history)))
    ready = prepare(patient, knowledge=KB, as_of=first)
    reused = decide(moved, knowledge=KB, as_of=other, prepared=ready)
    anew = decide(moved, knowledge=KB, as_of=other)
    assert _choice(reused) == _choice(anew)
    assert reused.options == anew.options and reused.excluded == anew.excluded
    assert reused.unchanged_between == anew.unchanged_between
