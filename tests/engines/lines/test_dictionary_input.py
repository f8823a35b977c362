"""Text columns read dictionary-encoded (as ``oncoline lines`` reads drug names from Parquet for the DuckDB engine)
give the same lines, row assignments and report as plain text, on every in-process engine and the helper path."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings

from oncoline.engines.lines.cohort import CohortLines
from oncoline.engines.lines.params import load_line_params
from oncoline.engines.lines.reference import derive_lines_reference_cohort
from oncoline.io.exposures import read_table
from strategies import Cohort, cohorts

duckdb_engine = pytest.importorskip("oncoline.engines.lines.duckdb_engine")
PARAMS = load_line_params()


def _helpers(exposures: pa.Table, index: pa.Table, /, **kw: Any) -> CohortLines:
    from oncoline.engines.lines import _rows

    before = _rows.SPLIT_MIN_ROWS
    _rows.SPLIT_MIN_ROWS = 0
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            result: CohortLines = duckdb_engine._derive_one(exposures, index, pool=pool, **kw)
            return result
    finally:
        _rows.SPLIT_MIN_ROWS = before


ENGINES: dict[str, Callable[..., CohortLines]] = {
    "reference": derive_lines_reference_cohort,
    "duckdb": duckdb_engine.derive_lines_cohort,
    "duckdb-helpers": _helpers,
}


def _tables(cohort: Cohort) -> tuple[pa.Table, pa.Table]:
    return pa.table(cohort.exposure_columns()), pa.table(cohort.index_columns())


def _as_dictionary(table: pa.Table, *names: str) -> pa.Table:
    """``names`` dictionary-encoded in several chunks with different dictionaries, as a Parquet file's row groups
    are read."""
    for name in names:
        col = table.column(name).combine_chunks()
        half = len(col) // 2
        chunks = [pc.dictionary_encode(col.slice(0, half)), pc.dictionary_encode(col.slice(half))]
        table = table.set_column(table.column_names.index(name), name, pa.chunked_array(chunks))
    return table


def _same(a: CohortLines, b: CohortLines) -> None:
    assert a.lines.equals(b.lines)
    assert a.assignments.equals(b.assignments)
    assert a.report == b.report


@pytest.mark.parametrize("engine", list(ENGINES))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cohort=cohorts())
def test_dictionary_text_columns_change_nothing(engine: str, cohort: Cohort) -> None:
    exposures, index = _tables(cohort)
    fn = ENGINES[engine]
    plain = fn(exposures, index, params=PARAMS, as_of=cohort.as_of)
    _same(fn(_as_dictionary(exposures, "drug", "stopped"), index, params=PARAMS, as_of=cohort.as_of), plain)


def test_unknown_and_missing_drug_names_are_counted_alike() -> None:
    exposures = pa.table(
        {
            "person_id": ["A", "A", "A", "B"],
            "drug": ["trastuzumab", None, "foo-mab", "foo-mab"],
            "start_date": [dt.date(2024, 1, 10)] * 4,
        }
    )
    index = pa.table({"person_id": ["A", "B"], "metastatic_diagnosis": [dt.date(2024, 1, 1)] * 2})
    for fn in ENGINES.values():
        plain = fn(exposures, index, params=PARAMS, as_of=dt.date(2025, 1, 1))
        assert plain.report.unknown_drugs == {"foo-mab": 2, "(no drug given)": 1}
        _same(fn(_as_dictionary(exposures, "drug"), index, params=PARAMS, as_of=dt.date(2025, 1, 1)), plain)


def test_read_table_reads_named_parquet_text_columns_as_dictionaries(tmp_path: Path) -> None:
    table = pa.table({"Person_ID": ["A", "B"], "drug_name": ["Herceptin", None], "start_date": ["2024-01-01"] * 2})
    pq.write_table(table, tmp_path / "e.parquet", row_group_size=1)
    read = read_table(tmp_path / "e.parquet", kind="exposures", dictionary=("drug",))
    assert pa.types.is_dictionary(read.schema.field("drug").type)
    assert not pa.types.is_dictionary(read.schema.field("person_id").type)
    assert read.column("drug").to_pylist() == ["Herceptin", None]
    plain = read_table(tmp_path / "e.parquet", kind="exposures")
    assert plain.schema.field("drug").type == pa.string()
    assert plain.column("drug").to_pylist() == ["Herceptin", None]
