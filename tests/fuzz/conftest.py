"""Fixtures and the ``fuzz_long`` marker of the fuzzing suite.

The long variant (``fuzz_long``: 2,000 variants, several minutes) is left out of the default run; run it with
``ONCOLINE_FUZZ_LONG=1 python -m pytest tests/fuzz`` or ``python -m pytest tests/fuzz -m fuzz_long`` (the same
campaign as ``python -m benchmarks fuzz --variants 2000``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fuzz.mutate import Seeds, load_seeds


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fuzz_long: the long fuzzing campaign (minutes); excluded by default")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    asked = os.environ.get("ONCOLINE_FUZZ_LONG", "") not in ("", "0") or "fuzz_long" in (config.option.markexpr or "")
    if asked:
        return
    skip = pytest.mark.skip(reason="long fuzzing campaign: set ONCOLINE_FUZZ_LONG=1 or give -m fuzz_long")
    for item in items:
        if "fuzz_long" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def seeds(shared_dir: Path) -> Seeds:
    """Every fuzz seed: shared cases, shared real data, tests/data."""
    return load_seeds(shared_dir)


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Output as when piped; the CLI's own --debug prints tracebacks instead of writing crash files."""
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("ONCOLINE_DEBUG", raising=False)


@pytest.fixture(scope="session")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")
