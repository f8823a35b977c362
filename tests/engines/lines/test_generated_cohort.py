"""The benchmark generator looks like a real extract: a fixed data cut-off, ``--rows N`` still gives N rows, and
the lines derived from it give the published real-world medians of time to next treatment (TTNT)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow.compute as pc
import pytest
from benchmarks.generate import (
    _CONTINUING_MEDIAN_DAYS,
    _GAP_DAYS,
    _HOLIDAY,
    DATA_CUTOFF,
    DAYS_PER_MONTH,
    NO_NEXT_LINE_SHARE,
    TTNT_1L_MEDIAN_MONTHS,
    TTNT_2L_MEDIAN_MONTHS,
    generate_cohort,
)


@pytest.mark.parametrize("cutoff", [DATA_CUTOFF, dt.date(2019, 6, 30)])
def test_no_exposure_after_the_cutoff_and_rows_as_asked(cutoff: dt.date) -> None:
    c = generate_cohort(20_000, seed=3, cutoff=cutoff)
    assert pc.max(c.exposures["start_date"]).as_py() <= cutoff
    assert pc.max(c.exposures["end_date"]).as_py() <= cutoff
    assert 20_000 <= c.n_rows <= 20_000 + 1_500  # whole patients: at most one patient's rows (and duplicates) over
    # documented stops are still there, both kinds
    assert {"progression", "toxicity"} <= set(c.exposures["stopped"].drop_null().to_pylist())


def test_same_seed_same_cohort() -> None:
    a, b = generate_cohort(5_000, seed=11), generate_cohort(5_000, seed=11)
    assert a.exposures.equals(b.exposures) and a.index.equals(b.index)
    assert not a.exposures.equals(generate_cohort(5_000, seed=12).exposures)


@pytest.mark.parametrize("line", [0, 1])
def test_continuing_line_length_solves_the_km_mixture(line: int) -> None:
    """With p persons never going on (censored), S(target) = p + (1 − p) · P(D + G > target) is 0.5 (by simulation)."""
    rng = np.random.default_rng(5)
    n = 400_000
    d = np.maximum(42, rng.exponential(_CONTINUING_MEDIAN_DAYS[line] / np.log(2), n))
    g = rng.integers(*_GAP_DAYS, n) + np.where(
        rng.random(n) < _HOLIDAY[0], rng.integers(_HOLIDAY[1], _HOLIDAY[2], n), 0
    )
    target = (TTNT_1L_MEDIAN_MONTHS, TTNT_2L_MEDIAN_MONTHS)[line] * DAYS_PER_MONTH
    p = NO_NEXT_LINE_SHARE[line]
    assert p + (1 - p) * float(np.mean(d + g > target)) == pytest.approx(0.5, abs=0.004)


def test_derived_lines_give_the_published_ttnt_medians() -> None:
    """End to end on ~2,000 persons: lines derived by the engine, Kaplan–Meier as the report fits it."""
    from oncoline.analytics.survival import durations, km_fit
    from oncoline.engines.lines.duckdb_engine import derive_lines_cohort
    from oncoline.engines.lines.params import load_line_params

    c = generate_cohort(200_000, seed=20261207)
    lines = derive_lines_cohort(c.exposures, c.index, params=load_line_params(), as_of=DATA_CUTOFF).lines
    ttnt, refused = durations(lines, endpoint="ttnt", as_of=DATA_CUTOFF)
    line_no = ttnt.column("line").to_numpy()
    days = ttnt.column("days").to_numpy().astype(np.float64)
    event = ttnt.column("event").to_numpy(zero_copy_only=False).astype(bool)
    for k, target in ((1, TTNT_1L_MEDIAN_MONTHS), (2, TTNT_2L_MEDIAN_MONTHS)):
        km = km_fit(days[line_no == k], event[line_no == k])
        assert km.median is not None
        assert km.median / DAYS_PER_MONTH == pytest.approx(target, abs=2.0), k  # ±2 months: sampling at ~2,000 persons
    # about 70 % of persons go on to a second line (29.6 % attrition after 1L), counting those still on 1L
    persons = pc.count_distinct(lines["person_id"]).as_py()
    second = int(pc.sum(pc.equal(lines["line"], 2)).as_py())
    assert 0.55 < second / persons < 0.75
    assert not refused
