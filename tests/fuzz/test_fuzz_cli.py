"""The fuzzing suite (issue 12 item 8): mutated shared cases, real FHIR bundles and cohort tables through the
real command line, checked for crashes, exit codes, HER2 safety, row accounting and engine agreement
(properties in :mod:`tests.fuzz.check`, mutations in :mod:`tests.fuzz.mutate`).

Seeded and bounded: hypothesis is derandomized (the same variants every run) and each target has a fixed
example budget, about a minute in all on a 2-core machine. The long campaign is ``test_fuzz_long`` (marked
``fuzz_long``, skipped by default) and ``python -m benchmarks fuzz --variants 2000``.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.fuzz.check import engines_disagree_on_a_bad_index_date, run_variant
from tests.fuzz.mutate import Seeds, make_variant

# Examples per target: in-process runs cost ~20-80 ms (recommend, patient, her2, one patient's lines) and a
# cohort ~250 ms (two engines); together about a minute of CPU (~40 s measured on a loaded 2-core machine).
BUDGET = {"recommend": 300, "patient": 150, "her2": 120, "lines": 100, "cohort": 120}

FUZZ_SETTINGS = settings(
    derandomize=True,  # seeded: the same variants on every run and machine
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure prints the whole variant already
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


# Finding 1 of notes/fuzz-findings.md (bad index dates: the engines disagree) is fixed on branch perf and has its
# own regression test (test_fuzz_findings.py); until the fix is merged here, cohort variants leave index values
# alone so that the suite keeps checking everything else. Probed on the code under test: lifts itself.
BAD_INDEX_DATES = not engines_disagree_on_a_bad_index_date()


def _check(seeds: Seeds, target: str, rng: random.Random, workdir: Path) -> None:
    variant = make_variant(seeds, target, rng, bad_index_dates=BAD_INDEX_DATES)
    outcome = run_variant(variant, workdir / target)
    assert not outcome.problems, outcome.report()


@pytest.mark.parametrize("target", list(BUDGET))
def test_fuzz_in_process(target: str, seeds: Seeds, fuzz_dir: Path) -> None:
    @settings(FUZZ_SETTINGS, max_examples=BUDGET[target])
    @given(rng=st.randoms(use_true_random=False))
    def run(rng: random.Random) -> None:
        _check(seeds, target, rng, fuzz_dir)

    run()


# A few variants through a real `oncoline` process: the entry point, its exit codes and stderr as a shell sees
# them (seed numbers fixed: one of each target, two recommend).
SUBPROCESS_SEEDS = [("recommend", 11), ("recommend", 12), ("patient", 13), ("her2", 14), ("cohort", 15)]


@pytest.mark.parametrize(("target", "seed"), SUBPROCESS_SEEDS, ids=[f"{t}-{s}" for t, s in SUBPROCESS_SEEDS])
def test_fuzz_subprocess(target: str, seed: int, seeds: Seeds, tmp_path: Path) -> None:
    variant = make_variant(seeds, target, random.Random(seed))
    outcome = run_variant(variant, tmp_path, subprocess_run=True)
    assert outcome.runs, "nothing ran"
    assert not outcome.problems, outcome.report()


@pytest.mark.fuzz_long
def test_fuzz_long(tmp_path: Path) -> None:
    """The release campaign: 2,000 variants over every target, 0 crashes and 0 violations."""
    from benchmarks.fuzz import run_campaign

    counts = run_campaign(variants=2000, seed=0, out=tmp_path, progress=False)
    assert counts.failures() == {}, counts.render()
