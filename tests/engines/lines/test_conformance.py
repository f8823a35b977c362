"""ONE conformance suite for every line-of-therapy engine (house style S17, S18).

Each engine (the pure-Python reference, DuckDB, Spark) runs the 13 shared line cases and the hypothesis
properties; the vectorised engines must also equal the reference oracle row for row. An engine is skipped
only while its module does not import yet.
"""

from __future__ import annotations

import datetime as dt
import importlib
import itertools
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pyarrow as pa
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SHARED
from oncoline.engines.lines.cohort import (
    ASSIGNMENT_COLUMNS,
    LINE_COLUMNS,
    CohortLines,
    assignments_schema,
    lines_schema,
)
from oncoline.engines.lines.params import LineParams, load_line_params
from oncoline.engines.lines.reference import derive_lines, derive_lines_reference_cohort
from strategies import Cohort, History, Row, cohorts, histories, supportive_rows

EngineFn = Callable[..., CohortLines]

_MODULES = {
    "duckdb": "oncoline.engines.lines.duckdb_engine",
    "spark": "oncoline.engines.lines.spark_engine",
}
# hypothesis examples per engine: Spark jobs take seconds each
_EXAMPLES = {"reference": 60, "duckdb": 30, "duckdb-threads": 20, "duckdb-helpers": 20, "spark": 4}

ENGINES = [
    pytest.param("reference", id="reference"),
    pytest.param("duckdb", id="duckdb"),
    pytest.param("duckdb-threads", id="duckdb-threads"),
    pytest.param("duckdb-helpers", id="duckdb-helpers"),
    pytest.param("spark", id="spark", marks=pytest.mark.spark),
]


def _threaded(exposures: pa.Table, index: pa.Table, /, **kw: Any) -> CohortLines:
    """The DuckDB engine cut into three person ranges on threads, whatever the cohort's size."""
    from oncoline.engines.lines import duckdb_engine

    before = duckdb_engine.PARALLEL_MIN_ROWS
    duckdb_engine.PARALLEL_MIN_ROWS = 0
    try:
        return duckdb_engine.derive_lines_cohort(exposures, index, workers=3, **kw)
    finally:
        duckdb_engine.PARALLEL_MIN_ROWS = before


def _helpers(exposures: pa.Table, index: pa.Table, /, **kw: Any) -> CohortLines:
    """The DuckDB engine with helper threads (columns and row halves on a pool), whatever the cohort's size."""
    from oncoline.engines.lines import _rows, duckdb_engine

    before = _rows.SPLIT_MIN_ROWS
    _rows.SPLIT_MIN_ROWS = 0
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:  # one helper beside the calling thread, as on 2 cores
            return duckdb_engine._derive_one(exposures, index, pool=pool, **kw)
    finally:
        _rows.SPLIT_MIN_ROWS = before


def _load(name: str) -> EngineFn:
    if name == "reference":
        return derive_lines_reference_cohort
    if name == "duckdb-threads":
        return _threaded
    if name == "duckdb-helpers":
        return _helpers
    try:
        module = importlib.import_module(_MODULES[name])
    except ImportError as exc:
        pytest.fail(f"{name} engine does not import: {exc}")
    fn: EngineFn = module.derive_lines_cohort
    return fn


@pytest.fixture(params=ENGINES, scope="module")
def engine(request: pytest.FixtureRequest) -> tuple[str, EngineFn]:
    return request.param, _load(request.param)


# ------------------------------------------------------------------------------------------------ helpers
EXPOSURE_SCHEMA = pa.schema(
    [
        ("person_id", pa.string()),
        ("exposure_id", pa.string()),
        ("drug", pa.string()),
        ("start_date", pa.date32()),
        ("end_date", pa.date32()),
        ("stopped", pa.string()),
    ]
)
INDEX_SCHEMA = pa.schema([("person_id", pa.string()), ("metastatic_diagnosis", pa.date32())])


def tables(cohort: Cohort) -> tuple[pa.Table, pa.Table]:
    return (
        pa.table(cohort.exposure_columns(), schema=EXPOSURE_SCHEMA),
        pa.table(cohort.index_columns(), schema=INDEX_SCHEMA),
    )


def lines_rows(result: CohortLines) -> list[dict[str, Any]]:
    return result.lines.to_pylist()


