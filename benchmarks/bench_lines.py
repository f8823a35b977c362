"""Line-of-therapy benchmark: each engine in-process and as a whole process, each against its own floor
measured in the same run (and the same repeat), with CPU time and peak memory beside the wall time.

For each cohort size the generator (:mod:`benchmarks.generate`) writes Parquet once (cached under
``--data-dir``); every measurement then runs in a fresh process.

In-process (the clock around the work only; peak memory ``ru_maxrss`` of that process, input included):

- ``floor``: DuckDB sorting the in-memory exposures table by person and start date into Arrow;
- ``duckdb``: :func:`oncoline.engines.lines.duckdb_engine.derive_lines_cohort` on the in-memory tables, the
  row → line table included (the numba kernel warmed first);
- ``spark-floor``: Spark (local mode, session started before the clock) reading the exposures Parquet file,
  ``orderBy(person_id, start_date)`` and writing it to Parquet;
- ``spark``: reading the Parquet files, :func:`oncoline.engines.lines.spark_engine.derive_lines_cohort` and
  writing the lines to Parquet, as ``oncoline lines --engine spark`` does (output checked equal to the DuckDB
  engine's in the same process; the JVM and its Python workers are not in the peak memory);
- ``reference`` and ``pandas`` (an analyst's ``groupby().apply``, extrapolated linearly beyond
  ``--pandas-max``) against ``floor``.

Whole process (wall time from start to exit, CPU time user + system of the process and its children, peak
memory of its largest process, all from ``wait4``):

- ``process-floor``: ``python -c`` with DuckDB copying the exposures file, ordered by person and start date,
  to a Parquet file;
- ``process-duckdb``: ``oncoline lines EXPOSURES --index INDEX --out LINES --as-of 2026-01-01``;
- ``process-spark-floor``: ``python -c`` starting a local Spark session, sorting and writing the file;
- ``process-spark``: the same ``oncoline lines`` with ``--engine spark``.

Files (10^8 rows, ``--with-1e8``): ``floor-files`` (DuckDB file → sorted file, ``memory_limit`` 2 GB) against
``duckdb-files`` (:func:`oncoline.io.lines_partitioned.derive_lines_cohort_files`), and the whole processes.

Run: ``python -m benchmarks lines`` (10^6 and 10^7 rows, every DuckDB and Spark measurement) or
``--engines process-floor,process-duckdb --repeat 3`` (the headline ratio, three times); ``--repeat N``
prints the median of the per-repeat ratios with their range.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import multiprocessing as mp
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["main", "pandas_lines"]

AS_OF = dt.date(2030, 1, 1)
DEFAULT_DATA = Path(os.environ.get("ONCOLINE_BENCH_DATA", "/tmp/oncoline-bench"))


# ------------------------------------------------------------------------------------------ pandas baseline
def pandas_lines(exposures: Any, index: Any, as_of: dt.date) -> Any:
    """Lines of therapy the way an analyst writes them in pandas: map names, filter, groupby-apply a loop.

    Parameters
    ----------
    exposures, index
        pandas DataFrames with the generator's columns.
    as_of
        Data cut-off.

    Returns
    -------
    pandas.DataFrame
        One row per person and line (person_id, line, drugs, start, end).
    """
    import pandas as pd

    from oncoline.engines.lines.params import load_line_params
    from oncoline.knowledge.drugs import DrugRole, load_vocabulary

    params = load_line_params()
    vocab = load_vocabulary()
    names: dict[str, tuple[str, ...]] = {}
    for raw in exposures["drug"].dropna().unique():
        found = vocab.lookup(raw) or ()
        names[raw] = tuple(c for c in found if vocab.drug(c).role is DrugRole.ANTICANCER)
    base = {d.name for d in vocab.drugs if any(d.in_class(c) for c in params.maintenance_base_classes)}
    addition = {
        d.name
        for d in vocab.drugs
        if d.name in params.maintenance_addition_drugs
        or any(d.in_class(c) for c in params.maintenance_addition_classes)
    }
    taxanes = set(vocab.members("taxane"))

    df = exposures.copy()
    df["drug"] = df["drug"].map(names)
    df = df[df["drug"].map(bool, na_action="ignore").fillna(False).astype(bool)].explode("drug")
    df["end_date"] = df["end_date"].fillna(df["start_date"])
    df = df.merge(index, on="person_id")
    cut = pd.Timestamp(as_of)
    df["start_date"] = pd.to_datetime(df["start_date"])
    df["end_date"] = pd.to_datetime(df["end_date"]).clip(upper=cut)
    lookback = pd.to_datetime(df["metastatic_diagnosis"]) - pd.Timedelta(days=params.index_lookback_days)
    df = df[(df["start_date"] <= cut) & (df["start_date"] >= lookback)]

    def per_patient(g: Any) -> Any:
        g = g.sort_values("start_date")
        out: list[dict[str, Any]] = []
        cur: dict[str, Any] | None = None
        for day, batch in g.groupby("start_date"):
            drugs = set(batch["drug"])
            new = cur is None
            if cur is not None:
                if (day - cur["last_end"]).days > params.gap_days:
                    new = True
                elif (day - cur["start"]).days > params.regimen_window_days and not drugs <= cur["drugs"]:
                    ok_base = cur["last_base"] is not None and (
                        (day - cur["last_base"]).days <= params.maintenance_ongoing_days
                    )
                    for d in drugs - cur["drugs"]:
                        if not ((d in taxanes and cur["drugs"] & taxanes) or (d in addition and ok_base)):
                            new = True
            if new:
                cur = {"line": len(out) + 1, "start": day, "end": day, "drugs": set(), "last_end": day,
                       "last_base": None}  # fmt: skip
                out.append(cur)
            assert cur is not None
            cur["drugs"] |= drugs
            end = batch["end_date"].max()
            cur["last_end"] = max(cur["last_end"], end)
            cur["end"] = cur["last_end"]
            b = batch[batch["drug"].isin(base)]
            if len(b):
                be = b["end_date"].max()
                cur["last_base"] = be if cur["last_base"] is None else max(cur["last_base"], be)
        for cur_line, next_line in itertools.pairwise(out):  # a line ends the day before the next starts
            cur_line["end"] = min(cur_line["end"], next_line["start"] - pd.Timedelta(days=1))
        return pd.DataFrame(
            [{"line": c["line"], "drugs": sorted(c["drugs"]), "start": c["start"], "end": c["end"]} for c in out]
        )

    return df.groupby("person_id").apply(per_patient, include_groups=False)


# ------------------------------------------------------------------------------------------ measurements
def _load(directory: Path) -> tuple[Any, Any]:
    import pyarrow.parquet as pq

    return pq.read_table(directory / "exposures.parquet"), pq.read_table(directory / "index.parquet")


def _measure(kind: str, directory: str, queue: Any) -> None:
    """Child process: load the cohort, time one engine, report seconds, peak RSS and checks."""
    import tempfile
    import warnings

    warnings.simplefilter("ignore")
    from oncoline.engines.lines.params import load_line_params

    params = load_line_params()
    extra: dict[str, Any] = {}
    if kind.endswith("-files"):
        src = Path(directory)
        with tempfile.TemporaryDirectory(prefix="oncoline-bench-") as tmp:
            if kind == "floor-files":
                import duckdb

                con = duckdb.connect()
                con.execute("SET memory_limit = '2GB'")
                con.execute("SET enable_progress_bar = false")
                con.execute(f"SET temp_directory = '{tmp}/spill'")
                t0 = time.perf_counter()
                con.execute(
                    f"COPY (SELECT * FROM read_parquet('{src / 'exposures.parquet'}') ORDER BY person_id, start_date) "
                    f"TO '{tmp}/sorted.parquet' (FORMAT parquet)"
                )
                seconds = time.perf_counter() - t0
            else:
                import pyarrow.parquet as pq

                from oncoline.engines.lines import duckdb_engine
                from oncoline.io.lines_partitioned import derive_lines_cohort_files

                warm = pq.ParquetFile(src / "exposures.parquet").read_row_group(0).slice(0, 1000)
                duckdb_engine.derive_lines_cohort(
                    warm, pq.read_table(src / "index.parquet"), params=params, as_of=AS_OF
                )
                t0 = time.perf_counter()
                run = derive_lines_cohort_files(
                    src / "exposures.parquet",
                    src / "index.parquet",
                    Path(tmp) / "lines.parquet",
                    params=params,
                    as_of=AS_OF,
                    assignments_path=Path(tmp) / "assignments.parquet",
                    engine=duckdb_engine.derive_lines_cohort,
                )
                seconds = time.perf_counter() - t0
                extra["lines"] = run.n_lines
                extra["partitions"] = run.partitions
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        queue.put({"seconds": seconds, "peak_mb": peak_mb, **extra})
        return
    exposures, index = _load(Path(directory))
    if kind == "floor":
        import duckdb

        con = duckdb.connect()
        con.execute("SET enable_progress_bar = false")  # (it printed into the results table)
        con.register("exposures", exposures)
        t0 = time.perf_counter()
        c0 = time.process_time()
        con.execute("SELECT * FROM exposures ORDER BY person_id, start_date").to_arrow_table()
        seconds = time.perf_counter() - t0
        extra["cpu"] = time.process_time() - c0
    elif kind == "duckdb":
        from oncoline.engines.lines import duckdb_engine

        duckdb_engine.derive_lines_cohort(exposures.slice(0, 1000), index, params=params, as_of=AS_OF)  # JIT warm
        t0 = time.perf_counter()
        c0 = time.process_time()
        res = duckdb_engine.derive_lines_cohort(exposures, index, params=params, as_of=AS_OF)
        res.assignments  # noqa: B018 - built on first read: the in-process figure includes the row → line table
        seconds = time.perf_counter() - t0
        extra["cpu"] = time.process_time() - c0
        extra["lines"] = res.lines.num_rows
    elif kind == "spark":
        import tempfile

        import pyarrow.parquet as pq

        from oncoline.engines.lines import duckdb_engine, spark_engine

        spark = spark_engine.local_session()
        spark_engine.derive_lines_cohort(exposures.slice(0, 1000), index, params=params, as_of=AS_OF, spark=spark)
        del exposures, index  # the Spark floor reads the file too: read, derive and write inside the clock
        src = Path(directory)
        with tempfile.TemporaryDirectory(prefix="oncoline-bench-") as tmp:
            t0 = time.perf_counter()
            c0 = time.process_time()
            exposures, index = pq.read_table(src / "exposures.parquet"), pq.read_table(src / "index.parquet")
            res = spark_engine.derive_lines_cohort(exposures, index, params=params, as_of=AS_OF, spark=spark)
            pq.write_table(res.lines, Path(tmp) / "lines.parquet")
            seconds = time.perf_counter() - t0
            extra["cpu"] = time.process_time() - c0
        other = duckdb_engine.derive_lines_cohort(exposures, index, params=params, as_of=AS_OF)
        extra["identical_to_duckdb"] = bool(
            res.lines.equals(other.lines) and res.assignments.equals(other.assignments) and res.report == other.report
        )
        spark.stop()
    elif kind == "spark-floor":
        import tempfile

        from oncoline.engines.lines import spark_engine

        spark = spark_engine.local_session()
        src = Path(directory) / "exposures.parquet"
        del exposures, index
        with tempfile.TemporaryDirectory(prefix="oncoline-bench-") as tmp:
            spark.read.parquet(str(src)).limit(1000).orderBy("person_id").write.parquet(f"{tmp}/warm")  # JIT warm
            t0 = time.perf_counter()
            c0 = time.process_time()
            spark.read.parquet(str(src)).orderBy("person_id", "start_date").write.parquet(f"{tmp}/sorted")
            seconds = time.perf_counter() - t0
            extra["cpu"] = time.process_time() - c0
        spark.stop()
    elif kind == "reference":
        from oncoline.engines.lines.reference import derive_lines_reference_cohort

        t0 = time.perf_counter()
        derive_lines_reference_cohort(exposures, index, params=params, as_of=AS_OF)
        seconds = time.perf_counter() - t0
    elif kind == "pandas":
        exp_df, idx_df = exposures.to_pandas(), index.to_pandas()
        t0 = time.perf_counter()
        pandas_lines(exp_df, idx_df, AS_OF)
        seconds = time.perf_counter() - t0
    else:  # pragma: no cover - argparse restricts the choices
        raise ValueError(kind)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put({"seconds": seconds, "peak_mb": peak_mb, **extra})


PROCESS_AS_OF = "2026-01-01"
"""Cut-off given to ``oncoline lines`` in the whole-process runs (the CLI refuses a date after today)."""

PROCESS_KINDS = ("process-floor", "process-duckdb", "process-spark-floor", "process-spark")
"""Whole-process measurements: a fresh interpreter from start to exit, as a user runs it."""


FILE_MEMORY_LIMIT_ROWS = 20_000_000
"""From this size on the whole-process floor runs DuckDB with the 2 GB memory limit of ``floor-files`` and of
the partitioned path (which ``oncoline lines`` takes above 2x10^7 rows): like with like, and a machine shared
with others is not asked for 80 % of its memory."""


def _process_argv(kind: str, directory: Path, out: Path) -> list[str]:
    exp, idx = directory / "exposures.parquet", directory / "index.parquet"
    if kind == "process-floor":
        sql = f"COPY (SELECT * FROM read_parquet('{exp}') ORDER BY person_id, start_date) TO '{out}' (FORMAT parquet)"
        limit = "duckdb.sql(\"SET memory_limit = '2GB'\"); " if _n_rows(directory) >= FILE_MEMORY_LIMIT_ROWS else ""
        return [sys.executable, "-c", f"import duckdb; {limit}duckdb.sql({sql!r})"]
    if kind == "process-spark-floor":
        code = (
            "from oncoline.engines.lines.spark_engine import local_session\n"
            "s = local_session()\n"
            f"s.read.parquet({str(exp)!r}).orderBy('person_id', 'start_date').write.parquet({str(out)!r})\n"
            "s.stop()\n"
        )
        return [sys.executable, "-c", code]
    engine = "spark" if kind == "process-spark" else "duckdb"
    oncoline = str(Path(sys.executable).with_name("oncoline"))
    argv = [oncoline, "lines", str(exp), "--index", str(idx), "--out", str(out)]
    return [*argv, "--as-of", PROCESS_AS_OF, "--engine", engine]


def _run_process(kind: str, directory: Path) -> dict[str, Any]:
    """Run one whole process; wall seconds, CPU seconds (user + system, its children included) and the peak
    resident memory of its largest process (``wait4``)."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(prefix="oncoline-bench-") as tmp:
        argv = _process_argv(kind, directory, Path(tmp) / "out.parquet")
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if proc.returncode != 0:
            raise RuntimeError(f"{kind} failed ({proc.returncode}): {err[-1500:]}")
    return {"seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime, "peak_mb": usage.ru_maxrss / 1024}


def _run_child(kind: str, directory: Path) -> dict[str, Any]:
    load = os.getloadavg()[0]
    result = _run_child_at(kind, directory)
    result["load"] = max(load, os.getloadavg()[0])  # the 1-minute load average around the measurement
    return result


def _ensure_kernel() -> None:
    """Compile the line kernel ahead of time now if this source has no build yet, so that no measured process
    pays numba's start-up or a compilation (``oncoline.engines.lines.kernel_aot``); prints the build time."""
    from oncoline.engines.lines import kernel, kernel_aot

    if not kernel.HAVE_NUMBA or kernel_aot.load(kernel._kernel_py, kernel._close_line_py) is not None:
        return
    t0 = time.perf_counter()
    path = kernel_aot.build(kernel._kernel_py, kernel._close_line_py)
    print(f"compiled the line kernel ahead of time in {time.perf_counter() - t0:.1f} s → {path}", file=sys.stderr)


def _ensure_bytecode() -> None:
    """Compile oncoline's modules to bytecode now (``compileall``), as installing the package does, so that no
    measured process compiles them from source: with ``PYTHONDONTWRITEBYTECODE`` set (as in some shells and CI
    images) a source checkout never gets its ``.pyc`` files, and every ``oncoline lines`` process compiled its
    ~30 modules again (~0.05 s of CPU time, a tenth of a run at 10^6 rows; the floor imports no oncoline)."""
    import compileall

    import oncoline

    compileall.compile_dir(str(Path(oncoline.__file__).parent), quiet=1)


def _run_child_at(kind: str, directory: Path) -> dict[str, Any]:
    if kind in PROCESS_KINDS:
        return _run_process(kind, directory)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_measure, args=(kind, str(directory), queue))
    proc.start()
    result: dict[str, Any] = queue.get()
    proc.join()
    return result


