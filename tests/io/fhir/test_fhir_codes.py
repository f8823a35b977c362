"""The FHIR code tables and the rules read from them: accepted units and the free-text HER2 IHC rules (data in
knowledge/data/fhir_codes.yaml, checked when loaded)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from oncoline.errors import KnowledgeBaseError
from oncoline.io.fhir.codes import FhirCodes, _Raw, load_fhir_codes


def raw_yaml() -> dict[str, Any]:
    from importlib import resources

    text = resources.files("oncoline.knowledge").joinpath("data/fhir_codes.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


@pytest.mark.parametrize(
    ("kind", "units", "accepted"),
    [
        ("her2_ihc", [], True),
        ("her2_ihc", ["{score}"], True),
        ("her2_ihc", ["%"], False),
        ("receptor_percent", [], False),
        ("receptor_percent", ["%", "percent"], True),
        ("receptor_percent", ["%", "{score}"], False),  # code and unit must both be a percent
        ("her2_copies", ["{copies}/{nucleus}"], True),
        ("her2_ish_ratio", ["%"], False),
        ("lvef", [], True),
        ("lvef", [" % "], True),
    ],
)
def test_units_accepted_per_kind_of_value(kind: str, units: list[str], accepted: bool) -> None:
    assert load_fhir_codes().unit_accepted(kind, units) is accepted


def test_a_kind_without_units_in_the_data_is_a_knowledge_error() -> None:
    with pytest.raises(KnowledgeBaseError, match="value_units has no entry 'nonsense'"):
        load_fhir_codes().unit_accepted("nonsense", [])


@pytest.mark.parametrize(
    ("text", "score", "why"),
    [
        ("Positive (Score 3+)", "3+", None),
        ("Negative (Score 0)", "0", None),
        ("HER2 (4B5) 1+", "1+", None),
        ("ultra-low", "ultralow", None),
        ("negative (3+ control)", None, "control or reference wording"),
        ("3+ vs 2+", None, "2 scores in one text"),
        ("score 3+ (not amplified)", None, '"not amplified" (negative) contradicts the score 3+'),
        ("score 0, amplified", None, '"amplified" (positive) contradicts the score 0'),
        ("2+, 30 % of cells", None, "ambiguous wording"),
        ("3+ in sample 2", None, "another number besides the score"),
        ("indeterminate 2+", None, "(indeterminate) contradicts"),
        ("HER2 positive", None, None),  # no score: the whole-text result words decide elsewhere
        ("HER2+", None, None),
    ],
)
def test_free_text_ihc_scores_are_read_only_when_unambiguous(text: str, score: str | None, why: str | None) -> None:
    reading = load_fhir_codes().ihc_text(text)
    assert reading.score == score
    assert (reading.unreadable is None) if why is None else (why in (reading.unreadable or "")), reading


def test_score_results_agree_with_asco_cap() -> None:
    codes = load_fhir_codes()
    assert [codes.ihc_score_result(s) for s in ("0", "ultralow", "1+", "2+", "3+")] == [
        "negative",
        "negative",
        "negative",
        "equivocal",
        "positive",
    ]


def test_a_bad_pattern_in_the_free_text_rules_fails_loading() -> None:
    data = raw_yaml()
    data["her2_ihc_text"]["score_patterns"].append("([0-3]")
    with pytest.raises(KnowledgeBaseError, match="bad pattern"):
        FhirCodes(_Raw.model_validate(data))


def test_free_text_rules_must_map_every_score_to_a_result() -> None:
    data = raw_yaml()
    del data["her2_ihc_text"]["score_results"]["3+"]
    with pytest.raises(KnowledgeBaseError, match="lacks a known result for 3\\+"):
        FhirCodes(_Raw.model_validate(data))
