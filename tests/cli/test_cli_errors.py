"""Errors a user can act on (issue 7 item 6, issue 12 items 6-7): each test fails on the code before the fix."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from oncoline.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "src" / "oncoline" / "examples" / "cureus-2025-de-novo-brain-mets.yaml"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _piped(monkeypatch: pytest.MonkeyPatch) -> None:
    """Output as it is when piped: no COLUMNS, no debug."""
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("ONCOLINE_DEBUG", raising=False)


def _boom(*args: object, **kwargs: object) -> None:
    raise RuntimeError("boom in the engine")


def test_unexpected_exception_is_a_bug_in_one_line_exit_70(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("oncoline.app.recommend.recommend_document", _boom)
    result = runner.invoke(app, ["recommend", str(EXAMPLE)])
    assert result.exit_code == 70, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "bug" in lines[0] and "most recent call" not in result.stderr
    crash = Path(re.search(r"written to (\S+oncoline-crash-\S+\.txt)", lines[0]).group(1))  # type: ignore[union-attr]
    assert "RuntimeError: boom in the engine" in crash.read_text(encoding="utf-8")
    crash.unlink()


def test_debug_prints_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("oncoline.app.recommend.recommend_document", _boom)
    result = runner.invoke(app, ["--debug", "recommend", str(EXAMPLE)])
    assert result.exit_code == 70
    assert "Traceback (most recent call last)" in result.stderr and "RuntimeError: boom" in result.stderr


def test_entry_point_turns_an_escaped_exception_into_exit_70(monkeypatch: pytest.MonkeyPatch) -> None:
    import oncoline.cli.app as entry

    monkeypatch.setattr(entry, "app", _boom)
    monkeypatch.setenv("ONCOLINE_DEBUG", "1")  # no crash file left behind
    with pytest.raises(SystemExit) as info:
        entry.main()
    assert info.value.code == 70


def test_file_names_keep_their_brackets(tmp_path: Path) -> None:
    missing = tmp_path / "scan[red].yaml"
    result = runner.invoke(app, ["recommend", str(missing)])
    assert result.exit_code == 1 and "scan[red].yaml" in result.stderr


def test_messages_keep_their_brackets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The install hint of a missing engine is printed with its brackets: pip install 'oncoline[spark]'."""
    import oncoline.app.lines as app_lines

    monkeypatch.setitem(app_lines._ENGINE_MODULES, "spark", "oncoline.no_such_module")
    (tmp_path / "e.csv").write_text("person_id,drug,start_date\n1,trastuzumab,2024-01-10\n", encoding="utf-8")
    (tmp_path / "i.csv").write_text("person_id,metastatic_diagnosis\n1,2024-01-01\n", encoding="utf-8")
    result = runner.invoke(
        app,
        [
            "lines",
            str(tmp_path / "e.csv"),
            "--index",
            str(tmp_path / "i.csv"),
            "--out",
            str(tmp_path / "o.csv"),
            "--engine",
            "spark",
        ],
    )
    assert result.exit_code == 4 and "pip install 'oncoline[spark]'" in result.stderr


def test_unknown_drug_with_markup_is_shown_as_typed(tmp_path: Path) -> None:
    patient = EXAMPLE.read_text(encoding="utf-8").replace(
        "history: []", "history:\n  - {line: 1, drugs: ['[/bold]nodrug[red]']}"
    )
    (tmp_path / "p.yaml").write_text(patient, encoding="utf-8")
    result = runner.invoke(app, ["recommend", str(tmp_path / "p.yaml")])
    assert result.exit_code == 1 and "[/bold]nodrug[red]" in result.stderr


def test_patient_text_with_markup_in_the_readable_view(tmp_path: Path) -> None:
    patient = EXAMPLE.read_text(encoding="utf-8").replace("id: R05-cureus-2025", "id: 'pt[red]1[/red]'")
    (tmp_path / "p.yaml").write_text(patient, encoding="utf-8")
    result = runner.invoke(app, ["recommend", str(tmp_path / "p.yaml")])
    assert result.exit_code == 0 and "pt[red]1[/red]" in result.stdout


