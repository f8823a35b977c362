"""Apache Spark cohort line-of-therapy engine: the same kernel, run per person on the executors.

Same contract and same results as the reference and DuckDB engines:

1. the cohort is normalised column-wise on the driver by
   :func:`~oncoline.engines.lines.duckdb_engine.prepare_kernel_input` (drug resolution, exclusions with
   counts, clipping, product expansion) — one normalisation for both fast engines;
2. the integer kernel rows become a Spark DataFrame; ``groupBy(person).applyInPandas`` sorts each person's rows
   and runs :func:`oncoline.engines.lines.kernel.assign_lines` (numba when the workers have it);
3. the driver collects one record per line and the row → line numbers, and assembles the output tables
   exactly as the DuckDB engine does.

Limits: the driver holds the input and the output tables (as the in-memory ``pyarrow`` signature implies);
Spark distributes the per-person state machine. pyspark is pinned below 4.1 in ``pyproject.toml`` (ibis 12
supports pyspark < 4.1 only); local mode needs Java 17.
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from oncoline.engines.lines import kernel as k
from oncoline.engines.lines.cohort import CohortLines
from oncoline.engines.lines.duckdb_engine import (
    assemble_assignments,
    assemble_lines,
    prepare_kernel_input,
    with_duplicates,
)
from oncoline.engines.lines.params import LineParams
from oncoline.errors import BackendError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["derive_lines_cohort", "local_session"]

_EPOCH = dt.date(1970, 1, 1)


def local_session(cores: int = 2) -> Any:
    """A quiet local-mode Spark session (``local[cores]``, few shuffle partitions, no UI, Arrow on).

    Sets ``PYSPARK_PYTHON`` to the running interpreter unless it is already set.

    Raises
    ------
    BackendError
        When pyspark is not installed or the JVM does not start.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise BackendError("pyspark is not installed; pip install 'oncoline[spark]' (needs Java 17)") from exc
    # Python workers must run this interpreter (it has oncoline, numpy and numba); pyspark reads the variable
    # when the context starts. A value the user set wins.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # Local mode talks to itself only: bind to loopback (no "resolves to a loopback address" warnings, no traffic
    # elsewhere), and keep the JVM's start-up log below ERROR unless the user configured logging.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    log_config = Path(tempfile.gettempdir()) / "oncoline-spark-log4j2.properties"
    if not log_config.exists():
        log_config.write_text(
            "rootLogger.level = error\nrootLogger.appenderRef.stderr.ref = console\n"
            "appender.console.type = Console\nappender.console.name = console\nappender.console.target = SYSTEM_ERR\n"
            "appender.console.layout.type = PatternLayout\nappender.console.layout.pattern = spark: %p %c{1}: %m%n\n",
            encoding="utf-8",
        )
    quiet = f"-Dlog4j2.configurationFile={log_config.as_uri()}"
    try:
        spark = (
            SparkSession.builder.master(f"local[{cores}]")
            .appName("oncoline-lines")
            .config("spark.sql.shuffle.partitions", str(max(2, cores * 2)))
            .config("spark.default.parallelism", str(max(2, cores * 2)))
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.extraJavaOptions", quiet)
            .config("spark.driver.memory", "2g")
            .getOrCreate()
        )
    except Exception as exc:  # the JVM failing to start surfaces as many exception types
        raise BackendError(f"Spark did not start: {exc}. Is Java 17 installed and JAVA_HOME set?") from exc
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _person_kernel(codes: k.DrugCodes, params: LineParams, as_of_day: int | None) -> Any:  # returns the pandas UDF body
    n_words = codes.n_words

    def run(pdf: Any) -> Any:  # pandas.DataFrame in and out
        import pandas as pd  # type: ignore[import-untyped]

        pdf = pdf.sort_values(["s", "d", "e"], kind="stable")
        res = k.assign_lines(
            pdf["p"].to_numpy(np.int64),
            pdf["s"].to_numpy(np.int32),
            pdf["e"].to_numpy(np.int32),
            pdf["d"].to_numpy(np.int32),
            pdf["x"].to_numpy(np.int8),
            codes=codes,
            params=params,
            as_of_day=as_of_day,
            source_key=pdf["k"].to_numpy(np.int32),
        )
        n, m = len(pdf), len(res)
        out: dict[str, Any] = {
            "kind": np.concatenate([np.zeros(n, np.int8), np.ones(m, np.int8)]),
            "i": np.concatenate([pdf["i"].to_numpy(np.int64), np.full(m, -1, np.int64)]),
            "p": np.full(n + m, int(pdf["p"].iloc[0]), np.int32),
            "line": np.concatenate([res.row_line, res.line]).astype(np.int32),
        }
        for name in ("start", "end", "n_exposures", "n_duplicates", "open_rule", "close_rule", "end_reason"):
            out[name] = np.concatenate([np.zeros(n, np.int32), getattr(res, name).astype(np.int32)])
        for w in range(n_words):
            out[f"m{w}"] = np.concatenate([np.zeros(n, np.int64), res.masks[:, w]])
        return pd.DataFrame(out)

    return run


