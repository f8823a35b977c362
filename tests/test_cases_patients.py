"""The shared patient and real-world cases (shared/cases/patients, shared/cases/real) run inside pytest:
in-process through the engine for every case, and through the CLI for one case per folder.

The comparison is the shared checker's own (`check_cases.check_patient`), so a case passes here exactly when it
passes `check_cases.py` (house style S20).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from oncoline.cli.app import app
from oncoline.engines.recommend import recommend
from oncoline.io.patient_file import patient_from_mapping
from oncoline.knowledge.loader import load_knowledge

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(__import__("os").environ.get("ONCOLINE_SHARED", ROOT.parent / "shared")).resolve()
CASE_DIRS = ("patients", "real")
KB_DATE = dt.date(2026, 11, 29)  # cases without as_of are answered as of the knowledge status date


def _cases() -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    for sub in CASE_DIRS:
        for path in sorted((SHARED / "cases" / sub).glob("*.yaml")):
            for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
                if doc and doc.get("kind") == "patient":
                    out.append((f"{sub}/{doc['id']}", doc))
    return out


CASES = _cases()


@pytest.fixture(scope="module")
def checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_cases", SHARED / "cases" / "check_cases.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_all_eighteen_cases_are_found() -> None:
    assert len(CASES) == 18


@pytest.mark.parametrize(("name", "case"), CASES, ids=[n for n, _ in CASES])
def test_case_in_process(name: str, case: dict[str, Any], checker: ModuleType) -> None:
    patient = patient_from_mapping(case["patient"], source=name)
    as_of = case.get("as_of") or KB_DATE
    result = recommend(patient, knowledge=load_knowledge(), as_of=as_of)
    out = json.loads(json.dumps(result.to_contract()))
    faults = checker.check_patient(case, out)
    assert faults == [], f"{name}: {faults}"


@pytest.mark.parametrize("sub", CASE_DIRS)
def test_first_case_of_each_folder_through_the_cli(
    sub: str, checker: ModuleType, tmp_path: Path, case_path: Callable[[str], Path]
) -> None:
    name, case = next((n, c) for n, c in CASES if n.startswith(sub))
    block = dict(case["patient"])
    if case.get("as_of"):
        block["as_of"] = case["as_of"]
    path = tmp_path / "patient.yaml"
    path.write_text(yaml.safe_dump(block, sort_keys=False), encoding="utf-8")
    result = CliRunner().invoke(app, ["recommend", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert checker.check_patient(case, json.loads(result.stdout)) == [], name
