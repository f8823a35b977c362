"""The README's promise for a plain install: ``pip install oncoline`` (no extras) runs every base command.

A fresh virtual environment gets the wheel built from this checkout and nothing else; each base command the
README lists must then exit 0. Slow (about a minute: a wheel build and an install from the pip cache), so it can
be skipped locally with ``ONCOLINE_SKIP_BARE_INSTALL=1``; in CI (``CI`` set) it always runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        bool(os.environ.get("ONCOLINE_SKIP_BARE_INSTALL")) and not os.environ.get("CI"),
        reason="ONCOLINE_SKIP_BARE_INSTALL is set (CI runs this test always)",
    ),
]


def _run(cmd: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: int = 600) -> str:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, (
        f"{' '.join(cmd)} exited {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    )
    return done.stdout


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``bin/`` of a fresh venv holding the oncoline wheel and its base dependencies only."""
    work = tmp_path_factory.mktemp("bare")
    src = work / "src"  # build from a clean copy: a build must not write into the checkout
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv*", ".git", "*.egg-info", "build", "__pycache__"))
    wheels = work / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    _run([*pip, "wheel", "--no-deps", "-w", str(wheels), str(src)], cwd=work)
    env_dir = work / "venv"
    venv.create(env_dir, with_pip=True)
    bindir = env_dir / "bin"
    (wheel,) = wheels.glob("oncoline-*.whl")
    _run([str(bindir / "python"), "-m", "pip", "--disable-pip-version-check", "-q", "install", str(wheel)], cwd=work)
    return bindir


def test_bare_install_has_no_extras(bare: Path, tmp_path: Path) -> None:
    probe = (
        "import importlib.util as u; print([m for m in ('pandas', 'pyspark', 'psycopg', 'fastapi') if u.find_spec(m)])"
    )
    assert _run([str(bare / "python"), "-c", probe], cwd=tmp_path).strip() == "[]"


def test_base_commands_run_from_a_bare_install(bare: Path, tmp_path: Path) -> None:
    oncoline = str(bare / "oncoline")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{bare}{os.pathsep}{env.get('PATH', '')}"

    def run(*args: str) -> str:
        return _run([oncoline, *args], cwd=tmp_path, env=env)

    assert "cureus-2025-de-novo-brain-mets" in run("recommend", "--help")
    answer = json.loads(run("recommend", "--example", "cureus-2025-de-novo-brain-mets", "--json"))
    assert answer["line"] == 1 and answer["options"]
    assert "HER2-positive" in run("recommend", "--example", "cureus-2025-de-novo-brain-mets")
    (tmp_path / "her2.yaml").write_text("ihc: 2+\nish_ratio: 2.4\nher2_copies: 5.1\n", encoding="utf-8")
    assert json.loads(run("her2", "her2.yaml", "--json"))["status"] == "positive"
    run("patient", str(DATA / "her2pos-thp-tdxd-brain.fhir.json"))
    (tmp_path / "exposures.csv").write_text(
        "person_id,drug,start_date,end_date\n"
        "1,trastuzumab,2024-01-10,2024-03-01\n1,pertuzumab,2024-01-10,2024-03-01\n"
        "1,trastuzumab deruxtecan,2024-09-01,\n2,capecitabine,2023-05-01,2023-09-01\n",
        encoding="utf-8",
    )
    (tmp_path / "index.csv").write_text(
        "person_id,metastatic_diagnosis\n1,2024-01-01\n2,2023-04-01\n", encoding="utf-8"
    )
    summary = json.loads(run("lines", "exposures.csv", "--index", "index.csv", "--out", "lines.parquet", "--json"))
    assert summary["engine"] == "duckdb" and summary["lines"] == 3
    run("omop", "init", "cdm.duckdb", "--demo")
    omop = json.loads(run("lines", "--omop", "cdm.duckdb", "--out", "omop-lines.parquet", "--json"))
    assert omop["lines"] > 0 and (tmp_path / "omop-lines.parquet").exists()
