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

__all__ = [
    "DAYS_PER_MONTH",
    "KM_MEDIAN_COLUMNS",
    "MEDIAN_CONVENTION",
    "KmResult",
    "durations",
    "km_fit",
    "km_groups",
    "median_suppressed_text",
]

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


def km_fit(duration: npt.ArrayLike, event: npt.ArrayLike, /, *, weights: npt.ArrayLike | None = None) -> KmResult:
    """Fit one Kaplan–Meier curve with R's default ("log") 95 % band.

    Parameters
    ----------
    duration
        Positive durations (days).
    event
        1/True = event observed, 0/False = censored.
    weights
        Whole-number counts of identical observations (lifelines' ``weights``): ``(duration, event, count)``
        rows aggregated elsewhere (a database, Spark) give exactly the fit of the rows themselves. None = 1 each.

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
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    if t.shape != e.shape or (w is not None and w.shape != t.shape):
        raise ValueError(f"duration, event (and weights) differ in length ({t.shape[0]} vs {e.shape[0]})")
    if t.size and float(t.min()) <= 0:
        raise ValueError("durations must be positive; refuse the others first (oncoline.analytics.survival.durations)")
    if w is not None and w.size and (float(w.min()) <= 0 or not np.array_equal(w, np.round(w))):
        raise ValueError("weights must be whole counts ≥ 1")
    kmf = KaplanMeierFitter()
    kmf.fit(t, e, weights=w)
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
        n=int(t.size) if w is None else int(w.sum()),
        events=int(e.sum()) if w is None else int(w[e].sum()),
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
    from oncoline.analytics._duckdb import connect_one_thread

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
    con = connect_one_thread()
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


KM_MEDIAN_COLUMNS = (
    "median_days",
    "median_lower_days",
    "median_upper_days",
    "median_months",
    "median_lower_months",
    "median_upper_months",
)
"""The median columns of ``km_summary``; each has a text twin ``<name>_shown`` (the value, ``not reached``, or
:func:`median_suppressed_text` when the group has fewer than ``min_cell`` events)."""


def median_suppressed_text(min_cell: int) -> str:
    """The text of a median (or CI limit) hidden because it rests on fewer than ``min_cell`` events.

    >>> median_suppressed_text(5)
    'suppressed (<5 events)'
    """
    return f"suppressed (<{min_cell} events)"


KM_CATEGORIES = ("concordant_preferred", "concordant_other", "not_concordant", "not_assessable")
"""Groups of the time-to-next-treatment curves by concordance category, in report order."""


def duration_counts(
    lines: pa.Table,
    /,
    *,
    as_of: dt.date,
    regimens: pa.Table,
    max_lines: int,
    categories: pa.Table | None = None,
) -> pa.Table:
    """Every line's durations for both endpoints, grouped and counted: the aggregate :func:`km_tables` fits from
    (the Spark path computes the same table in Spark).

    Parameters
    ----------
    lines
        The lines table of ``oncoline lines``.
    as_of
        The data cut-off (censoring; see the module docstring).
    regimens
        ``regimen`` → ``label`` (:func:`oncoline.analytics.pathways.regimen_labels_from_counts`).
    max_lines
        Lines after ``max_lines`` are counted as line ``max_lines + 1`` (only lines 1..``max_lines`` have their
        own curves; every line is in the regimen curves).
    categories
        ``person_id``, ``line``, ``category`` (the concordance of each line), when judged.

    Returns
    -------
    pyarrow.Table
        One row per distinct (``endpoint`` tot | ttnt, ``line`` int32, ``label``, ``category`` (null when not
        judged), ``days`` int32 (null or ≤ 0 = refused by :func:`km_tables`), ``event`` bool) with ``n`` (int64).
    """
    from oncoline.analytics._duckdb import connect_one_thread

    epoch = as_of.isoformat()
    con = connect_one_thread()
    try:
        con.register(
            "lines_in",
            lines.select(
                [
                    "person_id",
                    "line",
                    "regimen",
                    "start_date",
                    "end_reason",
                    "time_on_treatment_days",
                    "time_to_next_treatment_days",
                ]
            ),
        )
        con.register("regimens_in", regimens.select(["regimen", "label"]))
        join = ""
        cat = "CAST(NULL AS VARCHAR)"
        if categories is not None:
            con.register("cat_in", categories.select(["person_id", "line", "category"]))
            join = (
                "LEFT JOIN (SELECT CAST(person_id AS VARCHAR) AS person_id, CAST(line AS INTEGER) AS line, category "
                "FROM cat_in) c ON c.person_id = CAST(x.person_id AS VARCHAR) AND c.line = CAST(x.line AS INTEGER)"
            )
            cat = "c.category"
        return con.execute(
            f"""WITH x AS (SELECT x.*, r.label, {cat} AS category
                           FROM lines_in x LEFT JOIN regimens_in r USING (regimen) {join}),
                d AS (
                  SELECT 'tot' AS endpoint, line, label, category,
                         CAST(CASE WHEN end_reason = 'ongoing' THEN date_diff('day', start_date, DATE '{epoch}') + 1
                                   ELSE time_on_treatment_days END AS INTEGER) AS days,
                         end_reason <> 'ongoing' AS event FROM x
                  UNION ALL
                  SELECT 'ttnt', line, label, category,
                         CAST(CASE WHEN time_to_next_treatment_days IS NOT NULL THEN time_to_next_treatment_days
                                   ELSE date_diff('day', start_date, DATE '{epoch}') END AS INTEGER),
                         time_to_next_treatment_days IS NOT NULL FROM x)
                SELECT endpoint, CAST(least(line, {int(max_lines) + 1}) AS INTEGER) AS line, label, category, days,
                       event, count(*) AS n
                FROM d GROUP BY ALL ORDER BY ALL"""
        ).to_arrow_table()
    finally:
        con.close()


def km_tables(
    counts: pa.Table,
    /,
    *,
    min_cell: int,
    max_lines: int,
    labels: list[str],
    at_risk_months: tuple[int, ...],
    by_category: bool,
) -> tuple[dict[str, pa.Table], Counter[str]]:
    """Fit every Kaplan–Meier curve of the report from :func:`duration_counts` and suppress its figures.

    Curves: per endpoint (``tot``, ``ttnt``) one per line 1..``max_lines`` and one per regimen label (every line);
    with ``by_category`` one ``ttnt`` curve per concordance category (:data:`KM_CATEGORIES`). Groups smaller than
    ``min_cell`` are not fitted; a curve is kept while at least ``min_cell`` persons are at risk; events and
    censored counts are hidden together when either is small: the small one reads ``"<5"``, its partner (which
    holds at least ``min_cell``) :data:`~oncoline.analytics.suppression.COMPLEMENTARY_TEXT` (or both
    ``"suppressed"`` when ``n`` is too small for the partner to say nothing). A median and its CI that rest on
    fewer than ``min_cell`` events are null, their ``*_shown`` twins reading :func:`median_suppressed_text`.

    Parameters
    ----------
    counts
        :func:`duration_counts` (from any engine).
    min_cell
        The minimum cell count (≥ 1).
    max_lines
        Lines with their own curve.
    labels
        Regimen labels, in report order (distinct).
    at_risk_months
        Months of the at-risk table.
    by_category
        Add the concordance curves (``category`` filled).

    Returns
    -------
    tuple
        ``({"km_summary": …, "km_curves": …, "km_at_risk": …}, refused)``; ``refused`` counts the durations
        ≤ 0 (or missing) per endpoint as ``"tot:nonpositive_duration"`` / ``"ttnt:nonpositive_duration"``.
    """
    import numpy as np

    endpoint = np.asarray(counts.column("endpoint").to_pylist(), dtype=object)
    raw_days = counts.column("days").to_pylist()
    n = np.asarray(counts.column("n").to_numpy(zero_copy_only=False), dtype=np.int64)
    good = np.asarray([d is not None and d > 0 for d in raw_days], dtype=bool)
    refused: Counter[str] = Counter()
    for ep in ("tot", "ttnt"):
        bad = int(n[(endpoint == ep) & ~good].sum())
        if bad:
            refused[f"{ep}:nonpositive_duration"] = bad
    days = np.asarray([d if ok else 0 for d, ok in zip(raw_days, good, strict=True)], dtype=np.float64)
    event = np.asarray(counts.column("event").to_pylist(), dtype=bool)
    line = np.asarray(counts.column("line").to_numpy(zero_copy_only=False), dtype=np.int64)
    label = np.asarray(counts.column("label").to_pylist(), dtype=object)
    category = np.asarray(counts.column("category").to_pylist(), dtype=object)
    rows: list[dict[str, Any]] = []
    curves: list[pa.Table] = []
    at_risk: list[pa.Table] = []

    def fit(ep: str, kind: str, name: str, mask: npt.NDArray[np.bool_]) -> None:
        mask = mask & good & (endpoint == ep)
        if int(n[mask].sum()) < max(min_cell, 1):
            return
        res = km_fit(days[mask], event[mask], weights=n[mask])
        _km_outputs(ep, kind, name, res, min_cell, at_risk_months, rows, curves, at_risk)

    for ep in ("tot", "ttnt"):
        for k in range(1, max_lines + 1):
            fit(ep, "line", str(k), line == k)
        for name in labels:
            fit(ep, "regimen", name, label == name)
    if by_category:
        for name in KM_CATEGORIES:
            fit("ttnt", "concordance", name, category == name)
    return _km_report_tables(rows, curves, at_risk, min_cell), refused


def _km_outputs(
    endpoint: str,
    kind: str,
    name: str,
    fit: KmResult,
    mc: int,
    months: tuple[int, ...],
    rows: list[dict[str, Any]],
    curves: list[pa.Table],
    at_risk: list[pa.Table],
) -> None:
    import numpy as np
    import pyarrow as pa

    from oncoline.analytics.suppression import _suppressed_positions

    censored = fit.n - fit.events
    # events + censored = n (shown): the pair is one group of complementary suppression, so the cell hidden only
    # to protect a small partner reads "suppressed (complementary)", never "<5" (a hidden 35 is not "1 to 4")
    hidden, neutral = _suppressed_positions([fit.events, censored], mc)
    few_events = fit.events < mc  # a median of so few events is essentially one patient's own duration
    medians = {
        "median_days": fit.median,
        "median_lower_days": fit.median_lower,
        "median_upper_days": fit.median_upper,
        "median_months": None if fit.median is None else round(fit.median / DAYS_PER_MONTH, 1),
        "median_lower_months": None if fit.median_lower is None else round(fit.median_lower / DAYS_PER_MONTH, 1),
        "median_upper_months": None if fit.median_upper is None else round(fit.median_upper / DAYS_PER_MONTH, 1),
    }
    rows.append(
        {
            "endpoint": endpoint,
            "group_kind": kind,
            "group": name,
            "n": fit.n,
            "events": None if 0 in hidden else fit.events,
            "censored": None if 1 in hidden else censored,
            **{k: None if few_events else v for k, v in medians.items()},
            "_hidden": (0 in hidden, 1 in hidden, neutral),
            "_raw": (fit.events, censored),
            "_medians_text": {
                k: median_suppressed_text(mc) if few_events else ("not reached" if v is None else f"{v:g}")
                for k, v in medians.items()
            },
        }
    )
    c = fit.curve
    risk = np.asarray(c["at_risk"], dtype=np.float64)
    keep = risk >= mc  # the curve is drawn while at least min_cell persons are at risk
    n_keep = int(keep.sum())
    curves.append(
        pa.table(
            {
                "endpoint": pa.array([endpoint] * n_keep, pa.string()),
                "group_kind": pa.array([kind] * n_keep, pa.string()),
                "group": pa.array([name] * n_keep, pa.string()),
                "time_days": pa.array(np.asarray(c["time"])[keep], pa.float64()),
                "survival": pa.array(np.asarray(c["survival"])[keep], pa.float64()),
                "lower": pa.array(np.asarray(c["lower"], dtype=np.float64)[keep], pa.float64()),
                "upper": pa.array([u for u, k in zip(c["upper"], keep, strict=True) if k], pa.float64()),
            }
        )
    )
    times = np.asarray(c["time"], dtype=np.float64)
    counts = []
    for m in months:
        day = m * DAYS_PER_MONTH
        # at risk at time t: those with duration >= t (the event table's at_risk at the first time >= t)
        pos = int(np.searchsorted(times, day, side="left"))
        counts.append(int(risk[pos]) if pos < risk.size else 0)
    at_risk.append(
        pa.table(
            {
                "endpoint": pa.array([endpoint] * len(months), pa.string()),
                "group_kind": pa.array([kind] * len(months), pa.string()),
                "group": pa.array([name] * len(months), pa.string()),
                "month": pa.array(list(months), pa.int32()),
                "at_risk": pa.array(counts, pa.int64()),
            }
        )
    )


def _km_report_tables(
    rows: list[dict[str, Any]], curves: list[pa.Table], at_risk: list[pa.Table], mc: int
) -> dict[str, pa.Table]:
    import pyarrow as pa

    from oncoline.analytics.suppression import SUPPRESSED_TEXT, shown_text, suppress

    schema = pa.schema(
        [
            ("endpoint", pa.string()),
            ("group_kind", pa.string()),
            ("group", pa.string()),
            ("n", pa.int64()),
            ("events", pa.int64()),
            ("censored", pa.int64()),
            ("median_days", pa.float64()),
            ("median_lower_days", pa.float64()),
            ("median_upper_days", pa.float64()),
            ("median_months", pa.float64()),
            ("median_lower_months", pa.float64()),
            ("median_upper_months", pa.float64()),
        ]
    )
    summary = pa.Table.from_pylist(rows, schema=schema)
    summary = summary.append_column(
        "n_shown", pa.array([shown_text(v, mc) for v in summary.column("n").to_pylist()], pa.string())
    )
    for pos, name in enumerate(("events", "censored")):
        texts = []
        for r in rows:
            value, hidden, neutral = r[name], r["_hidden"][pos], r["_hidden"][2]
            if not hidden:
                texts.append(str(value))
            elif neutral:
                texts.append(SUPPRESSED_TEXT)
            else:
                raw = r["_raw"][pos]
                texts.append(shown_text(None, mc, complementary=not 0 < raw < mc))
        summary = summary.append_column(f"{name}_shown", pa.array(texts, pa.string()))
    for name in KM_MEDIAN_COLUMNS:
        summary = summary.append_column(
            f"{name}_shown", pa.array([r["_medians_text"][name] for r in rows], pa.string())
        )
    curve_tbl = pa.concat_tables(curves) if curves else pa.table({})
    risk_tbl = (
        suppress(
            pa.concat_tables(at_risk),
            counts=["at_risk"],
            min_cell=mc,
            group_by=["endpoint", "group_kind", "group", "month"],
        )
        if at_risk
        else pa.table({})
    )
    return {"km_summary": summary, "km_curves": curve_tbl, "km_at_risk": risk_tbl}
