"""Calendar dates as the model reads them: ``YYYY-MM-DD`` text or a date object — never a number.

pydantic's lax mode reads an integer (or a string of digits) given for a date as Unix time, so
``metastatic_diagnosis: 0`` would silently become 1970-01-01 and ``1718409600`` 2024-06-15 (issue 12 item 3). Every
date field of the model uses :data:`CalendarDate` instead of a bare :class:`datetime.date`: a number, a boolean or
text in another form is refused with the form expected.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import BeforeValidator

__all__ = ["CalendarDate", "calendar_date"]

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def calendar_date(value: Any, /) -> Any:
    """``value`` if it can stand for a calendar date, else a :class:`ValueError` that states the form expected.

    Parameters
    ----------
    value
        A :class:`datetime.date` (or :class:`datetime.datetime`, whose time pydantic then requires to be zero), or
        ISO 8601 text ``YYYY-MM-DD`` (surrounding spaces ignored).

    Returns
    -------
    Any
        The value, for pydantic to validate as a date (text is stripped; an impossible day such as 2023-02-29 is
        refused there).

    Raises
    ------
    ValueError
        For a number or boolean (no Unix time), or text in another form (``01/05/2022``, ``20240615``).

    Examples
    --------
    >>> calendar_date("2024-06-15")
    '2024-06-15'
    >>> calendar_date(1718409600)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: a date is written YYYY-MM-DD (e.g. 2024-06-15), not as a number: ...
    """
    if isinstance(value, dt.date):
        return value
    if isinstance(value, bool | int | float):
        raise ValueError(
            "a date is written YYYY-MM-DD (e.g. 2024-06-15), not as a number: numbers are never read as dates (no "
            "Unix time)"
        )
    if isinstance(value, str):
        text = value.strip()
        if _ISO_DATE.fullmatch(text):
            return text
        raise ValueError("a date is written YYYY-MM-DD (e.g. 2024-06-15)")
    raise ValueError(f"a date is written YYYY-MM-DD (e.g. 2024-06-15); got a {type(value).__name__}")


CalendarDate = Annotated[dt.date, BeforeValidator(calendar_date)]
"""A :class:`datetime.date` read strictly (see :func:`calendar_date`); the JSON Schema stays ``format: date``."""
