"""Cohort report benchmark: the whole ``oncoline cohort report`` against ``oncoline lines`` on the same data.

For each size the generator (:mod:`benchmarks.generate`) writes the cohort once (cached under ``--data-dir``);
the index gets the report's optional columns (HER2 positive, HR status, birth year, presentation; seeded draws,
:func:`add_index_columns`). Then, in the same run and as a user runs them (fresh processes, wall time, reading and
writing files included):

- ``lines``: ``oncoline lines EXPOSURES --index INDEX --out lines.parquet`` (the baseline);
- ``report``: ``oncoline cohort report lines.parquet --index INDEX --exposures EXPOSURES --out DIR`` — attrition,
  pathways, Kaplan–Meier, concordance, the 12-cell sensitivity grid, HTML and every table;
- ``report --no-concordance``: the same without the guideline concordance (the recommender calls), to show
  where the time goes.

Each is timed as wall seconds (the target) and CPU seconds (user + system of the command and of the worker
processes it waits for: steadier than wall time on a shared machine, and it shows what the cores did).

With ``--repeat N`` the three commands run N times, interleaved (so a burst of load on the shared machine hits
all three alike); each ratio is given as the median of the runs' ratios with its range, times as medians.

The target (issue 10) is report ≤ 3 × lines at 10^7 exposure rows. Results: ``benchmarks/out/report.json``.

``--concordance-only`` measures the guideline concordance alone, as the report runs it, in fresh processes (one per
repeat) on the lines table of ``oncoline lines``: the CPU seconds of keying the lines (this process, before the
worker processes are forked), of the worker processes (the recommender calls) and of assembling the result, the
wall seconds, the recommender calls and the distinct states — steadier than the whole report's figures on a
shared machine. Results: ``benchmarks/out/report_concordance.json``.

Run: ``python -m benchmarks report`` (1e5 rows) or ``--rows 1e6,1e7 --repeat 3``; ``--rows 1e7 --repeat 3
--concordance-only``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["add_index_columns", "generator_fingerprint", "main", "prepare"]

DEFAULT_DATA = Path(os.environ.get("ONCOLINE_BENCH_DATA", "/tmp/oncoline-bench"))


def add_index_columns(index: Any, *, seed: int = 20261206) -> Any:
    """The generator's index with ``her2_status`` (positive), ``hr_status`` (about 55 % positive, 3 % unknown),
    ``birth_year`` (age at index about 57 ± 12) and ``presentation`` (about 30 % de novo) — seeded."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    n = index.num_rows
    years = np.asarray(index.column("metastatic_diagnosis").cast(pa.int32()).to_numpy(zero_copy_only=False))
    index_year = 1970 + (years / 365.25).astype(np.int64)
    age = np.clip(rng.normal(57, 12, n), 25, 95).astype(np.int64)
    hr = np.where(rng.random(n) < 0.55, "positive", "negative").astype(object)
    hr[rng.random(n) < 0.03] = None
    return (
        index.append_column("her2_status", pa.array(["positive"] * n, pa.string()))
        .append_column("hr_status", pa.array(hr, pa.string()))
        .append_column("birth_year", pa.array(index_year - age, pa.int32()))
        .append_column("presentation", pa.array(np.where(rng.random(n) < 0.3, "de_novo", "recurrent"), pa.string()))
    )


def generator_fingerprint() -> str:
    """A hash of the generator's source (:mod:`benchmarks.generate`) and of :func:`add_index_columns`: cached data
    written by another version of either is stale (the generator is recalibrated from time to time)."""
    import hashlib
    import inspect

    from benchmarks import generate

    text = inspect.getsource(generate) + inspect.getsource(add_index_columns)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def prepare(rows: int, data_dir: Path) -> tuple[Path, Path]:
    """Write (once per generator version) the exposures and the report index for a cohort of about ``rows`` rows.

    The data are cached under ``data_dir/report-ROWS`` with the :func:`generator_fingerprint` they were written
    with (``generator.txt``); when the generator has changed since, they are written again. (The cohort that
    ``python -m benchmarks lines`` caches under ``rows-ROWS`` carries no fingerprint, so it is not reused.)
    """
    import pyarrow.parquet as pq

    from benchmarks.generate import generate_cohort, write_cohort

    directory = data_dir / f"report-{rows}"
    exposures, index, stamp = (
        directory / "exposures.parquet",
        directory / "index_report.parquet",
        directory / "generator.txt",
    )
    fingerprint = generator_fingerprint()
    if (
        exposures.is_file()
        and index.is_file()
        and stamp.is_file()
        and stamp.read_text(encoding="utf-8").strip() == fingerprint
    ):
        return exposures, index
    print(f"{rows:>12,} rows: writing the cohort (generator {fingerprint}) under {directory}", flush=True)
    for old in (stamp, exposures, index, directory / "index.parquet"):
        old.unlink(missing_ok=True)  # unlinked, not overwritten: an older cache may share these files (hard links)
    exp, idx = write_cohort(generate_cohort(rows), directory)
    pq.write_table(add_index_columns(pq.read_table(idx)), index)
    stamp.write_text(fingerprint + "\n", encoding="utf-8")
    return exp, index


