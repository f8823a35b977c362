"""The cohort report on Spark (``--engine spark``): the same tables as the DuckDB path, from counts only.

Few Spark runs on purpose (JVM start-up and jobs are slow on a loaded 2-core machine): one module-scoped local
session, one small generated cohort written as Parquet.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oncoline.analytics.attrition import HER2_NEGATIVE, HER2_UNKNOWN
from tests.analytics.test_her2_scope import her2_mixed_index
from tests.analytics.test_suppression import _check_html, _check_subtraction, _check_tables

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    spark_engine = pytest.importorskip("oncoline.engines.lines.spark_engine")
    yield spark_engine.local_session()


def _inputs(lines: pa.Table, index: pa.Table, path: Path, *, engine: str) -> Any:
    from oncoline.app.cohort_report import ReportInputs
    from oncoline.engines.lines.params import load_line_params
    from tests.analytics.cohort import AS_OF

    pq.write_table(lines, path)
    return ReportInputs(
        lines=lines if engine == "duckdb" else lines.slice(0, 0),
        index=index,
        as_of=AS_OF,
        as_of_note="test",
        params=load_line_params(),
        source="generated test cohort",
        lines_path=path if engine == "spark" else None,
    )


def test_spark_and_duckdb_give_identical_tables_and_page(spark: Any, tmp_path: Path) -> None:
    """Every exported table (schema and values) and the HTML page are the same on both engines, concordance and
    persons outside the index and HER2-negative / unknown persons included."""
    from oncoline.app.cohort_report import ReportOptions, build_cohort_report
    from oncoline.outputs.report import render_report
    from tests.analytics.cohort import small_cohort

    _exposures, index, lines = small_cohort(8_000, 3)
    ids = sorted(set(pc.cast(index.column("person_id"), pa.string()).to_pylist()))
    index = index.filter(pc.invert(pc.is_in(pc.cast(index.column("person_id"), pa.string()), pa.array(ids[:3]))))
    index, _neg, _unk = her2_mixed_index(index, negative=4, unknown=3)  # HER2 scope: the same on both engines
    results = {}
    for engine in ("duckdb", "spark"):
        options = ReportOptions(min_cell=3, engine=engine, spark=spark)  # type: ignore[arg-type]
        inputs = _inputs(lines, index, tmp_path / "lines.parquet", engine=engine)
        results[engine] = build_cohort_report(inputs, options=options)
    duck, spk = results["duckdb"], results["spark"]
    assert list(duck.tables) == list(spk.tables)
    assert "concordance_by_line" in duck.tables and duck.states_judged > 0
    for name, table in duck.tables.items():
        assert table.equals(spk.tables[name], check_metadata=False), name
    attrition = {r["description"]: r["count"] for r in duck.tables["attrition"].to_pylist()}
    assert attrition["persons in the lines table without an index row: left out"] == 3
    assert (attrition[HER2_NEGATIVE], attrition[HER2_UNKNOWN]) == (4, 3)
    assert (duck.notes, duck.states_judged) == (spk.notes, spk.states_judged)
    assert render_report(duck) == render_report(spk)


def test_spark_driver_collects_counts_only(spark: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Everything the driver collects is an aggregate: a cohort copied 8 times (new person ids) gives collected
    tables of exactly the same sizes — only the counts grow 8-fold — and no collected table has a person column.
    Collecting lines or persons (the failure this guards against) would grow the collected rows with the copies."""
    from oncoline.analytics import spark_aggregates
    from oncoline.analytics.concordance import Judge
    from oncoline.engines.lines.params import load_line_params
    from oncoline.knowledge.loader import load_knowledge
    from tests.analytics.cohort import AS_OF, small_cohort

    _exposures, index, lines = small_cohort(8_000, 3)
    copies = 8

    def copied(table: pa.Table) -> pa.Table:
        parts = []
        for k in range(copies):
            ids = pc.binary_join_element_wise(pc.cast(table.column("person_id"), pa.string()), pa.scalar(f"c{k}"), "-")
            parts.append(table.set_column(table.column_names.index("person_id"), "person_id", ids))
        return pa.concat_tables(parts)

    real_collect = spark_aggregates._collect
    sizes: list[tuple[int, tuple[str, ...]]] = []

    def recording(df: Any) -> pa.Table:
        table = real_collect(df)
        sizes.append((table.num_rows, tuple(table.column_names)))
        return table

    monkeypatch.setattr(spark_aggregates, "_collect", recording)
    runs = {}
    for name, (lt, it) in {"one": (lines, index), "copied": (copied(lines), copied(index))}.items():
        sizes.clear()
        judge = Judge(load_knowledge(), load_line_params())
        agg = spark_aggregates.aggregate_lines_spark(
            spark.createDataFrame(lt), it, as_of=AS_OF, max_lines=5, top_regimens=12, judge=judge
        )
        runs[name] = (list(sizes), agg)
    (one_sizes, one), (many_sizes, many) = runs["one"], runs["copied"]
    assert len(one_sizes) >= 6  # totals, outside, regimens, sequences, states, concordance counts, durations
    assert one_sizes == many_sizes
    assert all("person_id" not in cols for _, cols in many_sizes)
    assert sum(n for n, _ in many_sizes) < many.n_lines  # fewer rows than lines reach the driver
    assert many.n_lines == copies * one.n_lines and many.persons_with_lines == copies * one.persons_with_lines
    for attr in ("sequences", "durations", "concordance"):
        a, b = getattr(one, attr), getattr(many, attr)
        count = {"sequences": "persons", "durations": "n", "concordance": "lines"}[attr]
        assert b.drop([count]).equals(a.drop([count])), attr
        assert pc.multiply(a.column(count), copies).equals(b.column(count)), attr


@settings(
    max_examples=2,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(min_cell=st.integers(2, 12))
def test_spark_tables_and_html_never_show_a_small_count(spark: Any, tmp_path: Path, min_cell: int) -> None:
    """The suppression property of the DuckDB path (test_suppression), on the Spark path."""
    from oncoline.app.cohort_report import ReportOptions, build_cohort_report
    from oncoline.outputs.report import render_report
    from tests.analytics.cohort import small_cohort

    _exposures, index, lines = small_cohort(8_000, 1)
    inputs = _inputs(lines, index, tmp_path / f"lines{min_cell}.parquet", engine="spark")
    result = build_cohort_report(inputs, options=ReportOptions(min_cell=min_cell, engine="spark", spark=spark))
    _check_tables(result.tables, min_cell)
    _check_subtraction(result.tables, min_cell)
    _check_html(render_report(result), min_cell)
