"""Shared fixtures: data is fetched by name, not by path (house style S16)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ONCOLINE_SHARED", ROOT.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ``shared/`` folder beside the repository (cases, reference, real public data)."""
    if not SHARED.is_dir():
        pytest.fail(f"shared/ not found at {SHARED}; set ONCOLINE_SHARED")
    return SHARED


@pytest.fixture(scope="session")
def shared_data(shared_dir: Path) -> Callable[[str], Path]:
    """``shared_data("ctm-app-test-patients/TrialMatching_Patient01.json")`` → its path (fails if absent)."""

    def get(name: str) -> Path:
        path = shared_dir / "data" / name
        if not path.exists():
            pytest.fail(f"shared data {name!r} is missing at {path}")
        return path

    return get


@pytest.fixture(scope="session")
def case_path(shared_dir: Path) -> Callable[[str], Path]:
    """``case_path("patients/p-2l-after-thp.yaml")`` → the shared case file."""

    def get(name: str) -> Path:
        path = shared_dir / "cases" / name
        if not path.exists():
            pytest.fail(f"shared case {name!r} is missing at {path}")
        return path

    return get