def assignment_map(result: CohortLines) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for r in result.assignments.to_pylist():
        key = (r["person_id"], r["exposure_id"])
        assert key not in out, f"row {key} assigned twice"
        out[key] = r["line"]
    return out


def _start(value: Any) -> dt.date | None:
    """A row's start as a date (None for a bad one: such a row is never assigned)."""
    if not isinstance(value, str):
        return value  # type: ignore[no-any-return]
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def check_invariants(result: CohortLines, exposures: pa.Table) -> None:
    """Partition, numbering, ordering and accounting properties every engine must satisfy."""
    assert result.lines.schema.equals(lines_schema()), result.lines.schema
    assert result.assignments.schema.equals(assignments_schema()), result.assignments.schema
    assert tuple(result.lines.column_names) == LINE_COLUMNS
    assert tuple(result.assignments.column_names) == ASSIGNMENT_COLUMNS
    report = result.report
    assert report.rows_in == exposures.num_rows
    assert report.rows_in == report.rows_used + sum(report.excluded.values())
    assigned = assignment_map(result)  # each row in at most one line
    assert len(assigned) == report.rows_used  # and every used row in one
    by_person: dict[str, list[dict[str, Any]]] = {}
    for ln in lines_rows(result):
        by_person.setdefault(ln["person_id"], []).append(ln)
    starts = {(r["person_id"], r["exposure_id"]): _start(r["start_date"]) for r in exposures.to_pylist()}
    for person, lines in by_person.items():
        assert [ln["line"] for ln in lines] == list(range(1, len(lines) + 1))
        for a, b in itertools.pairwise(lines):
            assert a["start_date"] < b["start_date"]
            assert a["end_date"] < b["start_date"], f"{person}: line {a['line']} overlaps line {b['line']}"
            assert a["time_to_next_treatment_days"] == (b["start_date"] - a["start_date"]).days
            assert not a["ttnt_censored"]
        assert lines[-1]["time_to_next_treatment_days"] is None and lines[-1]["ttnt_censored"]
        for ln in lines:
            assert ln["end_date"] >= ln["start_date"]
            assert ln["time_on_treatment_days"] == (ln["end_date"] - ln["start_date"]).days + 1
            assert ln["drugs"] == sorted(set(ln["drugs"])) and ln["regimen"] == " + ".join(ln["drugs"])
            assert ln["n_exposures"] >= 1
            # n_exposures counts the input rows assigned to the line
            assert ln["n_exposures"] == sum(1 for (p, _), n in assigned.items() if p == person and n == ln["line"])
            # a documented stop names the close rule and the end reason together, on any line
            documented = ln["close_rule"] in ("documented_progression", "documented_toxicity")
            assert documented == (ln["end_reason"] in ("progression", "toxicity")), ln
            if documented:
                assert ln["close_rule"] == f"documented_{ln['end_reason']}"
            expected_reason = {"gap": "gap", "new_drug": "switched", "ongoing": "ongoing"}
            assert documented or ln["end_reason"] == expected_reason[ln["close_rule"]], ln
        # each row belongs to the line in force on its start date
        for (p, eid), line in assigned.items():
            if p != person:
                continue
            start = starts[(p, eid)]
            assert lines[line - 1]["start_date"] <= start
            if line < len(lines):
                assert start < lines[line]["start_date"]
    assert set(by_person) == {p for p, _ in assigned}


def comparable(result: CohortLines) -> tuple[list[dict[str, Any]], dict[tuple[str, str], int]]:
    return lines_rows(result), assignment_map(result)


def _settings(name: str) -> Any:
    return settings(
        max_examples=_EXAMPLES[name],
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
    )


# ------------------------------------------------------------------------------------------- shared cases
def _cases() -> list[dict[str, Any]]:
    # parametrisation happens at collection time, before fixtures: read the path conftest resolves
    root = SHARED / "cases" / "lines" / "her2-lines.yaml"
    return [c for c in yaml.safe_load_all(root.read_text(encoding="utf-8")) if c]


CASES = _cases()


