"""``oncoline kb lint`` also load-checks the drug vocabulary, HER2 table, line parameters and code maps."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from oncoline.cli.app import app
from oncoline.errors import KnowledgeBaseError


def test_kb_lint_passes_on_the_packaged_knowledge() -> None:
    result = CliRunner().invoke(app, ["kb", "lint"])
    assert result.exit_code == 0, result.output
    assert "0 error(s)" in result.output


def test_a_broken_companion_file_fails_kb_lint(monkeypatch: pytest.MonkeyPatch) -> None:
    import oncoline.engines.lines.params as params

    def broken() -> None:
        raise KnowledgeBaseError("lines.yaml: missing `parameters`")

    monkeypatch.setattr(params, "load_line_params", broken)
    result = CliRunner().invoke(app, ["kb", "lint"])
    assert result.exit_code == 3
    assert "lines.yaml" in result.output
