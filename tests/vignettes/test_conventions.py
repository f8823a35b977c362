"""Reference §0.1 conventions the line count rests on (shared/reference/her2-mbc.md: "Metastatic line - one
regimen given for metastatic disease"): a history the recommender cannot reconcile with them is said, not
silently accepted (issue 8 item 3)."""

from __future__ import annotations

from tests.vignettes.vignette import run

from oncoline.errors import InputError


def _said_or_refused(change: dict[str, object], words: tuple[str, ...]) -> bool:
    try:
        rec = run(change)
    except (InputError, ValueError):  # refused: by the recommender, or by the patient model (pydantic)
        return True
    text = " ".join(rec.warnings).lower() + " " + rec.line_rationale.lower().split(":", 1)[0]
    return any(w in text for w in words)


def test_history_starting_at_line_two_is_said() -> None:
    """A history whose first line is numbered 2 (line 1 not given): say what is assumed, or refuse."""
    change = {"metastatic_diagnosis": "2025-01-10", "history": [
        {"line": 2, "drugs": ["trastuzumab deruxtecan"], "start": "2025-01-20", "end": "2026-10-01",
         "stopped": "progression"}]}  # fmt: skip
    assert _said_or_refused(change, ("numbered", "assum", "renumber", "line 1 is missing", "not given"))


def test_metastatic_line_before_metastatic_diagnosis_is_said() -> None:
    """A metastatic line starting a year before the metastatic diagnosis: say what is assumed, or refuse."""
    change = {"metastatic_diagnosis": "2025-01-10", "history": [
        {"line": 1, "drugs": ["pertuzumab", "trastuzumab", "docetaxel"], "start": "2024-01-20",
         "end": "2026-10-01", "stopped": "progression"}]}  # fmt: skip
    assert _said_or_refused(change, ("before the metastatic diagnosis", "before metastatic diagnosis"))
