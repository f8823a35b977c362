"""The reference line-of-therapy engine, rule by rule (notes/lines-spec.md), on small hand-made histories."""

from __future__ import annotations

import datetime as dt
import doctest
from typing import Any

import pytest

from oncoline.engines.lines import reference
from oncoline.engines.lines.params import LineParams, load_line_params
from oncoline.engines.lines.reference import derive_lines
from oncoline.errors import InputError, UnknownDrugError
from oncoline.model import Exposure
from oncoline.model.lines import LinesResult

D0 = dt.date(2024, 1, 1)
DX = dt.date(2023, 12, 20)


def day(n: int) -> dt.date:
    """Day ``n`` after 2024-01-01."""
    return D0 + dt.timedelta(days=n)


def row(drug: str, start: int, end: int | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"drug": drug, "start": day(start), **extra}
    if end is not None:
        out["end"] = day(end)
    return out


def cycles(drug: str, first: int, n: int, every: int = 21) -> list[dict[str, Any]]:
    return [row(drug, first + every * i) for i in range(n)]


def run(rows: list[dict[str, Any]], *, params: LineParams | None = None, **kw: Any) -> LinesResult:
    kw.setdefault("metastatic_diagnosis", DX)
    return derive_lines(rows, params=params or load_line_params(), **kw)


def shape(result: LinesResult) -> list[tuple[int, tuple[str, ...], str, str]]:
    return [(ln.line, ln.drugs, ln.open_rule.value, ln.close_rule.value) for ln in result.lines]


def test_doctests() -> None:
    assert doctest.testmod(reference).failed == 0


def test_no_exposures_no_lines() -> None:
    result = run([])
    assert result.lines == () and result.as_of is None and result.assignments == {}


@pytest.mark.parametrize(("gap", "n_lines"), [(120, 1), (121, 2)])
def test_gap_boundary(gap: int, n_lines: int) -> None:
    result = run([row("trastuzumab", 0), row("trastuzumab", gap)])
    assert len(result.lines) == n_lines
    if n_lines == 2:
        assert shape(result)[1][2:] == ("after_gap", "ongoing")
        assert result.lines[0].close_rule.value == "gap" and result.lines[0].end_reason.value == "gap"


def test_gap_counts_from_latest_end_not_start() -> None:
    result = run([row("capecitabine", 0, 200), row("capecitabine", 300)])
    assert len(result.lines) == 1 and result.lines[0].end == day(300)


@pytest.mark.parametrize(("offset", "n_lines"), [(28, 1), (29, 2)])
def test_regimen_window_inclusive(offset: int, n_lines: int) -> None:
    result = run([row("capecitabine", 0, 100), row("vinorelbine", offset)])
    assert len(result.lines) == n_lines


def test_drug_dropped_is_maintenance() -> None:
    rows = cycles("pertuzumab", 0, 12) + cycles("trastuzumab", 0, 12) + cycles("docetaxel", 0, 6)
    result = run(rows)
    assert shape(result) == [(1, ("docetaxel", "pertuzumab", "trastuzumab"), "first_exposure", "ongoing")]
    assert result.lines[0].n_exposures == 30


def test_taxane_substitution_joins_line() -> None:
    rows = cycles("trastuzumab", 0, 8) + cycles("docetaxel", 0, 2) + cycles("paclitaxel", 42, 8, every=7)
    result = run(rows)
    assert shape(result) == [(1, ("docetaxel", "paclitaxel", "trastuzumab"), "first_exposure", "ongoing")]


def test_non_taxane_chemo_switch_is_new_line() -> None:
    rows = cycles("trastuzumab", 0, 8) + cycles("docetaxel", 0, 2) + cycles("vinorelbine", 42, 4)
    result = run(rows)
    assert [ln.drugs for ln in result.lines] == [("docetaxel", "trastuzumab"), ("trastuzumab", "vinorelbine")]
    assert result.lines[0].end_reason.value == "switched" and result.lines[1].open_rule.value == "new_drug"


@pytest.mark.parametrize(
    ("drug", "since_base", "same_line"),
    [
        ("letrozole", 42, True),
        ("letrozole", 43, False),
        ("palbociclib", 21, True),
        ("tucatinib", 21, True),
        ("goserelin", 10, True),
        ("capecitabine", 21, False),
    ],
)
def test_maintenance_addition_needs_ongoing_antibody(drug: str, since_base: int, same_line: bool) -> None:
    # HP every 21 days up to day 84; the addition comes `since_base` days after the last HP dose
    rows = cycles("trastuzumab", 0, 5) + cycles("pertuzumab", 0, 5) + [row(drug, 84 + since_base)]
    result = run(rows)
    assert (len(result.lines) == 1) is same_line


