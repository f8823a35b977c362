"""The knowledge base: loading, provenance, as-of filtering and `kb lint` (house style S2, S3)."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from oncoline.cli.app import app
from oncoline.cli.common import EXIT_KB
from oncoline.errors import KnowledgeBaseError
from oncoline.knowledge.lint import lint_knowledge
from oncoline.knowledge.loader import KNOWLEDGE_FILES, load_knowledge


def test_packaged_knowledge_loads_with_one_version_and_headers() -> None:
    kb = load_knowledge()
    assert kb.version == "2026.11.29"
    assert set(kb.headers) == set(KNOWLEDGE_FILES)
    for stem, header in kb.headers.items():
        assert header.schema_ == f"oncoline.kb.{stem}/1"
        assert header.effective <= dt.date(2026, 11, 29)


def test_sources_hold_the_reference_keys_and_her2_testing_guidelines() -> None:
    kb = load_knowledge()
    for key in ("ASCO-HER2-2022", "ASCO-BM-2022", "ASCOCAP-2018", "ASCOCAP-2023", "NCCN-preDB09", "ONC-REF",
                "LBL-ENHERTU", "CLEOPATRA", "DESTINY-Breast03", "DESTINY-Breast09", "HER2CLIMB"):  # fmt: skip
        assert key in kb.sources
    assert kb.sources["NCCN-2026"].status == "unconfirmed"
    assert kb.sources["DESTINY-Breast09"].doi == "10.1056/NEJMoa2508668"


def test_statements_as_of_filter_by_effective_date() -> None:
    kb = load_knowledge()
    ids_before = {s.id for s in kb.statements_as_of(dt.date(2025, 12, 14))}
    ids_after = {s.id for s in kb.statements_as_of(dt.date(2025, 12, 15))}
    assert "S1L-TDXDP" not in ids_before and "S1L-TDXDP" in ids_after
    assert "S1L-THP" in ids_before


def test_expand_resolves_classes_and_drugs() -> None:
    kb = load_knowledge()
    assert kb.expand(("aromatase_inhibitor",)) == {"letrozole", "anastrozole", "exemestane"}
    assert kb.expand(("Kadcyla",)) == {"trastuzumab emtansine"}


def test_packaged_knowledge_lints_without_errors() -> None:
    assert [p for p in lint_knowledge() if p.severity == "error"] == []


# ------------------------------------------------------------------------------------------ broken copies
@pytest.fixture
def kb_copy(tmp_path: Path) -> Callable[[str, Callable[[dict], None]], Path]:
    """Copy the packaged knowledge to tmp_path and apply one edit to one file."""
    data = resources.files("oncoline.knowledge").joinpath("data")
    for stem in KNOWLEDGE_FILES:
        with resources.as_file(data.joinpath(f"{stem}.yaml")) as src:
            shutil.copy(src, tmp_path / f"{stem}.yaml")

    def edit(stem: str, change: Callable[[dict], None]) -> Path:
        path = tmp_path / f"{stem}.yaml"
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        change(doc)
        path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
        return tmp_path

    return edit


def _errors(path: Path) -> list[str]:
    return [p.message for p in lint_knowledge(path) if p.severity == "error"]


def test_lint_fails_on_a_statement_without_a_source(kb_copy: Callable[..., Path]) -> None:
    path = kb_copy("statements", lambda d: d["statements"][0].update(citations=[]))
    errors = _errors(path)
    assert len(errors) == 1 and "citations" in errors[0]
    with pytest.raises(KnowledgeBaseError):
        load_knowledge(path)


def test_lint_fails_on_a_dangling_reference(kb_copy: Callable[..., Path]) -> None:
    path = kb_copy("statements", lambda d: d["statements"][0]["citations"].append("NO-SUCH-SOURCE"))
    assert any("unknown source 'NO-SUCH-SOURCE'" in e for e in _errors(path))


def test_lint_fails_on_an_unknown_drug(kb_copy: Callable[..., Path]) -> None:
    path = kb_copy("regimens", lambda d: d["regimens"][0]["drugs"].append("trastuzumabb"))
    assert any("unknown drug or class 'trastuzumabb'" in e and "trastuzumab" in e for e in _errors(path))


def test_lint_fails_on_a_contradicting_statement_pair(kb_copy: Callable[..., Path]) -> None:
    def duplicate(doc: dict) -> None:
        twin = dict(doc["statements"][0], id="S1L-THP-TWIN", category="other")
        doc["statements"].append(twin)

    path = kb_copy("statements", duplicate)
    assert any("S1L-THP-TWIN" in e and "same population" in e for e in _errors(path))


def test_lint_fails_on_contradicting_safety_severities(kb_copy: Callable[..., Path]) -> None:
    def soften(doc: dict) -> None:
        rule = next(r for r in doc["rules"] if r["id"] == "SAF-LVEF-LT40")
        doc["rules"].append(dict(rule, id="SAF-LVEF-LT40-SOFT", severity="caution"))

    path = kb_copy("safety", soften)
    assert any("SAF-LVEF-LT40-SOFT" in e for e in _errors(path))


def test_lint_fails_on_a_statement_that_a_contraindication_always_blocks(kb_copy: Callable[..., Path]) -> None:
    def pregnant_thp(doc: dict) -> None:
        doc["statements"].append(
            {"id": "S-BAD", "regimen": "thp", "her2_scope": "positive", "when": {"pregnant": True},
             "category": "preferred", "citations": ["ONC-REF"], "effective": "2020-01-01", "rationale": "x"}
        )  # fmt: skip

    path = kb_copy("statements", pregnant_thp)
    assert any("S-BAD" in e and "SAF-PREG-HER2" in e for e in _errors(path))


def test_lint_fails_on_unconfirmed_source_not_flagged(kb_copy: Callable[..., Path]) -> None:
    def cite(doc: dict) -> None:
        next(s for s in doc["statements"] if s["id"] == "S2L-TDM1")["citations"].append("NCCN-2026")

    path = kb_copy("statements", cite)
    assert any("UNCONFIRMED" in e and "S2L-TDM1" in e for e in _errors(path))


def test_kb_lint_cli_exit_codes(kb_copy: Callable[..., Path]) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["kb", "lint"])
    assert ok.exit_code == 0, ok.output
    bad = kb_copy("statements", lambda d: d["statements"][0]["citations"].append("NO-SUCH-SOURCE"))
    failed = runner.invoke(app, ["kb", "lint", "--data-dir", str(bad)])
    assert failed.exit_code == EXIT_KB
    assert "NO-SUCH-SOURCE" in failed.output


def test_kb_show_summary_and_entry() -> None:
    runner = CliRunner()
    summary = runner.invoke(app, ["kb", "show", "--json"])
    assert summary.exit_code == 0 and '"version": "2026.11.29"' in summary.stdout
    entry = runner.invoke(app, ["kb", "show", "S2L-TDXD"])
    assert entry.exit_code == 0 and "regimen: tdxd" in entry.stdout
    assert runner.invoke(app, ["kb", "show", "NOPE"]).exit_code == 1


# ------------------------------------------------------------------------------------------ as of (issue #2)
def _by_id(items: list[dict], key: str) -> dict:
    return next(i for i in items if i["id"] == key)


def test_lint_fails_on_a_statement_taking_effect_before_a_source_it_cites(kb_copy: Callable[..., Path]) -> None:
    # S2L-TDXD rests on ASCO-HER2-2022 (31 May 2022): dating it at the 4 May 2022 label is the issue #2 bug
    path = kb_copy("statements", lambda d: _by_id(d["statements"], "S2L-TDXD").update(effective="2022-05-04"))
    errors = _errors(path)
    assert len(errors) == 1
    assert "S2L-TDXD takes effect 2022-05-04, before ASCO-HER2-2022 (2022-05-31)" in errors[0]


def test_lint_fails_on_a_source_without_a_date(kb_copy: Callable[..., Path]) -> None:
    def undate(doc: dict) -> None:
        _by_id(doc["sources"], "EMILIA").pop("published")

    errors = _errors(kb_copy("sources", undate))
    assert len(errors) == 1 and "EMILIA" in errors[0] and "published" in errors[0]


def test_every_source_has_a_date_and_no_statement_predates_its_sources() -> None:
    kb = load_knowledge()
    for stmt in kb.statements:
        for cite in stmt.citations:
            src = kb.sources[cite]
            assert not src.dates_knowledge or src.date <= stmt.effective, (stmt.id, cite)


def test_lint_fails_on_a_renal_band_rule_without_the_worse_band(kb_copy: Callable[..., Path]) -> None:
    # issue #3: T-DXd had a caution for CrCl 30-60 and nothing below 30
    def drop(doc: dict) -> None:
        doc["rules"] = [r for r in doc["rules"] if r["id"] != "SAF-ILD-RENAL-SEVERE"]

    errors = _errors(kb_copy("safety", drop))
    assert len(errors) == 1
    assert "SAF-ILD-RENAL covers CrCl 30.0-60.0" in errors[0] and "trastuzumab deruxtecan" in errors[0]


def test_statements_in_disjoint_periods_do_not_contradict(kb_copy: Callable[..., Path]) -> None:
    # the era statement (T-DM1 preferred until 4 May 2022) and today's (T-DM1 other) never hold on one day
    assert _errors(kb_copy("statements", lambda d: None)) == []

    def overlap(doc: dict) -> None:
        era = _by_id(doc["statements"], "SE-2L-TDM1")
        era.pop("expires")
        era["when"] = _by_id(doc["statements"], "S2L-TDM1")["when"]  # same population (today's excludes post-T-DXd)

    errors = _errors(kb_copy("statements", overlap))
    assert any("SE-2L-TDM1" in e and "S2L-TDM1" in e for e in errors)
