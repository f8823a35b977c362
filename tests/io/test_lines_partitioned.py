"""The partitioned file path gives exactly the in-memory engine's lines, assignments and report."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oncoline.engines.lines.duckdb_engine import derive_lines_cohort
from oncoline.engines.lines.params import load_line_params
from oncoline.engines.lines.reference import derive_lines_reference_cohort
from oncoline.errors import InputError
from oncoline.io.exposures import read_table
from oncoline.io.lines_partitioned import derive_lines_cohort_files, estimate_rows
from strategies import Cohort, cohorts

PARAMS = load_line_params()


def _messy(cohort: Cohort) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    """The cohort's columns as text, plus rows every exclusion reason counts, and ids left out on some rows."""
    cols = cohort.exposure_columns()
    text = {k: [None if v is None else str(v) for v in vals] for k, vals in cols.items()}
    extra = [
        ("P1", "foo-mab", "2024-01-01", None),
        ("P2", "trastuzumab", None, None),
        ("P1", "trastuzumab", "2024-13-01", None),
        ("P3", "Zometa", "2024-01-01", None),
        ("nobody", "eribulin", "2024-01-01", None),
        (None, "eribulin", "2024-01-01", None),
        ("P1", "trial drug", "2024-02-01", None),
    ]
    for person, drug, start, stopped in extra:
        text["person_id"].append(person)
        text["exposure_id"].append(None)  # defaults to the row number
        text["drug"].append(drug)
        text["start_date"].append(start)
        text["end_date"].append(None)
        text["stopped"].append(stopped)
    more = [("Pbad", "eribulin", "2024-01-01", "PD"), ("P1", "eribulin", "2024-02-30", None)]
    for person, drug, start, stopped in more:
        text["person_id"].append(person)
        text["exposure_id"].append(None)
        text["drug"].append(drug)
        text["start_date"].append(start)
        text["end_date"].append(None)
        text["stopped"].append(stopped)
    index = {k: [None if v is None else str(v) for v in vals] for k, vals in cohort.index_columns().items()}
    index["person_id"].append("Pbad")  # a bad index value: ignored and counted, never day 0
    index["metastatic_diagnosis"].append("01/05/2022")
    return text, index


def _write(table: pa.Table, path: Path) -> Path:
    if path.suffix == ".csv":
        pacsv.write_csv(table, path)
    else:
        pq.write_table(table, path)
    return path


def _in_memory(exp: Path, idx: Path, as_of: dt.date | None, engine: Any = derive_lines_cohort) -> Any:
    return engine(read_table(exp, kind="exposures"), read_table(idx, kind="index"), params=PARAMS, as_of=as_of)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cohort=cohorts(max_persons=6), parts=st.integers(1, 4), suffix=st.sampled_from([".csv", ".parquet"]))
def test_partitions_equal_in_memory(tmp_path: Path, cohort: Cohort, parts: int, suffix: str) -> None:
    exp_cols, idx_cols = _messy(cohort)
    folder = tmp_path / f"run-{parts}-{suffix[1:]}-{len(exp_cols['drug'])}"
    folder.mkdir(exist_ok=True)
    exposures = pa.table(exp_cols)
    if suffix == ".csv":
        exposures = exposures.drop_columns(["exposure_id"])  # ids default to the 1-based row number
    exp = _write(exposures, folder / f"exposures{suffix}")
    idx = _write(pa.table(idx_cols), folder / f"index{suffix}")
    want = _in_memory(exp, idx, cohort.as_of)
    done: list[tuple[int, int, int]] = []
    run = derive_lines_cohort_files(
        exp,
        idx,
        folder / f"lines{suffix}",
        params=PARAMS,
        as_of=cohort.as_of,
        partitions=parts,
        assignments_path=folder / "assignments.parquet",
        on_partition=lambda *a: done.append(a),
    )
    assert run.report == want.report
    assert run.report.repaired["index_bad_dates"] == 1 and run.report.repaired["stopped_ignored"] >= 1
    assert run.report.examples["index_bad_dates"][0].startswith("row ")
    assert run.n_lines == want.lines.num_rows and run.partitions == parts
    assert [d[:2] for d in done] == [(i, parts) for i in range(1, parts + 1)]
    assert done[-1][2] == exposures.num_rows
    assert pq.read_table(folder / "assignments.parquet").equals(want.assignments)
    if suffix == ".parquet":
        assert pq.read_table(folder / "lines.parquet").equals(want.lines)
    else:
        got = pacsv.read_csv(folder / "lines.csv").to_pylist()
        assert [(r["person_id"], r["line"], r["regimen"]) for r in got] == [
            (r["person_id"], r["line"], r["regimen"]) for r in want.lines.to_pylist()
        ]