def _run(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system of the process and the worker processes it waited for)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def concordance_probe(lines_path: Path, index_path: Path, /) -> dict[str, float]:
    """The concordance of the report on these files, in this process and its worker processes: CPU seconds of
    keying (``keying_cpu_s``), of the workers (``workers_cpu_s``) and of the result (``result_cpu_s``), wall seconds
    (``wall_s``), recommender calls and distinct states. Run it in a fresh process (:func:`main` does)."""
    import gc
    import resource

    from oncoline.analytics.aggregates import her2_scope, lines_in_index
    from oncoline.analytics.concordance import Judge, start_concordance
    from oncoline.app.cohort_report import report_inputs_from_files
    from oncoline.knowledge.loader import load_knowledge

    gc.set_threshold(100_000, 20, 20)  # as the command line sets it (oncoline.cli.app.main)
    inputs = report_inputs_from_files(lines_path, index_path)  # read as the report reads them
    assert inputs.lines is not None
    index, _her2 = her2_scope(inputs.index)
    judge = Judge(load_knowledge(), inputs.params)
    kept = lines_in_index(inputs.lines, index)[0]

    def cpu(who: int) -> float:
        r = resource.getrusage(who)
        return r.ru_utime + r.ru_stime

    self0, kids0, t0 = cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
    started = start_concordance(kept, index, judge=judge)
    self1 = cpu(resource.RUSAGE_SELF)
    started.result()
    self2, kids2, t2 = cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
    return {
        "keying_cpu_s": round(self1 - self0, 3),
        "workers_cpu_s": round(kids2 - kids0, 3),
        "result_cpu_s": round(self2 - self1, 3),
        "wall_s": round(t2 - t0, 3),
        "calls": judge.calls,
        "states": started.states(),
        "lines": kept.num_rows,
    }


def _concordance_only(sizes: list[int], args: argparse.Namespace, oncoline: list[str]) -> int:
    results = []
    for size in sizes:
        exposures, index = prepare(size, args.data_dir)
        work = args.data_dir / f"report-{size}" / "run"
        work.mkdir(parents=True, exist_ok=True)
        lines = work / "lines.parquet"
        cut = ["--as-of", args.as_of] if args.as_of else []
        _run([*oncoline, "lines", str(exposures), "--index", str(index), "--out", str(lines), *cut])
        runs = []
        for _ in range(max(1, args.repeat)):
            code = (
                "import json, sys; from pathlib import Path; from benchmarks.bench_report import concordance_probe; "
                "print(json.dumps(concordance_probe(Path(sys.argv[1]), Path(sys.argv[2]))))"
            )
            done = subprocess.run(
                [sys.executable, "-c", code, str(lines), str(index)], capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                raise SystemExit(f"the concordance probe failed ({done.returncode}):\n{done.stderr[-2000:]}")
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
            r = runs[-1]
            print(
                f"{size:>12,} rows, run {len(runs)}: concordance keying {r['keying_cpu_s']:.2f} CPU s, workers "
                f"{r['workers_cpu_s']:.2f} CPU s, result {r['result_cpu_s']:.2f} CPU s, wall {r['wall_s']:.2f} s; "
                f"{r['calls']:,} recommender calls for {r['states']:,} states, {r['lines']:,} lines",
                flush=True,
            )
        row: dict[str, Any] = {"rows": size, "repeats": len(runs)}
        for key in runs[0]:
            row[key] = round(statistics.median(r[key] for r in runs), 3)
        row["cpu_s"] = round(row["keying_cpu_s"] + row["workers_cpu_s"] + row["result_cpu_s"], 3)
        row["load_average_1min"] = round(os.getloadavg()[0], 1)
        results.append(row)
        print(
            f"{size:>12,} rows (median of {len(runs)}): concordance {row['cpu_s']:.2f} CPU s (keying "
            f"{row['keying_cpu_s']:.2f}, workers {row['workers_cpu_s']:.2f}, result {row['result_cpu_s']:.2f}), "
            f"wall {row['wall_s']:.2f} s, {row['calls']:,.0f} calls; load {row['load_average_1min']}",
            flush=True,
        )
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / "report_concordance.json").write_text(
        json.dumps({"results": results, "cpus": os.cpu_count()}, indent=2) + "\n"
    )
    return 0


