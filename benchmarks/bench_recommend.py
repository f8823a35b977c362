"""Benchmark of ``oncoline recommend`` (issue #2, item 9): the engine per patient and the CLI cold start.

Targets on the 2-core reference machine: the engine alone ≤ 5 ms per patient once the knowledge is loaded
(1,000 generated patients), and ``oncoline recommend FILE`` < 1 s from a cold start.

Every time is reported beside a baseline measured in the same run, so results compare across machines:

- engine: per-patient time vs. one Patient validation (the unavoidable input cost) and vs. loading the knowledge;
- CLI: ``oncoline recommend FILE --json`` as a whole process vs. the floor ``python -c "import pydantic, yaml"``
  (issue 13 item 3: target ≤ 3×, CPU time), vs. that floor plus Typer and one pydantic model (what any Typer +
  pydantic command pays), vs. ``python -c pass`` and vs. ``python -c "load_knowledge()"``; all run in turn in the
  same run (A B C … A B C …), medians of wall and CPU time, and the ratio to the floor taken round by round (the
  median and the range of those per-round ratios), with the load average before and after.

Run: ``python -m benchmarks recommend [--patients 1000] [--cli-runs 21] [--seed 7] [--cli-only] [--json]``.

The patient generator draws realistic decision points from a seeded :class:`random.Random`: HER2 results in the
proportions of a HER2-positive clinic with HER2-low/ultralow and incomplete work-ups mixed in, 0-4 earlier
metastatic lines drawn in guideline order with progression/toxicity stops, ongoing induction (maintenance
decisions), brain metastases of each status, safety conditions (LVEF, heart failure, pregnancy, neuropathy,
ILD, renal and hepatic function, interacting drugs) and (neo)adjuvant HER2 therapy with relapse intervals from
weeks to years.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

AS_OF = dt.date(2026, 10, 1)
SEQUENCE = [
    ["pertuzumab", "trastuzumab", "docetaxel"],
    ["trastuzumab deruxtecan"],
    ["tucatinib", "trastuzumab", "capecitabine"],
    ["trastuzumab emtansine"],
    ["neratinib", "capecitabine"],
    ["lapatinib", "capecitabine"],
    ["trastuzumab", "vinorelbine"],
]
HER2_RESULTS: list[tuple[float, dict[str, Any]]] = [
    (0.55, {"ihc": "3+"}),
    (0.10, {"ihc": "2+", "ish_ratio": 2.6, "her2_copies": 6.3}),
    (0.05, {"status": "positive"}),
    (0.10, {"ihc": "1+"}),
    (0.05, {"ihc": "ultralow"}),
    (0.05, {"ihc": "2+"}),
    (0.05, {}),
    (0.05, {"ihc": "0"}),
]


def _pick(rng: random.Random, weighted: list[tuple[float, Any]]) -> Any:
    return rng.choices([v for _, v in weighted], weights=[w for w, _ in weighted])[0]


def generate_patient(rng: random.Random, i: int) -> dict[str, Any]:
    """One realistic patient block (FORMAT.md ``patient``) at a decision point before ``AS_OF``."""
    n_lines = rng.choices([0, 1, 2, 3, 4], weights=[35, 25, 20, 12, 8])[0]
    her2 = dict(_pick(rng, HER2_RESULTS))
    hr_pos = rng.random() < 0.5
    diagnosis = AS_OF - dt.timedelta(days=rng.randint(30, 365 * 6))
    start = diagnosis + dt.timedelta(days=7)
    history: list[dict[str, Any]] = []
    her2_negative = her2.get("ihc") in ("1+", "ultralow", "0")
    sequence = (
        [["letrozole", "ribociclib"], ["fulvestrant"], ["capecitabine"], ["eribulin"]] if her2_negative else SEQUENCE
    )
    for n in range(n_lines):
        remaining = (AS_OF - start).days
        if remaining < 60:
            break
        length = rng.randint(60, max(61, min(remaining - 30, 700)))
        end = start + dt.timedelta(days=length)
        last = n == n_lines - 1
        stopped = rng.choices(["progression", "toxicity", "ongoing"], weights=[75, 15, 10 if last else 0])[0]
        entry: dict[str, Any] = {"line": n + 1, "drugs": list(sequence[n % len(sequence)]), "start": start.isoformat()}
        entry["stopped"] = stopped
        if stopped != "ongoing":
            entry["end"] = end.isoformat()
        if stopped == "toxicity":
            entry["toxicity"] = rng.choice(
                [{"event": "interstitial lung disease", "grade": 2}, {"event": "diarrhoea", "grade": 3}]
            )
        history.append(entry)
        start = end + dt.timedelta(days=rng.randint(7, 40))
    sites = [
        {"site": s} for s in rng.sample(["liver", "lung", "bone", "lymph_node", "pleura", "skin"], rng.randint(1, 3))
    ]
    if rng.random() < 0.25:
        sites.append(
            {
                "site": "brain",
                "status": rng.choice(["stable", "active", "progressing"]),
                "lesions": rng.randint(1, 6),
                "largest_mm": rng.choice([6, 12, 25, 38]),
                "symptomatic": rng.random() < 0.3,
            }
        )
    early: list[dict[str, Any]] = []
    if rng.random() < 0.4 and not history:
        end = diagnosis - dt.timedelta(days=rng.randint(20, 2000))
        early.append({"setting": "adjuvant", "drugs": ["trastuzumab", "pertuzumab"], "end": end.isoformat()})
    return {
        "id": f"B{i:05d}",
        "age": rng.randint(30, 85),
        "sex": "female",
        "ecog": rng.choices([0, 1, 2, 3], weights=[40, 40, 15, 5])[0],
        "menopausal_status": rng.choice(["pre", "post", "post"]),
        "tumor": {"er_percent": rng.choice([60, 90]) if hr_pos else 0, "pr_percent": 10 if hr_pos else 0, "her2": her2},
        "presentation": "recurrent" if early else "de_novo",
        "early_therapy": early,
        "metastatic_diagnosis": diagnosis.isoformat(),
        "sites": sites,
        "history": history,
        "conditions": {
            "lvef_percent": rng.choice([None, 35, 48, 58, 62, 66]),
            "heart_failure_nyha": rng.choices([0, 1, 3], weights=[90, 7, 3])[0],
            "pregnant": rng.random() < 0.02,
            "neuropathy_grade": rng.choices([0, 1, 2, 3], weights=[60, 25, 10, 5])[0],
            "crcl_ml_min": rng.choice([25, 55, 90, None]),
            "bilirubin_x_uln": rng.choice([0.8, 1.0, 1.8, None]),
            "medications": rng.choice([[], [], ["omeprazole"], ["rifampicin"], ["warfarin"]]),
        },
        "preferences": {"declines_chemotherapy": rng.random() < 0.05},
    }


def _cold(argv: list[str], runs: int, env: dict[str, str] | None = None) -> float:
    """Median wall time (s) of ``runs`` fresh processes."""
    return float(_processes({"it": argv}, runs, env)["it"]["wall_s"])


def _processes(commands: dict[str, list[str]], runs: int, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Whole processes, run in turn (A B C A B C …, after one warm-up each) so that the machine's drift hits
    them alike: per command the median wall time and the median CPU time (user + sys of the child) in seconds,
    and the samples of each round (``wall``, ``cpu``: lists in round order, for ratios taken round by round)."""
    import resource

    def one(argv: list[str]) -> tuple[float, float]:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise SystemExit(f"{argv} failed: {proc.stderr[-400:]}")
        return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

    for argv in commands.values():
        one(argv)  # warm-up: disk cache, bytecode, the knowledge cache
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, argv in commands.items():
            samples[name].append(one(argv))
    return {
        name: {
            "wall_s": statistics.median(w for w, _ in got),
            "cpu_s": statistics.median(c for _, c in got),
            "wall": [w for w, _ in got],
            "cpu": [c for _, c in got],
        }
        for name, got in samples.items()
    }


