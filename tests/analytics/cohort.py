"""A small generated cohort for the report tests (seeded; the benchmark generator plus the report's index columns)."""

from __future__ import annotations

import datetime as dt
from functools import cache

import pyarrow as pa

AS_OF = dt.date(2026, 6, 30)


@cache
def small_cohort(rows: int = 20_000, seed: int = 7) -> tuple[pa.Table, pa.Table, pa.Table]:
    """``(exposures, index, lines)`` of about ``rows`` exposure rows (about 100 persons), cut off at :data:`AS_OF`."""
    from benchmarks.bench_report import add_index_columns
    from benchmarks.generate import generate_cohort

    from oncoline.engines.lines.duckdb_engine import derive_lines_cohort
    from oncoline.engines.lines.params import load_line_params

    cohort = generate_cohort(rows, seed=seed)
    index = add_index_columns(cohort.index, seed=seed)
    lines = derive_lines_cohort(cohort.exposures, index, params=load_line_params(), as_of=AS_OF).lines
    return cohort.exposures, index, lines
