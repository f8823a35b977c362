"""The clock and the data cut-off date, owned here and by the doors, never by the engines (house rule S10).

Every use case takes ``today``: the door injects it (a command line, a request handler, a test); when it is left
out, the use case reads the clock once, at the call — never at import.
"""

from __future__ import annotations

import datetime as dt
import re

from oncoline.errors import InputError

__all__ = ["parse_as_of", "refuse_future_dates", "refuse_future_file_as_of", "resolve_today"]

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def resolve_today(today: dt.date | None, /) -> dt.date:
    """``today`` as given, else the clock's date now (read at the call, not at import)."""
    return today if today is not None else dt.date.today()


def parse_as_of(value: str | None, /, *, today: dt.date | None = None) -> dt.date | None:
    """Parse an as-of date given as text (``--as-of YYYY-MM-DD``, a query parameter).

    Parameters
    ----------
    value
        ``YYYY-MM-DD`` or None (none given).
    today
        The clock's date (default: now).

    Returns
    -------
    datetime.date | None
        The date, or None when ``value`` is None.

    Raises
    ------
    InputError
        With field ``--as-of`` (a usage error): the value is not an ISO date, or lies after ``today``.
    """
    if value is None:
        return None
    try:
        # YYYY-MM-DD only, as the patient files' dates: fromisoformat alone also takes 20240301 and week dates
        # (2024-W10-1), which a file refuses
        if not _ISO_DAY.fullmatch(value):
            raise ValueError(value)
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{value!r} is not a date; write YYYY-MM-DD, e.g. 2026-06-01", field="--as-of") from None
    now = resolve_today(today)
    if day > now:
        raise InputError(
            f"{day} is in the future (today is {now}): oncoline answers as the knowledge and the data stood on a "
            "date that has come; give today or an earlier date",
            field="--as-of",
        )
    return day


def refuse_future_dates(
    dated: list[tuple[str, dt.date]], /, *, today: dt.date, source: str, what: str = "answer"
) -> None:
    """Refuse input dates after ``today`` when the clock is the cut-off (no as-of date given).

    Parameters
    ----------
    dated
        ``(field path, date)`` pairs already known to lie after ``today``, in file order (empty: nothing to do).
    today
        The clock's date.
    source
        The file the dates come from, named in the error.
    what
        The verb for the fix text ("answer", "derive lines").

    Raises
    ------
    InputError
        Naming the first such field, how many more there are, and the fix.
    """
    if not dated:
        return
    field, value = dated[0]
    more = f" (and {len(dated) - 1} more)" if len(dated) > 1 else ""
    raise InputError(
        f"{value} is in the future (today is {today}){more}: a date that has not come cannot be data yet; correct "
        f"it (to {what} as of an earlier date, give --as-of DATE)",
        source=source,
        field=field,
    )


def refuse_future_file_as_of(as_of: dt.date, /, *, today: dt.date, source: str) -> None:
    """Refuse a document's own ``as_of`` later than ``today``.

    Raises
    ------
    InputError
        Field ``as_of``, naming the file and the fix.
    """
    if as_of > today:
        raise InputError(
            f"{as_of} is in the future (today is {today}); correct it, or leave as_of out to use today",
            source=source,
            field="as_of",
        )