def case_tables(cases: list[dict[str, Any]]) -> tuple[pa.Table, pa.Table]:
    cols: dict[str, list[Any]] = {name: [] for name in EXPOSURE_SCHEMA.names}
    index: dict[str, list[Any]] = {"person_id": [], "metastatic_diagnosis": []}
    for case in cases:
        ev = case["events"]
        index["person_id"].append(case["id"])
        index["metastatic_diagnosis"].append(dt.date.fromisoformat(str(ev["metastatic_diagnosis"])))
        for i, r in enumerate(ev["exposures"]):
            cols["person_id"].append(case["id"])
            cols["exposure_id"].append(str(i))
            cols["drug"].append(r["drug"])
            cols["start_date"].append(dt.date.fromisoformat(str(r["start"])))
            cols["end_date"].append(dt.date.fromisoformat(str(r["end"])) if r.get("end") else None)
            cols["stopped"].append(r.get("stopped"))
    return pa.table(cols, schema=EXPOSURE_SCHEMA), pa.table(index, schema=INDEX_SCHEMA)


def check_expected(case: dict[str, Any], lines: list[dict[str, Any]]) -> None:
    want = case["expected"]["lines"]
    got = [ln for ln in lines if ln["person_id"] == case["id"]]
    assert len(got) == len(want), [g["drugs"] for g in got]
    for w, g in zip(want, got, strict=True):
        assert g["line"] == w["line"]
        assert sorted(g["drugs"]) == sorted(w["drugs"])
        assert g["start_date"].isoformat() == str(w["start"])
        if "end" in w:
            assert g["end_date"].isoformat() == str(w["end"])


def test_thirteen_shared_cases_present() -> None:
    assert len(CASES) == 13


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_shared_case(engine: tuple[str, EngineFn], case: dict[str, Any]) -> None:
    _, fn = engine
    exposures, index = case_tables([case])
    result = fn(exposures, index, params=load_line_params(case.get("params") or {}), as_of=None)
    check_expected(case, lines_rows(result))
    check_invariants(result, exposures)


def test_shared_cases_as_one_cohort(engine: tuple[str, EngineFn]) -> None:
    _, fn = engine
    cases = [c for c in CASES if not c.get("params")]
    exposures, index = case_tables(cases)
    result = fn(exposures, index, params=load_line_params(), as_of=None)
    for case in cases:
        check_expected(case, lines_rows(result))
    check_invariants(result, exposures)


# ------------------------------------------------------------------------------------------ edge inputs
def test_report_counts_every_reason(engine: tuple[str, EngineFn]) -> None:
    _, fn = engine
    exposures = pa.table(
        {
            "person_id": ["A", "A", "A", "A", "A", "A", "A", "B", "C", "A"],
            "drug": [
                "Phesgo",
                "docetaxel",
                "Zometa",
                "foo-mab",
                "trastuzumab",
                "Enhertu",
                "eribulin",
                "trastuzumab",
                "trastuzumab",
                "docetaxel",
            ],
            "start_date": [
                "2024-01-10",
                "2024-01-10",
                "2024-01-10",
                "2024-01-10",
                "2022-01-01",
                "2026-01-01",
                None,
                "2024-01-01",
                "2024-01-01",
                "2024-01-10",
            ],
            "end_date": [None, "2024-01-10", None, None, None, None, None, "2023-12-01", "2024-x", None],
            "exposure_id": [str(i) for i in range(10)],
        }
    )
    index = pa.table({"person_id": ["A", "B", "C", "D"], "metastatic_diagnosis": ["2024-01-01"] * 4})
    result = fn(exposures, index, params=load_line_params(), as_of=dt.date(2025, 1, 1))
    report = result.report
    assert report.excluded == {
        "missing_start": 1,
        "bad_date": 1,
        "end_before_start": 1,
        "unknown_drug": 1,
        "supportive": 1,
        "after_cutoff": 1,
        "early_setting": 1,
    }
    assert report.unknown_drugs == {"foo-mab": 1}
    assert report.persons == 4 and report.rows_used == 3
    assert lines_rows(result)[0]["drugs"] == ["docetaxel", "pertuzumab", "trastuzumab"]
    assert lines_rows(result)[0]["n_exposures"] == 3  # input rows 0 (Phesgo, once), 1 and 9 (a duplicate)
    assert report.repaired.get("duplicate_rows") == 1
    assert assignment_map(result) == {("A", "0"): 1, ("A", "1"): 1, ("A", "9"): 1}
    check_invariants(result, exposures)


