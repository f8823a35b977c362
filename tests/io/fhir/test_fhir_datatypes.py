"""FHIR data types: numbers keep the units they were given, codings and coded answers are read leniently."""

from __future__ import annotations

from typing import Any

import pytest

from oncoline.io.fhir.codes import load_fhir_codes
from oncoline.io.fhir.datatypes import Context, answer, number, read_date, texts
from oncoline.io.fhir.report import IngestionReport
from oncoline.knowledge.drugs import load_vocabulary


def context() -> Context:
    return Context(codes=load_fhir_codes(), vocab=load_vocabulary(), report=IngestionReport(), as_of=None)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("valueInteger", 3, (3.0, [])),
        ("valueDecimal", 2.5, (2.5, [])),
        ("valueInteger", True, (None, [])),  # a boolean is not a number
        ("valueQuantity", {"value": 80, "unit": "%", "code": "%"}, (80.0, ["%", "%"])),
        ("valueQuantity", {"value": 3, "unit": "%"}, (3.0, ["%"])),
        ("valueQuantity", {"value": 2.2, "comparator": ">"}, (None, [])),
        ("valueQuantity", {"value": "3"}, (None, [])),
        ("valueRatio", {"numerator": {"value": 5}, "denominator": {"value": 2}}, (2.5, [])),
        ("valueRatio", {"numerator": {"value": 5}, "denominator": {"value": 0}}, (None, [])),
        ("valueString", " 40 % ", (40.0, ["%"])),
        ("valueString", "40", (40.0, [])),
        ("valueString", "about 40", (None, [])),
    ],
)
def test_numbers_come_with_the_units_they_were_given(key: str, value: Any, expected: Any) -> None:
    assert number(key, value) == expected


def test_an_answer_labelled_with_the_wrong_system_is_read_and_reported() -> None:
    ctx = context()
    cc = {"coding": [{"system": "http://loinc.org", "code": "260385009"}]}
    assert answer(ctx, cc, "Observation/x") == ("result", "negative")
    assert [f.code for f in ctx.report.problems] == ["wrong_system"]


def test_texts_are_the_concept_text_then_the_displays() -> None:
    cc = {"text": "HER2", "coding": [{"display": "a"}, {"display": ""}, {"code": "x"}]}
    assert texts(load_fhir_codes(), cc) == ["HER2", "a"]


@pytest.mark.parametrize(
    ("value", "precision", "finding"),
    [("2021-03", "month", "partial_date"), ("YYYY-MM-DD", None, "placeholder_date"), ("3/4/2021", None, "bad_date")],
)
def test_dates_keep_their_precision_and_defects_are_reported(value: str, precision: str | None, finding: str) -> None:
    ctx = context()
    pd = read_date(ctx, value, "Condition/c", "onsetDateTime")
    assert (pd.precision if pd else None) == precision
    assert finding in {f.code for f in ctx.report.findings}
