"""The long fuzzing campaign (issue 12 item 8): ``python -m benchmarks fuzz --variants 2000``.

Mutated shared cases, real FHIR bundles and cohort tables (:mod:`tests.fuzz.mutate`) go through the real
command line — in-process through Typer's ``CliRunner``, and every ``--subprocess-every``-th variant through a
real ``oncoline`` process — and every property of :mod:`tests.fuzz.check` is checked: no traceback and exits
0/1/2 only, no HER2-directed option without the HER2 evidence its statement needs, every cohort row accounted
for, the DuckDB and reference engines agreeing.

Printed: variants by target, exits by code, crashes (exit 70 or a traceback), safety violations, row-accounting
violations, engine disagreements (and output problems: exit 0 without the promised JSON or table); the first
``--keep`` reproducers of each kind are saved under ``--out`` (input files, the command, what broke, and the
variant number to ``--replay``). Exit status 1 when anything was found.

Variant ``i`` of seed ``s`` is drawn from ``random.Random(f"{s}:{i}")`` with target ``TARGETS[i % 5]``, so
``--replay i`` re-runs exactly one of them.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

__all__ = ["Counts", "main", "run_campaign", "variant_for"]

PROBLEM_KINDS = {
    "crash": "crashes (exit 70 or traceback)",
    "exit": "other exit codes or silent refusals",
    "safety": "safety violations (HER2-directed without evidence)",
    "rows": "row-accounting violations",
    "engines": "engine disagreements (DuckDB vs reference)",
    "output": "output problems (exit 0 without JSON or table)",
}


@dataclass
class Counts:
    """What a campaign found."""

    variants: int = 0
    by_target: Counter[str] = field(default_factory=Counter)
    exits: Counter[str] = field(default_factory=Counter)
    problems: Counter[str] = field(default_factory=Counter)
    subprocess_runs: int = 0
    saved: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0

    def failures(self) -> dict[str, int]:
        """Problem kind → variants with that problem (empty when the campaign is clean)."""
        return {k: v for k, v in self.problems.items() if v}

    def render(self) -> str:
        rows = [
            f"fuzz campaign: {self.variants:,} variants in {self.seconds:.0f} s "
            f"({self.subprocess_runs} through a real process)"
        ]
        rows.append("variants by target: " + ", ".join(f"{t} {n}" for t, n in sorted(self.by_target.items())))
        rows.append(
            "exits by code:      "
            + ", ".join(f"{c}: {n}" for c, n in sorted(self.exits.items()))
            + "  (commands: a recommend variant in the readable view also runs --json, a cohort variant runs both "
            "engines and sometimes the readable summary)"
        )
        for kind, label in PROBLEM_KINDS.items():
            rows.append(f"{label:<52} {self.problems.get(kind, 0):>6}")
            for where in self.saved.get(kind, []):
                rows.append(f"    reproducer: {where}")
        return "\n".join(rows)

    def to_json(self) -> dict[str, object]:
        return {
            "variants": self.variants,
            "by_target": dict(self.by_target),
            "exits": dict(self.exits),
            "problems": {k: self.problems.get(k, 0) for k in PROBLEM_KINDS},
            "subprocess_runs": self.subprocess_runs,
            "reproducers": self.saved,
            "seconds": round(self.seconds, 1),
        }


def variant_for(seeds: object, seed: int, i: int) -> object:
    """Variant number ``i`` of campaign ``seed`` (see the module docstring)."""
    from tests.fuzz.mutate import TARGETS, Seeds, make_variant

    assert isinstance(seeds, Seeds)
    return make_variant(seeds, TARGETS[i % len(TARGETS)], random.Random(f"{seed}:{i}"))


def _save(outcome: object, kind: str, i: int, seed: int, out: Path) -> str:
    from tests.fuzz.check import Outcome

    assert isinstance(outcome, Outcome)
    where = out / kind / f"{i:05d}-{outcome.variant.target}"
    where.mkdir(parents=True, exist_ok=True)
    for name, data in outcome.variant.files.items():
        (where / name).write_bytes(data)
    (where / "REPRODUCE.txt").write_text(
        f"variant {i} of seed {seed}: python -m benchmarks fuzz --seed {seed} --replay {i}\n"
        f"command (files in this folder): oncoline {' '.join(outcome.variant.argv)}\n\n{outcome.report()}\n",
        encoding="utf-8",
    )
    return str(where)


def run_campaign(
    *,
    variants: int,
    seed: int = 0,
    out: Path,
    keep: int = 5,
    subprocess_every: int = 100,
    progress: bool = True,
) -> Counts:
    """Run ``variants`` variants and count what they found; reproducers go under ``out/<kind>/``.

    Parameters
    ----------
    variants
        How many variants (spread evenly over the targets recommend, patient, her2, lines, cohort).
    seed
        The campaign seed.
    out
        Folder for reproducers (created).
    keep
        Reproducers saved per problem kind.
    subprocess_every
        Every N-th variant runs through a real ``oncoline`` process (0: none).
    progress
        Print progress with an ETA to stderr.
    """
    from tests.fuzz.check import run_variant
    from tests.fuzz.mutate import SHARED, load_seeds

    seeds = load_seeds(SHARED)
    out.mkdir(parents=True, exist_ok=True)
    for kind in PROBLEM_KINDS:  # reproducers of an earlier campaign in the same folder would mislead
        shutil.rmtree(out / kind, ignore_errors=True)
    counts = Counts()
    work = Path(tempfile.mkdtemp(prefix="oncoline-fuzz-"))
    started = time.monotonic()
    try:
        for i in range(variants):
            variant = variant_for(seeds, seed, i)
            real = subprocess_every > 0 and i % subprocess_every == subprocess_every - 1
            try:
                outcome = run_variant(variant, work / str(i % 50), subprocess_run=real)  # type: ignore[arg-type]
            except MemoryError:  # the address-space limit met outside the CLI's own guard: still a crash
                from tests.fuzz.check import Outcome

                outcome = Outcome(variant, problems=[("crash", "MemoryError (address-space limit)")])  # type: ignore[arg-type]
            counts.variants += 1
            counts.subprocess_runs += real
            counts.by_target[outcome.variant.target] += 1
            for run in outcome.runs:
                counts.exits[str(run.code)] += 1
            for kind in sorted({k for k, _ in outcome.problems}):
                counts.problems[kind] += 1
                saved = counts.saved.setdefault(kind, [])
                if len(saved) < keep:
                    saved.append(_save(outcome, kind, i, seed, out))
            if (progress and (i + 1) % 50 == 0) or (progress and i + 1 == variants):
                spent = time.monotonic() - started
                eta = spent / (i + 1) * (variants - i - 1)
                found = sum(counts.problems.values())
                print(
                    f"\r{i + 1:>6,}/{variants:,} variants  {spent:5.0f} s  ETA {eta:4.0f} s  problems {found}",
                    end="\n" if i + 1 == variants else "",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    counts.seconds = time.monotonic() - started
    return counts


def main(argv: list[str]) -> int:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", type=int, default=2000, help="variants to run (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="campaign seed (default 0)")
    parser.add_argument(
        "--out", type=Path, default=Path(tempfile.gettempdir()) / "oncoline-fuzz", help="reproducers folder"
    )
    parser.add_argument("--keep", type=int, default=5, help="reproducers saved per problem kind (default 5)")
    parser.add_argument(
        "--subprocess-every", type=int, default=100, help="every N-th variant through a real process (default 100)"
    )
    parser.add_argument("--replay", type=int, default=None, metavar="I", help="run only variant I and print it")
    parser.add_argument("--json", action="store_true", help="print the counts as JSON")
    parser.add_argument(
        "--memory-gb",
        type=float,
        default=6.0,
        help="address-space limit of the campaign and its processes (default 6; 0: none): an input that makes "
        "oncoline allocate without bound is then a counted crash (MemoryError, exit 70), not an OOM kill of the run",
    )
    args = parser.parse_args(argv)
    if args.memory_gb > 0:
        import resource

        limit = int(args.memory_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sys.path.insert(0, str(ROOT))  # the mutations and properties live with the tests (tests.fuzz)
    if args.replay is not None:
        from tests.fuzz.check import run_variant
        from tests.fuzz.mutate import SHARED, load_seeds

        variant = variant_for(load_seeds(SHARED), args.seed, args.replay)
        with tempfile.TemporaryDirectory() as tmp:
            outcome = run_variant(variant, Path(tmp), subprocess_run=True)  # type: ignore[arg-type]
            print(outcome.report())
        return 1 if outcome.problems else 0
    counts = run_campaign(
        variants=args.variants,
        seed=args.seed,
        out=args.out,
        keep=args.keep,
        subprocess_every=args.subprocess_every,
    )
    print(json.dumps(counts.to_json(), indent=2) if args.json else counts.render())
    return 1 if counts.failures() else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
