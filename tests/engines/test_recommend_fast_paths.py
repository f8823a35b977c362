"""The recommender's fast paths answer as the plain evaluation does (house style S17: property tests).

- candidate statements (``candidates._statements_for``): only the statements whose population may hold on the
  patient's algorithm are evaluated; on realistic patients (every algorithm, HER2 and HR status, safety facts)
  the statements whose population holds are exactly those of evaluating every statement, in the same order;
- compiled conditions (``conditions._conjunction`` / ``_disjunction``): a conjunction holds when every part does
  and a disjunction when one does, for any truth values;
- steps 1-3 prepared apart (``engine.prepare``): ``decide`` with them prepared gives the same decision — options,
  exclusions, missing facts, warnings, trace, line and stretch of unchanged knowledge — as ``decide`` alone.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.engines.test_recommend_properties import AS_OF, KB, patients

from oncoline.engines.recommend import engine
from oncoline.engines.recommend.candidates import _statements_for
from oncoline.engines.recommend.conditions import Facts, _conjunction, _disjunction, compiled_whens
from oncoline.model import Patient

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(patients(), st.sampled_from([AS_OF, dt.date(2019, 6, 1), dt.date(2023, 3, 1)]))
def test_statements_for_the_algorithm_are_those_whose_population_holds(doc: dict[str, Any], as_of: dt.date) -> None:
    seen: list[Facts] = []
    original = engine.gather_facts

    def keep(*args: Any) -> Facts:
        facts = original(*args)
        seen.append(facts)
        return facts

    engine.gather_facts = keep  # type: ignore[assignment]
    try:
        engine.decide(Patient.model_validate(doc), knowledge=KB, as_of=max(as_of, dt.date(2021, 1, 1)))
    finally:
        engine.gather_facts = original
    (facts,) = seen
    every = [stmt.id for stmt, holds in compiled_whens(KB, KB.statements) if holds(facts)]
    fast = [stmt.id for stmt, holds in _statements_for(KB, facts.algorithm) if holds(facts)]
    assert fast == every


def test_statements_for_every_algorithm_keep_file_order() -> None:
    order = {s.id: i for i, s in enumerate(KB.statements)}
    for algorithm in ("first_line", "maintenance", "continue", "second_line", "later_line"):
        found = [stmt.id for stmt, _holds in _statements_for(KB, algorithm)]
        assert found == sorted(found, key=order.__getitem__)
        assert found  # every algorithm has statements
        assert all(s.when.algorithm is None or algorithm in s.when.algorithm for s in KB.statements if s.id in found)
        left_out = [s for s in KB.statements if s.id not in set(found)]
        assert all(s.when.algorithm is not None and algorithm not in s.when.algorithm for s in left_out)


@given(st.lists(st.booleans(), max_size=6))
def test_conjunction_and_disjunction_are_all_and_any(values: list[bool]) -> None:
    asked: list[int] = []

    def pred(i: int) -> Any:
        def p(_: Facts) -> bool:
            asked.append(i)
            return values[i]

        return p

    preds = tuple(pred(i) for i in range(len(values)))
    assert _conjunction(preds)(None) is all(values)  # type: ignore[arg-type]
    # asked in order, stopping at the first that decides (as all/any)
    assert asked == list(range(values.index(False) + 1 if False in values else len(values)))
    asked.clear()
    assert _disjunction(preds)(None) is any(values)  # type: ignore[arg-type]
    assert asked == list(range(values.index(True) + 1 if True in values else len(values)))


@SETTINGS
@given(patients(), st.sampled_from([AS_OF, dt.date(2021, 6, 1), dt.date(2023, 3, 1)]))
def test_decide_with_steps_prepared_apart_is_decide(doc: dict[str, Any], as_of: dt.date) -> None:
    patient = Patient.model_validate(doc)
    alone = engine.decide(patient, knowledge=KB, as_of=as_of)
    ready = engine.prepare(patient, knowledge=KB, as_of=as_of)
    prepared = engine.decide(patient, knowledge=KB, as_of=as_of, prepared=ready)
    again = engine.decide(patient, knowledge=KB, as_of=as_of, prepared=ready)  # a prepared part serves many calls
    for d in (prepared, again):
        assert (d.options, d.excluded, d.missing, d.decision, d.hr, d.her2) == (
            alone.options,
            alone.excluded,
            alone.missing,
            alone.decision,
            alone.hr,
            alone.her2,
        )
        assert (d.warnings, d.trace, d.unchanged_between, d.facts) == (
            alone.warnings,
            alone.trace,
            alone.unchanged_between,
            alone.facts,
        )
