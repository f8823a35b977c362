"""HER2 classification against the ASCO/CAP 2018 table row by row (reference §g) and as properties."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from oncoline.engines.her2 import classify_her2, ish_group
from oncoline.model import Her2Raw


def _cases(case_path: Callable[[str], Path]) -> list[dict[str, object]]:
    return [d for d in yaml.safe_load_all(case_path("her2/asco-cap-2018.yaml").read_text()) if d]


def test_shared_her2_cases(case_path: Callable[[str], Path]) -> None:
    cases = _cases(case_path)
    assert len(cases) >= 15
    for case in cases:
        result = classify_her2(Her2Raw.model_validate(case["input"]))
        expected = case["expected"]
        assert isinstance(expected, dict)
        got = {k: getattr(result, k) for k in expected}
        assert got == expected, case["id"]


@pytest.mark.parametrize(
    ("ratio", "copies", "group"),
    [
        (2.0, 4.0, 1),  # ">= 2.0" and ">= 4.0" include the boundary
        (5.0, 10.0, 1),
        (2.0, 3.99, 2),
        (1.99, 6.0, 3),
        (1.99, 5.99, 4),
        (1.99, 4.0, 4),
        (1.99, 3.99, 5),
    ],
)
def test_ish_group_boundaries(ratio: float, copies: float, group: int) -> None:
    assert ish_group(ratio, copies) == group


@pytest.mark.parametrize(
    ("raw", "status", "category", "next_test"),
    [
        ({}, "missing", "missing", "her2_status"),
        ({"ihc": "2+"}, "equivocal", "equivocal", "reflex_ish"),
        ({"ihc": "3+"}, "positive", "HER2-positive", None),
        # Group 2/3/4 with IHC 2+ and a recount that disagreed: adjudicate (§g.2)
        (
            {"ihc": "2+", "ish_ratio": 2.2, "her2_copies": 3.5, "recount_confirmed": False},
            "equivocal",
            "equivocal",
            "adjudicate",
        ),
        # worked outcomes of §g.4
        ({"ihc": "1+", "ish_ratio": 1.8, "her2_copies": 6.4}, "negative", "HER2-low", None),
        ({"ihc": "0", "ish_ratio": 2.2, "her2_copies": 3.5}, "negative", "HER2-0", None),
        ({"ihc": "ultralow", "ish_ratio": 2.2, "her2_copies": 3.5}, "negative", "HER2-ultralow", None),
        # group 1 is positive regardless of IHC 0/1+
        ({"ihc": "0", "ish_ratio": 2.5, "her2_copies": 5.0}, "positive", "HER2-positive", None),
        # single-probe ISH (§g.3)
        ({"her2_copies": 6.0, "single_probe": True}, "positive", "HER2-positive", None),
        ({"ihc": "2+", "her2_copies": 5.0, "single_probe": True}, "equivocal", "equivocal", "dual_probe_ish"),
        ({"ihc": "1+", "her2_copies": 5.0, "single_probe": True}, "negative", "HER2-low", None),
        ({"her2_copies": 3.0, "single_probe": True}, "negative", "HER2-negative", "her2_ihc_score"),
        # dual-probe ISH with one number missing: decided only when every possible group agrees
        ({"ihc": "0", "ish_ratio": 2.5}, "equivocal", "equivocal", "ish_copies"),
        ({"ihc": "1+", "ish_ratio": 1.5}, "negative", "HER2-low", None),
        ({"ihc": "2+", "her2_copies": 3.0}, "negative", "HER2-low", None),
        ({"ihc": "2+", "her2_copies": 6.5}, "positive", "HER2-positive", None),
        ({"her2_copies": 5.0}, "equivocal", "equivocal", "ish_ratio"),
        # a lab's final call only
        ({"status": "negative"}, "negative", "HER2-negative", "her2_ihc_score"),
        ({"status": "positive"}, "positive", "HER2-positive", None),
    ],
)
def test_decision_table_rows(raw: dict[str, object], status: str, category: str, next_test: str | None) -> None:
    result = classify_her2(Her2Raw.model_validate(raw))
    assert (result.status, result.category, result.next_test) == (status, category, next_test)
    assert "ASCOCAP-2018" in result.citations


ihc_scores = st.sampled_from([None, "0", "ultralow", "1+", "2+", "3+"])
values = st.one_of(st.none(), st.floats(min_value=0, max_value=20, allow_nan=False))


@given(ihc=ihc_scores, ratio=values, copies=values)
def test_properties(ihc: str | None, ratio: float | None, copies: float | None) -> None:
    result = classify_her2(Her2Raw(ihc=ihc, ish_ratio=ratio, her2_copies=copies))  # type: ignore[arg-type]
    # IHC 3+ is always positive; only "positive" is HER2-positive
    if ihc == "3+":
        assert result.status == "positive"
    assert (result.category == "HER2-positive") == (result.status == "positive")
    # a positive never comes from IHC 0/1+ unless ISH is group 1
    if result.status == "positive" and ihc in {"0", "ultralow", "1+"}:
        assert result.ish_group == 1
    # equivocal and missing always name the further test
    if result.status in {"equivocal", "missing"}:
        assert result.next_test
    # deterministic
    assert classify_her2(Her2Raw(ihc=ihc, ish_ratio=ratio, her2_copies=copies)) == result  # type: ignore[arg-type]


def test_ihc2_group_call_never_claims_a_recount_that_was_not_reported() -> None:
    unreported = classify_her2(Her2Raw(ihc="2+", ish_ratio=1.8, her2_copies=6.4))
    assert unreported.status == "positive"
    assert "taken as the final result" in unreported.rule and "confirmed" not in unreported.rule
    assert "blinded recount" in unreported.comment
    confirmed = classify_her2(Her2Raw(ihc="2+", ish_ratio=1.8, her2_copies=6.4, recount_confirmed=True))
    assert "recount confirmed" in confirmed.rule
