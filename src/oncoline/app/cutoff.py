"""The data cut-off: the date the line engines are given as ``as_of``, and the rule that chose it.

Without an as-of date given by the caller it is, for one patient, the document's ``as_of``, else today; for a
cohort file, the latest date anywhere in the exposure table; for an OMOP CDM, the latest
``observation_period_end_date``, else the latest DRUG_EXPOSURE date. A cohort cut-off from the data is never
later than today.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from oncoline.app.dates import resolve_today

__all__ = ["CutOff", "cohort_cut_off", "omop_cut_off"]

_CUT_OFF_TEXT = {
    "option": "given with --as-of",
    "file": "the file's as_of; give --as-of to change it",
    "today": "today; give --as-of to set it",
    "latest_in_data": "latest date in the data; give --as-of to set it",
    "observation_period_end": "latest observation_period_end_date in the data; give --as-of to set it",
    "latest_drug_exposure": "latest drug_exposure date in the data (observation_period has no rows); give --as-of "
    "to set it",
    "none": "none: the data hold no date",
}


@dataclass(frozen=True)
class CutOff:
    """The data cut-off passed to the line engines, and the rule that chose it.

    Attributes
    ----------
    as_of
        The cut-off date; None only when the data hold no date at all.
    source
        ``option`` (given by the caller), ``file`` (the events file's ``as_of``), ``today``, ``latest_in_data``
        (the latest date in a cohort's exposure table), ``observation_period_end`` or ``latest_drug_exposure``
        (OMOP), ``none``.
    latest_in_data
        Set when the latest date in the data was later than today and the cut-off was brought back to today.
    """

    as_of: dt.date | None
    source: str
    latest_in_data: dt.date | None = None

    def describe(self) -> str:
        """The rule in words, e.g. ``"latest date in the data; give --as-of to set it"``."""
        if self.latest_in_data is not None:
            return (
                f"today: the latest date in the data, {self.latest_in_data}, is in the future; give --as-of to set it"
            )
        return _CUT_OFF_TEXT[self.source]

    def to_json(self) -> dict[str, Any]:
        """``{"as_of", "as_of_source", "as_of_note"}`` for the JSON outputs (``as_of`` a date or None)."""
        return {"as_of": self.as_of, "as_of_source": self.source, "as_of_note": self.describe()}


def cohort_cut_off(latest: dt.date | None, source: str, *, today: dt.date) -> CutOff:
    """The cohort-wide cut-off from the latest date in the data, never later than ``today``.

    >>> cohort_cut_off(dt.date(2099, 1, 1), "latest_in_data", today=dt.date(2026, 1, 1)).as_of
    datetime.date(2026, 1, 1)
    """
    if latest is None:
        return CutOff(None, "none")
    if latest > today:
        return CutOff(today, source, latest_in_data=latest)
    return CutOff(latest, source)


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def omop_cut_off(url: str, /, *, schema: str | None = None, today: dt.date | None = None) -> CutOff:
    """The cohort-wide data cut-off of an OMOP CDM: the latest ``observation_period_end_date`` when
    OBSERVATION_PERIOD has rows, else the latest DRUG_EXPOSURE start or end date; never later than ``today``.

    Parameters
    ----------
    url, schema
        As for :func:`oncoline.io.omop.read_cohort`.
    today
        The clock (default: read now); a date from the data later than it is replaced by it.

    Returns
    -------
    CutOff
        ``source`` is ``observation_period_end``, ``latest_drug_exposure`` or ``none`` (no date at all).

    Raises
    ------
    InputError
        A DuckDB file that does not exist, a bad schema name.
    BackendError
        The database cannot be reached or rejects the query.
    """
    from oncoline.io.omop.db import connect

    now = resolve_today(today)
    with connect(url, schema=schema) as db:
        latest: dt.date | None = None
        if "observation_period" in db.tables():
            table = db.query(f"SELECT max(observation_period_end_date) AS d FROM {db.table('observation_period')}")
            latest = _as_date(table.column("d")[0].as_py())
        if latest is not None:
            return cohort_cut_off(latest, "observation_period_end", today=now)
        table = db.query(
            "SELECT max(drug_exposure_start_date) AS s, max(drug_exposure_end_date) AS e "
            f"FROM {db.table('drug_exposure')}"
        )
    found = [d for d in (_as_date(table.column(c)[0].as_py()) for c in ("s", "e")) if d is not None]
    return cohort_cut_off(max(found, default=None), "latest_drug_exposure", today=now)