def test_lines_do_not_overlap(engine: tuple[str, EngineFn]) -> None:
    """A year of letrozole in one row, then Phesgo + paclitaxel after the window: line 1 ends the day before."""
    _, fn = engine
    d = dt.date.fromisoformat
    exposures = pa.table(
        {
            "person_id": ["A", "A", "A", "B"],
            "exposure_id": ["1", "2", "3", "1"],
            "drug": ["letrozole", "Phesgo", "paclitaxel", "trastuzumab"],
            "start_date": [d("2022-01-01"), d("2022-02-01"), d("2022-02-01"), d("2022-01-01")],
            "end_date": [d("2022-12-31"), d("2022-06-30"), d("2022-04-30"), d("2022-03-01")],
        }
    )
    index = pa.table({"person_id": ["A", "B"], "metastatic_diagnosis": [d("2021-12-20"), d("2021-12-20")]})
    result = fn(exposures, index, params=load_line_params(), as_of=d("2022-12-31"))
    got = [
        (r["person_id"], r["line"], r["regimen"], r["start_date"], r["end_date"], r["time_on_treatment_days"])
        for r in lines_rows(result)
    ]
    assert got == [
        ("A", 1, "letrozole", d("2022-01-01"), d("2022-01-31"), 31),
        ("A", 2, "paclitaxel + pertuzumab + trastuzumab", d("2022-02-01"), d("2022-06-30"), 150),
        ("B", 1, "trastuzumab", d("2022-01-01"), d("2022-03-01"), 60),  # the next person's line is not cut
    ]
    assert lines_rows(result)[0]["time_to_next_treatment_days"] == 31
    check_invariants(result, exposures)


def test_documented_stop_names_the_close_rule_on_every_line(engine: tuple[str, EngineFn]) -> None:
    """Last line or not, after a long pause or not: a documented stop closes the line by name; a stop dated
    after the cut-off is not known yet (the line is ongoing)."""
    _, fn = engine
    d = dt.date.fromisoformat
    rows = [
        ("A", "1", "trastuzumab deruxtecan", "2024-01-01", "2024-01-01", None),
        ("A", "2", "trastuzumab deruxtecan", "2024-01-22", "2024-01-22", "progression"),  # last line, 10 days ago
        ("B", "1", "eribulin", "2024-01-01", "2024-01-01", "toxicity"),
        ("B", "2", "eribulin", "2024-08-01", "2024-08-01", None),  # after a pause longer than gap_days
        ("B", "3", "eribulin", "2024-08-22", "2024-08-22", None),
        ("C", "1", "capecitabine", "2024-01-20", "2024-03-31", "progression"),  # stop after the cut-off
    ]
    exposures = pa.table(
        {
            name: [r[i] if i < 3 or i == 5 else d(r[i]) for r in rows]
            for i, name in enumerate(("person_id", "exposure_id", "drug", "start_date", "end_date", "stopped"))
        },
        schema=EXPOSURE_SCHEMA,
    )
    index = pa.table({"person_id": ["A", "B", "C"], "metastatic_diagnosis": [d("2023-12-20")] * 3}, schema=INDEX_SCHEMA)
    result = fn(exposures, index, params=load_line_params(), as_of=d("2024-02-01"))
    got = [(r["person_id"], r["line"], r["open_rule"], r["close_rule"], r["end_reason"]) for r in lines_rows(result)]
    assert got == [
        ("A", 1, "first_exposure", "documented_progression", "progression"),
        ("B", 1, "first_exposure", "documented_toxicity", "toxicity"),  # not ongoing: its stop is documented
        ("C", 1, "first_exposure", "ongoing", "ongoing"),
    ]
    assert result.report.repaired["stopped_after_cutoff"] == 1
    later = fn(exposures, index, params=load_line_params(), as_of=d("2024-12-31"))
    got = [(r["person_id"], r["line"], r["open_rule"], r["close_rule"], r["end_reason"]) for r in lines_rows(later)]
    assert got == [
        ("A", 1, "first_exposure", "documented_progression", "progression"),
        ("B", 1, "first_exposure", "documented_toxicity", "toxicity"),
        ("B", 2, "after_toxicity", "gap", "gap"),
        ("C", 1, "first_exposure", "documented_progression", "progression"),
    ]
    check_invariants(later, exposures)


