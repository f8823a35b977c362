"""``oncoline lines`` on a cohort imports only what it uses (issue 13 item 1): checked by module, never by the clock."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

pytest.importorskip("duckdb")

PROBE = """
import importlib.util, json, sys
sys.argv = ["oncoline", *json.loads(sys.argv[1])]
from oncoline.cli.app import main
try:
    main()
except SystemExit as exc:
    assert exc.code in (0, None), exc.code
loaded = sorted(sys.modules)
import pandas  # the command refused it only while it ran
print(json.dumps(loaded))
"""

NOT_NEEDED = (
    "pandas",  # pyarrow asks for it on its first numpy conversion; the DuckDB engine passes no pandas object
    "numba",  # the kernel is compiled ahead of time (numba is imported only while that build is missing)
    "fhir",
    "oncoline.model.patient",  # the patient models: lines need only the line enums
    "oncoline.io.patient_file",
    "oncoline.io.fhir",
    "pyspark",
    "duckdb",  # integer (or default) exposure ids and --as-of: the engine sorts in numpy, DuckDB is never opened
    "rich.progress",  # stderr is not a terminal here: no progress display to build
)


def _loaded(tmp_path: Path, *args: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(list(args))], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def _ahead_of_time_kernel_built() -> bool:
    from oncoline.engines.lines import kernel, kernel_aot

    return kernel_aot.load(kernel._kernel_py, kernel._close_line_py) is not None


def _cohort(tmp_path: Path) -> tuple[Path, Path]:
    exposures = tmp_path / "exposures.csv"
    exposures.write_text(
        "person_id,drug,start_date,end_date,stopped\n"
        "A,Phesgo,2024-01-10,,\n"
        "A,docetaxel,2024-01-10,,progression\n"
        "A,Enhertu,2024-03-01,,\n"
        "B,ondansetron,2024-02-01,,\n",
        encoding="utf-8",
    )
    index = tmp_path / "index.csv"
    index.write_text("person_id,metastatic_diagnosis\nA,2024-01-01\nB,2024-01-20\n", encoding="utf-8")
    return exposures, index


@pytest.mark.parametrize("extra", [["--json"], []], ids=["json", "readable"])
def test_cohort_lines_load_no_pandas_numba_fhir_or_patient_models(tmp_path: Path, extra: list[str]) -> None:
    exposures, index = _cohort(tmp_path)
    out = tmp_path / "lines.parquet"
    args = ["lines", str(exposures), "--index", str(index), "--out", str(out), "--as-of", "2025-01-01", *extra]
    loaded = _loaded(tmp_path, *args)
    not_needed = NOT_NEEDED if _ahead_of_time_kernel_built() else tuple(n for n in NOT_NEEDED if n != "numba")
    unwanted = {m for m in loaded for name in not_needed if m == name or m.startswith(name + ".")}
    assert not unwanted, sorted(unwanted)
    assert "oncoline.engines.lines.duckdb_engine" in loaded  # the engine did run in this process
    assert ("rich" in loaded) == (extra == [])  # the readable summary is Rich's; --json prints without it
    assert [(r["person_id"], r["line"]) for r in pq.read_table(out).to_pylist()] == [("A", 1), ("A", 2)]


POOL_PROBE = """
import json, sys
sys.argv = ["oncoline", *json.loads(sys.argv[1])]
from oncoline.cli.app import main
try:
    main()
except SystemExit as exc:
    assert exc.code in (0, None), exc.code
import pyarrow as pa
print(json.dumps(pa.default_memory_pool().backend_name))
"""


def _pool(tmp_path: Path, env: dict[str, str], *args: str) -> str:
    import os

    done = subprocess.run(
        [sys.executable, "-c", POOL_PROBE, json.dumps(list(args))],
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"} | env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return str(json.loads(done.stdout.strip().splitlines()[-1]))


def test_cohort_lines_as_the_process_allocates_arrow_memory_with_malloc(tmp_path: Path) -> None:
    """Arrow's default pool (mimalloc/jemalloc) keeps freed buffers resident, raising the peak memory of a run
    (issue 13): the command, as the whole process, asks Arrow for the system allocator — unless the environment
    chooses a pool itself."""
    exposures, index = _cohort(tmp_path)
    args = ["lines", str(exposures), "--index", str(index), "--out", str(tmp_path / "l.parquet"), "--json"]
    assert _pool(tmp_path, {}, *args, "--as-of", "2025-01-01") == "system"
    import pyarrow as pa

    chosen = pa.default_memory_pool().backend_name  # this test process: the library's own default
    if chosen != "system":
        assert _pool(tmp_path, {"ARROW_DEFAULT_MEMORY_POOL": chosen}, *args, "--as-of", "2025-01-01") == chosen
