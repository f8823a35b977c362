"""Bundled example patients: listed in --help, usable by name, the same answer as the file."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from oncoline.app.examples import example_path, list_examples
from oncoline.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_every_listed_example_ships_and_recommends() -> None:
    names = [e.name for e in list_examples()]
    assert "cureus-2025-de-novo-brain-mets" in names and len(names) >= 2
    help_text = runner.invoke(app, ["recommend", "--help"], terminal_width=300).stdout
    for name in names:
        assert name in help_text
        result = runner.invoke(app, ["recommend", "--example", name, "--json"])
        assert result.exit_code == 0, result.output
        path = example_path(name)
        assert json.loads(result.stdout) == json.loads(runner.invoke(app, ["recommend", str(path), "--json"]).stdout)


def test_the_fhir_example_is_the_tested_bundle() -> None:
    """The shipped FHIR example is the bundle the FHIR tests check, byte for byte (no drift)."""
    shipped = example_path("her2pos-thp-tdxd-brain").read_bytes()
    assert shipped == (ROOT / "tests" / "data" / "her2pos-thp-tdxd-brain.fhir.json").read_bytes()


def test_example_misuse_is_a_usage_error() -> None:
    unknown = runner.invoke(app, ["recommend", "--example", "nope"])
    assert unknown.exit_code == 2 and "cureus-2025-de-novo-brain-mets" in unknown.output
    both = runner.invoke(app, ["recommend", "x.yaml", "--example", "her2pos-thp-tdxd-brain"])
    assert both.exit_code == 2 and "not both" in both.output
    neither = runner.invoke(app, ["recommend"])
    assert neither.exit_code == 2 and "--example" in neither.output