def _by_round(over: list[float], under: list[float]) -> dict[str, float]:
    """Median, min and max of the ratios ``over[i] / under[i]`` of the same rounds."""
    ratios = sorted(a / b for a, b in zip(over, under, strict=True))
    return {"median": statistics.median(ratios), "min": ratios[0], "max": ratios[-1]}


def bench_engine(n: int, seed: int) -> dict[str, float]:
    """Per-patient engine time over ``n`` generated patients (knowledge loaded once, not timed)."""
    from oncoline.engines.recommend import recommend
    from oncoline.knowledge.loader import load_knowledge
    from oncoline.model import Patient

    t0 = time.perf_counter()
    kb = load_knowledge()
    load_s = time.perf_counter() - t0
    rng = random.Random(seed)
    docs = [generate_patient(rng, i) for i in range(n)]
    t0 = time.perf_counter()
    patients = [Patient.model_validate(d) for d in docs]
    validate_s = time.perf_counter() - t0
    for p in patients[:20]:  # warm the per-condition compile cache
        recommend(p, knowledge=kb, as_of=AS_OF)
    per: list[float] = []
    n_options = 0
    for p in patients:
        t = time.perf_counter()
        rec = recommend(p, knowledge=kb, as_of=AS_OF)
        per.append(time.perf_counter() - t)
        n_options += len(rec.options)
    per_ms = [x * 1000 for x in per]
    return {
        "patients": n,
        "kb_load_ms": load_s * 1000,
        "validate_ms_per_patient": validate_s * 1000 / n,
        "engine_ms_mean": statistics.fmean(per_ms),
        "engine_ms_median": statistics.median(per_ms),
        "engine_ms_p95": sorted(per_ms)[int(0.95 * n) - 1],
        "engine_ms_max": max(per_ms),
        "options_per_patient": n_options / n,
    }


