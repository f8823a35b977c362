"""Partial and malformed FHIR dates: precision kept, nothing invented."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.io.fhir.fhir_builders import bundle, med, read, rx

from oncoline.io.fhir.dates import parse_fhir_date


@pytest.mark.parametrize(
    ("text", "precision", "date"),
    [
        ("2019", "year", None),
        ("2019-06", "month", None),
        ("2019-06-15", "day", dt.date(2019, 6, 15)),
        ("2017-07-28T23:41:09-04:00", "day", dt.date(2017, 7, 28)),  # local date, not the UTC 29 July
        ("2017-07-28T23:41:09Z", "day", dt.date(2017, 7, 28)),
        ("2017-07-28T23:41:09.044+05:30", "day", dt.date(2017, 7, 28)),
    ],
)
def test_fhir_dates_keep_their_precision(text: str, precision: str, date: dt.date | None) -> None:
    pd = parse_fhir_date(text)
    assert pd.precision == precision
    assert pd.date == date
    assert pd.problem is None


def test_year_only_is_never_first_of_january() -> None:
    pd = parse_fhir_date("2019")
    assert pd.date is None
    assert str(pd) == "2019"


@pytest.mark.parametrize(
    ("text", "date", "fragment"),
    [
        ("20190312", dt.date(2019, 3, 12), "ISO 8601 basic"),
        ("12/31/2020", dt.date(2020, 12, 31), "only valid day/month order"),
        ("31/12/2020", dt.date(2020, 12, 31), "only valid day/month order"),
        ("2019-04-02T10:30:00", dt.date(2019, 4, 2), "no time zone"),
    ],
)
def test_readable_non_fhir_dates_are_read_and_reported(text: str, date: dt.date, fragment: str) -> None:
    pd = parse_fhir_date(text)
    assert pd.date == date
    assert pd.problem is not None and fragment in pd.problem


@pytest.mark.parametrize("text", ["3/4/2021", "YYYY-MM-DD", "2019-13-01", "2019-02-30", "soon", ""])
def test_unreadable_or_ambiguous_dates_give_no_date(text: str) -> None:
    pd = parse_fhir_date(text)
    assert pd.date is None
    assert pd.precision == "none"
    assert pd.problem


def test_us_style_ambiguity_names_both_readings() -> None:
    problem = parse_fhir_date("3/4/2021").problem or ""
    assert "3 April" in problem and "March 4" in problem


@settings(max_examples=200, deadline=None)
@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31)))
def test_partial_forms_of_any_date_never_invent_a_day(day: dt.date) -> None:
    assert parse_fhir_date(day.isoformat()).date == day
    assert parse_fhir_date(day.isoformat()[:7]).date is None
    assert parse_fhir_date(day.isoformat()[:4]).date is None
    assert parse_fhir_date(day.strftime("%Y%m%d")).date == day


def test_us_style_date_is_reported_and_not_used() -> None:
    patient, report = read(bundle(med("m1", "3/4/2021", medicationCodeableConcept=rx("72962"))))
    assert patient.exposures == []
    [bad] = [f for f in report.problems if f.code == "bad_date"]
    assert bad.resource == "MedicationAdministration/m1" and "ambiguous" in bad.message


def test_compact_date_is_read_and_reported() -> None:
    patient, report = read(bundle(med("m1", "20190312", medicationCodeableConcept=rx("72962"))))
    assert [(e.drug, e.start) for e in patient.exposures] == [("docetaxel", dt.date(2019, 3, 12))]
    assert ("MedicationAdministration/m1", "bad_date") in {(f.resource, f.code) for f in report.problems}
