"""A command imports only what it uses (issue 13 item 3): checked by module, never by the clock."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "src" / "oncoline" / "examples" / "cureus-2025-de-novo-brain-mets.yaml"
HEAVY = ("rich", "duckdb", "pyarrow", "numpy", "numba", "fhir", "pandas", "pyspark", "click")

PROBE = """
import io, json, sys, contextlib
sys.argv = ["oncoline", *json.loads(sys.argv[1])]
out = io.StringIO()
try:
    with contextlib.redirect_stdout(out):
        from oncoline.cli.app import main
        main()
except SystemExit as exc:
    assert exc.code in (0, None), exc.code
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def _top_modules(*args: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(list(args))], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "args",
    [
        ("recommend", str(EXAMPLE), "--json"),
        ("her2", str(EXAMPLE), "--json"),
    ],
)
def test_json_commands_load_no_heavy_library(args: tuple[str, ...]) -> None:
    loaded = _top_modules(*args)
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_the_readable_view_loads_rich_but_no_database_or_fhir() -> None:
    loaded = _top_modules("recommend", str(EXAMPLE))
    assert "rich" in loaded and not loaded & {"duckdb", "pyarrow", "numpy", "fhir", "pandas"}


def _oncoline_modules(*args: str) -> set[str]:
    probe = PROBE.replace(
        'm.split(".")[0] for m in sys.modules', 'm for m in sys.modules if m.startswith("oncoline.cli.")'
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(list(args))], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_a_command_registers_only_its_own_module() -> None:
    from oncoline.cli.app import COMMANDS

    loaded = _oncoline_modules("--debug", "recommend", str(EXAMPLE), "--json")
    assert "oncoline.cli.recommend" in loaded
    assert not loaded & {f"oncoline.cli.{name}" for name in COMMANDS if name != "recommend"}, sorted(loaded)


def test_help_and_unknown_words_register_every_command() -> None:
    from oncoline.cli.app import COMMANDS, commands_for

    assert commands_for([]) == COMMANDS
    assert commands_for(["--help"]) == COMMANDS
    assert commands_for(["recomend"]) == COMMANDS  # a typo: Typer's "did you mean" needs every name
    assert commands_for(["--debug", "lines", "x.csv"]) == ("lines",)
    assert {f"oncoline.cli.{name}" for name in COMMANDS} <= _oncoline_modules("--help")
    exe = Path(sys.executable).with_name("oncoline")
    done = subprocess.run([str(exe), "recomend"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "recommend" in done.stderr
    listed = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=120, check=True).stdout
    assert all(name in listed for name in COMMANDS)
