"""Patient summary: the new-user trial's findings (a patient and her carer), each pinned by a test.

Inputs mirror the trial's own patient files: C (second line after a first line stopped for lung toxicity, no
guideline for the step), B (HER2 IHC 2+ without ISH) and A (de novo, HR-positive, bone).
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from oncoline.cli.app import app
from oncoline.engines.recommend import recommend
from oncoline.io.patient_file import patient_from_mapping
from oncoline.knowledge.loader import load_knowledge
from oncoline.outputs.patient_summary import PatientSummary, summarize_for_patient
from oncoline.outputs.patient_summary.model import SectionId

ROOT = Path(__file__).resolve().parents[2]
ONCOLINE = str(Path(sys.executable).with_name("oncoline"))  # the installed entry point, as a user runs it
AS_OF = dt.date(2026, 12, 1)

PATIENT_C: dict[str, Any] = {
    "id": "C-2L",
    "age": 47,
    "sex": "female",
    "ecog": 1,
    "menopausal_status": "pre",
    "tumor": {"er_percent": 0, "pr_percent": 0, "her2": {"ihc": "3+"}},
    "presentation": "recurrent",
    "early_therapy": [
        {"setting": "adjuvant", "drugs": ["trastuzumab", "pertuzumab", "docetaxel", "carboplatin"], "end": "2022-03-01"}
    ],
    "metastatic_diagnosis": "2025-01-10",
    "sites": [
        {"site": "lung"},
        {"site": "brain", "status": "active", "lesions": 3, "largest_mm": 14, "symptomatic": False},
    ],
    "history": [
        {
            "line": 1,
            "drugs": ["trastuzumab deruxtecan", "pertuzumab"],
            "start": "2025-01-25",
            "end": "2026-10-20",
            "stopped": "toxicity",
            "toxicity": {"event": "interstitial lung disease", "grade": 2},
        }
    ],
    "conditions": {
        "lvef_percent": 58,
        "lvef_baseline_percent": 62,
        "ild_history": {"grade": 2, "drug": "trastuzumab deruxtecan"},
        "pregnant": False,
    },
}

PATIENT_B: dict[str, Any] = {
    "id": "B-2plus",
    "age": 52,
    "sex": "female",
    "ecog": 0,
    "menopausal_status": "post",
    "tumor": {"er_percent": 0, "pr_percent": 0, "her2": {"ihc": "2+"}},
    "presentation": "recurrent",
    "early_therapy": [
        {"setting": "adjuvant", "drugs": ["doxorubicin", "cyclophosphamide", "paclitaxel"], "end": "2021-06-01"}
    ],
    "metastatic_diagnosis": "2026-10-15",
    "sites": [{"site": "liver"}, {"site": "lung"}],
    "history": [],
    "conditions": {"lvef_percent": 60},
}

PATIENT_A: dict[str, Any] = {
    "id": "A-denovo",
    "age": 63,
    "sex": "female",
    "ecog": 1,
    "menopausal_status": "post",
    "tumor": {"er_percent": 90, "pr_percent": 40, "her2": {"ihc": "3+"}},
    "presentation": "de_novo",
    "metastatic_diagnosis": "2026-11-20",
    "sites": [{"site": "bone"}, {"site": "lymph_node"}],
    "history": [],
    "conditions": {"lvef_percent": 62, "pregnant": False},
}


def _summary(doc: dict[str, Any]) -> PatientSummary:
    patient = patient_from_mapping(doc, source="test")
    rec = recommend(patient, knowledge=load_knowledge(), as_of=AS_OF)
    return summarize_for_patient(rec, knowledge=load_knowledge(), patient=patient)


def _texts(summary: PatientSummary, section: SectionId) -> list[str]:
    sec = summary.section(section)
    assert sec is not None, section
    return [ln.text_id for ln in (*sec.intro, *(ln for item in sec.items for ln in item.lines))]


def _with_stop(stopped: str | None) -> dict[str, Any]:
    doc = yaml.safe_load(yaml.safe_dump(PATIENT_C))
    line = doc["history"][0]
    line.pop("toxicity")
    if stopped is None:
        line.pop("stopped")
    else:
        line["stopped"] = stopped
    return dict(doc)


def test_aim_tells_the_real_reason_the_last_line_stopped() -> None:
    aim = _texts(_summary(PATIENT_C), "aim")
    assert "STOP-TOXICITY" in aim and "STOP-PROGRESSION" not in aim
    assert "STOP-PROGRESSION" in _texts(_summary(_with_stop("progression")), "aim")
    assert "STOP-UNKNOWN" in _texts(_summary(_with_stop(None)), "aim")
    aim_section = _summary(PATIENT_C).section("aim")
    assert aim_section is not None
    text = " ".join(ln.text for ln in aim_section.intro)
    assert "grew" not in text and "side effects" in text


def test_no_guideline_options_say_so_and_never_claim_a_guide_lists_them_too() -> None:
    summary = _summary(PATIENT_C)
    options = summary.section("options")
    assert options is not None and options.items
    for item in options.items:
        first = item.lines[0]
        assert first.text_id == "STATUS-NO-GUIDELINE", first
        assert "too" not in first.text.split()
    ids = _texts(summary, "options")
    assert "CAT-OTHER" not in ids and "WHY-FLAGS" not in ids


def test_flags_become_specific_words_or_nothing() -> None:
    # the cureus example's flags are the expert divergence (explained by the statement's own text): no vague line
    from oncoline.app.examples import example_path
    from oncoline.app.recommend import recommend_document

    outcome = recommend_document(
        example_path("cureus-2025-de-novo-brain-mets"), as_of=dt.date(2026, 11, 29), today=dt.date.today()
    )
    summary = summarize_for_patient(outcome.recommendation, knowledge=load_knowledge(), patient=outcome.patient)
    assert "WHY-FLAGS" not in _texts(summary, "options")
    from oncoline.outputs.patient_summary.builder import _flag_statuses

    assert _flag_statuses(["off-label combination (ASCO/NCCN option)"]) == ["off_label"]
    assert _flag_statuses(["note: anthracycline-naive use is off-label", "caution: interaction"]) == [
        "off_label",
        "caution",
    ]
    assert _flag_statuses(["divergence: x", "UNCONFIRMED: y", "note: a label detail"]) == []
    assert _flag_statuses(["something new"]) == [""]  # an unknown flag keeps the generic sentence


def test_her2_wait_wording_fits_every_withheld_drug_one_bullet_each() -> None:
    summary = _summary(PATIENT_B)
    excluded = summary.section("excluded")
    assert excluded is not None
    item = next(i for i in excluded.items if "capecitabine" in i.names)
    assert not item.lines[0].text.startswith("HER2 drugs")  # capecitabine is not a HER2 drug
    assert "pertuzumab + trastuzumab + docetaxel" in item.names and all(";" not in n for n in item.names)
    # the aim does not promise HER2 drugs first when none is on the list
    aim = _texts(summary, "aim")
    assert "AIM-NO-HER2" in aim and "AIM-HER2-FIRST" not in aim and "ALG-FIRST-LINE" not in aim
    assert "AIM-HER2-FIRST" in _texts(_summary(PATIENT_A), "aim")


def test_watch_items_are_not_drug_labels_and_heart_scan_advice_is_given_once() -> None:
    for doc in (PATIENT_A, PATIENT_C):
        summary = _summary(doc)
        watch = summary.section("watch")
        assert watch is not None
        assert all(item.label is None for item in watch.items)
        text = " ".join(ln.text for item in watch.items for ln in item.lines)
        assert text.count("heart scan before you start") <= 1, text


def test_glossary_lists_only_words_the_summary_uses_and_dates_read_plainly() -> None:
    summary = _summary(PATIENT_B)
    glossary = summary.section("glossary")
    assert glossary is not None
    terms = [i.title.text for i in glossary.items if i.title is not None]
    assert "Radiosurgery" not in terms and "Bone drug" not in terms
    assert "1 December 2026" in summary.made.text


def _write(tmp_path: Path, doc: dict[str, Any]) -> str:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("reader", ["patient", "clinician"])
def test_a_closed_pipe_exits_141(tmp_path: Path, reader: str) -> None:
    patient = _write(tmp_path, PATIENT_A)
    proc = subprocess.Popen(
        [ONCOLINE, "recommend", patient, "--as-of", "2026-12-01", "--for", reader],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    proc.stdout.close()  # the reader went away before the first line (`| true`)
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 141, err


def test_a_full_disk_is_an_output_error_not_a_bug(tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    patient = _write(tmp_path, PATIENT_A)
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [ONCOLINE, "recommend", patient, "--as-of", "2026-12-01", "--for", "patient"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=240,
        )
    assert proc.returncode == 1, proc.stderr
    assert "cannot write the summary" in proc.stderr and "internal error" not in proc.stderr


def test_lang_is_checked_and_conflicting_options_are_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    patient = _write(tmp_path, PATIENT_A)
    base = ["recommend", patient, "--as-of", "2026-12-01"]
    for bad in ("xx", "", "../../etc/passwd", "<script>"):
        res = runner.invoke(app, [*base, "--for", "patient", "--lang", bad])
        assert res.exit_code == 2 and "available: en" in res.output, (bad, res.output)
    ok = runner.invoke(app, [*base, "--handout", str(tmp_path / "h.html"), "--lang", "EN"])
    assert ok.exit_code == 0, ok.output
    assert '<html lang="en">' in (tmp_path / "h.html").read_text(encoding="utf-8")
    both = runner.invoke(app, [*base, "--handout", str(tmp_path / "x.html"), "--json"])
    assert both.exit_code == 2 and "choose one" in both.output
    clin = runner.invoke(app, [*base, "--handout", str(tmp_path / "x.html"), "--for", "clinician"])
    assert clin.exit_code == 2 and not (tmp_path / "x.html").exists()
    nowhere = runner.invoke(app, [*base, "--handout", str(tmp_path / "no" / "dir" / "h.pdf")])
    assert nowhere.exit_code == 2 and "does not exist - create it" in nowhere.output


def test_handout_without_the_extra_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from oncoline.outputs.patient_summary import handout

    handout._environment.cache_clear()
    monkeypatch.setitem(sys.modules, "jinja2", None)  # import jinja2 → ImportError, as in a bare install
    try:
        args = [
            "recommend",
            _write(tmp_path, PATIENT_A),
            "--as-of",
            "2026-12-01",
            "--handout",
            str(tmp_path / "h.html"),
        ]
        res = CliRunner().invoke(app, args)
    finally:
        handout._environment.cache_clear()
    assert res.exit_code == 2, res.output
    assert 'pip install "oncoline[handout]"' in res.output and "internal error" not in res.output


def test_wording_the_trial_found_confusing_is_gone() -> None:
    en = (ROOT / "src/oncoline/knowledge/data/patient_texts/en.yaml").read_text(encoding="utf-8")
    assert "fits or weakness" not in en and "Do they cause problems?" not in en
    assert "a beam or surgery" not in en and "still has HER2" not in en
