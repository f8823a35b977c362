"""decision_texts.yaml: the recommender's decision wording as data (house style S1) - loading, filling, and the
`kb lint` checks that tie it to the ids and placeholders the engine uses."""

from __future__ import annotations

import ast
import datetime as dt
import inspect
import shutil
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pytest
import yaml
from tests.engines.patients import merged_patient

import oncoline.engines.recommend as recommend_package
from oncoline.engines.recommend import engine, line_decision, recommend
from oncoline.errors import KnowledgeBaseError
from oncoline.knowledge.lint import lint_knowledge
from oncoline.knowledge.loader import KNOWLEDGE_FILES, load_knowledge

AS_OF = dt.date(2026, 10, 1)
Edit = Callable[[Callable[[dict], None]], Path]


@pytest.fixture
def texts_copy(tmp_path: Path) -> Edit:
    """Copy the packaged knowledge to tmp_path; the returned function edits decision_texts.yaml there."""
    data = resources.files("oncoline.knowledge").joinpath("data")
    for stem in KNOWLEDGE_FILES:
        with resources.as_file(data.joinpath(f"{stem}.yaml")) as src:
            shutil.copy(src, tmp_path / f"{stem}.yaml")

    def edit(change: Callable[[dict], None]) -> Path:
        path = tmp_path / "decision_texts.yaml"
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        change(doc)
        path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
        return tmp_path

    return edit


def _entry(doc: dict, text_id: str) -> dict:
    return next(t for t in doc["texts"] if t["id"] == text_id)


def _errors(folder: Path) -> list[str]:
    return [p.message for p in lint_knowledge(folder) if p.severity == "error"]


def test_packaged_texts_cover_every_id_the_engine_uses_with_resolving_sources() -> None:
    kb = load_knowledge()
    assert "decision_texts" in KNOWLEDGE_FILES
    assert set(engine.TEXTS_USED) <= set(kb.texts)
    for text in kb.texts.values():
        assert text.citations and all(c in kb.sources for c in text.citations)
        assert text.placeholders() <= engine.TEXTS_USED[text.id]


def _calls_in_engine() -> dict[str, set[frozenset[str]]]:
    """Text id → the keyword sets of every ``kb.text(...)`` call in the recommender package's modules (a conditional
    id counts for both)."""
    folder = Path(inspect.getfile(recommend_package)).parent
    nodes = [n for f in sorted(folder.glob("*.py")) for n in ast.walk(ast.parse(f.read_text(encoding="utf-8")))]
    calls: dict[str, set[frozenset[str]]] = {}
    for node in nodes:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "text":
            first = node.args[0]
            options = [first.body, first.orelse] if isinstance(first, ast.IfExp) else [first]
            keywords = frozenset(k.arg for k in node.keywords if k.arg is not None)
            for option in options:
                if isinstance(option, ast.Constant) and isinstance(option.value, str):
                    calls.setdefault(option.value, set()).add(keywords)
                else:  # an id looked up in a table: the table's values are called without placeholders
                    for text_id in engine._HER2_MISSING_TEXT.values():
                        calls.setdefault(text_id, set()).add(keywords)
    return calls


def test_texts_used_matches_the_engine_calls() -> None:
    calls = _calls_in_engine()
    assert set(calls) == set(engine.TEXTS_USED)
    for text_id, keyword_sets in calls.items():
        assert keyword_sets == {engine.TEXTS_USED[text_id]}, text_id


def test_text_fills_placeholders_and_names_what_is_wrong() -> None:
    kb = load_knowledge()
    assert kb.text("ALGO-INDUCTION-TOO-SHORT", days=30, min_days=120).startswith(
        "Induction given for 30 days (< 120): continue"
    )
    assert kb.text("RELAPSE-AFTER", months=7.5) == "Relapse 7.5 months after the last (neo)adjuvant HER2-directed dose."
    with pytest.raises(KnowledgeBaseError, match="no text 'NOPE'"):
        kb.text("NOPE")
    with pytest.raises(KnowledgeBaseError, match="'ALGO-MAINTENANCE' cannot be filled"):
        kb.text("ALGO-MAINTENANCE", days=200)