def test_base_drug_in_same_batch_does_not_count_as_ongoing() -> None:
    # T-DXd line (no antibody): trastuzumab + letrozole starting together is a new line
    rows = [*cycles("trastuzumab deruxtecan", 0, 4), row("letrozole", 84), row("trastuzumab", 84)]
    assert len(run(rows).lines) == 2


@pytest.mark.parametrize("name", ["ado-trastuzumab emtansine", "Enhertu"])
def test_adc_after_trastuzumab_is_new_drug(name: str) -> None:
    result = run(cycles("trastuzumab", 0, 6) + cycles(name, 126, 3))
    assert len(result.lines) == 2


def test_phesgo_expands_and_substitutes() -> None:
    rows = cycles("pertuzumab", 0, 3) + cycles("Herceptin", 0, 3) + cycles("Phesgo", 63, 4)
    rows = [{**r, "exposure_id": f"r{i}"} for i, r in enumerate(rows)]
    result = run(rows)
    assert shape(result) == [(1, ("pertuzumab", "trastuzumab"), "first_exposure", "ongoing")]
    assert set(result.assignments) == {f"r{i}" for i in range(10)}
    assert result.lines[0].n_exposures == 6 + 4  # input rows: a Phesgo row is one administration


@pytest.mark.parametrize(
    ("reason", "open_rule"), [("progression", "after_progression"), ("toxicity", "after_toxicity")]
)
def test_documented_stop_ends_line(reason: str, open_rule: str) -> None:
    rows = [*cycles("trastuzumab", 0, 3), row("trastuzumab", 63, stopped=reason), *cycles("trastuzumab", 84, 3)]
    result = run(rows)
    assert len(result.lines) == 2
    first, second = result.lines
    assert first.close_rule.value == f"documented_{reason}" and first.end_reason.value == reason
    assert second.open_rule.value == open_rule and second.drugs == ("trastuzumab",)


def test_documented_stop_names_close_rule_after_a_long_pause() -> None:
    rows = [row("eribulin", 0, stopped="progression"), row("eribulin", 200)]
    first, second = run(rows).lines
    assert (first.close_rule.value, first.end_reason.value) == ("documented_progression", "progression")
    assert second.open_rule.value == "after_progression"


@pytest.mark.parametrize("reason", ["progression", "toxicity"])
@pytest.mark.parametrize("as_of", [30, 200, None])
def test_documented_stop_on_the_last_line_is_never_ongoing(reason: str, as_of: int | None) -> None:
    rows = [*cycles("trastuzumab", 0, 3), row("trastuzumab", 63, stopped=reason)]
    (line,) = run(rows, as_of=None if as_of is None else day(63 + as_of)).lines
    assert (line.close_rule.value, line.end_reason.value) == (f"documented_{reason}", reason)


def test_documented_stop_on_a_line_closed_by_a_new_drug_names_it() -> None:
    # the stop row runs past the next line's start: the new drug closes the line, the stop still names it
    rows = [row("capecitabine", 0, 100, stopped="toxicity"), row("eribulin", 50)]
    first, second = run(rows, as_of=day(120)).lines
    assert (first.close_rule.value, first.end_reason.value) == ("documented_toxicity", "toxicity")
    assert second.open_rule.value == "new_drug"


def test_stop_after_the_cutoff_is_not_known_yet() -> None:
    rows = [row("capecitabine", 0, 100, stopped="progression")]
    assert run(rows, as_of=day(50)).lines[0].close_rule.value == "ongoing"  # the stop date 100 is after it
    assert run(rows, as_of=day(100)).lines[0].close_rule.value == "documented_progression"


def test_completed_stop_does_not_end_line() -> None:
    rows = [row("trastuzumab", 0, stopped="completed"), row("trastuzumab", 21)]
    assert len(run(rows).lines) == 1


def test_supportive_never_forms_a_line() -> None:
    rows = [row("denosumab", 0), row("Zometa", 30), row("ondansetron", 60), row("dexamethasone", 61)]
    result = run(rows)
    assert result.lines == () and result.excluded == {"supportive": 4}


@pytest.mark.parametrize(("start", "kept"), [(-42, True), (-43, False)])
def test_index_lookback(start: int, kept: bool) -> None:
    # DX = day -12, lookback 30 days: day -42 (= DX - 30) is metastatic, day -43 is early setting
    result = run([row("trastuzumab", start)])
    assert bool(result.lines) is kept
    if not kept:
        assert result.excluded == {"early_setting": 1}


def test_no_index_date_excludes_everything() -> None:
    result = run([row("trastuzumab", 0)], metastatic_diagnosis=None)
    assert result.lines == () and result.excluded == {"no_index_date": 1}


def test_cutoff_excludes_later_rows_and_clips_ends() -> None:
    result = run([row("capecitabine", 0, 100), row("eribulin", 70)], as_of=day(50))
    assert result.excluded == {"after_cutoff": 1}
    (line,) = result.lines
    assert line.end == day(50) and line.time_on_treatment_days == 51 and line.close_rule.value == "ongoing"