def test_person_without_index(engine: tuple[str, EngineFn]) -> None:
    _, fn = engine
    exposures = pa.table({"person_id": ["X", "Y"], "drug": ["trastuzumab"] * 2, "start_date": ["2024-01-01"] * 2})
    index = pa.table({"person_id": ["Y"], "metastatic_diagnosis": ["2024-01-01"]})
    result = fn(exposures, index, params=load_line_params(), as_of=None)
    assert result.report.excluded == {"no_index_date": 1}
    assert result.report.persons_without_index == 1
    assert [r["person_id"] for r in lines_rows(result)] == ["Y"]


def test_impossible_calendar_dates_are_bad_dates(engine: tuple[str, EngineFn]) -> None:
    """2024-02-30 and 2023-02-29 do not exist: bad dates on every engine, never rolled over to March."""
    _, fn = engine
    exposures = pa.table(
        {
            "person_id": ["A", "A", "A", "A"],
            "exposure_id": ["1", "2", "3", "4"],
            "drug": ["trastuzumab", "trastuzumab", "docetaxel", "trastuzumab"],
            "start_date": ["2024-02-01", "2024-02-30", "2024-02-01", "1899-12-31"],
            "end_date": [None, None, "2023-02-29", None],
        }
    )
    index = pa.table({"person_id": ["A"], "metastatic_diagnosis": ["2024-01-15"]})
    result = fn(exposures, index, params=load_line_params(), as_of=dt.date(2024, 6, 1))
    assert result.report.excluded == {"bad_date": 3}
    assert [(r["line"], r["drugs"]) for r in lines_rows(result)] == [(1, ["trastuzumab"])]
    shown = result.report.examples["bad_date"]
    assert "start_date '2024-02-30' is not a date in the form YYYY-MM-DD" in shown[0]
    assert "end_date '2023-02-29' is not a date in the form YYYY-MM-DD" in shown[1]
    assert "before 1900" in shown[2]
    check_invariants(result, exposures)


BAD_INDEX_VALUES = ["01/05/2022", "2022-02-30", "1850-01-01", "soon", "2022-01-05x"]


@pytest.mark.parametrize("value", BAD_INDEX_VALUES)
def test_bad_index_value_means_no_index_date_on_every_engine(engine: tuple[str, EngineFn], value: str) -> None:
    """An index value that is not a plausible YYYY-MM-DD date is ignored and counted — never day 0 (1970), which
    would make adjuvant therapy line 1 — and the person's rows are ``no_index_date`` (engines agree)."""
    name, fn = engine
    exposures = pa.table(
        {
            "person_id": ["A", "A", "B"],
            "exposure_id": ["1", "2", "1"],
            "drug": ["trastuzumab", "Enhertu", "trastuzumab"],
            "start_date": ["2019-03-01", "2022-02-01", "2022-02-01"],  # A: adjuvant 2019, metastatic 2022
        }
    )
    index = pa.table({"person_id": ["A", "B"], "metastatic_diagnosis": [value, "2022-01-05"]})
    result = fn(exposures, index, params=load_line_params(), as_of=dt.date(2022, 6, 1))
    assert result.report.excluded == {"no_index_date": 2}
    assert result.report.persons_without_index == 1
    assert result.report.repaired["index_bad_dates"] == 1
    assert result.report.examples["index_bad_dates"][0].startswith("row 1 of the index (person A): ")
    assert [r["person_id"] for r in lines_rows(result)] == ["B"]
    check_invariants(result, exposures)
    if name != "reference":
        oracle = derive_lines_reference_cohort(exposures, index, params=load_line_params(), as_of=dt.date(2022, 6, 1))
        assert comparable(result) == comparable(oracle) and result.report == oracle.report


def test_bad_index_value_beside_a_good_one_keeps_the_good_one(engine: tuple[str, EngineFn]) -> None:
    _, fn = engine
    exposures = pa.table({"person_id": ["A"], "drug": ["trastuzumab"], "start_date": ["2022-02-01"]})
    index = pa.table({"person_id": ["A", "A"], "metastatic_diagnosis": ["2022-01-32", "2022-01-05"]})
    result = fn(exposures, index, params=load_line_params(), as_of=dt.date(2022, 6, 1))
    assert result.report.rows_used == 1 and result.report.repaired == {
        "index_bad_dates": 1,
        "end_defaulted_to_start": 1,
    }


