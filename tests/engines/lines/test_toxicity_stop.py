"""A documented toxicity stop of ONE drug while the rest of the line continues (issue 10; docs/lines.md rule 2).

Reference §0.1 ("induction → planned de-escalation is one line; a change for progression or intolerance starts
a new line") and §a.3 ("stop taxane …; continue HP until PD/toxicity"): a drug dropped for intolerance while the
others of the line carry on is a de-escalation — the same line. A change after the stop (a new drug that is
neither a substitution nor a maintenance addition, a restart of the stopped drug, every drug of the line
stopped) still starts a new line ``after_toxicity``; a progression stop still ends the line whatever continues.
``toxicity_stop_ends_line: any_drug`` keeps the earlier rule (every toxicity stop ends the line).

Each history runs through the reference oracle (one person) and the DuckDB engine (the shared compiled kernel),
so every expectation holds for both.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pytest

from oncoline.engines.lines import duckdb_engine
from oncoline.engines.lines.params import LineParams, load_line_params
from oncoline.engines.lines.reference import derive_lines

D0 = dt.date(2024, 1, 1)
DX = dt.date(2023, 12, 20)
NEW = load_line_params()
OLD = load_line_params({"toxicity_stop_ends_line": "any_drug"})

Shape = list[tuple[int, str, str, str, str]]
"""(line, regimen, open rule, close rule, end reason) per line."""


def day(n: int) -> dt.date:
    return D0 + dt.timedelta(days=n)


def row(drug: str, start: int, stopped: str | None = None) -> dict[str, Any]:
    return {"drug": drug, "start": day(start), "end": day(start), "stopped": stopped}


def q3w(drug: str, first: int, n: int, stopped: str | None = None) -> list[dict[str, Any]]:
    """``n`` infusions every 21 days from day ``first``; ``stopped`` on the last one."""
    return [row(drug, first + 21 * i, stopped if i == n - 1 else None) for i in range(n)]


def thp(taxane_cycles: int, taxane_stop: str | None, hp_cycles: int) -> list[dict[str, Any]]:
    """Pertuzumab + trastuzumab every 21 days from day 0; the taxane stopped after ``taxane_cycles``."""
    return [*q3w("pertuzumab", 0, hp_cycles), *q3w("trastuzumab", 0, hp_cycles), *q3w("docetaxel", 0, taxane_cycles)]


def shapes(rows: list[dict[str, Any]], params: LineParams, as_of: dt.date) -> tuple[Shape, Shape]:
    """The lines of one person by the reference oracle and by the DuckDB engine (compiled kernel)."""
    one = derive_lines(rows, metastatic_diagnosis=DX, params=params, as_of=as_of)
    ref = [(ln.line, ln.regimen, ln.open_rule.value, ln.close_rule.value, ln.end_reason.value) for ln in one.lines]
    exposures = pa.table(
        {
            "person_id": ["P"] * len(rows),
            "exposure_id": [str(i) for i in range(len(rows))],
            "drug": [r["drug"] for r in rows],
            "start_date": pa.array([r["start"] for r in rows], pa.date32()),
            "end_date": pa.array([r["end"] for r in rows], pa.date32()),
            "stopped": pa.array([r["stopped"] for r in rows], pa.string()),
        }
    )
    index = pa.table({"person_id": ["P"], "metastatic_diagnosis": pa.array([DX], pa.date32())})
    cohort = duckdb_engine.derive_lines_cohort(exposures, index, params=params, as_of=as_of)
    fast = [
        (r["line"], r["regimen"], r["open_rule"], r["close_rule"], r["end_reason"]) for r in cohort.lines.to_pylist()
    ]
    return ref, fast


def lines_of(rows: list[dict[str, Any]], params: LineParams = NEW, as_of: int = 700) -> Shape:
    ref, fast = shapes(rows, params, day(as_of))
    assert ref == fast, (ref, fast)
    return ref


THP = "docetaxel + pertuzumab + trastuzumab"
HP = "pertuzumab + trastuzumab"


def with_stop(rows: list[dict[str, Any]], drug: str, start: int, stopped: str) -> list[dict[str, Any]]:
    """``rows`` with ``stopped`` on the row of ``drug`` that starts on day ``start``."""
    out = [dict(r) for r in rows]
    (hit,) = [r for r in out if r["drug"] == drug and r["start"] == day(start)]
    hit["stopped"] = stopped
    return out


def test_taxane_stopped_for_toxicity_then_hp_continues_is_one_line() -> None:
    # THP; docetaxel stopped for neuropathy after 4 cycles (day 63); HP carries on to day 399 (reference §a.3)
    rows = with_stop(thp(4, None, 20), "docetaxel", 63, "toxicity")
    assert lines_of(rows, as_of=420) == [(1, THP, "first_exposure", "ongoing", "ongoing")]


def test_the_old_rule_made_hp_a_second_line() -> None:
    # the clinical error this change fixes, kept reachable for sensitivity analyses (any_drug)
    rows = with_stop(thp(4, None, 20), "docetaxel", 63, "toxicity")
    assert lines_of(rows, OLD, as_of=420) == [
        (1, THP, "first_exposure", "documented_toxicity", "toxicity"),
        (2, HP, "after_toxicity", "ongoing", "ongoing"),
    ]


def test_leftover_dose_the_day_after_the_stop_joins_the_line() -> None:
    # the generated cohort's ≤ 1-day lines: HP the day after the taxane stop, then T-DXd
    rows = [*with_stop(thp(4, None, 4), "docetaxel", 63, "toxicity"), row("pertuzumab", 64), row("trastuzumab", 64)]
    rows += q3w("trastuzumab deruxtecan", 150, 3)
    assert lines_of(rows, as_of=200) == [
        (1, THP, "first_exposure", "new_drug", "switched"),  # ended by the switch, not by the toxicity stop
        (2, "trastuzumab deruxtecan", "new_drug", "ongoing", "ongoing"),
    ]


def test_taxane_toxicity_stop_then_tdxd_is_a_new_line_after_toxicity() -> None:
    # every drug of THP stops on day 63 (docetaxel for toxicity); the next exposure is a new drug
    rows = with_stop(thp(4, None, 4), "docetaxel", 63, "toxicity") + q3w("trastuzumab deruxtecan", 84, 4)
    assert lines_of(rows, as_of=200) == [
        (1, THP, "first_exposure", "documented_toxicity", "toxicity"),
        (2, "trastuzumab deruxtecan", "after_toxicity", "ongoing", "ongoing"),
    ]


def test_new_drug_with_the_rest_after_the_stop_is_a_change() -> None:
    # capecitabine + lapatinib: lapatinib stopped for diarrhoea (day 21); the next day brings capecitabine with
    # trastuzumab in its place: a change for intolerance
    rows = [*q3w("capecitabine", 0, 2), *q3w("lapatinib", 0, 2, stopped="toxicity")]
    rows += [*q3w("capecitabine", 42, 3), *q3w("trastuzumab", 42, 3)]
    assert lines_of(rows, as_of=140) == [
        (1, "capecitabine + lapatinib", "first_exposure", "documented_toxicity", "toxicity"),
        (2, "capecitabine + trastuzumab", "after_toxicity", "ongoing", "ongoing"),
    ]


def test_a_line_that_continued_after_the_stop_ends_by_what_ended_it() -> None:
    # capecitabine alone continued after the lapatinib stop (day 42): the stop is a de-escalation; trastuzumab
    # added on day 63 is then an ordinary switch, not a line ended by toxicity
    rows = [*q3w("capecitabine", 0, 3), *q3w("lapatinib", 0, 2, stopped="toxicity")]
    rows += [*q3w("capecitabine", 63, 3), *q3w("trastuzumab", 63, 3)]
    assert lines_of(rows, as_of=140) == [
        (1, "capecitabine + lapatinib", "first_exposure", "new_drug", "switched"),
        (2, "capecitabine + trastuzumab", "new_drug", "ongoing", "ongoing"),
    ]


def test_the_regimen_window_admits_no_new_drug_after_a_toxicity_stop() -> None:
    # lapatinib stopped for toxicity on day 7; trastuzumab on day 14 is within the 28-day window but a change
    rows = [row("capecitabine", 0), row("lapatinib", 0), row("lapatinib", 7, "toxicity")]
    rows += [row("capecitabine", 14), row("trastuzumab", 14)]
    assert [s[2] for s in lines_of(rows, as_of=60)] == ["first_exposure", "after_toxicity"]


def test_restarting_the_stopped_drug_is_a_new_line() -> None:
    # docetaxel stopped for toxicity; HP continues (same line); docetaxel restarted months later: a rechallenge
    rows = with_stop(thp(4, None, 12), "docetaxel", 63, "toxicity") + q3w("docetaxel", 168, 3)
    assert lines_of(rows, as_of=300) == [
        (1, THP, "first_exposure", "documented_toxicity", "toxicity"),
        (2, THP, "after_toxicity", "ongoing", "ongoing"),
    ]


def test_every_drug_stopped_for_toxicity_then_the_same_drugs_is_a_new_line() -> None:
    rows = [*q3w("trastuzumab deruxtecan", 0, 4, stopped="toxicity"), *q3w("trastuzumab deruxtecan", 105, 3)]
    assert lines_of(rows, as_of=200) == [
        (1, "trastuzumab deruxtecan", "first_exposure", "documented_toxicity", "toxicity"),
        (2, "trastuzumab deruxtecan", "after_toxicity", "ongoing", "ongoing"),
    ]
    # several drugs, each stopped for toxicity on its last dose
    rows = [*q3w("capecitabine", 0, 3, stopped="toxicity"), *q3w("lapatinib", 0, 3, stopped="toxicity")]
    rows += [*q3w("capecitabine", 70, 2), *q3w("lapatinib", 70, 2)]
    assert [s[2:] for s in lines_of(rows, as_of=120)] == [
        ("first_exposure", "documented_toxicity", "toxicity"),
        ("after_toxicity", "ongoing", "ongoing"),
    ]


def test_progression_stop_on_one_drug_ends_the_line_whatever_continues() -> None:
    rows = with_stop(thp(4, None, 12), "docetaxel", 63, "progression") + q3w("trastuzumab deruxtecan", 260, 2)
    assert lines_of(rows, as_of=300) == [
        (1, THP, "first_exposure", "documented_progression", "progression"),
        (2, HP, "after_progression", "new_drug", "switched"),
        (3, "trastuzumab deruxtecan", "new_drug", "ongoing", "ongoing"),
    ]


def test_progression_after_a_continued_toxicity_stop_ends_the_line() -> None:
    rows = with_stop(thp(4, None, 10), "docetaxel", 63, "toxicity")
    rows = with_stop(rows, "trastuzumab", 189, "progression") + q3w("trastuzumab deruxtecan", 210, 2)
    assert lines_of(rows, as_of=260) == [
        (1, THP, "first_exposure", "documented_progression", "progression"),
        (2, "trastuzumab deruxtecan", "after_progression", "ongoing", "ongoing"),
    ]


def test_toxicity_stop_on_the_last_exposure_day_is_never_ongoing() -> None:
    # the whole line's last day carries the stop: nothing continued after it (as before)
    rows = with_stop(thp(4, None, 4), "docetaxel", 63, "toxicity")
    assert lines_of(rows, as_of=90) == [(1, THP, "first_exposure", "documented_toxicity", "toxicity")]


def test_long_pause_after_a_toxicity_stop_is_after_toxicity_not_after_gap() -> None:
    rows = with_stop(thp(4, None, 4), "docetaxel", 63, "toxicity") + q3w("pertuzumab", 300, 2)
    assert [s[2:] for s in lines_of(rows, as_of=330)] == [
        ("first_exposure", "documented_toxicity", "toxicity"),
        ("after_toxicity", "ongoing", "ongoing"),
    ]


def test_taxane_substitution_after_a_toxicity_stop_is_the_same_line() -> None:
    # paclitaxel hypersensitivity: docetaxel replaces it, HP continues — substitution (rule 6)
    rows = [*q3w("pertuzumab", 0, 8), *q3w("trastuzumab", 0, 8), row("paclitaxel", 0, "toxicity")]
    rows += q3w("docetaxel", 21, 4)
    assert lines_of(rows, as_of=170) == [
        (1, "docetaxel + paclitaxel + pertuzumab + trastuzumab", "first_exposure", "ongoing", "ongoing")
    ]


def test_maintenance_addition_after_a_toxicity_stop_is_the_same_line() -> None:
    # docetaxel stopped for toxicity, HP continues, letrozole added (HR-positive maintenance, reference §a.3)
    rows = with_stop(thp(4, None, 10), "docetaxel", 63, "toxicity")
    rows += [{"drug": "letrozole", "start": day(150), "end": day(177), "stopped": None}]
    assert lines_of(rows, as_of=200) == [
        (1, "docetaxel + letrozole + pertuzumab + trastuzumab", "first_exposure", "ongoing", "ongoing")
    ]


@pytest.mark.parametrize("params", [NEW, OLD], ids=["all_drugs", "any_drug"])
def test_any_drug_reproduces_every_toxicity_stop_ending_the_line(params: LineParams) -> None:
    rows = with_stop(thp(4, None, 10), "docetaxel", 63, "toxicity") + q3w("docetaxel", 168, 2)
    got = [s[2] for s in lines_of(rows, params, as_of=200)]
    # all_drugs: HP continues (same line), the docetaxel restart is a new line; any_drug: HP is line 2 and the
    # docetaxel restart a new drug of line 3
    old = ["first_exposure", "after_toxicity", "new_drug"]
    assert got == (["first_exposure", "after_toxicity"] if params is NEW else old)


def test_parameter_is_documented_data_and_checked() -> None:
    from oncoline.engines.lines.params import line_params_documentation
    from oncoline.errors import InputError

    doc = line_params_documentation()["toxicity_stop_ends_line"]
    assert doc["default"] == "all_drugs" and doc["values"] == ["all_drugs", "any_drug"]
    assert doc["effective"] == dt.date(2026, 12, 6) and "ONC-REF" in doc["source"]
    with pytest.raises(InputError, match="all_drugs"):
        load_line_params({"toxicity_stop_ends_line": "some_drugs"})
