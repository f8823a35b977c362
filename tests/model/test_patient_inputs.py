"""Patient inputs that must never be silently wrong (issue 12 items 2, 3 (patient model) and 4).

Each test is built from a minimal input and fails on the code before the fix: a missing receptor read as negative,
a number read as a Unix-time date, a history entry written twice counted as a further line.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from rich.console import Console

from oncoline.engines.recommend import recommend
from oncoline.errors import InputError
from oncoline.io.patient_file import load_patient
from oncoline.knowledge.loader import load_knowledge
from oncoline.model import Patient
from oncoline.model.recommendation import Recommendation
from oncoline.outputs.recommendation_view import render_recommendation

AS_OF = dt.date(2026, 10, 1)
THP = ["pertuzumab", "trastuzumab", "docetaxel"]


def _patient(tumor: dict[str, Any], **extra: Any) -> Patient:
    base: dict[str, Any] = {
        "id": "T",
        "menopausal_status": "post",
        "tumor": {"her2": {"ihc": "3+"}, **tumor},
        "metastatic_diagnosis": "2025-09-01",
        "sites": [{"site": "liver"}],
    }
    return Patient.model_validate({**base, **extra})


def _run(p: Patient) -> Recommendation:
    return recommend(p, knowledge=load_knowledge(), as_of=AS_OF)


def _endocrine_or_cdk(rec: Recommendation) -> list[tuple[str, ...]]:
    kb = load_knowledge()
    return [
        o.drugs
        for o in rec.options
        if any(kb.in_class(d, "endocrine_therapy") or kb.in_class(d, "cdk46_inhibitor") for d in o.drugs)
    ]


# ------------------------------------------------------------------ item 2: a missing receptor is not negative
INDUCTION = [{"drugs": THP, "start": "2025-09-10", "stopped": "ongoing", "best_response": "PR"}]


@pytest.mark.parametrize(
    ("tumor", "absent"),
    [({"er_percent": 0}, "PR"), ({"pr_percent": 0}, "ER"), ({"er_status": "negative"}, "PR"), ({}, "ER and PR")],
)
def test_a_missing_receptor_leaves_hr_status_unknown_and_names_the_result(tumor: dict[str, Any], absent: str) -> None:
    p = _patient(tumor, history=INDUCTION)
    assert p.tumor.hr_positive is None
    rec = _run(p)
    assert rec.hr_status == "unknown"
    hr = [m for m in rec.missing if m.code == "hr_status"]
    assert len(hr) == 1 and f"{absent} not reported" in hr[0].text
    assert _endocrine_or_cdk(rec) == []
    # HR-negative-only maintenance (tucatinib + HP, HER2CLIMB-05 HR− population) is not offered on a guess either
    assert all("tucatinib" not in o.drugs for o in rec.options)


def test_the_readable_view_says_which_receptor_result_is_missing() -> None:
    rec = _run(_patient({"er_percent": 0}))
    buf = io.StringIO()
    render_recommendation(rec, console=Console(file=buf, width=200))
    text = buf.getvalue()
    assert "hormone receptors unknown" in text
    assert "PR not reported (ER 0 %)" in text
    assert "pr_percent" in text


def test_both_receptors_below_one_percent_are_hr_negative_and_one_positive_is_enough() -> None:
    assert _run(_patient({"er_percent": 0, "pr_percent": 0})).hr_status == "negative"
    assert _run(_patient({"er_percent": 0.5, "pr_percent": 0})).hr_status == "negative"
    assert _run(_patient({"pr_percent": 5})).hr_status == "positive"  # ER unknown, PR positive decides
    assert _run(_patient({"er_percent": 30})).hr_status == "positive"


def test_a_lab_hr_status_decides_when_a_receptor_is_missing_and_must_agree_otherwise() -> None:
    rec = _run(_patient({"er_percent": 0, "hr_status": "negative"}))
    assert rec.hr_status == "negative"
    assert not any(m.code == "hr_status" for m in rec.missing)
    assert _run(_patient({"hr_status": "positive"})).hr_status == "positive"
    with pytest.raises(ValidationError, match="hr_status 'negative' contradicts"):
        _patient({"er_percent": 40, "hr_status": "negative"})


# ------------------------------------------------------------------ item 3: numbers are not dates
@pytest.mark.parametrize("value", [0, 1718409600, "1718409600", 1.7e9, True, "01/05/2022", "20240615"])
@pytest.mark.parametrize(
    ("path", "build"),
    [
        ("metastatic_diagnosis", lambda v: {"metastatic_diagnosis": v}),
        ("recurrence_date", lambda v: {"recurrence_date": v}),
        ("as_of", lambda v: {"as_of": v}),
        ("history.0.start", lambda v: {"history": [{"drugs": THP, "start": v}]}),
        ("history.0.end", lambda v: {"history": [{"drugs": THP, "start": "2020-01-01", "end": v}]}),
        ("early_therapy.0.end", lambda v: {"early_therapy": [{"setting": "adjuvant", "drugs": THP, "end": v}]}),
        ("exposures.0.start", lambda v: {"exposures": [{"drug": "trastuzumab", "start": v}]}),
    ],
)
def test_a_number_or_other_text_in_a_date_field_is_refused_with_the_form(path: str, build: Any, value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        Patient.model_validate({"tumor": {"her2": {"ihc": "3+"}}, **build(value)})
    errors = info.value.errors()
    assert [".".join(str(x) for x in e["loc"]) for e in errors] == [path]
    assert "YYYY-MM-DD" in errors[0]["msg"]


def test_iso_dates_and_date_objects_are_still_read() -> None:
    p = Patient.model_validate({"metastatic_diagnosis": " 2024-06-15 ", "recurrence_date": dt.date(2024, 6, 1)})
    assert p.metastatic_diagnosis == dt.date(2024, 6, 15)
    assert p.recurrence_date == dt.date(2024, 6, 1)
    with pytest.raises(ValidationError):
        Patient.model_validate({"metastatic_diagnosis": "2023-02-29"})


def test_a_file_with_a_number_for_a_date_names_file_field_and_fix(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text('tumor: {her2: {ihc: "3+"}}\nmetastatic_diagnosis: 0\n', encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_patient(f)
    text = str(info.value)
    assert "p.yaml" in text and "metastatic_diagnosis" in text and "YYYY-MM-DD" in text


# ------------------------------------------------------------------ item 4: a line written twice is not two lines
LINE1 = {"line": 1, "drugs": THP, "start": "2025-09-10", "end": "2026-03-01", "stopped": "progression"}


def test_the_same_history_entry_twice_is_refused_naming_both_entries() -> None:
    with pytest.raises(ValidationError, match=r"history\[0\] .* and history\[1\] are the same line written twice"):
        _patient({}, history=[LINE1, {**LINE1, "line": 2}])


def test_overlapping_history_entries_are_refused_naming_both_entries() -> None:
    second = {"drugs": ["trastuzumab deruxtecan"], "start": "2026-01-05", "stopped": "ongoing"}
    with pytest.raises(
        ValidationError, match=r"history\[1\] \(pertuzumab .* and history\[0\] \(trastuzumab deruxtecan.* overlap"
    ):
        _patient({}, history=[second, LINE1])
    split = {"drugs": ["docetaxel"], "start": "2025-09-10", "end": "2026-01-01", "stopped": "completed"}
    with pytest.raises(ValidationError, match="overlap"):
        _patient({}, history=[{**LINE1, "drugs": ["pertuzumab", "trastuzumab"]}, split])


def test_lines_that_touch_are_two_lines() -> None:
    nxt = {"drugs": ["trastuzumab deruxtecan"], "start": "2026-03-01", "stopped": "ongoing"}
    rec = _run(_patient({"er_percent": 0, "pr_percent": 0}, history=[LINE1, nxt]))
    assert rec.line == 2
