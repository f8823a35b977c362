"""What a new user found when trying to break ``oncoline recommend`` (round 4): each case fails on the code before.

- text from the patient file never drives the terminal (control characters shown as escapes; JSON keeps them);
- ``--as-of`` takes YYYY-MM-DD only, as the files do, in both spellings of the option;
- ``--lang`` without a patient summary is said, not ignored;
- a full output device is a plain error (exit 1), not "a bug in oncoline" (exit 70) with a crash file;
- Ctrl-C ends every path the same way (exit 130, one line).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from oncoline.cli import common
from oncoline.cli.app import app
from oncoline.outputs.printable import printable

EXAMPLE = Path(__file__).parents[2] / "src" / "oncoline" / "examples" / "cureus-2025-de-novo-brain-mets.yaml"
HOSTILE_ID = "X\x1b]0;title\x07\x1b[2J\x9b1m"


def _patient_with_id(tmp_path: Path, patient_id: str) -> Path:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert "\nid: R05-cureus-2025\n" in text
    path = tmp_path / "patient.json"
    import yaml

    data = yaml.safe_load(text)
    data["id"] = patient_id
    path.write_text(json.dumps(data, default=str), encoding="utf-8")
    return path


def test_printable_shows_every_control_character_but_tab_and_newline() -> None:
    assert printable("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert printable("bell\x07 del\x7f csi\x9b") == "bell\\x07 del\\x7f csi\\x9b"
    assert printable("tab\tnew\nline é ü 中") == "tab\tnew\nline é ü 中"


def test_control_characters_in_the_patient_file_never_reach_the_terminal(tmp_path: Path) -> None:
    patient = _patient_with_id(tmp_path, HOSTILE_ID)
    readable = CliRunner().invoke(app, ["recommend", str(patient)])
    assert readable.exit_code == 0, readable.output
    assert "\x1b" not in readable.output and "\x07" not in readable.output and "\x9b" not in readable.output
    assert "X\\x1b]0;title\\x07\\x1b[2J\\x9b1m" in readable.output  # shown, so the user sees what the file holds
    as_json = CliRunner().invoke(app, ["recommend", str(patient), "--json"])
    assert as_json.exit_code == 0
    assert json.loads(as_json.output)["patient_id"] == HOSTILE_ID  # the data itself is kept as given


@pytest.mark.parametrize("value", ["20240301", "2024-W10-1", "2024-1-1", "2024-03-01T00:00"])
def test_as_of_takes_yyyy_mm_dd_only_in_both_spellings(value: str) -> None:
    for words in (["--as-of", value], [f"--as-of={value}"]):
        result = CliRunner().invoke(app, ["recommend", str(EXAMPLE), *words])
        assert result.exit_code == 2, (words, result.output)
        assert "write YYYY-MM-DD" in result.output


def test_lang_without_a_patient_summary_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["recommend", str(EXAMPLE), "--lang", "fr"])
    assert result.exit_code == 2
    assert "add --for patient" in result.output
    fine = CliRunner().invoke(app, ["recommend", str(EXAMPLE), "--for", "patient", "--lang", "en"])
    assert fine.exit_code == 0, fine.output


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize(
    "words",
    [
        ["recommend", str(EXAMPLE)],
        ["recommend", str(EXAMPLE), "--json"],
        ["recommend", str(EXAMPLE), "--trace"],
        ["--help"],
        ["--version"],
    ],
)
def test_a_full_output_device_is_a_plain_error_not_a_bug(words: list[str], tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # a crash file would land here
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from oncoline.cli.app import main; sys.argv[0] = 'oncoline'; main()",
                *words,
            ],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
    assert done.returncode == 1, done.stderr
    assert "No space left on device" in done.stderr and "free space" in done.stderr
    assert "bug" not in done.stderr and "Traceback" not in done.stderr
    assert not list(tmp_path.glob("oncoline-crash-*"))


def test_ctrl_c_ends_the_plain_path_and_the_typer_path_alike(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from oncoline.cli import recommend

    def stop(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(recommend, "recommend_command", stop)
    assert recommend.run_plain([str(EXAMPLE), "--json"]) == common.EXIT_INTERRUPTED == 130
    assert "interrupted" in capsys.readouterr().err
    # under Typer (an option the plain path leaves to it): the command body is guarded the same way
    result = CliRunner().invoke(app, ["recommend", str(EXAMPLE), "--trace"])
    assert result.exit_code == 130, result.output
    assert "Aborted" not in result.output


@pytest.mark.parametrize(("kind", "command"), [("her2", "oncoline her2"), ("lines", "oncoline lines")])
def test_another_kind_of_case_file_names_the_command_that_reads_it(kind: str, command: str, tmp_path: Path) -> None:
    case = tmp_path / "case.yaml"
    case.write_text(f"kind: {kind}\nid: x\ntitle: t\nsource: s\nexpected: {{}}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["recommend", str(case)])
    assert result.exit_code == 1, result.output
    assert f"`kind: {kind}` case file" in result.output and command in result.output
    assert "Extra inputs" not in result.output


def test_version_names_the_knowledge_version_answers_quote() -> None:
    from oncoline import __version__
    from oncoline.knowledge.loader import load_knowledge

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"oncoline {__version__} (knowledge {load_knowledge().version})"


def test_readable_output_saved_to_a_file_has_no_trailing_blanks() -> None:
    result = CliRunner().invoke(app, ["recommend", str(EXAMPLE)])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert len(lines) > 20 and any(line.startswith("╭") for line in lines)  # the panel itself is still drawn
    assert not [line for line in lines if line.endswith(" ")]