def _cohort_dir(n_rows: int, data_dir: Path) -> Path:
    from benchmarks.generate import generate_cohort, write_cohort, write_cohort_chunked

    directory = data_dir / f"rows-{n_rows}"
    if not (directory / "exposures.parquet").exists():
        t0 = time.perf_counter()
        if n_rows > 20_000_000:  # built and written in chunks of 10^7 rows (bounded memory)
            write_cohort_chunked(n_rows, directory)
        else:
            write_cohort(generate_cohort(n_rows), directory)
        print(
            f"generated {_n_rows(directory):,} rows in {time.perf_counter() - t0:.1f} s → {directory}", file=sys.stderr
        )
    return directory


def _n_rows(directory: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(directory / "exposures.parquet").metadata.num_rows)


FLOOR_OF = {
    "duckdb": "floor",
    "reference": "floor",
    "pandas": "floor",
    "spark": "spark-floor",
    "process-duckdb": "process-floor",
    "process-spark": "process-spark-floor",
    "duckdb-files": "floor-files",
}
"""Each measurement's floor, measured in the same run (and the same repeat)."""

DEFAULT_ENGINES = "floor,duckdb,process-floor,process-duckdb,spark-floor,spark,process-spark-floor,process-spark"


def main(argv: list[str] | None = None) -> int:
    """Command line of ``python -m benchmarks lines``; prints a Markdown table (and JSON with ``--json``)."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks lines", description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", default="1e6,1e7", help="comma-separated cohort sizes (default 1e6,1e7)")
    ap.add_argument(
        "--engines",
        default=DEFAULT_ENGINES,
        help="any of floor, duckdb, spark-floor, spark, process-floor, process-duckdb, process-spark-floor, "
        "process-spark, reference, pandas, floor-files, duckdb-files (default: the in-process and whole-process "
        "DuckDB and Spark measurements with their floors)",
    )
    ap.add_argument("--with-1e8", action="store_true", help="also 10^8 rows: file floor, partitioned path, processes")
    ap.add_argument("--repeat", type=int, default=1, help="measure everything this many times (ratios per repeat)")
    ap.add_argument("--pandas-max", type=float, default=1e5, help="largest size the pandas baseline runs at")
    ap.add_argument("--reference-max", type=float, default=1e6, help="largest size the reference runs at")
    ap.add_argument("--spark-max", type=float, default=1e7, help="largest size Spark runs at")
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--memory-max", type=float, default=2e7, help="largest size the in-memory engines run at")
    args = ap.parse_args(argv)
    sizes = [int(float(x)) for x in args.rows.split(",") if x.strip()]
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if args.with_1e8 and 100_000_000 not in sizes:
        sizes.append(100_000_000)
        for kind in ("floor-files", "duckdb-files", "process-floor", "process-duckdb"):
            if kind not in engines:
                engines.append(kind)
    limits = {"pandas": args.pandas_max, "reference": args.reference_max}
    for kind in ("spark", "spark-floor", "process-spark", "process-spark-floor"):
        limits[kind] = args.spark_max
    for kind in ("floor", "duckdb"):
        limits[kind] = min(limits.get(kind, float("inf")), args.memory_max)
    results: list[dict[str, Any]] = []
    pandas_rate: float | None = None
    _ensure_kernel()
    _ensure_bytecode()
    for size in sizes:
        directory = _cohort_dir(size, args.data_dir)
        rows = _n_rows(directory)
        for repeat in range(1, args.repeat + 1):
            measured: dict[str, dict[str, Any]] = {}
            for kind in engines:
                if size > limits.get(kind, float("inf")):
                    continue
                measured[kind] = _run_child(kind, directory)
                print(
                    f"{rows:>12,} rows  {kind:<20} {measured[kind]['seconds']:8.2f} s  (repeat {repeat}, "
                    f"load {measured[kind]['load']:.1f})",
                    file=sys.stderr,
                )
            if "pandas" in measured:
                pandas_rate = rows / measured["pandas"]["seconds"]
            batch = [{"rows": rows, "engine": kind, "repeat": repeat, **m} for kind, m in measured.items()]
            if "pandas" not in measured and pandas_rate and "pandas" in engines:
                batch.append(
                    {
                        "rows": rows,
                        "engine": "pandas",
                        "repeat": repeat,
                        "seconds": rows / pandas_rate,
                        "extrapolated": True,
                    }
                )
            for r in batch:
                if r.get("cpu") and r.get("seconds") and "spark" not in r["engine"]:
                    r["cores"] = r["cpu"] / r["seconds"]  # cores used on average (the JVM's are not counted)
                floor = measured.get(FLOOR_OF.get(r["engine"], ""))
                if floor:
                    r["x_floor"] = r["seconds"] / floor["seconds"]
                    if "spark" in r["engine"]:
                        continue  # CPU and memory of the Python driver only: the JVM's are not counted
                    if r.get("peak_mb") and floor.get("peak_mb"):
                        r["x_floor_peak"] = r["peak_mb"] / floor["peak_mb"]
                    if r.get("cpu") and floor.get("cpu"):
                        r["x_floor_cpu"] = r["cpu"] / floor["cpu"]
            pandas_s = next((r["seconds"] for r in batch if r["engine"] == "pandas"), None)
            for r in batch:
                if pandas_s and r["engine"] in ("floor", "duckdb", "reference", "pandas"):
                    r["pandas_over_this"] = pandas_s / r["seconds"]
            results.extend(batch)
    print(_markdown(results))
    if args.repeat > 1:
        print()
        print(_medians(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


_MODE = {
    "floor": "in-process",
    "duckdb": "in-process",
    "reference": "in-process",
    "pandas": "in-process",
    "spark-floor": "in-process",
    "spark": "in-process",
    "floor-files": "files",
    "duckdb-files": "files",
}


def _markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "| rows | mode | engine | rep | seconds | CPU s | cores | peak MB | floor | × floor | × floor CPU "
        "| × floor peak | load | note |",
        "|---:|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    for r in results:
        note = "extrapolated (linear)" if r.get("extrapolated") else ""
        if "partitions" in r:
            note = f"{r['partitions']} person partitions"
        if r["engine"] == "floor-files":
            note = "Parquet → sorted Parquet, DuckDB memory_limit 2 GB"
        if "identical_to_duckdb" in r:
            note = "output identical to duckdb" if r["identical_to_duckdb"] else "OUTPUT DIFFERS"
        if "pandas_over_this" in r and r["engine"] != "pandas":
            note = (note + "; " if note else "") + f"pandas ÷ this {r['pandas_over_this']:,.0f}"

        def num(key: str, fmt: str, r: dict[str, Any] = r) -> str:
            value = r.get(key)
            return "—" if value is None else format(value, fmt)

        lines.append(
            f"| {r['rows']:,} | {_MODE.get(r['engine'], 'whole process')} | {r['engine']} | {r.get('repeat', 1)} | "
            f"{r['seconds']:.2f} | {num('cpu', '.2f')} | {num('cores', '.2f')} | {num('peak_mb', ',.0f')} | "
            f"{FLOOR_OF.get(r['engine'], '—')} | "
            f"{num('x_floor', '.2f')} | {num('x_floor_cpu', '.2f')} | {num('x_floor_peak', '.2f')} | "
            f"{num('load', '.1f')} | {note} |"
        )
    return "\n".join(lines)


def _medians(results: list[dict[str, Any]]) -> str:
    """Median over repeats of each ratio (each computed within one repeat), with its range."""
    import statistics

    out = [
        "| rows | engine | repeats | median s | median CPU s | median cores | median × floor (min–max) "
        "| median × floor CPU | median × floor peak | load (min–max) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    keys = sorted({(r["rows"], r["engine"]) for r in results}, key=lambda k: (k[0], list(FLOOR_OF).count(k[1])))
    for rows, engine in keys:
        group = [r for r in results if r["rows"] == rows and r["engine"] == engine]

        def med(key: str, group: list[dict[str, Any]] = group) -> str:
            values = [r[key] for r in group if key in r]
            return f"{statistics.median(values):.2f}" if values else "—"

        ratios = [r["x_floor"] for r in group if "x_floor" in r]
        span = f" ({min(ratios):.2f}–{max(ratios):.2f})" if ratios else ""
        loads = [r["load"] for r in group if "load" in r]
        load = f"{min(loads):.1f}–{max(loads):.1f}" if loads else "—"
        out.append(
            f"| {rows:,} | {engine} | {len(group)} | {med('seconds')} | {med('cpu')} | {med('cores')} | "
            f"{med('x_floor')}{span} | "
            f"{med('x_floor_cpu')} | {med('x_floor_peak')} | {load} |"
        )
    return "\n".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
