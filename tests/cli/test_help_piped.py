"""Help sent to a pipe or a file is whole: no option's help cut with "…" (a new user's finding)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXE = Path(sys.executable).with_name("oncoline")


@pytest.mark.parametrize("command", [["cohort", "report"], ["lines"], ["recommend"], ["omop", "init"]])
def test_piped_help_is_not_cut(command: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "TERMINAL_WIDTH")}
    done = subprocess.run([str(EXE), *command, "--help"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--help" in done.stdout and "…" not in done.stdout


def test_a_width_the_user_set_is_kept() -> None:
    env = {k: v for k, v in os.environ.items() if k != "TERMINAL_WIDTH"} | {"COLUMNS": "70"}
    done = subprocess.run([str(EXE), "lines", "--help"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0 and max(len(line) for line in done.stdout.splitlines()) <= 70
