"""The Spark cohort engine on a realistic generated cohort: identical to the DuckDB engine and the reference.

Few tests on purpose (JVM start-up is slow): one module-scoped local session. The shared conformance suite
(test_conformance.py) runs the rule cases and hypothesis properties on Spark as well.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from oncoline.engines.lines import duckdb_engine
from oncoline.engines.lines.params import load_line_params
from oncoline.engines.lines.reference import derive_lines_reference_cohort

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repository root holds benchmarks/
from benchmarks.generate import generate_cohort

pytestmark = pytest.mark.spark
PARAMS = load_line_params()


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    spark_engine = pytest.importorskip("oncoline.engines.lines.spark_engine")
    session = spark_engine.local_session()
    yield session


@pytest.mark.parametrize("as_of", [dt.date(2021, 12, 31), None])
def test_generated_cohort_identical_across_engines(spark: Any, as_of: dt.date | None) -> None:
    from oncoline.engines.lines import spark_engine

    c = generate_cohort(15_000, seed=11)
    got = spark_engine.derive_lines_cohort(c.exposures, c.index, params=PARAMS, as_of=as_of, spark=spark)
    fast = duckdb_engine.derive_lines_cohort(c.exposures, c.index, params=PARAMS, as_of=as_of)
    ref = derive_lines_reference_cohort(c.exposures, c.index, params=PARAMS, as_of=as_of)
    for other in (fast, ref):
        assert got.lines.equals(other.lines) and got.assignments.equals(other.assignments)
        assert got.report == other.report
    assert got.lines.num_rows > 50 and got.report.repaired["duplicate_rows"] > 0


def test_only_excluded_rows_give_empty_tables(spark: Any) -> None:
    from oncoline.engines.lines import spark_engine

    exposures = pa.table({"person_id": ["P1"], "drug": ["denosumab"], "start_date": [dt.date(2024, 1, 1)]})
    index = pa.table({"person_id": ["P1"], "metastatic_diagnosis": [dt.date(2024, 1, 1)]})
    got = spark_engine.derive_lines_cohort(exposures, index, params=PARAMS, as_of=None, spark=spark)
    assert got.lines.num_rows == 0 and got.assignments.num_rows == 0
    assert got.report.excluded == {"supportive": 1}
