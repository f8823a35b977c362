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


@pytest.mark.parametrize("partitions", [1, 3])
def test_persons_whole_within_any_partitioning(spark: Any, partitions: int) -> None:
    """mapInArrow runs the kernel once per partition; one or several partitions give the same lines."""
    from oncoline.engines.lines import spark_engine

    c = generate_cohort(3_000, seed=5)
    got = spark_engine.derive_lines_cohort(
        c.exposures, c.index, params=PARAMS, as_of=None, spark=spark, partitions=partitions
    )
    fast = duckdb_engine.derive_lines_cohort(c.exposures, c.index, params=PARAMS, as_of=None)
    assert got.lines.equals(fast.lines) and got.assignments.equals(fast.assignments)


def test_rows_to_lines_is_the_last_line_starting_on_or_before_the_row() -> None:
    import numpy as np

    from oncoline.engines.lines.spark_engine import rows_to_lines
    from oncoline.errors import EngineError

    i32 = np.int32
    line_person, line_start, line_no = np.array([0, 0, 2], i32), np.array([10, 50, 5], i32), np.array([1, 2, 1], i32)
    got = rows_to_lines(line_person, line_start, line_no, np.array([2, 0, 0, 0], i32), np.array([9, 49, 50, 10], i32))
    assert got.tolist() == [1, 1, 2, 1]
    with pytest.raises(EngineError):
        rows_to_lines(line_person, line_start, line_no, np.array([1], i32), np.array([12], i32))


def test_spark_submit_runs_the_cli_door(tmp_path: Path) -> None:
    """The cluster path of docs/spark.md, in local mode: spark-submit runs a two-line driver calling the CLI,
    which takes spark-submit's session; the lines equal the DuckDB engine's. One tiny cohort (a JVM start)."""
    import json
    import os
    import shutil
    import subprocess

    import pyarrow.parquet as pq
    import pyspark

    submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    if not submit.exists() or (shutil.which("java") is None and not os.environ.get("JAVA_HOME")):
        pytest.skip("spark-submit or Java not available")
    exposures = tmp_path / "exposures.csv"
    exposures.write_text(
        "person_id,drug,start_date,end_date\nP1,Phesgo,2024-01-10,\nP1,docetaxel,2024-01-10,\n"
        "P1,Enhertu,2024-06-01,\nP2,T-DM1,2024-02-01,2024-02-01\n",
        encoding="utf-8",
    )
    index = tmp_path / "index.csv"
    index.write_text("person_id,metastatic_diagnosis\nP1,2024-01-01\nP2,2024-01-20\n", encoding="utf-8")
    driver = tmp_path / "oncoline_submit.py"
    driver.write_text("from oncoline.cli.app import main\n\nmain()\n", encoding="utf-8")
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    out = tmp_path / "lines.parquet"
    args = [str(exposures), "--index", str(index), "--out", str(out), "--engine", "spark", "--as-of", "2024-12-31"]
    proc = subprocess.run(
        [
            str(submit),
            "--master",
            "local[1]",
            "--conf",
            "spark.ui.enabled=false",
            str(driver),
            "lines",
            *args,
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout[proc.stdout.index("{") :])
    assert summary["engine"] == "spark" and summary["lines"] == 3
    from oncoline.io.exposures import read_table

    want = duckdb_engine.derive_lines_cohort(
        read_table(exposures), read_table(index, kind="index"), params=PARAMS, as_of=dt.date(2024, 12, 31)
    )
    assert pq.read_table(out).equals(want.lines)
