"""Apache Spark cohort line-of-therapy engine: the same kernel, run per partition on the executors.

Same contract and same results as the reference and DuckDB engines:

1. the cohort is normalised column-wise on the driver by
   :func:`~oncoline.engines.lines.duckdb_engine.prepare_kernel_input` (drug resolution, exclusions with
   counts, clipping, product expansion) — one normalisation for both fast engines;
2. the integer kernel rows go to Spark as Arrow; ``repartition(n, person)`` keeps every person whole within
   one partition, ``sortWithinPartitions(person, start)`` orders it, and ``mapInArrow`` runs
   :func:`oncoline.engines.lines.kernel.assign_lines` once per partition over its Arrow record batches
   (numba when the workers have it) — no per-person Python call, no pandas;
3. the driver collects one record per line (a few per person), derives each row's line from them (a row
   belongs to its person's last line starting on or before it) and assembles the output tables exactly as
   the DuckDB engine does.

Running on a cluster (``spark-submit``, the package on the executors, partition sizing): ``docs/spark.md``.

Limits: the driver holds the input and the output tables (as the in-memory ``pyarrow`` signature implies);
Spark distributes the per-person state machine. pyspark is pinned below 4.1 in ``pyproject.toml`` (ibis 12
supports pyspark < 4.1 only); local mode needs Java 17.
"""

from __future__ import annotations

import datetime as dt
import gc
import math
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from oncoline.engines.lines import kernel as k
from oncoline.engines.lines.cohort import CohortLines
from oncoline.engines.lines.duckdb_engine import (
    assemble_assignments,
    assemble_lines,
    prepare_kernel_input,
    with_duplicates,
)
from oncoline.engines.lines.params import LineParams
from oncoline.errors import BackendError, EngineError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["derive_lines_cohort", "local_session", "partition_kernel", "rows_to_lines"]

_EPOCH = dt.date(1970, 1, 1)


