"""``oncoline schema``: the domain model is JSON-Schema exportable (issue #2, item 2)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from oncoline.cli.app import app


def test_patient_schema_lists_format_fields() -> None:
    result = CliRunner().invoke(app, ["schema", "patient"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    for field in ("tumor", "sites", "history", "conditions", "early_therapy", "exposures", "as_of"):
        assert field in schema["properties"]
    assert "Her2Raw" in schema["$defs"]


def test_her2_schema() -> None:
    result = CliRunner().invoke(app, ["schema", "her2"])
    assert result.exit_code == 0
    assert "ish_group" in json.loads(result.stdout)["properties"]