def test_the_engine_reads_its_wording_from_the_file(texts_copy: Edit) -> None:
    folder = texts_copy(lambda d: _entry(d, "ALGO-FIRST-LINE").update(text="Edited first-line wording."))
    p = merged_patient({"id": "T", "age": 55, "metastatic_diagnosis": "2026-09-01"}, {})
    packaged = recommend(p, knowledge=load_knowledge(), as_of=AS_OF)
    edited = recommend(p, knowledge=load_knowledge(folder), as_of=AS_OF)
    assert packaged.algorithm_rationale == "First-line algorithm."
    assert edited.algorithm_rationale == "Edited first-line wording."


def test_lint_reports_a_text_the_engine_needs_but_the_file_lacks(texts_copy: Edit) -> None:
    folder = texts_copy(lambda d: d.update(texts=[t for t in d["texts"] if t["id"] != "CNS-UNTREATED"]))
    assert _errors(folder) == ["decision_texts.yaml: text 'CNS-UNTREATED' is used by the recommender but not defined"]
    p = merged_patient({"id": "T", "age": 55, "metastatic_diagnosis": "2026-09-01"}, {})
    with pytest.raises(KnowledgeBaseError, match="CNS-UNTREATED"):
        line_decision.ongoing_cns_text(
            load_knowledge(folder), progressing=False, untreated=True, status_unknown=False, leptomeningeal=False
        )
    assert recommend(p, knowledge=load_knowledge(folder), as_of=AS_OF).algorithm_rationale  # other texts still load


def test_lint_reports_a_placeholder_the_engine_does_not_supply(texts_copy: Edit) -> None:
    folder = texts_copy(lambda d: _entry(d, "ALGO-MAINTENANCE").update(text="Induction for {days} days ({weeks} w)."))
    assert _errors(folder) == [
        "decision text ALGO-MAINTENANCE: placeholder(s) ['weeks'] are not supplied by the recommender "
        "(it supplies ['days', 'min_days'])"
    ]


def test_unknown_source_duplicate_id_and_bad_braces_fail_loading(texts_copy: Edit) -> None:
    def breaks(d: dict) -> None:
        _entry(d, "ALGO-CONTINUE")["citations"] = ["NO-SUCH-SOURCE"]
        d["texts"].append(dict(_entry(d, "ALGO-FIRST-LINE")))
        _entry(d, "ALGO-SECOND-LINE")["text"] = "Second {line"

    folder = texts_copy(breaks)
    errors = _errors(folder)
    assert "decision text ALGO-CONTINUE: cites unknown source 'NO-SUCH-SOURCE' (add it to sources.yaml)" in errors
    assert "duplicate decision text id 'ALGO-FIRST-LINE'" in errors
    assert any(e.startswith("decision text ALGO-SECOND-LINE: not a valid format string") for e in errors)
    with pytest.raises(KnowledgeBaseError, match="3 knowledge problem"):
        load_knowledge(folder)


def test_schema_requires_a_citation_and_an_unused_text_is_a_warning(texts_copy: Edit) -> None:
    folder = texts_copy(lambda d: d["texts"].append({"id": "SPARE", "text": "Unused.", "citations": ["ONC-REF"]}))
    problems = lint_knowledge(folder)
    assert [p.message for p in problems if p.severity == "error"] == []
    assert "decision text SPARE: not used by the recommender" in [p.message for p in problems]
    folder = texts_copy(lambda d: _entry(d, "SPARE").update(citations=[]))
    with pytest.raises(KnowledgeBaseError, match=r"decision_texts\.yaml: field 'texts\.\d+\.citations'"):
        load_knowledge(folder)
