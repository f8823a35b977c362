"""prepare_cohort: the one input-normalisation step shared by every line engine, and the assembly helpers."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from oncoline.engines.lines.cohort import (
    assign_rows,
    complete_lines,
    drug_flags,
    lines_schema,
    prepare_cohort,
)
from oncoline.engines.lines.params import load_line_params
from oncoline.errors import EngineError, InputError

P = load_line_params()
INDEX = pa.table({"person_id": ["1", "1", "2"], "metastatic_diagnosis": ["2024-03-01", "2024-01-01", None]})


def test_flags_follow_params() -> None:
    assert drug_flags("trastuzumab", P).is_base and not drug_flags("trastuzumab", P).is_addition
    assert drug_flags("tucatinib", P).is_addition and drug_flags("letrozole", P).is_addition
    assert drug_flags("paclitaxel", P).substitution_class == "taxane"
    assert not drug_flags("denosumab", P).anticancer
    assert drug_flags("trastuzumab deruxtecan", P) == drug_flags("eribulin", P)


def test_types_codes_and_index_duplicates() -> None:
    exposures = pa.table(
        {
            "person_id": pa.array([1, 1, 2], pa.int64()),
            "drug": pa.array([224905, 72962, 224905], pa.int64()),  # RxNorm codes as numbers
            "start_date": pa.array([dt.datetime(2024, 1, 5, 10), dt.datetime(2024, 1, 5), dt.datetime(2024, 1, 5)]),
        }
    )
    prepared = prepare_cohort(exposures, INDEX, params=P, as_of=None)
    assert prepared.rows.column("drug").to_pylist() == ["docetaxel", "trastuzumab"]
    assert prepared.rows.column("start_date").type == pa.date32()
    # the earliest of two index dates is used, and the duplicate reported
    assert prepared.persons.to_pylist() == [
        {"person_id": "1", "metastatic_diagnosis": dt.date(2024, 1, 1), "as_of": dt.date(2024, 1, 5)}
    ]
    assert prepared.report.repaired["index_duplicates"] == 1
    assert prepared.report.excluded == {"no_index_date": 1}
    assert prepared.report.persons == 2 and prepared.report.persons_without_index == 1


def test_stops_duplicates_and_clipping() -> None:
    exposures = pa.table(
        {
            "person_id": ["1"] * 6,
            "exposure_id": ["a", "b", "c", "d", "e", "f"],
            "drug": ["capecitabine", "Xeloda", "capecitabine", "eribulin", "lapatinib", "Phesgo"],
            "start_date": ["2024-02-01", "2024-02-01", "2024-02-01", "2024-03-01", "2024-02-01", "2024-02-01"],
            "end_date": ["2024-05-01", "2024-05-01", "2024-05-01", "", "2024-08-01", ""],
            "stopped": ["toxicity", "progression", "resolved", None, "progression", None],
        }
    )
    prepared = prepare_cohort(exposures, INDEX, params=P, as_of=dt.date(2024, 6, 1))
    rows = prepared.rows.to_pylist()
    assert [(r["drug"], r["end_date"], r["stopped"]) for r in rows] == [
        ("capecitabine", dt.date(2024, 5, 1), "progression"),  # duplicates merged: progression wins
        ("eribulin", dt.date(2024, 3, 1), None),
        ("lapatinib", dt.date(2024, 6, 1), None),  # its stop (at 2024-08-01) is after the cut-off: ignored
        ("pertuzumab", dt.date(2024, 2, 1), None),
        ("trastuzumab", dt.date(2024, 2, 1), None),
    ]
    assert prepared.report.repaired == {
        "stopped_ignored": 1,
        "end_defaulted_to_start": 2,
        "end_clipped_to_as_of": 1,
        "stopped_after_cutoff": 1,
        "duplicate_rows": 2,  # input rows b and c repeat a (Xeloda is capecitabine); Phesgo is one input row
        "index_duplicates": 1,
    }
    assert prepared.sources.num_rows == 6 and prepared.report.rows_used == 6


def test_default_exposure_id_is_the_one_based_row_number() -> None:
    exposures = pa.table({"person_id": ["1", "1"], "drug": ["eribulin", "Zometa"], "start_date": ["2024-02-01"] * 2})
    prepared = prepare_cohort(exposures, INDEX, params=P, as_of=None)
    assert prepared.sources.column("exposure_id").to_pylist() == ["1"]  # row 1, as the messages number it
    assert prepared.report.examples["supportive"] == ["row 2 (person 1): drug 'Zometa', start 2024-02-01"]


def test_repeated_exposure_id_is_an_error() -> None:
    exposures = pa.table(
        {"person_id": ["1", "1"], "exposure_id": ["x", "x"], "drug": ["eribulin"] * 2, "start_date": ["2024-02-01"] * 2}
    )
    with pytest.raises(InputError, match="exposure_id"):
        prepare_cohort(exposures, INDEX, params=P, as_of=None)


def test_complete_lines_and_assign_rows() -> None:
    core = pa.table(
        {
            "person_id": ["1", "1"],
            "line": [2, 1],
            "drugs": [["trastuzumab deruxtecan"], ["trastuzumab", "docetaxel"]],
            "start_date": [dt.date(2024, 5, 1), dt.date(2024, 1, 1)],
            "end_date": [dt.date(2024, 5, 1), dt.date(2024, 3, 1)],
            "n_exposures": [1, 4],
            "open_rule": ["new_drug", "first_exposure"],
            "close_rule": ["ongoing", "new_drug"],
            "end_reason": ["ongoing", "switched"],
        }
    )
    lines = complete_lines(core)
    assert lines.schema.equals(lines_schema())
    first, second = lines.to_pylist()
    assert first["regimen"] == "docetaxel + trastuzumab" and first["time_on_treatment_days"] == 61
    assert (first["time_to_next_treatment_days"], first["ttnt_censored"]) == (121, False)
    assert (second["time_to_next_treatment_days"], second["ttnt_censored"]) == (None, True)
    exposures = pa.table({"person_id": ["1"], "drug": ["eribulin"], "start_date": ["2024-02-01"]})
    prepared = prepare_cohort(exposures, INDEX, params=P, as_of=None)
    with pytest.raises(EngineError):
        assign_rows(pa.table({"person_id": ["1"], "start_date": [dt.date(2024, 2, 2)], "line": [1]}), prepared)
    got = assign_rows(pa.table({"person_id": ["1"], "start_date": [dt.date(2024, 2, 1)], "line": [1]}), prepared)
    assert got.to_pylist() == [{"person_id": "1", "exposure_id": "1", "line": 1}]
