"""The README's promises hold: its Python example runs as written and its two first lines are the two commands."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_opens_with_exactly_the_two_commands() -> None:
    first = [line.split("#")[0].strip() for line in README.splitlines()[:2]]
    assert first == ["./run demo", "./run test"]
    assert (ROOT / "run").exists() and os.access(ROOT / "run", os.X_OK)


def test_python_examples_run_as_written(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    assert blocks
    monkeypatch.chdir(ROOT)
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "HER2-positive" in out and "preferred" in out


def test_ci_calls_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "./run test" in ci