def test_index_after_the_cutoff_is_reported(engine: tuple[str, EngineFn]) -> None:
    _, fn = engine
    exposures = pa.table({"person_id": ["A"], "drug": ["trastuzumab"], "start_date": ["2022-02-01"]})
    index = pa.table({"person_id": ["A"], "metastatic_diagnosis": ["2023-01-05"]})
    result = fn(exposures, index, params=load_line_params(), as_of=dt.date(2022, 6, 1))
    assert result.report.repaired["index_after_cutoff"] == 1
    assert "after the data cut-off 2022-06-01" in result.report.examples["index_after_cutoff"][0]


def test_undocumented_stop_and_unknown_drug_are_explained(engine: tuple[str, EngineFn]) -> None:
    """Never a silent drop: an undocumented ``stopped`` value is counted with the rows and the words "no line
    boundary"; an unknown drug's example names the closest known drug."""
    _, fn = engine
    exposures = pa.table(
        {
            "person_id": ["A", "A", "A"],
            "drug": ["trastuzumab", "Herceptn", "docetaxel"],
            "start_date": ["2022-02-01", "2022-02-01", "2022-02-01"],
            "stopped": ["PD", None, "Progression "],
        }
    )
    index = pa.table({"person_id": ["A"], "metastatic_diagnosis": ["2022-01-05"]})
    result = fn(exposures, index, params=load_line_params(), as_of=dt.date(2022, 6, 1))
    assert result.report.repaired["stopped_ignored"] == 1
    (stop_example,) = result.report.examples["stopped_ignored"]
    assert stop_example.startswith("row 1 ") and "'PD'" in stop_example and "no line boundary" in stop_example
    assert "did you mean herceptin (trastuzumab)" in result.report.examples["unknown_drug"][0]


def test_empty_cohort(engine: tuple[str, EngineFn]) -> None:
    _, fn = engine
    exposures = pa.table(
        {name: pa.array([], f.type) for name, f in zip(EXPOSURE_SCHEMA.names, EXPOSURE_SCHEMA, strict=True)}
    )
    index = pa.table({"person_id": pa.array([], pa.string()), "metastatic_diagnosis": pa.array([], pa.date32())})
    result = fn(exposures, index, params=load_line_params(), as_of=dt.date(2025, 1, 1))
    assert result.lines.num_rows == 0 and result.assignments.num_rows == 0
    assert result.lines.schema.equals(lines_schema())


# ----------------------------------------------------------------------------------------------- properties
@st.composite
def _cohort_and_params(draw: st.DrawFn) -> tuple[Cohort, LineParams]:
    cohort = draw(cohorts(max_persons=4))
    params = load_line_params(
        draw(
            st.sampled_from(
                [
                    {},
                    {},
                    {"gap_days": 60},
                    {"regimen_window_days": 14, "maintenance_ongoing_days": 21},
                    {"index_lookback_days": 0},
                    {"toxicity_stop_ends_line": "any_drug"},  # the earlier rule, kept for sensitivity analyses
                ]
            )
        )
    )
    return cohort, params


def test_properties_and_oracle(engine: tuple[str, EngineFn]) -> None:
    name, fn = engine

    @_settings(name)
    @given(_cohort_and_params(), st.booleans())
    def prop(cp: tuple[Cohort, LineParams], with_cutoff: bool) -> None:
        cohort, params = cp
        exposures, index = tables(cohort)
        as_of = cohort.as_of if with_cutoff else None
        result = fn(exposures, index, params=params, as_of=as_of)
        check_invariants(result, exposures)
        if name != "reference":
            oracle = derive_lines_reference_cohort(exposures, index, params=params, as_of=as_of)
            assert comparable(result) == comparable(oracle)
            assert result.report == oracle.report

    prop()