FLOOR = "import pydantic, yaml"
"""The interpreter with the libraries the job truly needs (issue 13 item 3's floor)."""
STACK = "import pydantic, yaml, typer\nclass M(pydantic.BaseModel):\n    x: int\nM(x=1)"
"""The same with the CLI framework and one pydantic model defined and validated: what any Typer + pydantic
command pays before its own code."""


def bench_cli(runs: int, case: Path) -> dict[str, Any]:
    """Cold-start times of the CLI and its baselines, as whole processes in the same run (medians of ``runs``).

    The package is byte-compiled first and the processes may write bytecode, as for an installed package; the
    knowledge cache is warm (a user's second run) and private to this run (a temporary ``ONCOLINE_CACHE_DIR``, so
    that another checkout's oncoline, which keeps its own knowledge version in the shared cache directory, cannot
    make a measured run rebuild it); the first run with an empty knowledge cache is timed once.
    """
    import compileall
    import os
    import shutil

    import oncoline

    compileall.compile_dir(str(Path(oncoline.__file__).parent), quiet=1)
    private = Path(tempfile.mkdtemp(prefix="oncoline-bench-cache-"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["ONCOLINE_CACHE_DIR"] = str(private)
    exe = Path(sys.executable)
    oncoline_exe = str(exe.with_name("oncoline"))
    load_before = os.getloadavg()
    try:
        procs = _processes(
            {
                "python_pass": [str(exe), "-c", "pass"],
                "floor": [str(exe), "-c", FLOOR],
                "stack": [str(exe), "-c", STACK],
                "import_and_load_knowledge": [
                    str(exe),
                    "-c",
                    "from oncoline.knowledge.loader import load_knowledge; load_knowledge()",
                ],
                "cli_json": [oncoline_exe, "recommend", str(case), "--json"],
                "cli_human": [oncoline_exe, "recommend", str(case)],
            },
            runs,
            env,
        )
    finally:
        shutil.rmtree(private, ignore_errors=True)
    load_after = os.getloadavg()
    empty = Path(tempfile.mkdtemp(prefix="oncoline-bench-cache-"))
    try:
        t0 = time.perf_counter()
        subprocess.run(
            [oncoline_exe, "recommend", str(case), "--json"],
            capture_output=True,
            check=True,
            env={**env, "ONCOLINE_CACHE_DIR": str(empty)},
        )
        first = time.perf_counter() - t0
    finally:
        shutil.rmtree(empty, ignore_errors=True)
    out: dict[str, Any] = {f"{name}_s": v["wall_s"] for name, v in procs.items()}
    out.update({f"{name}_cpu_s": v["cpu_s"] for name, v in procs.items()})
    out["cli_json_empty_knowledge_cache_s"] = first
    floor = procs["floor"]
    out["cli_vs_floor_by_round"] = {
        "cpu": _by_round(procs["cli_json"]["cpu"], floor["cpu"]),
        "wall": _by_round(procs["cli_json"]["wall"], floor["wall"]),
    }
    out["load_average"] = {"before": list(load_before), "after": list(load_after)}
    out["runs"] = runs
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (``python -m benchmarks recommend [--patients N] [--cli-runs N] [--cli-only] [--json]``)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=1000)
    ap.add_argument("--cli-runs", type=int, default=21, help="rounds of the whole-process comparison (default 21)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--cli-only", action="store_true", help="only the whole-process cold start, not the engine")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args(argv)

    engine = None if args.cli_only else bench_engine(args.patients, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        case = Path(tmp) / "patient.yaml"
        rng = random.Random(args.seed)
        doc = next(d for d in (generate_patient(rng, i) for i in range(1000)) if len(d["history"]) >= 2)
        case.write_text(yaml.safe_dump({**doc, "as_of": AS_OF.isoformat()}, sort_keys=False), encoding="utf-8")
        cli = bench_cli(args.cli_runs, case)
    ratios: dict[str, float] = {
        "cli_vs_python_start": cli["cli_json_s"] / cli["python_pass_s"],
        "cli_vs_import_and_load_knowledge": cli["cli_json_s"] / cli["import_and_load_knowledge_s"],
        "cli_vs_floor_wall": cli["cli_json_s"] / cli["floor_s"],
        "cli_vs_floor_cpu": cli["cli_json_cpu_s"] / cli["floor_cpu_s"],
        "stack_vs_floor_cpu": cli["stack_cpu_s"] / cli["floor_cpu_s"],
    }
    targets = {
        "cli_cold_start_lt_1s": cli["cli_json_s"] < 1.0,
        "cli_le_3x_floor_cpu": cli["cli_json_cpu_s"] <= 3 * cli["floor_cpu_s"],
    }
    if engine is not None:
        ratios["engine_vs_patient_validation"] = engine["engine_ms_mean"] / engine["validate_ms_per_patient"]
        ratios["engine_per_patient_vs_kb_load"] = engine["engine_ms_mean"] / engine["kb_load_ms"]
        targets["engine_ms_per_patient_le_5"] = engine["engine_ms_mean"] <= 5.0
    result = {"engine": engine, "cli": cli, "ratios": ratios, "targets": targets}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    c, r = cli, ratios
    if engine is not None:
        e = engine
        print(f"engine, {e['patients']:.0f} generated patients (knowledge loaded once in {e['kb_load_ms']:.0f} ms)")
        print(
            f"  per patient: mean {e['engine_ms_mean']:.2f} ms, median {e['engine_ms_median']:.2f} ms, "
            f"p95 {e['engine_ms_p95']:.2f} ms, max {e['engine_ms_max']:.2f} ms "
            f"({e['options_per_patient']:.1f} options/patient)   target ≤ 5 ms"
        )
        print(
            f"  = {r['engine_vs_patient_validation']:.1f}× one Patient validation "
            f"({e['validate_ms_per_patient']:.2f} ms); {r['engine_per_patient_vs_kb_load']:.3f}× loading the knowledge"
        )
    load = c["load_average"]
    print(
        f"CLI cold start, whole processes in turn (median of {args.cli_runs}; wall / CPU); load average "
        f"{load['before'][0]:.1f} before, {load['after'][0]:.1f} after"
    )

    def row(label: str, key: str, note: str = "") -> None:
        print(f"  {label:<38}{c[key + '_s'] * 1000:7.0f} ms {c[key + '_cpu_s'] * 1000:7.0f} ms cpu   {note}")

    row("python -c pass", "python_pass")
    row(f'python -c "{FLOOR}"', "floor", "(the floor)")
    row("+ typer and one pydantic model", "stack", f"= {r['stack_vs_floor_cpu']:.2f}× floor cpu")
    row("import + load_knowledge()", "import_and_load_knowledge")
    row(
        "oncoline recommend FILE --json",
        "cli_json",
        f"= {r['cli_vs_floor_cpu']:.2f}× floor cpu, {r['cli_vs_floor_wall']:.2f}× wall   target ≤ 3× floor, < 1000 ms",
    )
    row("oncoline recommend FILE (Rich view)", "cli_human")
    by_round = c["cli_vs_floor_by_round"]
    print(
        "  recommend --json ÷ floor, round by round: "
        + ", ".join(f"{k} {v['median']:.2f}× ({v['min']:.2f}–{v['max']:.2f})" for k, v in by_round.items())
    )
    print(f"  first run, empty knowledge cache      {c['cli_json_empty_knowledge_cache_s'] * 1000:7.0f} ms")
    ok = all(targets.values())
    print("targets met" if ok else f"TARGETS MISSED: {targets}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
