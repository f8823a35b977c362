"""The DuckDB cohort engine beyond the shared conformance suite: realistic generated cohorts, raw column
types (integer ids, text dates), its two sort paths, and its errors. The oracle is the reference engine."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oncoline.engines.lines import _rows, assemble, duckdb_engine
from oncoline.engines.lines.cohort import CohortLines
from oncoline.engines.lines.params import load_line_params
from oncoline.engines.lines.reference import derive_lines_reference_cohort
from oncoline.errors import InputError

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repository root holds benchmarks/
from benchmarks.generate import generate_cohort

PARAMS = load_line_params()


def assert_same(a: CohortLines, b: CohortLines) -> None:
    assert a.lines.equals(b.lines, check_metadata=False)
    assert a.assignments.equals(b.assignments, check_metadata=False)
    assert a.report == b.report


@pytest.fixture(scope="module")
def cohort() -> tuple[pa.Table, pa.Table]:
    c = generate_cohort(20_000, seed=7)
    return c.exposures, c.index


@pytest.mark.parametrize("as_of", [dt.date(2022, 6, 30), None])
def test_generated_cohort_equals_reference(cohort: tuple[pa.Table, pa.Table], as_of: dt.date | None) -> None:
    exposures, index = cohort
    fast = duckdb_engine.derive_lines_cohort(exposures, index, params=PARAMS, as_of=as_of)
    assert_same(fast, derive_lines_reference_cohort(exposures, index, params=PARAMS, as_of=as_of))
    # the generator's features all show up: switches, gaps, documented stops, exclusions, duplicates
    rules = set(fast.lines.column("open_rule").to_pylist())
    assert {"first_exposure", "new_drug", "after_gap"} <= rules
    assert {"supportive", "early_setting", "unknown_drug"} <= set(fast.report.excluded)
    assert fast.report.repaired["duplicate_rows"] > 0


def test_sql_sort_path_equals_packed_sort(cohort: tuple[pa.Table, pa.Table], monkeypatch: pytest.MonkeyPatch) -> None:
    exposures, index = cohort
    packed = duckdb_engine.derive_lines_cohort(exposures, index, params=PARAMS, as_of=None)
    monkeypatch.setattr(_rows, "PACK_BITS", 0)
    assert_same(packed, duckdb_engine.derive_lines_cohort(exposures, index, params=PARAMS, as_of=None))


def test_text_columns_and_missing_ids_match_reference() -> None:
    exposures = pa.table(
        {
            "person_id": [10, 10, 10, 2, 2, 2, None],
            "exposure_id": ["b", None, "a", "x", "y", "z", "q"],
            "drug": ["Herceptin", "Perjeta", "docetaxel", "Phesgo", None, "Enhertu", "trastuzumab"],
            "start_date": ["2024-01-15", "2024-01-15T08:00", "2024-01-16", "2024-02-01", "2024-02-01",
                           "2024-13-01", "2024-01-01"],
            "end_date": [None, "", "2024-01-16", "2024-02-01", None, None, None],
            "stopped": ["Progression ", None, "", "toxicity", "nonsense", None, None],
        }
    )  # fmt: skip
    index = pa.table(
        {"person_id": ["10", "2", "2"], "metastatic_diagnosis": ["2024-01-05", "2024-01-20", "2023-12-01"]}
    )
    for as_of in (dt.date(2024, 6, 1), None):
        fast = duckdb_engine.derive_lines_cohort(exposures, index, params=PARAMS, as_of=as_of)
        assert_same(fast, derive_lines_reference_cohort(exposures, index, params=PARAMS, as_of=as_of))
    assert fast.lines.column("person_id").to_pylist() == ["10", "10", "2"]  # progression ends line 1
    assert fast.report.excluded == {"bad_date": 1, "unknown_drug": 1, "no_index_date": 1}


@pytest.mark.parametrize("ids", [[1, 1, 2], ["a", "a", "b"]])
def test_repeated_exposure_id_is_an_input_error(ids: list[object]) -> None:
    exposures = pa.table(
        {
            "person_id": ["P1"] * 3,
            "exposure_id": ids,
            "drug": ["trastuzumab"] * 3,
            "start_date": [dt.date(2024, 1, 1), dt.date(2024, 1, 22), dt.date(2024, 2, 12)],
        }
    )
    index = pa.table({"person_id": ["P1"], "metastatic_diagnosis": [dt.date(2024, 1, 1)]})
    with pytest.raises(InputError, match="exposure_id"):
        duckdb_engine.derive_lines_cohort(exposures, index, params=PARAMS, as_of=None)


def test_missing_column_is_an_input_error() -> None:
    with pytest.raises(InputError, match="start_date"):
        duckdb_engine.derive_lines_cohort(
            pa.table({"person_id": ["P1"], "drug": ["trastuzumab"]}),
            pa.table({"person_id": ["P1"], "metastatic_diagnosis": [dt.date(2024, 1, 1)]}),
            params=PARAMS,
            as_of=None,
        )


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 10**15 - 1) | st.integers(0, 1200), min_size=1, max_size=60))
def test_integer_ids_sort_as_their_text(ids: list[int]) -> None:
    """The packed assignment sort orders integer exposure ids exactly as the text sort does, and decodes them."""
    packed = assemble._text_order_key(np.array(ids, dtype=np.int64))
    assert packed is not None
    key, digits = packed
    order = np.argsort(key, kind="stable")
    assert [str(ids[i]) for i in order] == sorted(str(i) for i in ids)
    assert assemble._from_text_order_key(key, digits).tolist() == ids


def test_negative_or_long_ids_take_the_text_sort() -> None:
    assert assemble._text_order_key(np.array([3, -1], dtype=np.int64)) is None
    assert assemble._text_order_key(np.array([10**15], dtype=np.int64)) is None
