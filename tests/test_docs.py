"""docs/lines.md and docs/output.md name every parameter, rule and field they document (checked against the code)."""

from __future__ import annotations

from pathlib import Path

from oncoline.engines.lines.params import load_line_params
from oncoline.model.lines import CloseRule, EndReason, ExclusionReason, OpenRule
from oncoline.model.recommendation import Excluded, Option, Recommendation

ROOT = Path(__file__).resolve().parents[1]


def test_lines_doc_lists_parameters_with_defaults_and_every_rule() -> None:
    doc = (ROOT / "docs/lines.md").read_text(encoding="utf-8")
    params = load_line_params()
    for name in ("index_lookback_days", "regimen_window_days", "gap_days", "maintenance_ongoing_days"):
        assert f"| `{name}` | {getattr(params, name)} |" in doc, name
    for enum in (OpenRule, CloseRule, EndReason, ExclusionReason):
        for member in enum:
            assert f"`{member.value}`" in doc, (enum.__name__, member.value)
    for source in ("`option`", "`file`", "`today`", "`latest_in_data`", "`observation_period_end`"):
        assert source in doc


def test_output_doc_lists_every_recommendation_field() -> None:
    doc = (ROOT / "docs/output.md").read_text(encoding="utf-8")
    for model in (Recommendation, Option, Excluded):
        for name in model.model_fields:
            assert f"`{name}`" in doc, (model.__name__, name)
