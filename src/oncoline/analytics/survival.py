"""Kaplan–Meier estimates of time on treatment (ToT) and time to next treatment (TTNT), from lifelines.

The estimator is lifelines' :class:`~lifelines.KaplanMeierFitter` (its event table gives the numbers at risk and
events). The 95 % confidence band is the one R ``survival::survfit`` gives by default (``conf.type = "log"``):
``S(t) · exp(±1.96 · σ(t))`` with Greenwood's ``σ²(t) = Σ d / (n (n − d))``, clipped to [0, 1]. lifelines' own
band is the exponential Greenwood ("log-log") one; we compute R's from lifelines' event table so that the
numbers agree with R's printed ones (the tests check ``aml`` against R).

Median convention (written in the report): the median is the earliest time at which the estimate is at or
below 0.5 (lifelines' ``median_survival_time_``); its CI runs from the earliest time the lower band is at or
below 0.5 to the earliest time the upper band is; a limit the band never reaches is "not reached" (NA in R).
R takes the mid-point when the curve is exactly 0.5 over an interval; we do not (the report says so).

Durations (whole days, from the lines table):

* ToT = ``time_on_treatment_days`` (end − start + 1); event = the line ended (``end_reason`` ≠ ``ongoing``); an
  ongoing line is censored at the data cut-off (cut-off − start + 1 days).
* TTNT = ``time_to_next_treatment_days`` (next start − start); event = a next line started; the last line is
  censored at the data cut-off (cut-off − start days; ``ttnt_censored``).

A duration ≤ 0 is never fitted: it is refused and counted by reason (``nonpositive_duration``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pyarrow as pa

__all__ = ["DAYS_PER_MONTH", "MEDIAN_CONVENTION", "KmResult", "durations", "km_fit", "km_groups"]

DAYS_PER_MONTH = 365.25 / 12
"""Days per month for the month figures of the report."""
_Z95 = 1.959963984540054

MEDIAN_CONVENTION = (
    "Median: the earliest time at which the Kaplan–Meier estimate is at or below 0.5 (lifelines). 95 % CI: "
    'log-transformed Greenwood band, as R survival\'s default (conf.type = "log"); each limit is the earliest time '
    "its band is at or below 0.5, 'not reached' when it never is. When the curve is exactly 0.5 over an interval, R "
    "reports the interval's mid-point; we report its start. Durations in days; months = days / 30.44."
)

Endpoint = Literal["tot", "ttnt"]


@dataclass(frozen=True)
class KmResult:
    """One Kaplan–Meier fit.

    Attributes
    ----------
    n, events
        Observations fitted and events among them.
    median, median_lower, median_upper
        Days; None = not reached.
    curve
        ``time`` (days), ``survival``, ``lower``, ``upper``, ``at_risk``, ``events``, ``censored`` — one row per
        distinct time (time 0 first).
    """

    n: int
    events: int
    median: float | None
    median_lower: float | None
    median_upper: float | None
    curve: dict[str, list[float | None]] = field(repr=False)


def _first_at_or_below(times: npt.NDArray[np.float64], values: npt.NDArray[np.float64]) -> float | None:
    import numpy as np

    hit = np.flatnonzero(values <= 0.5 + 1e-12)
    return None if hit.size == 0 else float(times[hit[0]])


def km_fit(duration: npt.ArrayLike, event: npt.ArrayLike, /) -> KmResult:
    """Fit one Kaplan–Meier curve with R's default ("log") 95 % band.

    Parameters
    ----------
    duration
        Positive durations (days).
    event
        1/True = event observed, 0/False = censored.

    Returns
    -------
    KmResult

    Raises
    ------
    ValueError
        When a duration is not positive (refuse them first: :func:`durations`) or the arrays differ in length.

    References
    ----------
    Therneau T. A Package for Survival Analysis in R (survival), survfit.formula, conf.type = "log" (default).

    Examples
    --------
    >>> r = km_fit([9, 13, 13, 18, 23, 28, 31, 34, 45, 48, 161], [1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 0])
    >>> r.median, r.median_lower, r.median_upper
    (31.0, 18.0, None)
    """
    import numpy as np
    from lifelines import KaplanMeierFitter

    t = np.asarray(duration, dtype=np.float64)
    e = np.asarray(event, dtype=bool)
    if t.shape != e.shape:
        raise ValueError(f"duration and event differ in length ({t.shape[0]} vs {e.shape[0]})")
    if t.size and float(t.min()) <= 0:
        raise ValueError("durations must be positive; refuse the others first (oncoline.analytics.survival.durations)")
    kmf = KaplanMeierFitter()
    kmf.fit(t, e)
    table = kmf.event_table
    times = table.index.to_numpy(dtype=np.float64)
    at_risk = table["at_risk"].to_numpy(dtype=np.float64)
    observed = table["observed"].to_numpy(dtype=np.float64)
    censored = table["censored"].to_numpy(dtype=np.float64)
    surv = kmf.survival_function_.iloc[:, 0].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(observed > 0, observed / (at_risk * (at_risk - observed)), 0.0)
    var = np.cumsum(term)
    sd = np.sqrt(var)
    with np.errstate(invalid="ignore", over="ignore"):
        lower = np.where(surv > 0, surv * np.exp(-_Z95 * sd), 0.0)
        upper = np.where(np.isfinite(sd) & (surv > 0), np.minimum(1.0, surv * np.exp(_Z95 * sd)), np.nan)
    lower = np.where(np.isfinite(lower), lower, 0.0)
    # where the variance is infinite (the last at-risk person has the event) R gives NA: the band is undefined
    median = _first_at_or_below(times, surv)
    return KmResult(
        n=int(t.size),
        events=int(e.sum()),
        median=median,
        median_lower=_first_at_or_below(times, lower),
        median_upper=_first_at_or_below(times, np.where(np.isnan(upper), 1.0, upper)),
        curve={
            "time": times.tolist(),
            "survival": surv.tolist(),
            "lower": lower.tolist(),
            "upper": [None if math.isnan(u) else u for u in upper.tolist()],
            "at_risk": at_risk.tolist(),
            "events": observed.tolist(),
            "censored": censored.tolist(),
        },
    )


def durations(lines: pa.Table, /, *, endpoint: Endpoint, as_of: dt.date) -> tuple[pa.Table, Counter[str]]:
    """Durations and event flags of every line for one endpoint, refusing non-positive ones.

    Parameters
    ----------
    lines
        The lines table of ``oncoline lines``.
    endpoint
        ``tot`` (time on treatment) or ``ttnt`` (time to next treatment); see the module docstring.
    as_of
        The data cut-off: ongoing lines (ToT) and last lines (TTNT) are censored at it.

    Returns
    -------
    tuple
        A table (``person_id``, ``line``, ``regimen``, ``days`` int32, ``event`` bool; only durations > 0) and
        the refused rows by reason (``nonpositive_duration``).
    """
    import duckdb

    epoch = as_of.isoformat()
    if endpoint == "tot":
        days = (
            f"CASE WHEN end_reason = 'ongoing' THEN date_diff('day', start_date, DATE '{epoch}') + 1 "
            "ELSE time_on_treatment_days END"
        )
        event = "end_reason <> 'ongoing'"
    else:
        days = (
            "CASE WHEN time_to_next_treatment_days IS NOT NULL THEN time_to_next_treatment_days "
            f"ELSE date_diff('day', start_date, DATE '{epoch}') END"
        )
        event = "time_to_next_treatment_days IS NOT NULL"
    con = duckdb.connect()
    try:
        con.register("lines_in", lines)
        all_rows = con.execute(
            f"""SELECT CAST(person_id AS VARCHAR) AS person_id, CAST(line AS INTEGER) AS line, regimen,
                       CAST({days} AS INTEGER) AS days, {event} AS event FROM lines_in"""
        ).to_arrow_table()
        con.register("d", all_rows)
        kept = con.execute("SELECT * FROM d WHERE days > 0").to_arrow_table()
        refused = int(con.execute("SELECT count(*) FROM d WHERE days IS NULL OR days <= 0").fetchone()[0])  # type: ignore[index]
    finally:
        con.close()
    return kept, Counter({"nonpositive_duration": refused} if refused else {})


def km_groups(
    data: pa.Table, /, *, group_col: str | None, groups: list[Any] | None = None, min_n: int = 1
) -> dict[str, KmResult]:
    """One fit per value of ``group_col`` (or one for all rows when None), in ``groups`` order when given.

    Groups with fewer than ``min_n`` observations are left out (the report uses the small-cell threshold).
    """
    import numpy as np

    days = np.asarray(data.column("days").to_numpy(zero_copy_only=False), dtype=np.float64)
    event = np.asarray(data.column("event").to_numpy(zero_copy_only=False), dtype=bool)
    out: dict[str, KmResult] = {}
    if group_col is None:
        if days.size >= min_n and days.size:
            out["all"] = km_fit(days, event)
        return out
    keys = np.asarray(data.column(group_col).to_numpy(zero_copy_only=False))
    order = groups if groups is not None else sorted(set(keys.tolist()))
    for g in order:
        mask = keys == g
        if int(mask.sum()) >= max(min_n, 1):
            out[str(g)] = km_fit(days[mask], event[mask])
    return out
