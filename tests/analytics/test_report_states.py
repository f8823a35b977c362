"""The concordance tables from counts, and the distinct states the report says it judged."""

from __future__ import annotations

import pytest


def test_states_judged_are_counted_not_the_calls_of_worker_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """On 10^6 generated rows the DuckDB path reported 5,693 states judged and the Spark path 5,686: the DuckDB
    path counted recommender calls, and worker processes (each with its own memo) repeat some. Both now count the
    distinct canonical states — the calls of a judge working in one process."""
    from oncoline.analytics import concordance as conc
    from oncoline.analytics.aggregates import aggregate_lines
    from oncoline.analytics.concordance_tables import count_distinct_states, distinct_states, person_status
    from oncoline.engines.lines.params import load_line_params
    from oncoline.knowledge.loader import load_knowledge
    from tests.analytics.cohort import AS_OF, small_cohort

    _exposures, index, lines = small_cohort(120_000, 11)  # enough states (~1,200) for workers to repeat some
    kb, params = load_knowledge(), load_line_params()
    serial = conc.Judge(kb, params)
    judged = conc.concordance(lines, index, judge=serial, workers=1)
    assert judged.num_rows == lines.num_rows
    states = distinct_states(lines, person_status(index), serial)
    expected = count_distinct_states(serial, states)
    assert expected > 20 and states.num_rows >= expected
    monkeypatch.setattr(conc, "PARALLEL_MIN_STATES", 1, raising=False)  # spread even this cohort over processes
    agg = aggregate_lines(lines, index, as_of=AS_OF, max_lines=5, top_regimens=12, judge=conc.Judge(kb, params))
    assert agg.states_judged == expected