def main(argv: list[str]) -> int:
    """Run the benchmark; print one line per size and write ``benchmarks/out/report.json``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks report", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1e5", help="comma-separated cohort sizes in exposure rows")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--as-of", default=None, help="data cut-off for both commands (default: from the data)")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of the three commands, interleaved; medians are reported"
    )
    parser.add_argument(
        "--concordance-only",
        action="store_true",
        help="measure the guideline concordance alone (keying, worker processes, result), in fresh processes",
    )
    args = parser.parse_args(argv)
    # The console script, as users run it (and as ``python -m benchmarks lines`` runs it): with ``-m`` the lines
    # command does not get its whole-process settings and the report would be measured against a slower baseline.
    oncoline = [str(Path(sys.executable).with_name("oncoline"))]
    if args.concordance_only:
        return _concordance_only([int(float(v)) for v in args.rows.split(",")], args, oncoline)
    results = []
    for size in (int(float(v)) for v in args.rows.split(",")):
        exposures, index = prepare(size, args.data_dir)
        work = args.data_dir / f"report-{size}" / "run"
        work.mkdir(parents=True, exist_ok=True)
        lines = work / "lines.parquet"
        cut = ["--as-of", args.as_of] if args.as_of else []
        report = [*oncoline, "cohort", "report", str(lines), "--index", str(index), "--exposures", str(exposures)]
        runs: list[dict[str, float]] = []
        for _ in range(max(1, args.repeat)):
            t_lines, c_lines = _run(
                [*oncoline, "lines", str(exposures), "--index", str(index), "--out", str(lines), *cut]
            )
            t_report, c_report = _run([*report, "--out", str(work / "report"), *cut])
            t_plain, c_plain = _run([*report, "--out", str(work / "report-plain"), "--no-concordance", *cut])
            runs.append(
                {
                    "lines_s": t_lines,
                    "report_s": t_report,
                    "report_no_concordance_s": t_plain,
                    "lines_cpu_s": c_lines,
                    "report_cpu_s": c_report,
                    "report_no_concordance_cpu_s": c_plain,
                    "ratio": t_report / t_lines,
                    "ratio_no_concordance": t_plain / t_lines,
                    "ratio_cpu": c_report / c_lines,
                    "ratio_no_concordance_cpu": c_plain / c_lines,
                }
            )
            print(
                f"{size:>12,} rows, run {len(runs)}: lines {t_lines:.1f} s, report {t_report:.1f} s "
                f"(× {t_report / t_lines:.2f}), without concordance {t_plain:.1f} s (× {t_plain / t_lines:.2f})",
                flush=True,
            )
        row: dict[str, Any] = {"rows": size, "repeats": len(runs)}
        for key in runs[0]:
            values = sorted(r[key] for r in runs)
            row[key] = round(statistics.median(values), 2)
            if key.startswith("ratio"):
                row[f"{key}_range"] = [round(values[0], 2), round(values[-1], 2)]
        row["load_average_1min"] = round(os.getloadavg()[0], 1)
        row["target_ratio"] = 3.0
        results.append(row)
        print(
            f"{size:>12,} rows (median of {len(runs)}): lines {row['lines_s']:.1f} s, report {row['report_s']:.1f} s "
            f"(ratio {row['ratio']:.2f}, {row['ratio_range'][0]:.2f}–{row['ratio_range'][1]:.2f}; target ≤ 3); "
            f"without concordance {row['report_no_concordance_s']:.1f} s (ratio {row['ratio_no_concordance']:.2f}); "
            f"CPU ratios {row['ratio_cpu']:.2f} / {row['ratio_no_concordance_cpu']:.2f}; "
            f"load {row['load_average_1min']}",
            flush=True,
        )
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / "report.json").write_text(json.dumps({"results": results, "cpus": os.cpu_count()}, indent=2) + "\n")
    return 0
