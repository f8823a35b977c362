"""FHIR dates as they really come: partial (``2019``, ``2019-06``), with or without time and zone, or in
formats FHIR does not allow (``3/4/2021``, ``20190312``).

A :class:`PartialDate` keeps what was written and its precision. :attr:`PartialDate.date` is a
:class:`datetime.date` only when the day is known — a year-only date never becomes 1 January. The local
calendar date of a ``dateTime`` is the date as written (``2017-07-28T23:41:09-04:00`` is 28 July), not the
UTC date.

>>> parse_fhir_date("2019-06").precision
'month'
>>> parse_fhir_date("2019-06").date is None
True
>>> parse_fhir_date("2017-07-28T23:41:09-04:00").date
datetime.date(2017, 7, 28)
>>> parse_fhir_date("3/4/2021").problem
'ambiguous day/month order in "3/4/2021" (3 April or March 4); not used'
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["PartialDate", "Precision", "parse_fhir_date", "sort_key"]

Precision = Literal["year", "month", "day", "none"]

_YEAR = re.compile(r"^(\d{4})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_DATETIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_SLASH = re.compile(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{4})$")


class PartialDate(BaseModel):
    """A date as written, with its precision.

    Attributes
    ----------
    text
        The value as given in the resource.
    precision
        ``year`` | ``month`` | ``day`` | ``none`` (unreadable).
    year, month, day
        The known parts (None when unknown).
    problem
        Why the value is not plain FHIR (kept for the ingestion report), or None.
    """

    model_config = ConfigDict(frozen=True)

    text: str
    precision: Precision
    year: int | None = None
    month: int | None = None
    day: int | None = None
    problem: str | None = Field(default=None, description="What was wrong with the text and what was done.")

    @property
    def date(self) -> dt.date | None:
        """The calendar date when the day is known, else None (never a made-up day)."""
        if self.precision == "day" and self.year and self.month and self.day:
            return dt.date(self.year, self.month, self.day)
        return None

    @property
    def earliest(self) -> dt.date | None:
        """The first day the value may stand for (for ordering only, never stored as a fact)."""
        if self.year is None:
            return None
        return dt.date(self.year, self.month or 1, self.day or 1)

    @property
    def latest(self) -> dt.date | None:
        """The last day the value may stand for (for intervals and ordering only, never stored as a fact)."""
        if self.year is None:
            return None
        if self.month is None:
            return dt.date(self.year, 12, 31)
        if self.day is None:
            following = dt.date(self.year + (self.month == 12), self.month % 12 + 1, 1)
            return following - dt.timedelta(days=1)
        return dt.date(self.year, self.month, self.day)

    def __str__(self) -> str:
        if self.precision == "none":
            return self.text
        parts = [f"{self.year:04d}"]
        if self.month:
            parts.append(f"{self.month:02d}")
        if self.day:
            parts.append(f"{self.day:02d}")
        return "-".join(parts)


def _valid(y: int, m: int | None = None, d: int | None = None) -> bool:
    try:
        dt.date(y, m or 1, d or 1)
    except ValueError:
        return False
    return True


def parse_fhir_date(value: object) -> PartialDate:
    """Read a FHIR ``date``/``dateTime``/``instant`` leniently.

    Parameters
    ----------
    value
        The JSON value (a string; numbers such as ``2019`` are accepted as text).

    Returns
    -------
    PartialDate
        With ``precision`` ``none`` and a ``problem`` when the value cannot be read without guessing; with a
        ``problem`` but a usable date for readable non-FHIR forms (``20190312``, ``12/31/2020``, a time
        without zone).
    """
    text = str(value).strip()
    if m := _YEAR.match(text):
        y = int(m.group(1))
        return PartialDate(text=text, precision="year", year=y)
    if m := _MONTH.match(text):
        y, mo = int(m.group(1)), int(m.group(2))
        if _valid(y, mo):
            return PartialDate(text=text, precision="month", year=y, month=mo)
    if m := _DAY.match(text):
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if _valid(y, mo, d):
            return PartialDate(text=text, precision="day", year=y, month=mo, day=d)
    if m := _DATETIME.match(text):
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if _valid(y, mo, d):
            problem = None
            if m.group(8) is None:
                problem = f'"{text}" has a time but no time zone; its calendar date as written is used'
            return PartialDate(text=text, precision="day", year=y, month=mo, day=d, problem=problem)
    if m := _COMPACT.match(text):
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if _valid(y, mo, d):
            return PartialDate(
                text=text,
                precision="day",
                year=y,
                month=mo,
                day=d,
                problem=f'"{text}" is not a FHIR date; read as ISO 8601 basic format {y:04d}-{mo:02d}-{d:02d}',
            )
    if m := _SLASH.match(text):
        a, b, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if a <= 12 and b <= 12 and a != b:
            return PartialDate(
                text=text,
                precision="none",
                problem=f'ambiguous day/month order in "{text}" ({a} {_month_name(b)} or '
                f"{_month_name(a)} {b}); not used",
            )
        month, day = (a, b) if a <= 12 else (b, a)
        if _valid(y, month, day):
            return PartialDate(
                text=text,
                precision="day",
                year=y,
                month=month,
                day=day,
                problem=f'"{text}" is not a FHIR date; read as {y:04d}-{month:02d}-{day:02d} '
                "(the only valid day/month order)",
            )
    return PartialDate(text=text, precision="none", problem=f'"{text}" is not a date; not used')


def _month_name(m: int) -> str:
    return dt.date(2000, m, 1).strftime("%B")


def sort_key(date: PartialDate | None) -> dt.date:
    """The first day ``date`` may stand for, for ordering (undated first); never stored as a fact."""
    return (date.earliest if date else None) or dt.date.min