def test_cohort_summary_shows_user_text_as_typed_and_uncut(tmp_path: Path) -> None:
    """An unknown drug holding markup, and a long one, appear whole in the piped cohort summary (no "…")."""
    long_name = "an-investigational-agent-with-a-very-long-code-name-" + "x" * 60
    (tmp_path / "e.csv").write_text(
        "person_id,drug,start_date\n1,trastuzumab,2024-01-10\n1,bad[/x]drug,2024-02-10\n1,"
        + long_name
        + ",2024-02-11\n",
        encoding="utf-8",
    )
    (tmp_path / "i.csv").write_text("person_id,metastatic_diagnosis\n1,2024-01-01\n", encoding="utf-8")
    out = tmp_path / "o.csv"
    result = runner.invoke(
        app, ["lines", str(tmp_path / "e.csv"), "--index", str(tmp_path / "i.csv"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "bad[/x]drug" in result.stdout and long_name in result.stdout and "…" not in result.stdout


def test_piped_kb_table_is_not_cut() -> None:
    result = runner.invoke(app, ["kb", "show"])
    assert result.exit_code == 0 and "…" not in result.stdout
    assert all(
        f"{stem}.yaml" in result.stdout
        for stem in json.loads(runner.invoke(app, ["kb", "show", "--json"]).stdout)["files"]
    )


@pytest.mark.parametrize("value", ["gap_days=abc", "nonsense=3", "gap_days=-5", "novalue"])
def test_bad_param_values_are_usage_errors(value: str, tmp_path: Path) -> None:
    events = tmp_path / "e.yaml"
    events.write_text(
        "metastatic_diagnosis: 2024-01-05\nexposures:\n  - {drug: trastuzumab, start: 2024-01-15}\n", encoding="utf-8"
    )
    result = runner.invoke(app, ["lines", str(events), "--param", value])
    assert result.exit_code == 2 and "--param" in result.stderr


def test_missing_index_is_a_usage_error_like_missing_out(tmp_path: Path) -> None:
    table = tmp_path / "e.csv"
    table.write_text("person_id,drug,start_date\n1,trastuzumab,2024-01-10\n", encoding="utf-8")
    no_index = runner.invoke(app, ["lines", str(table), "--out", str(tmp_path / "o.csv")])
    no_out = runner.invoke(app, ["lines", str(table), "--index", str(table)])
    assert (no_index.exit_code, no_out.exit_code) == (2, 2) and "--index" in no_index.stderr


def test_duplicate_exposure_ids_name_the_file(tmp_path: Path) -> None:
    table = tmp_path / "cohort-exposures.csv"
    table.write_text(
        "person_id,exposure_id,drug,start_date\n1,a,trastuzumab,2024-01-10\n1,a,pertuzumab,2024-01-10\n",
        encoding="utf-8",
    )
    (tmp_path / "i.csv").write_text("person_id,metastatic_diagnosis\n1,2024-01-01\n", encoding="utf-8")
    for engine in ("duckdb", "reference"):
        result = runner.invoke(
            app,
            [
                "lines",
                str(table),
                "--index",
                str(tmp_path / "i.csv"),
                "--out",
                str(tmp_path / "o.csv"),
                "--engine",
                engine,
            ],
        )
        assert result.exit_code == 1 and str(table) in result.stderr and "exposure_id" in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("p.json", '{"id": "x",\n "tumor": {}\n "sites": []}\n', ["line 3", "'\"sites\": []}'", "a comma is missing"]),
        ("p.yaml", "id: x\ntumor:\n\ther2: {status: positive}\n", ["line 3", "indent with spaces, not tabs"]),
        ("p.yaml", "id: x\nnote: time: 10\n", ["line 2 reads 'note: time: 10'", "put the value in quotes"]),
        ("p.yaml", "id: x\ntumor:\n  her2: {status: positive\nsites: []\n", ["line 4", "is not closed"]),
    ],
)
def test_syntax_errors_say_where_what_and_the_fix(tmp_path: Path, name: str, text: str, expected: list[str]) -> None:
    (tmp_path / name).write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["recommend", str(tmp_path / name)])
    assert result.exit_code == 1
    for part in expected:
        assert part in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("id: x\ntumor: [1]\n", ["field 'tumor'", "got a list", "give a mapping of fields"]),
        ("id: x\nage: old\n", ["field 'age'", "got 'old'", "give a number"]),
        ("id: x\ntumour: {}\n", ["field 'tumour'", "oncoline schema patient"]),
        ("[]\n", ["oncoline schema patient"]),
        ("", ["oncoline schema patient"]),
    ],
)
def test_validation_messages_name_field_given_and_fix_never_format_md(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    """Bare pydantic text gets what was given and what to write; no message sends an installed user to
    shared/cases/FORMAT.md (absent outside a checkout)."""
    (tmp_path / "p.yaml").write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["recommend", str(tmp_path / "p.yaml")])
    assert result.exit_code == 1 and "FORMAT.md" not in result.stderr
    for part in expected:
        assert part in result.stderr, result.stderr


def test_a_closed_output_pipe_is_not_a_bug() -> None:
    """``oncoline … | head`` closes the pipe early: exit quietly (141, as SIGPIPE), never "internal error"."""
    import subprocess
    import sys

    exe = Path(sys.executable).with_name("oncoline")
    proc = subprocess.Popen(
        [str(exe), "patient", "--example", "her2pos-thp-tdxd-brain"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before anything is written
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and "internal error" not in err and "Traceback" not in err, err
