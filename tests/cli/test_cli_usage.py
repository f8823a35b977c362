"""The resource use a cohort run reports: process-tree CPU time (live and ended children), cores, one line."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from oncoline.cli.app import app
from oncoline.cli.usage import Usage, UsageClock, available_cores, tree_cpu_seconds

_BUSY = "import time\nt = time.process_time()\nwhile time.process_time() - t < {s}: pass\ntime.sleep(60)\n"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="live descendants are read from /proc")
def test_a_live_child_process_cpu_time_is_counted() -> None:
    """Spark's JVM and its workers are alive when the summary is printed: their CPU must count."""
    before, complete = tree_cpu_seconds()
    assert complete
    child = subprocess.Popen([sys.executable, "-c", _BUSY.format(s=0.4)])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            after, _ = tree_cpu_seconds()
            if after - before >= 0.4:
                break
            time.sleep(0.05)
        assert after - before >= 0.4, f"the busy child's 0.4 s of CPU was not counted ({after - before:.2f} s)"
    finally:
        child.kill()
        child.wait()


def test_an_ended_child_process_cpu_time_is_counted() -> None:
    clock = UsageClock()
    subprocess.run([sys.executable, "-c", _BUSY.format(s=0.3).replace("time.sleep(60)", "")], check=True)
    usage = clock.stop()
    assert usage.cpu_s >= 0.3
    assert usage.wall_s >= 0.3


def test_usage_reads_as_one_line_with_cores() -> None:
    assert Usage(4.0, 7.0, 2, True).describe() == "4.0 s, CPU 7.0 s: 1.75 of 2 cores on average"
    assert Usage(2.0, 1.0, 1, False).describe() == (
        "2.0 s, CPU 1.0 s (worker processes still running not counted): 0.50 of 1 core on average"
    )
    assert Usage(0.0, 0.0, 2, True).cores_used == 0.0
    assert available_cores() >= 1


def test_the_readable_cohort_summary_says_how_many_cores_worked(tmp_path: Path) -> None:
    exposures = tmp_path / "exposures.csv"
    exposures.write_text("person_id,drug,start_date\nA,trastuzumab,2024-01-10\nA,pertuzumab,2024-01-10\n")
    index = tmp_path / "index.csv"
    index.write_text("person_id,metastatic_diagnosis\nA,2024-01-01\n")
    out = tmp_path / "lines.csv"
    result = CliRunner().invoke(app, ["lines", str(exposures), "--index", str(index), "--out", str(out)])
    assert result.exit_code == 0, result.output
    run_line = [line for line in result.output.splitlines() if line.startswith("run: ")]
    assert len(run_line) == 1, result.output
    assert f"of {available_cores()} core" in run_line[0]
    as_json = CliRunner().invoke(app, ["lines", str(exposures), "--index", str(index), "--out", str(out), "--json"])
    assert as_json.exit_code == 0
    assert "run: " not in as_json.output  # the JSON summary stays the documented object
