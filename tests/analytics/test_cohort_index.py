"""The index table's optional columns: checked, normalised, filled from OMOP; strata from them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from oncoline.analytics.strata import person_strata
from oncoline.errors import InputError
from oncoline.io.cohort_index import index_from_omop, read_cohort_index, validate_index


def test_optional_columns_normalised_and_strata(tmp_path: Path) -> None:
    path = tmp_path / "index.csv"
    path.write_text(
        "person_id,metastatic_diagnosis,her2_status,hr_status,birth_year,presentation\n"
        "p1,2021-03-01,Positive,negative,1950,de-novo\n"
        "p2,2023-07-15,positive,,1985,Recurrent\n"
        "p3,2024-01-01,,POSITIVE,,\n"
    )
    index = read_cohort_index(path)
    assert index.column("presentation").to_pylist() == ["de_novo", "recurrent", None]
    assert index.column("her2_status").to_pylist() == ["positive", "positive", None]
    strata = {r["person_id"]: r for r in person_strata(index).to_pylist()}
    assert strata["p1"] == {
        "person_id": "p1",
        "index_year": "2021",
        "age_band": "70+",
        "hr_status": "negative",
        "presentation": "de_novo",
    }
    assert strata["p2"]["age_band"] == "<40" and strata["p2"]["hr_status"] == "unknown"
    assert strata["p3"]["age_band"] == "unknown" and strata["p3"]["presentation"] == "unknown"


def test_bad_value_names_file_column_and_row(tmp_path: Path) -> None:
    path = tmp_path / "index.csv"
    path.write_text("person_id,metastatic_diagnosis,hr_status\np1,2021-03-01,positive\np2,2021-03-01,weak\n")
    with pytest.raises(InputError) as err:
        read_cohort_index(path)
    text = str(err.value)
    assert "row 2" in text and "hr_status" in text and "'weak'" in text and "index.csv" in text
    with pytest.raises(InputError, match="metastatic_diagnosis"):
        validate_index(pa.table({"person_id": ["a"]}))


def test_omop_fills_sex_birth_year_and_receptors(tmp_path: Path) -> None:
    from oncoline.app.omop import init_omop, read_omop_cohort

    url = str(tmp_path / "cdm.duckdb")
    init_omop(url, demo=True)
    cohort = read_omop_cohort(url)
    filled = validate_index(index_from_omop(url, cohort.index))
    rows = filled.to_pylist()
    assert {"her2_status", "hr_status", "birth_year", "sex"} <= set(filled.column_names)
    assert any(r["her2_status"] == "positive" for r in rows)
    assert all(r["sex"] in ("female", "male", None) for r in rows)
    assert all(r["birth_year"] is None or 1900 < r["birth_year"] < dt.date.today().year for r in rows)


HEADER = "person_id,metastatic_diagnosis,hr_status,age_at_index\n"


def _refused(tmp_path: Path, body: str) -> str:
    path = tmp_path / "idx.csv"
    path.write_text(HEADER + body)
    with pytest.raises(InputError) as err:
        read_cohort_index(path)
    text = str(err.value)
    assert "idx.csv" in text  # the file is named
    return text


def test_empty_index_is_an_input_error(tmp_path: Path) -> None:
    """A header and no rows gave a full report fitted on the lines' persons; now an error naming the file."""
    assert "no persons" in _refused(tmp_path, "")


def test_duplicate_person_id_names_ids_rows_and_fix(tmp_path: Path) -> None:
    text = _refused(tmp_path, "p1,2021-03-01,,\np2,2021-03-01,,\np2,2022-01-01,,\np3,2022-01-01,,\n")
    assert "person_id" in text and "'p2' on rows 2, 3" in text and "one row per person" in text


def test_us_dates_refused_with_column_row_and_format(tmp_path: Path) -> None:
    """03/17/2022 was read as no date (index_year 'unknown' for all, exit 0); the docs promise an error."""
    text = _refused(tmp_path, "p1,2021-03-01,,\np2,03/17/2022,,\n")
    assert "metastatic_diagnosis" in text and "row 2" in text and "'03/17/2022'" in text and "YYYY-MM-DD" in text
    _refused(tmp_path, "p1,2021-02-30,,\n")  # ISO-shaped but not a date
    ok = tmp_path / "ok.csv"
    ok.write_text(HEADER + "p1,2021-03-01,,\np2,,,\n")  # an empty date stays unknown (counted by the line engine)
    assert read_cohort_index(ok).num_rows == 2


def test_age_as_text_names_the_row_without_arrow_text(tmp_path: Path) -> None:
    text = _refused(tmp_path, "p1,2021-03-01,,55\np2,2021-03-01,,fifty-five\n")
    assert "row 2" in text and "'fifty-five'" in text and "scalar" not in text and "Failed to parse" not in text


def test_unknown_receptor_status_reads_as_not_given(tmp_path: Path) -> None:
    path = tmp_path / "idx.csv"
    path.write_text(HEADER + "p1,2021-03-01,Unknown,55\np2,2021-03-01,positive,\n")
    index = read_cohort_index(path)
    assert index.column("hr_status").to_pylist() == [None, "positive"]
    assert index.column("age_at_index").to_pylist() == [55.0, None]