def local_session(cores: int = 2) -> Any:
    """A quiet local-mode Spark session (``local[cores]``, few shuffle partitions, no UI, Arrow on).

    Sets ``PYSPARK_PYTHON`` to the running interpreter unless it is already set. Under ``spark-submit`` (the
    driver started by it) the session spark-submit configured is used as it is — its ``--master`` (a cluster),
    executors and ``--conf`` settings — and ``cores`` is ignored (``docs/spark.md``).

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
    if "PYSPARK_GATEWAY_PORT" in os.environ:
        # launched by spark-submit: its --master, --conf and resources rule; only the Arrow settings are ours
        try:
            spark = SparkSession.builder.appName("oncoline-lines").getOrCreate()
        except Exception as exc:  # the JVM failing surfaces as many exception types
            raise BackendError(f"Spark did not start under spark-submit: {exc}") from exc
        spark.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")
        return spark
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


_ROWS_PER_TASK = 2_000_000
"""Kernel rows per Spark partition when the caller does not choose (about 60 MB of Arrow per task)."""

_ARROW_BATCH_ROWS = 1_000_000
"""Rows per Arrow record batch between the JVM and the Python workers (Spark's default, 10,000, costs a
round of conversion per 10,000 rows)."""


def _line_fields(n_words: int) -> list[tuple[str, str]]:
    fields = [
        ("p", "int"),
        ("line", "int"),
        ("start", "int"),
        ("end", "int"),
        ("n_exposures", "int"),
        ("n_duplicates", "int"),
        ("open_rule", "byte"),
        ("close_rule", "byte"),
        ("end_reason", "byte"),
    ]
    return fields + [(f"m{w}", "long") for w in range(n_words)]


def partition_kernel(codes: k.DrugCodes, params: LineParams, as_of_day: int | None) -> Any:
    """The function Spark's ``mapInArrow`` runs on each partition: the shared kernel over Arrow batches.

    Parameters
    ----------
    codes, params, as_of_day
        As for :func:`oncoline.engines.lines.kernel.assign_lines`.

    Returns
    -------
    callable
        ``Iterator[pyarrow.RecordBatch] -> Iterator[pyarrow.RecordBatch]``. In: the partition's kernel rows
        (``p`` int32 person, ``s``/``e`` int32 start/end day, ``d`` int32 drug code, ``x`` int8 stop code,
        ``k`` int32 source key), every person's rows in this partition only and sorted by ``(p, s)``. Out:
        one record per line (:func:`_line_fields`), one batch per partition. No per-person Python call, no
        pandas.
    """
    n_words = codes.n_words
    names = [name for name, _ in _line_fields(n_words)]

    def run(batches: Any) -> Any:
        import pyarrow as pa

        from oncoline.engines.lines import kernel

        chunks = list(batches)
        if not chunks or sum(b.num_rows for b in chunks) == 0:
            return

        def col(name: str, dtype: Any) -> Any:
            return np.concatenate([b.column(name).to_numpy(zero_copy_only=False) for b in chunks]).astype(
                dtype, copy=False
            )

        person = col("p", np.int64)
        res = kernel.assign_lines(
            person,
            col("s", np.int32),
            col("e", np.int32),
            col("d", np.int32),
            col("x", np.int8),
            codes=codes,
            params=params,
            as_of_day=as_of_day,
            source_key=col("k", np.int32),
        )
        arrays = [
            pa.array(person[res.first_row].astype(np.int32)),
            pa.array(res.line),
            pa.array(res.start),
            pa.array(res.end),
            pa.array(res.n_exposures),
            pa.array(res.n_duplicates),
            pa.array(res.open_rule),
            pa.array(res.close_rule),
            pa.array(res.end_reason),
            *(pa.array(np.ascontiguousarray(res.masks[:, w])) for w in range(n_words)),
        ]
        yield pa.RecordBatch.from_arrays(arrays, names=names)

    return run


def _to_spark(session: Any, rows: pa.Table) -> Any:
    """A Spark DataFrame of an Arrow table (pyspark 4 takes Arrow directly; 3.5 goes through pandas)."""
    from pyspark.sql import DataFrame

    if hasattr(DataFrame, "toArrow"):  # pyspark >= 4.0 also accepts a pyarrow.Table here
        return session.createDataFrame(rows)
    return session.createDataFrame(rows.to_pandas())  # pragma: no cover - pyspark 3.5


def _collect(df: Any) -> pa.Table:
    """A (small) Spark result as one Arrow table, without pandas where pyspark allows it."""
    import pyarrow as pa

    if hasattr(df, "toArrow"):
        table: pa.Table = df.toArrow()
        return table
    return pa.Table.from_pandas(df.toPandas(), preserve_index=False)  # pragma: no cover - pyspark 3.5


def rows_to_lines(
    line_person: npt.NDArray[np.int32],
    line_start: npt.NDArray[np.int32],
    line_number: npt.NDArray[np.int32],
    person: npt.NDArray[np.int32],
    start: npt.NDArray[np.int32],
) -> npt.NDArray[np.int32]:
    """The line of each kernel row from the lines alone: the person's last line starting on or before the row.

    A line is the span of day batches from its opening day to the day before the next line opens, and every
    row of a day belongs to that day's line (:mod:`oncoline.engines.lines.kernel`), so this equals the
    kernel's own ``row_line``. ``line_*`` are sorted by person, then start (= line number).

    Raises
    ------
    EngineError
        When a row has no line of its person starting on or before it (a kernel or collection bug).
    """
    if person.shape[0] == 0:
        return np.zeros(0, np.int32)
    s0 = int(min(int(start.min()), int(line_start.min()) if line_start.shape[0] else 0))
    bits = (int(max(int(start.max()), int(line_start.max()) if line_start.shape[0] else 0)) - s0 + 1).bit_length()
    line_key = (line_person.astype(np.int64) << bits) | (line_start - s0).astype(np.int64)
    row_key = person.astype(np.int64) << bits
    row_key |= (start - s0).astype(np.int64)
    pos = np.searchsorted(line_key, row_key, side="right") - 1
    if pos.shape[0] and (int(pos.min()) < 0 or bool(np.any(line_person[pos] != person))):
        raise EngineError("a kernel row has no line: Spark lost a partition's lines")
    out: npt.NDArray[np.int32] = line_number[pos]
    return out


def derive_lines_cohort(
    exposures: pa.Table,
    index: pa.Table,
    /,
    *,
    params: LineParams,
    as_of: dt.date | None,
    spark: Any | None = None,
    partitions: int | None = None,
) -> CohortLines:
    """Lines of therapy for a whole cohort, the kernel run per Spark partition over Arrow batches.

    The kernel rows (:func:`~oncoline.engines.lines.duckdb_engine.prepare_kernel_input`) go to Spark as
    Arrow; ``repartition(n, p)`` keeps each person whole within one partition, ``sortWithinPartitions(p, s)``
    orders it, and ``mapInArrow`` runs :func:`partition_kernel` once per partition (numba, GIL released).
    Only the line records come back; each row's line follows from them (:func:`rows_to_lines`).

    Parameters
    ----------
    exposures, index, params, as_of
        As for :func:`oncoline.engines.lines.duckdb_engine.derive_lines_cohort`.
    spark
        A ``SparkSession``; ``None`` starts (or reuses) :func:`local_session`. On a cluster the executors
        need oncoline, numpy, pyarrow (and numba for speed) installed: ``docs/spark.md``.
    partitions
        Spark partitions (tasks) for the kernel; None: at least twice the default parallelism, and one per
        :data:`_ROWS_PER_TASK` kernel rows.

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
    fields = _line_fields(codes.n_words)
    as_of_day = None if as_of is None else (as_of - _EPOCH).days
    if m:
        rows = pa.table(
            {
                "p": prep.person,
                "s": prep.start,
                "e": prep.end,
                "d": prep.drug,
                "x": prep.stop,
                "k": prep.source_key,
            }
        )
        n_parts = partitions or max(2 * int(session.sparkContext.defaultParallelism), math.ceil(m / _ROWS_PER_TASK))
        schema = ", ".join(f"{name} {kind}" for name, kind in fields)
        with warnings.catch_warnings():
            # pyspark leaves its result sockets to the garbage collector; collect them here, quietly
            warnings.simplefilter("ignore", ResourceWarning)
            try:
                session.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(_ARROW_BATCH_ROWS))
                df = _to_spark(session, rows)
                del rows
                out = (
                    df.repartition(n_parts, "p")
                    .sortWithinPartitions("p", "s")
                    .mapInArrow(partition_kernel(codes, params, as_of_day), schema)
                )
                result = _collect(out)
            except Exception as exc:  # py4j / Spark analysis errors have no common base class
                raise BackendError(f"Spark failed while deriving lines: {exc}") from exc
            finally:
                gc.collect()
        result = result.sort_by([("p", "ascending"), ("line", "ascending")])
    else:
        result = pa.table({name: pa.array([], pa.int32()) for name, _ in fields})
    n_lines = result.num_rows

    def column(name: str, dtype: Any) -> Any:
        return np.asarray(result.column(name).to_numpy(), dtype=dtype)

    line_person = column("p", np.int32)
    res = k.KernelLines(
        row_line=np.zeros(0, np.int32),
        first_row=np.arange(n_lines, dtype=np.int64),
        line=column("line", np.int32),
        start=column("start", np.int32),
        end=column("end", np.int32),
        as_of=np.zeros(n_lines, np.int32),
        n_exposures=column("n_exposures", np.int32),
        n_duplicates=column("n_duplicates", np.int32),
        open_rule=column("open_rule", np.int8),
        close_rule=column("close_rule", np.int8),
        end_reason=column("end_reason", np.int8),
        masks=np.stack([column(f"m{w}", np.int64) for w in range(codes.n_words)], axis=1).reshape(
            n_lines, codes.n_words
        ),
    )
    line_of_kernel_row = rows_to_lines(line_person, res.start, res.line, prep.person, prep.start)
    line_of_source = np.zeros(prep.person_of_row.shape[0], dtype=np.int32)
    line_of_source[prep.source] = line_of_kernel_row
    lines = assemble_lines(res, line_person, prep)

    def build() -> pa.Table:
        import duckdb

        con = duckdb.connect()
        try:
            return assemble_assignments(line_of_source, prep, con)
        finally:
            con.close()

    duplicates = int(res.n_duplicates.sum())
    return CohortLines(lines=lines, build_assignments=build, report=with_duplicates(prep.report, duplicates))