def derive_lines_cohort(
    exposures: pa.Table,
    index: pa.Table,
    /,
    *,
    params: LineParams,
    as_of: dt.date | None,
    spark: Any | None = None,
) -> CohortLines:
    """Lines of therapy for a whole cohort, the per-person pass distributed by Apache Spark.

    Parameters
    ----------
    exposures, index, params, as_of
        As for :func:`oncoline.engines.lines.duckdb_engine.derive_lines_cohort`.
    spark
        A ``SparkSession``; ``None`` starts (or reuses) :func:`local_session`.

    Returns
    -------
    CohortLines
        Identical to the reference and DuckDB engines' result.

    Raises
    ------
    InputError
        When a required column is missing or an ``exposure_id`` repeats within a person.
    BackendError
        When pyspark is missing or a Spark job fails.
    """
    import pyarrow as pa

    prep = prepare_kernel_input(exposures, index, params=params, as_of=as_of)
    session = spark if spark is not None else local_session()
    codes = prep.codes
    m = int(prep.person.shape[0])
    words = [f"m{w}" for w in range(codes.n_words)]
    schema = (
        "kind byte, i long, p int, line int, start int, end int, n_exposures int, n_duplicates int, open_rule int,"
        " close_rule int, end_reason int, " + ", ".join(f"{w} long" for w in words)
    )
    as_of_day = None if as_of is None else (as_of - _EPOCH).days
    if m:
        rows = pa.table(
            {
                "i": np.arange(m, dtype=np.int64),
                "p": prep.person,
                "s": prep.start,
                "e": prep.end,
                "d": prep.drug,
                "x": prep.stop,
                "k": prep.source_key,
            }
        )
        with warnings.catch_warnings():
            # pyspark leaves its result sockets to the garbage collector; collect them here, quietly
            warnings.simplefilter("ignore", ResourceWarning)
            try:
                df = session.createDataFrame(rows.to_pandas())
                kernel = _person_kernel(codes, params, as_of_day)
                result = df.groupBy("p").applyInPandas(kernel, schema=schema).toPandas()
            except Exception as exc:  # py4j / Spark analysis errors have no common base class
                raise BackendError(f"Spark failed while deriving lines: {exc}") from exc
            finally:
                gc.collect()
    else:
        import pandas as pd

        result = pd.DataFrame({c.split()[0]: [] for c in schema.split(", ")})
    row_part = result[result["kind"] == 0]
    line_of_kernel_row = np.zeros(m, dtype=np.int32)
    line_of_kernel_row[row_part["i"].to_numpy(np.int64)] = row_part["line"].to_numpy(np.int32)
    line_of_source = np.zeros(prep.person_of_row.shape[0], dtype=np.int32)
    line_of_source[prep.source] = line_of_kernel_row
    line_part = result[result["kind"] == 1].sort_values(["p", "line"], kind="stable")
    n_lines = len(line_part)
    res = k.KernelLines(
        row_line=np.zeros(0, np.int32),
        first_row=np.arange(n_lines, dtype=np.int64),
        line=line_part["line"].to_numpy(np.int32),
        start=line_part["start"].to_numpy(np.int32),
        end=line_part["end"].to_numpy(np.int32),
        as_of=np.zeros(n_lines, np.int32),
        n_exposures=line_part["n_exposures"].to_numpy(np.int32),
        n_duplicates=line_part["n_duplicates"].to_numpy(np.int32),
        open_rule=line_part["open_rule"].to_numpy(np.int8),
        close_rule=line_part["close_rule"].to_numpy(np.int8),
        end_reason=line_part["end_reason"].to_numpy(np.int8),
        masks=line_part[words].to_numpy(np.int64).reshape(n_lines, len(words)),
    )
    lines = assemble_lines(res, line_part["p"].to_numpy(np.int32), prep)
    import duckdb

    con = duckdb.connect()
    try:
        assignments = assemble_assignments(line_of_source, prep, con)
    finally:
        con.close()
    duplicates = int(res.n_duplicates.sum())
    return CohortLines(lines=lines, assignments=assignments, report=with_duplicates(prep.report, duplicates))
