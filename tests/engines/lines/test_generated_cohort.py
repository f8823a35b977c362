"""The benchmark generator looks like a real extract: a fixed data cut-off, and ``--rows N`` still gives N rows."""

from __future__ import annotations

import datetime as dt

import pyarrow.compute as pc
import pytest
from benchmarks.generate import DATA_CUTOFF, generate_cohort


@pytest.mark.parametrize("cutoff", [DATA_CUTOFF, dt.date(2019, 6, 30)])
def test_no_exposure_after_the_cutoff_and_rows_as_asked(cutoff: dt.date) -> None:
    c = generate_cohort(20_000, seed=3, cutoff=cutoff)
    assert pc.max(c.exposures["start_date"]).as_py() <= cutoff
    assert pc.max(c.exposures["end_date"]).as_py() <= cutoff
    assert 20_000 <= c.n_rows <= 20_000 + 1_500  # whole patients: at most one patient's rows (and duplicates) over
    # documented stops are still there, both kinds
    assert {"progression", "toxicity"} <= set(c.exposures["stopped"].drop_null().to_pylist())
