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

Run: ``python -m benchmarks report`` (1e5 rows) or ``--rows 1e6,1e7 --repeat 3``.
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


def main(argv: list[str]) -> int:
    """Run the benchmark; print one line per size and write ``benchmarks/out/report.json``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks report", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1e5", help="comma-separated cohort sizes in exposure rows")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--as-of", default=None, help="data cut-off for both commands (default: from the data)")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of the three commands, interleaved; medians are reported"
    )
    args = parser.parse_args(argv)
    oncoline = [sys.executable, "-m", "oncoline.cli.app"]
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
