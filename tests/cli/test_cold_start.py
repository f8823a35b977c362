"""A command imports only what it uses (issue 13 item 3): checked by module, never by the clock."""

from __future__ import annotations
import __future__

import gc
import importlib
import inspect
import json
import os
import subprocess
import sys
import typing
from pathlib import Path

import pydantic
import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "src" / "oncoline" / "examples" / "cureus-2025-de-novo-brain-mets.yaml"
HEAVY = ("rich", "duckdb", "pyarrow", "numpy", "numba", "fhir", "pandas", "pyspark", "click")
PLAIN = ("typer",)
"""Also absent from a plain ``recommend FILE --json``: it runs without the CLI framework (~10 % of that run)."""

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
    ("args", "absent"),
    [
        (("recommend", str(EXAMPLE), "--json"), HEAVY + PLAIN),
        (("her2", str(EXAMPLE), "--json"), HEAVY),
    ],
)
def test_json_commands_load_no_heavy_library(args: tuple[str, ...], absent: tuple[str, ...]) -> None:
    loaded = _top_modules(*args)
    assert not loaded & set(absent), sorted(loaded & set(absent))


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


def test_a_plain_recommend_runs_without_typer_and_any_other_line_goes_through_it() -> None:
    assert "typer" not in _top_modules("recommend", str(EXAMPLE))  # the readable view: Rich, but no Typer
    assert "typer" not in _top_modules("recommend", "--as-of", "2025-01-01", str(EXAMPLE), "--json")
    assert "typer" in _top_modules("--debug", "recommend", str(EXAMPLE), "--json")
    assert "typer" in _top_modules("recommend", str(EXAMPLE), "--json", "--trace")


@pytest.mark.parametrize(
    "words",
    [
        [],
        ["--help"],
        ["-h"],
        ["x.yaml", "--trace"],
        ["x.yaml", "--json", "--json"],
        ["x.yaml", "y.yaml"],
        ["--as-of", "2025-01-01"],
        ["x.yaml", "--as-of"],
        ["x.yaml", "--as-of", "--json"],
        ["x.yaml", "--as-of="],
        ["x.yaml", "--as-of", "2025-01-01", "--as-of", "2025-02-01"],
        ["-", "--json"],
        ["--", "x.yaml"],
        ["", "--json"],
        ["x.yaml", "--example", "her2pos-thp-tdxd-brain"],
        ["x.yaml", "--for", "patient"],
        ["x.yaml", "--jsn"],
    ],
)
def test_only_a_plain_command_line_skips_typer(words: list[str]) -> None:
    from oncoline.cli.recommend import plain_arguments

    assert plain_arguments(words) is None  # Typer parses it: help, usage errors and the other options as always


def test_the_plain_command_line_reads_file_json_and_as_of_in_any_order() -> None:
    from oncoline.cli.recommend import plain_arguments

    assert plain_arguments(["x.yaml"]) == (Path("x.yaml"), False, None)
    assert plain_arguments(["--json", "x.yaml"]) == (Path("x.yaml"), True, None)
    assert plain_arguments(["--as-of", "2025-01-01", "x.yaml", "--json"]) == (Path("x.yaml"), True, "2025-01-01")
    assert plain_arguments(["x.yaml", "--as-of=soon"]) == (Path("x.yaml"), False, "soon")  # judged as under Typer


@pytest.fixture()
def _restore_gc() -> typing.Iterator[None]:
    """main() tunes the collector for a short-lived process: give the test process its own settings back."""
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


def _bad_patient(tmp_path: Path) -> Path:
    bad = tmp_path / "bad[1].yaml"
    bad.write_text(EXAMPLE.read_text(encoding="utf-8") + "ecog: 9\n", encoding="utf-8")  # ECOG runs 0-4
    return bad


@pytest.mark.parametrize(
    "words",
    [
        ["{example}", "--json"],
        ["{example}"],
        ["--json", "--as-of", "2025-01-01", "{example}"],
        ["{example}", "--as-of=2024-02-01"],
        ["{missing}", "--json"],
        ["{example}", "--json", "--as-of", "soon"],
        ["{example}", "--as-of", "2999-01-01"],
        ["{bad}", "--json"],
    ],
)
def test_the_plain_path_answers_as_typer_does(
    words: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    _restore_gc: None,
) -> None:
    """Byte for byte: the same output, messages and exit code with and without Typer."""
    from oncoline.cli import app as entry

    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("ONCOLINE_DEBUG", raising=False)
    monkeypatch.delenv("PYDANTIC_DISABLE_PLUGINS", raising=False)  # the plain path sets it: undone after the test
    names = {"example": str(EXAMPLE), "missing": str(tmp_path / "missing.yaml"), "bad": str(_bad_patient(tmp_path))}
    argv = [w.format(**names) for w in words]
    typer_run = CliRunner().invoke(entry.app, ["recommend", *argv])
    monkeypatch.setattr(sys, "argv", ["oncoline", "recommend", *argv])
    monkeypatch.setattr(entry, "_app", _no_typer)  # the plain path must not need the Typer app at all
    with pytest.raises(SystemExit) as done:
        entry.main()
    plain = capsys.readouterr()
    assert (done.value.code, plain.out, plain.err) == (typer_run.exit_code, typer_run.stdout, typer_run.stderr)
    assert typer_run.exit_code in (0, 1, 2) and (typer_run.stdout or typer_run.stderr)


def _no_typer() -> None:
    raise AssertionError("a plain recommend command line reached Typer")


def test_model_and_knowledge_schema_modules_keep_real_annotations() -> None:
    """pydantic builds a model ~25 % faster from real annotations than from strings (``from __future__ import
    annotations``): about 3 ms of every run for the modules whose models a recommend run creates."""
    for name in ("oncoline.model.patient", "oncoline.model.recommendation", "oncoline.knowledge.schema"):
        module = importlib.import_module(name)
        assert getattr(module, "annotations", None) is not __future__.annotations, name


def test_no_patient_field_defaults_from_a_builtin_factory() -> None:
    """pydantic reads a default factory's signature; a builtin's (``list``) goes through inspect's tokenizer, whose
    first use compiles its patterns (~1.5 ms of a run)."""
    from oncoline.model import patient

    models = [m for m in vars(patient).values() if isinstance(m, type) and issubclass(m, pydantic.BaseModel)]
    assert len(models) > 10
    for model in models:
        for name, field in model.model_fields.items():
            factory = field.default_factory
            assert (
                factory is None
                or (not inspect.isbuiltin(factory) and not isinstance(factory, type))
                or (issubclass(factory, pydantic.BaseModel))
            ), f"{model.__name__}.{name}: default_factory={factory!r}"


def test_the_plain_path_leaves_a_given_plugin_setting_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """pydantic's plugin scan is skipped by default on the plain path; a user's own setting (even "") wins."""
    from oncoline.cli import recommend

    monkeypatch.setattr(recommend, "recommend_command", lambda *a, **k: None)
    monkeypatch.setenv("PYDANTIC_DISABLE_PLUGINS", "")
    assert recommend.run_plain([str(EXAMPLE)]) == 0
    assert os.environ["PYDANTIC_DISABLE_PLUGINS"] == ""
    monkeypatch.delenv("PYDANTIC_DISABLE_PLUGINS")
    assert recommend.run_plain([str(EXAMPLE)]) == 0
    assert os.environ["PYDANTIC_DISABLE_PLUGINS"] == "__all__"