def test_last_line_gap_at_cutoff() -> None:
    result = run([row("capecitabine", 0)], as_of=day(121))
    assert (result.lines[0].close_rule.value, result.lines[0].end_reason.value) == ("gap", "gap")
    assert run([row("capecitabine", 0)], as_of=day(120)).lines[0].close_rule.value == "ongoing"


def test_as_of_defaults_to_latest_end() -> None:
    result = run([row("capecitabine", 0, 30), row("capecitabine", 5, 60)])
    assert result.as_of == day(60)


def test_duplicates_count_once() -> None:
    rows = [row("trastuzumab", 0), row("trastuzumab", 0), row("Herceptin", 0), row("trastuzumab", 21)]
    result = run(rows)
    # each input row is an administration of the line; duplicates count once for the rules only
    assert result.lines[0].n_exposures == 4 and len(result.assignments) == 4


def test_time_on_treatment_and_next_treatment() -> None:
    rows = cycles("trastuzumab deruxtecan", 0, 3) + cycles("eribulin", 100, 2)
    first, second = run(rows).lines
    assert first.time_on_treatment_days == 43
    assert first.time_to_next_treatment_days == 100 and not first.ttnt_censored
    assert second.time_to_next_treatment_days is None and second.ttnt_censored


def test_line_ends_the_day_before_the_next_line_starts() -> None:
    """Letrozole dispensed as one row for a year, then Phesgo + paclitaxel after the window: no overlap."""
    d = dt.date.fromisoformat
    rows = [
        {"drug": "letrozole", "start": d("2022-01-01"), "end": d("2022-12-31")},
        {"drug": "Phesgo", "start": d("2022-02-01"), "end": d("2022-06-30")},
        {"drug": "paclitaxel", "start": d("2022-02-01"), "end": d("2022-04-30")},
    ]
    result = run(rows, metastatic_diagnosis=d("2021-12-20"), as_of=d("2022-12-31"))
    first, second = result.lines
    assert (first.drugs, first.start, first.end) == (("letrozole",), d("2022-01-01"), d("2022-01-31"))
    assert first.close_rule.value == "new_drug" and first.time_on_treatment_days == 31
    assert first.time_to_next_treatment_days == 31
    assert second.start == d("2022-02-01") and second.end == d("2022-06-30")
    assert second.time_on_treatment_days == 150
    assert result.assignments == {"0": 1, "1": 2, "2": 2}


def test_line_end_before_the_next_start_is_kept() -> None:
    rows = [*cycles("trastuzumab deruxtecan", 0, 3), row("eribulin", 50)]
    first, _ = run(rows).lines
    assert first.end == day(42)  # the latest row end already lies before the next start: unchanged


def test_accepts_exposure_models() -> None:
    exposures = [Exposure(drug="Kadcyla", start=day(0)), Exposure(drug="Kadcyla", start=day(21))]
    result = run(exposures)  # type: ignore[arg-type]
    assert shape(result) == [(1, ("trastuzumab emtansine",), "first_exposure", "ongoing")]
    assert result.assignments == {"0": 1, "1": 1}


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"drug": "trastuzumab", "start": None}, "missing_start"),
        ({"drug": "trastuzumab", "start": "2024-13-01"}, "bad_date"),
        ({"drug": "trastuzumab", "start": "2024-02-01", "end": "2024-01-01"}, "end_before_start"),
    ],
)
def test_bad_rows_raise_or_count(bad: dict[str, Any], reason: str) -> None:
    with pytest.raises(InputError, match=reason.replace("_", " ")):
        run([bad])
    result = run([bad, row("trastuzumab", 0)], on_bad_row="count")
    assert result.excluded == {reason: 1} and len(result.lines) == 1
    text = result.examples[reason][0]
    assert text.startswith("row 1: drug 'trastuzumab'"), text  # 1-based, as a person counts rows
    assert "None" not in text and ("end" in text) == ("end" in bad)  # empty fields are left out


def test_unknown_drug_raises_with_suggestions_or_counts() -> None:
    with pytest.raises(UnknownDrugError) as info:
        run([row("trastuzumab deruxtecn", 0)])
    assert "trastuzumab deruxtecan" in info.value.suggestions
    result = run([row("foo-mab", 0), row("foo-mab", 1), row("trastuzumab", 0)], on_unknown_drug="count")
    assert result.unknown_drugs == {"foo-mab": 2} and result.excluded == {"unknown_drug": 2}


def test_params_change_the_answer() -> None:
    rows = [row("trastuzumab", 0), row("trastuzumab", 100)]
    assert len(run(rows).lines) == 1
    assert len(run(rows, params=load_line_params({"gap_days": 90})).lines) == 2