def test_reference_engine_and_defaults(tmp_path: Path) -> None:
    d = dt.date.fromisoformat
    exposures = pa.table(
        {
            "patient": [str(p) for p in range(1, 31) for _ in range(3)],
            "drug": ["Phesgo", "docetaxel", "Enhertu"] * 30,
            "start": [d("2024-01-10"), d("2024-01-10"), d("2024-06-01")] * 30,
        }
    )
    index = pa.table({"person_id": [str(p) for p in range(1, 31)], "index_date": [d("2024-01-01")] * 30})
    exp, idx = _write(exposures, tmp_path / "e.parquet"), _write(index, tmp_path / "i.parquet")
    want = _in_memory(exp, idx, None, derive_lines_reference_cohort)
    run = derive_lines_cohort_files(
        exp, idx, tmp_path / "l.parquet", params=PARAMS, as_of=None, engine=derive_lines_reference_cohort, workers=1
    )
    assert run.partitions == 1 and run.lines_per_person == {2: 30} and run.persons_with_lines == 30
    assert pq.read_table(tmp_path / "l.parquet").equals(want.lines)
    assert want.lines.column("n_exposures").to_pylist()[:2] == [2, 1]  # Phesgo + docetaxel: two input rows
    assert estimate_rows(exp) == 90


def test_bad_input_is_named(tmp_path: Path) -> None:
    exp = _write(pa.table({"person_id": ["1"], "medication": ["x"]}), tmp_path / "e.csv")
    idx = _write(pa.table({"person_id": ["1"], "metastatic_diagnosis": ["2024-01-01"]}), tmp_path / "i.csv")
    with pytest.raises(InputError, match="no drug"):
        derive_lines_cohort_files(exp, idx, tmp_path / "l.parquet", params=PARAMS, as_of=None)
    with pytest.raises(InputError, match="not found"):
        derive_lines_cohort_files(tmp_path / "x.csv", idx, tmp_path / "l.parquet", params=PARAMS, as_of=None)
    with pytest.raises(InputError, match="partitions"):
        derive_lines_cohort_files(idx, idx, tmp_path / "l.parquet", params=PARAMS, as_of=None, partitions=0)


@pytest.mark.parametrize("scale", [1, 10**12])  # compact ids (a lookup table) and sparse ids (a hash lookup)
def test_row_groups_split_on_threads_keep_row_order(tmp_path: Path, scale: int) -> None:
    """Many small row groups (read in two runs on two threads), shuffled integer ids and rows without a person:
    row numbers, person ranges and outputs equal the in-memory run."""
    import random

    d = dt.date.fromisoformat
    rng = random.Random(7)
    rows = [
        (p * scale, drug, start)
        for p in range(1, 41)
        for drug, start in (
            ("Phesgo", "2024-01-10"),
            ("docetaxel", "2024-01-10"),
            ("Enhertu", "2024-06-01"),
            ("tucatinib", "2024-09-01"),
        )
    ]
    rng.shuffle(rows)
    for at in (17, 90, 150):  # no person: counted, never a line (rows spread over both runs)
        rows.insert(at, (None, "eribulin", "2024-01-01"))
    exposures = pa.table(
        {
            "person_id": pa.array([r[0] for r in rows], pa.int64()),
            "drug": [r[1] for r in rows],
            "start_date": [d(r[2]) for r in rows],
        }
    )
    index = pa.table({"person_id": [p * scale for p in range(40, 0, -1)], "index_date": [d("2024-01-01")] * 40})
    exp, idx = tmp_path / "e.parquet", _write(index, tmp_path / "i.parquet")
    pq.write_table(exposures, exp, row_group_size=9)
    assert pq.ParquetFile(exp).metadata.num_row_groups > 2
    want = _in_memory(exp, idx, None)
    run = derive_lines_cohort_files(
        exp,
        idx,
        tmp_path / "l.parquet",
        params=PARAMS,
        as_of=None,
        partitions=3,
        assignments_path=tmp_path / "a.parquet",
    )
    assert run.report == want.report and run.partitions == 3
    assert want.lines.num_rows >= 40

    def as_int(table: pa.Table) -> pa.Table:  # integer ids stay integers in the partitioned outputs
        return table.set_column(0, "person_id", table.column("person_id").cast(pa.int64()))

    for got, expected in (("l.parquet", want.lines), ("a.parquet", want.assignments)):
        table = pq.read_table(tmp_path / got)
        assert table.column("person_id").type == pa.int64()
        assert table.equals(as_int(expected))


def test_person_ids_stored_as_categories(tmp_path: Path) -> None:
    """Person ids stored dictionary-encoded (as pandas writes categories) are split by their values."""
    d = dt.date.fromisoformat
    ids = [str(p) for p in range(1, 31) for _ in range(3)]
    exposures = pa.table(
        {
            "person_id": pa.array(ids).dictionary_encode(),
            "drug": ["Phesgo", "docetaxel", "Enhertu"] * 30,
            "start_date": [d("2024-01-10"), d("2024-01-10"), d("2024-06-01")] * 30,
        }
    )
    exp, idx = tmp_path / "e.parquet", tmp_path / "i.parquet"
    pq.write_table(exposures, exp, row_group_size=20)
    _write(pa.table({"person_id": [str(p) for p in range(1, 31)], "index_date": [d("2024-01-01")] * 30}), idx)
    assert pa.types.is_dictionary(pq.read_schema(exp).field("person_id").type)
    want = _in_memory(exp, idx, None)
    run = derive_lines_cohort_files(exp, idx, tmp_path / "l.parquet", params=PARAMS, as_of=None, partitions=3)
    assert run.report == want.report and run.n_lines == 60
    assert pq.read_table(tmp_path / "l.parquet").equals(want.lines)
