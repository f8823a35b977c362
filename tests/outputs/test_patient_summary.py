"""Patient summary (issue 11): built from the recommendation and the plain-language texts only.

Every bundled example and every shared patient case: the options shown are exactly the clinician view's, every
missing fact is shown first, no entry lacks words, the whole summary reads at grade 8 or below on both indices.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from oncoline.app.examples import example_path, list_examples
from oncoline.app.recommend import recommend_document
from oncoline.cli.app import app
from oncoline.engines.recommend import recommend
from oncoline.errors import KnowledgeBaseError
from oncoline.io.patient_file import load_patient, patient_from_mapping
from oncoline.knowledge.loader import load_knowledge, read_files
from oncoline.knowledge.patient_texts import (
    ENGINE_MISSING_CODES,
    RECOMMENDATION_FIELDS,
    load_patient_texts,
    patient_text_problems,
)
from oncoline.knowledge.readability import GRADE_LIMIT, measure
from oncoline.model.recommendation import Option, Recommendation
from oncoline.outputs.patient_summary import build_patient_summary, summarize_for_patient

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = [e.name for e in list_examples()]  # the bundled examples (YAML and FHIR)
KB_DATE = dt.date(2026, 11, 29)


def _load_cases_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_shared_cases", ROOT / "tests" / "test_cases_patients.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CASES: list[tuple[str, dict[str, Any]]] = _load_cases_module().CASES


def _recommendation(name: str) -> Recommendation:
    kb = load_knowledge()
    if name.startswith("example:"):
        path = example_path(name.split(":", 1)[1])
        return recommend_document(path, as_of=KB_DATE, today=dt.date.today(), knowledge=kb).recommendation
    case = dict(CASES)[name]
    as_of = case.get("as_of") or KB_DATE
    return recommend(patient_from_mapping(case["patient"], source=name), knowledge=kb, as_of=as_of)


ALL = [f"example:{name}" for name in EXAMPLES] + [n for n, _ in CASES]


def test_every_example_and_shared_case_is_covered() -> None:
    assert len(EXAMPLES) >= 2 and len(CASES) >= 18
    assert any(n.startswith("real/") for n in ALL) and any(n.startswith("patients/") for n in ALL)


@pytest.mark.parametrize("name", ALL)
def test_summary_matches_the_clinician_view_and_reads_at_grade_8(name: str) -> None:
    rec = _recommendation(name)
    summary = summarize_for_patient(rec, knowledge=load_knowledge())
    # options: the same regimens, drugs, categories and order as the clinician view; nothing withheld is offered
    assert [(o.regimen, o.drugs, o.category) for o in summary.options] == [
        (o.regimen, o.drugs, o.category.value) for o in rec.options
    ]
    section = summary.section("options")
    assert section is not None
    labels = [item.label for item in section.items]
    assert labels == [" + ".join(o.drugs) for o in rec.options]
    withheld = {ex.drugs for ex in rec.excluded}
    assert not any(o.drugs in withheld for o in summary.options)
    # missing facts: all shown, and first
    assert summary.missing == tuple(m.code for m in rec.missing)
    if rec.missing:
        assert summary.sections[0].id == "missing"
        assert len(summary.sections[0].items) == len(rec.missing)
    # every action and monitoring entry has words; nothing falls back to "ask your care team"
    assert summary.gaps == ()
    # for discussion with the care team, date and knowledge version
    assert "care team" in summary.discuss.text
    assert f"{rec.as_of.day} {rec.as_of:%B %Y}" in summary.made.text and rec.kb_version in summary.made.text
    # reading level of the whole summary, as the reader sees it (headings and items as sentences)
    level = measure(summary.blocks())
    assert level.fk_grade <= GRADE_LIMIT and level.smog <= GRADE_LIMIT, (name, level)


def test_every_sentence_comes_from_the_texts() -> None:
    rec = _recommendation("example:cureus-2025-de-novo-brain-mets")
    summary = summarize_for_patient(rec, knowledge=load_knowledge())
    en = yaml.safe_load((ROOT / "src/oncoline/knowledge/data/patient_texts/en.yaml").read_text(encoding="utf-8"))
    by_id = {t["id"]: t for t in en["texts"]}
    for section in summary.sections:
        for line in (section.heading, *section.intro, *(ln for item in section.items for ln in item.lines)):
            template = by_id[line.text_id]["text"]
            assert "{" in template or line.text == template
    assert summary.made.text == by_id["F-MADE"]["text"].format(date="29 November 2026", version=rec.kb_version)


def test_no_options_when_her2_is_missing_and_the_test_is_asked_for() -> None:
    rec = _recommendation("patients/p-her2-missing")
    summary = summarize_for_patient(rec, knowledge=load_knowledge())
    assert rec.options == () and summary.options == ()
    first = summary.sections[0]
    assert first.id == "missing" and "one more test" in first.intro[0].text
    assert "HER2 test" in first.items[0].lines[0].text
    options = summary.section("options")
    assert options is not None and options.items == () and options.intro[0].text_id == "F-NO-OPTIONS"


def test_side_effects_to_report_at_once_follow_the_options() -> None:
    rec = _recommendation("example:cureus-2025-de-novo-brain-mets")
    watch = summarize_for_patient(rec, knowledge=load_knowledge()).section("watch")
    assert watch is not None
    text = " ".join(line.text for item in watch.items for line in item.lines)
    assert "new cough" in text  # T-DXd is an option
    assert "heart scan" in text  # HER2 antibodies
    assert "numbness" in text  # taxanes
    assert "diarrhoea" not in text.lower()  # no tucatinib / neratinib among the options


def test_a_new_action_without_a_text_is_shown_with_the_generic_sentence_not_dropped() -> None:
    rec = _recommendation("example:cureus-2025-de-novo-brain-mets")
    from oncoline.model.recommendation import Action

    odd = rec.model_copy(update={"actions": (*rec.actions, Action(code="new_code", text="x", rule="ACT-NEW"))})
    summary = summarize_for_patient(odd, knowledge=load_knowledge())
    other = summary.section("other")
    assert other is not None and other.items[-1].lines[0].text_id == "F-NO-TEXT"
    assert summary.gaps == ("action:ACT-NEW:care",)


def test_texts_answer_as_of_the_decision_date() -> None:
    texts = load_patient_texts("en")
    assert texts.pick("regimen", "tdxd_p", "what", as_of=dt.date(2026, 1, 1)) is not None
    assert texts.pick("regimen", "tdxd_p", "what", as_of=dt.date(2024, 2, 1)) is None  # DESTINY-Breast09: 2025
    old = recommend(
        load_patient(ROOT / "examples/cureus-2025-de-novo-brain-mets.yaml"),
        knowledge=load_knowledge(),
        as_of=dt.date(2024, 2, 1),
    )
    summary = summarize_for_patient(old, knowledge=load_knowledge())
    assert summary.gaps == ()
    assert "WHY-1L-DIVERGE-THP" not in summary.text_ids()  # rests on DESTINY-Breast09 (2025)


def test_version_mismatch_is_a_knowledge_error() -> None:
    rec = _recommendation("example:cureus-2025-de-novo-brain-mets")
    with pytest.raises(KnowledgeBaseError, match="version"):
        build_patient_summary(
            rec.model_copy(update={"kb_version": "1999.01.01"}), texts=load_patient_texts(), knowledge=load_knowledge()
        )


def _kb_copy(tmp_path: Path) -> Path:
    src = ROOT / "src/oncoline/knowledge/data"
    for f in src.glob("*.yaml"):
        shutil.copy(f, tmp_path / f.name)
    shutil.copytree(src / "patient_texts", tmp_path / "patient_texts")
    return tmp_path


def test_missing_translation_falls_back_to_english_and_says_so(tmp_path: Path) -> None:
    data = _kb_copy(tmp_path)
    fr = {
        "schema": "oncoline.kb.patient_texts/1",
        "version": "2026.11.29",
        "language": "fr",
        "effective": "2026-11-29",
        "texts": [
            {
                "id": "FR-H-OPTIONS",
                "part": "frame",
                "explains": {"kind": "summary", "id": "heading_options"},
                "text": "Quels sont mes choix ?",
                "citations": ["ONC-REF"],
                "effective": "2012-06-08",
            }
        ],
    }
    (data / "patient_texts" / "fr.yaml").write_text(yaml.safe_dump(fr, allow_unicode=True), encoding="utf-8")
    rec = _recommendation("example:cureus-2025-de-novo-brain-mets")
    summary = summarize_for_patient(rec, knowledge=load_knowledge(), language="fr", data_dir=data)
    options = summary.section("options")
    assert options is not None and options.heading.text == "Quels sont mes choix ?" and not options.heading.fallback
    assert summary.fallback_note is not None and "(fr)" in summary.fallback_note.text
    assert summary.title.fallback  # English stands in, marked
    # a language with no file at all: everything English, said so
    de = summarize_for_patient(rec, knowledge=load_knowledge(), language="de", data_dir=data)
    assert de.fallback_note is not None and "(de)" in de.fallback_note.text
    en = summarize_for_patient(rec, knowledge=load_knowledge())
    assert en.fallback_note is None
    # kb lint: the partial translation is fine (English beneath), not measured (warning)
    errors, warnings = patient_text_problems(read_files(data), data)
    assert errors == [] and any("fr.yaml" in w for w in warnings)


def _edit_en(data: Path, edit: Any) -> Path:
    path = data / "patient_texts" / "en.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(doc)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return data


def _lint(data: Path) -> list[str]:
    return patient_text_problems(read_files(data), data)[0]


def test_lint_fails_a_text_above_grade_8(tmp_path: Path) -> None:
    hard = (
        "Trastuzumab deruxtecan is an antibody-drug conjugate comprising a humanised monoclonal immunoglobulin "
        "covalently linked to a topoisomerase inhibitor via a cleavable tetrapeptide-based linker."
    )

    def edit(doc: dict[str, Any]) -> None:
        next(t for t in doc["texts"] if t["id"] == "REG-TDXD-WHAT")["text"] = hard

    errors = _lint(_edit_en(_kb_copy(tmp_path), edit))
    assert any("REG-TDXD-WHAT" in e and "grade" in e for e in errors), errors


def test_lint_fails_a_text_not_tied_to_a_knowledge_entry(tmp_path: Path) -> None:
    def edit(doc: dict[str, Any]) -> None:
        doc["texts"].append(
            {
                "id": "REG-NOWHERE",
                "part": "what",
                "explains": {"kind": "regimen", "id": "no_such_regimen"},
                "text": "A drug.",
                "citations": ["ONC-REF"],
                "effective": "2012-06-08",
            }
        )

    errors = _lint(_edit_en(_kb_copy(tmp_path), edit))
    assert any("REG-NOWHERE" in e and "no_such_regimen" in e for e in errors), errors


def test_lint_fails_a_gap_a_dangling_source_and_a_text_before_its_source(tmp_path: Path) -> None:
    def edit(doc: dict[str, Any]) -> None:
        doc["texts"] = [t for t in doc["texts"] if t["id"] != "WATCH-LUNG-TDXD"]
        next(t for t in doc["texts"] if t["id"] == "CARE-BONE")["citations"].append("NO-SUCH-SOURCE")
        next(t for t in doc["texts"] if t["id"] == "REG-TDXDP-WHAT")["effective"] = "2020-01-01"

    errors = _lint(_edit_en(_kb_copy(tmp_path), edit))
    assert any("MON-ILD-TDXD" in e for e in errors), errors
    assert any("CARE-BONE" in e and "NO-SUCH-SOURCE" in e for e in errors), errors
    assert any("REG-TDXDP-WHAT" in e and "DESTINY-Breast09" in e for e in errors), errors


def test_kb_lint_cli_fails_on_a_bad_patient_text(tmp_path: Path) -> None:
    def edit(doc: dict[str, Any]) -> None:
        next(t for t in doc["texts"] if t["id"] == "MISS-HER2")["explains"]["id"] = "no_such_code"

    data = _edit_en(_kb_copy(tmp_path), edit)
    result = CliRunner().invoke(app, ["kb", "lint", "--data-dir", str(data)])
    assert result.exit_code == 3 and "no_such_code" in result.output


def test_packaged_texts_pass_lint() -> None:
    assert patient_text_problems(read_files()) == ([], [])


def test_recommendation_fields_the_texts_name_exist() -> None:
    for name in RECOMMENDATION_FIELDS:
        head, _, tail = name.partition(".")
        assert head in Recommendation.model_fields, name
        assert not tail or tail in Option.model_fields, name


def test_every_missing_code_the_her2_classifier_can_ask_for_has_words() -> None:
    from oncoline.engines.her2 import classify_her2
    from oncoline.model.patient import Her2Raw

    codes: set[str] = set()
    for ihc in (None, "0", "ultralow", "1+", "2+", "3+"):
        for ratio in (None, 1.5, 2.5):
            for copies in (None, 3.0, 5.0, 7.0):
                for ish_result in (None, "positive", "negative", "equivocal"):
                    for recount in (None, True, False):
                        fields = {"ihc": ihc, "ish_ratio": ratio, "her2_copies": copies, "ish_result": ish_result}
                        fields["recount_confirmed"] = recount
                        try:
                            raw = Her2Raw(**{k: v for k, v in fields.items() if v is not None})
                        except ValueError:
                            continue
                        code = classify_her2(raw).next_test
                        if code:
                            codes.add(code)
    for status in ("positive", "negative", "equivocal"):
        code = classify_her2(Her2Raw(status=status)).next_test
        if code:
            codes.add(code)
    assert codes and codes <= ENGINE_MISSING_CODES, codes - ENGINE_MISSING_CODES


def test_cli_for_patient_piped_and_json(tmp_path: Path) -> None:
    example = str(ROOT / "examples/cureus-2025-de-novo-brain-mets.yaml")
    runner = CliRunner()
    shown = runner.invoke(app, ["recommend", example, "--for", "patient", "--as-of", "2026-11-29"])
    assert shown.exit_code == 0, shown.output
    assert "What are my options?" in shown.stdout and "\x1b[" not in shown.stdout  # piped: no colour codes
    assert "for talking with your care team" in shown.stdout and "2026.11.29" in shown.stdout
    as_json = runner.invoke(app, ["recommend", example, "--for", "patient", "--json", "--as-of", "2026-11-29"])
    data = json.loads(as_json.stdout)
    assert [o["regimen"] for o in data["options"]][:2] == ["thp", "tdxd_p"]
    bad = runner.invoke(app, ["recommend", example, "--for", "nurse"])
    assert bad.exit_code == 2 and "--for" in bad.output
    wrong = runner.invoke(app, ["recommend", example, "--handout", str(tmp_path / "x.docx")])
    assert wrong.exit_code == 2 and ".pdf" in wrong.output


@pytest.mark.parametrize(("name", "case"), CASES, ids=[n for n, _ in CASES])
def test_no_entry_lacks_words_at_any_decision_date(name: str, case: dict[str, Any]) -> None:
    """Texts are dated like the knowledge: on every date the knowledge answers for, each shown entry has a text."""
    kb = load_knowledge()
    patient = patient_from_mapping(case["patient"], source=name)
    days = [dt.date.fromisoformat(d) for d in ("2013-01-01", "2019-06-01", "2020-06-01", "2022-06-01", "2024-06-01")]
    days = [d for d in (*days, dt.date(2026, 2, 1)) if not patient.dates_after(d)] + [KB_DATE]  # no data after as_of
    for day in days:
        rec = recommend(patient, knowledge=kb, as_of=day)
        assert summarize_for_patient(rec, knowledge=kb).gaps == (), (name, day)
