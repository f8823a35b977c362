"""Reading one patient's events block and cohort exposure tables; writing line tables."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from oncoline.engines.lines.cohort import prepare_cohort
from oncoline.engines.lines.params import load_line_params
from oncoline.errors import InputError, UnknownDrugError
from oncoline.io.exposures import events_from_mapping, latest_exposure_date, load_events, read_table, write_table

EVENTS: dict[str, Any] = {
    "metastatic_diagnosis": "2024-01-05",
    "exposures": [
        {"drug": "Phesgo", "start": "2024-01-15"},
        {"drug": "docetaxel", "start": "2024-01-15", "end": "2024-01-15", "stopped": "progression"},
    ],
}


def test_events_block_as_in_format_md() -> None:
    ev = events_from_mapping(EVENTS, source="x.yaml")
    assert ev.metastatic_diagnosis == dt.date(2024, 1, 5)
    assert [e.exposure_id for e in ev.exposures] == ["0", "1"]
    assert ev.exposures[1].stopped == "progression" and ev.exposures[0].end is None
    assert ev.params == {} and ev.as_of is None


def test_whole_case_file_and_params() -> None:
    doc = {"kind": "lines", "id": "c", "params": {"gap_days": 90}, "events": EVENTS}
    ev = events_from_mapping(doc)
    assert ev.params == {"gap_days": 90} and len(ev.exposures) == 2


@pytest.mark.parametrize(
    ("change", "field", "text"),
    [
        ({"metastatic_diagnosis": None}, "metastatic_diagnosis", "missing"),
        ({"metastatic_diagnosis": "05/01/2024"}, "metastatic_diagnosis", "YYYY-MM-DD"),
        ({"exposures": "trastuzumab"}, "exposures", "list"),
        ({"exposures": [{"drug": "trastuzumab"}]}, "exposures[0].start", "start"),
        ({"exposures": [{"drug": "trastuzumab", "start": "2024-02-30"}]}, "exposures[0].start", "date"),
        ({"exposures": [{"drug": "t", "start": "2024-02-01", "end": "2024-01-01"}]}, "exposures[0]", "before"),
        ({"exposures": [{"drug": "x", "start": "2024-02-01", "dose": 3}]}, "exposures[0].dose", "remove"),
        ({"lines": []}, "lines", "unknown field"),
    ],
)
def test_bad_events_name_field_and_fix(change: dict[str, Any], field: str, text: str) -> None:
    with pytest.raises(InputError) as info:
        events_from_mapping({**EVENTS, **change}, source="p.yaml")
    assert info.value.field == field
    assert text in str(info.value) and "p.yaml" in str(info.value)


def test_unknown_drug_names_row_and_closest() -> None:
    doc = {
        **EVENTS,
        "exposures": [{"drug": "pertuzumab", "start": "2024-01-15"}, {"drug": "Enhertuu", "start": "2024-02-01"}],
    }
    with pytest.raises(UnknownDrugError) as info:
        events_from_mapping(doc, source="p.yaml")
    assert info.value.field == "exposures[1].drug"
    assert any("enhertu" in s for s in info.value.suggestions)


def test_duplicate_ids_rejected() -> None:
    doc = {**EVENTS, "exposures": [{"drug": "pertuzumab", "start": "2024-01-15", "id": "a"}] * 2}
    with pytest.raises(InputError, match="twice"):
        events_from_mapping(doc)


def test_load_events_file_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_events(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("metastatic_diagnosis: [", encoding="utf-8")
    with pytest.raises(InputError, match="YAML"):
        load_events(bad)


def test_read_csv_as_text_with_aliases_and_counts_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "exp.csv"
    path.write_text(
        "Patient_ID,Drug,Start,End\n"
        "1,Herceptin,2024-01-10,\n"
        "1,docetaxel,2024-01-10,2024-01-10\n"
        "1,trastuzumab,10/01/2024,\n"
        "2,72962,2024-02-01 00:00:00,\n",
        encoding="utf-8",
    )
    table = read_table(path)
    assert table.column_names == ["person_id", "drug", "start_date", "end_date"]
    assert table.schema.field("person_id").type == pa.string()
    idx = tmp_path / "idx.csv"
    idx.write_text("person_id,index_date\n1,2024-01-01\n2,2024-01-20\n", encoding="utf-8")
    index = read_table(idx, kind="index")
    prepared = prepare_cohort(table, index, params=load_line_params(), as_of=None)
    assert prepared.report.excluded == {"bad_date": 1}
    # 1-based data row (line 4 of the file, after the header); the empty end is left out
    assert prepared.report.examples["bad_date"] == [
        "row 3 (person 1): drug 'trastuzumab', start 10/01/2024 — start_date '10/01/2024' is not a date in the form "
        "YYYY-MM-DD (day and month order is ambiguous; write the year first)"
    ]
    assert sorted(prepared.rows.column("drug").to_pylist()) == ["docetaxel", "docetaxel", "trastuzumab"]


@pytest.mark.parametrize("sep", [";", "\t"])
def test_csv_with_semicolons_or_tabs_is_read(tmp_path: Path, sep: str) -> None:
    """A spreadsheet saved in a decimal-comma locale separates fields by ';' (or a tab export): recognised."""
    path = tmp_path / "exp.csv"
    path.write_text(f"person_id{sep}drug{sep}start_date\n1{sep}Herceptin{sep}2024-01-10\n", encoding="utf-8")
    table = read_table(path)
    assert table.column_names == ["person_id", "drug", "start_date"]
    assert table.to_pylist() == [{"person_id": "1", "drug": "Herceptin", "start_date": "2024-01-10"}]
    assert latest_exposure_date(path) == dt.date(2024, 1, 10)


def test_csv_not_utf8_says_save_as_utf8(tmp_path: Path) -> None:
    path = tmp_path / "exp.csv"
    path.write_bytes("person_id,drug,start_date\nJosé,trastuzumab,2024-01-10\n".encode("latin-1"))
    with pytest.raises(InputError, match="save the file as UTF-8") as err:
        read_table(path)
    assert err.value.source == str(path)
    header = tmp_path / "hdr.csv"
    header.write_bytes("person_id,médicament,start_date\n".encode("latin-1"))
    with pytest.raises(InputError, match="save the file as UTF-8"):
        read_table(header)


def test_parquet_round_trip_and_csv_lists(tmp_path: Path) -> None:
    table = pa.table({"person_id": ["1"], "drugs": pa.array([["a", "b"]], pa.list_(pa.string()))})
    write_table(table, tmp_path / "t.parquet")
    assert pq.read_table(tmp_path / "t.parquet").equals(table)
    write_table(table, tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text(encoding="utf-8").splitlines()[1] == '"1","a + b"'


@pytest.mark.parametrize("name", ["t.xlsx", "missing.parquet"])
def test_table_errors(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    if name.endswith(".xlsx"):
        path.write_text("x", encoding="utf-8")
    with pytest.raises(InputError):
        read_table(path)
    if name.endswith(".xlsx"):
        with pytest.raises(InputError, match=r"parquet or \.csv"):
            write_table(pa.table({"a": [1]}), path)


def test_missing_columns_named() -> None:
    with pytest.raises(InputError, match="start_date"):
        prepare_cohort(
            pa.table({"person_id": ["1"], "drug": ["x"]}),
            pa.table({"person_id": ["1"], "metastatic_diagnosis": ["2024-01-01"]}),
            params=load_line_params(),
            as_of=None,
        )


@pytest.mark.parametrize(
    ("kind", "header", "missing", "accepted"),
    [
        ("exposures", "pid,drug,start", "person_id", "person_id (or person, patient_id, patient)"),
        ("index", "person_id,dx", "metastatic_diagnosis", "metastatic_diagnosis (or index_date,"),
    ],
)
def test_bad_header_names_columns_as_found_and_accepted_spellings(
    tmp_path: Path, kind: str, header: str, missing: str, accepted: str
) -> None:
    path = tmp_path / "t.csv"
    path.write_text(header + "\n" + ",".join(["1"] * len(header.split(","))) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_table(path, kind=kind)
    text = str(info.value)
    assert f"no {missing} column" in text and info.value.field == missing
    assert f"Columns found: {header.replace(',', ', ')}." in text  # as in the file, not renamed
    assert accepted in text and str(path) in text


def test_exposure_examples_show_given_ids_and_omit_empty_fields() -> None:
    exposures = pa.table(
        {
            "person_id": ["1", "1"],
            "exposure_id": ["e7", None],
            "drug": ["foo", "docetaxel"],
            "start_date": [None, "2024-13-01"],
            "end_date": [None, "2024-01-01"],
        }
    )
    index = pa.table({"person_id": ["1"], "metastatic_diagnosis": ["2024-01-01"]})
    report = prepare_cohort(exposures, index, params=load_line_params(), as_of=None).report
    assert report.examples == {
        "missing_start": ["row 1 (person 1, exposure_id e7): drug 'foo'"],
        "bad_date": [
            "row 2 (person 1): drug 'docetaxel', start 2024-13-01, end 2024-01-01 — start_date '2024-13-01' is "
            "not a date in the form YYYY-MM-DD"
        ],
    }


PATIENT: dict[str, Any] = {
    "id": "P1",
    "age": 61,
    "tumor": {"her2": "positive"},
    "history": [],
    "metastatic_diagnosis": "2021-01-10",
    "exposures": [{"drug": "Kadcyla", "start": "2021-02-01", "end": "2023-06-01"}],
    "as_of": "2024-01-01",
}


def test_a_patient_file_gives_its_events_and_names_what_lines_ignore() -> None:
    ev = events_from_mapping(PATIENT, source="p.yaml")
    assert (ev.person_id, ev.metastatic_diagnosis, ev.as_of) == ("P1", dt.date(2021, 1, 10), dt.date(2024, 1, 1))
    assert [(e.drug, e.end) for e in ev.exposures] == [("Kadcyla", dt.date(2023, 6, 1))]  # resolved by the engines
    assert ev.ignored_fields == ("age", "history", "tumor")
    assert events_from_mapping(EVENTS).ignored_fields == ()


def test_a_patient_case_file_takes_the_case_as_of() -> None:
    block = {k: v for k, v in PATIENT.items() if k != "as_of"}
    ev = events_from_mapping({"kind": "patient", "id": "c1", "as_of": "2025-05-05", "patient": block, "expected": {}})
    assert ev.as_of == dt.date(2025, 5, 5) and ev.person_id == "P1" and len(ev.exposures) == 1


def test_a_misspelt_field_in_a_patient_file_is_named_alone() -> None:
    with pytest.raises(InputError) as info:
        events_from_mapping({**PATIENT, "tumour": {}}, source="p.yaml")
    assert info.value.field == "tumour" and "['tumour']" in str(info.value) and "'age'" not in str(info.value)


def test_latest_exposure_date_over_all_rows_and_both_columns(tmp_path: Path) -> None:
    table = pa.table(
        {
            "person_id": ["a", "b", "c", "d"],
            "start_date": ["2024-01-01", "2025-03-04T10:00", "garbage", None],
            "end_date": [None, "2024-05-05 ", "2030-13-01", "2025-03-03"],
        }
    )
    assert latest_exposure_date(table) == dt.date(2025, 3, 4)  # text as the engines read it; bad values skipped
    typed = pa.table({"start": pa.array([dt.date(2020, 1, 1)]), "End": pa.array([dt.date(2020, 2, 2)])})
    pq.write_table(typed, tmp_path / "t.parquet")
    assert latest_exposure_date(tmp_path / "t.parquet") == dt.date(2020, 2, 2)  # aliases, out of core
    (tmp_path / "t.csv").write_text("Patient,Drug,Start,end_date\n1,x,2021-01-01,2022-02-02\n2,y,,\n", encoding="utf-8")
    assert latest_exposure_date(tmp_path / "t.csv") == dt.date(2022, 2, 2)
    assert latest_exposure_date(pa.table({"start_date": pa.array([None], pa.string())})) is None
    with pytest.raises(InputError, match="not found"):
        latest_exposure_date(tmp_path / "none.csv")