def test_order_and_duplicates_change_nothing(engine: tuple[str, EngineFn]) -> None:
    name, fn = engine

    @_settings(name)
    @given(cohorts(max_persons=3), st.randoms(use_true_random=False))
    def prop(cohort: Cohort, rnd: Any) -> None:
        exposures, index = tables(cohort)
        base = fn(exposures, index, params=load_line_params(), as_of=cohort.as_of)
        rows = exposures.to_pylist()
        dupes = [dict(r, exposure_id=r["exposure_id"] + "-dup") for r in rows if rnd.random() < 0.3]
        shuffled = rows + dupes
        rnd.shuffle(shuffled)
        other = fn(
            pa.Table.from_pylist(shuffled, schema=EXPOSURE_SCHEMA), index, params=load_line_params(), as_of=cohort.as_of
        )
        got = assignment_map(other)
        n_dupes = Counter((p, line) for (p, eid), line in got.items() if eid.endswith("-dup"))

        def without_count(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [{k: v for k, v in r.items() if k != "n_exposures"} for r in rows]

        assert without_count(lines_rows(other)) == without_count(lines_rows(base))
        for a, b in zip(lines_rows(other), lines_rows(base), strict=True):
            assert a["n_exposures"] == b["n_exposures"] + n_dupes[(a["person_id"], a["line"])]
        assert other.report.repaired.get("duplicate_rows", 0) >= sum(n_dupes.values())
        want = assignment_map(base)
        assert {k: v for k, v in got.items() if not k[1].endswith("-dup")} == want
        for (p, eid), line in got.items():
            if eid.endswith("-dup"):
                assert want[(p, eid.removesuffix("-dup"))] == line

    prop()


def test_supportive_and_late_rows_change_nothing(engine: tuple[str, EngineFn]) -> None:
    name, fn = engine

    @_settings(name)
    @given(histories(), st.data())
    def prop(history: History, data: st.DataObject) -> None:
        cohort = Cohort((history,), history.as_of)
        exposures, index = tables(cohort)
        base = fn(exposures, index, params=load_line_params(), as_of=history.as_of)
        extra = data.draw(supportive_rows(history.metastatic_diagnosis))
        late_day = history.as_of + dt.timedelta(days=data.draw(st.integers(1, 400)))
        late = [Row(data.draw(st.sampled_from(["eribulin", "trastuzumab", "Enhertu"])), late_day)]
        more = replace(history, rows=history.rows + tuple(extra) + tuple(late))
        exposures2, index2 = tables(Cohort((more,), history.as_of))
        other = fn(exposures2, index2, params=load_line_params(), as_of=history.as_of)
        assert lines_rows(other) == lines_rows(base)
        assert assignment_map(other) == assignment_map(base)
        assert other.report.excluded.get("supportive", 0) >= len(extra)
        assert other.report.excluded.get("after_cutoff", 0) >= 1

    prop()


@settings(max_examples=60, deadline=None)
@given(histories(), st.booleans())
def test_single_patient_equals_cohort_reference(history: History, with_cutoff: bool) -> None:
    """derive_lines (one patient, pure Python preparation) agrees with prepare_cohort + the same kernel."""
    params = load_line_params()
    as_of = history.as_of if with_cutoff else None
    single = derive_lines(
        [{**r.as_dict(), "exposure_id": f"P1-{i}"} for i, r in enumerate(history.rows)],
        metastatic_diagnosis=history.metastatic_diagnosis,
        params=params,
        as_of=as_of,
        person_id="P1",
    )
    exposures, index = tables(Cohort((history,), history.as_of))
    cohort = derive_lines_reference_cohort(exposures, index, params=params, as_of=as_of)
    want = lines_rows(cohort)
    got = [
        {
            "person_id": ln.person_id,
            "line": ln.line,
            "regimen": ln.regimen,
            "drugs": list(ln.drugs),
            "start_date": ln.start,
            "end_date": ln.end,
            "n_exposures": ln.n_exposures,
            "open_rule": ln.open_rule.value,
            "close_rule": ln.close_rule.value,
            "end_reason": ln.end_reason.value,
            "time_on_treatment_days": ln.time_on_treatment_days,
            "time_to_next_treatment_days": ln.time_to_next_treatment_days,
            "ttnt_censored": ln.ttnt_censored,
        }
        for ln in single.lines
    ]
    assert got == want
    assert {("P1", k): v for k, v in single.assignments.items()} == assignment_map(cohort)
    assert Counter(single.excluded) == Counter(cohort.report.excluded)
