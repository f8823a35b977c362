"""Kaplan–Meier medians and confidence intervals against R ``survival`` on the ``aml`` data (house style S20).

Data: ``aml`` (acute myelogenous leukaemia, maintenance chemotherapy trial) as shipped with R's survival package,
from Miller RG. Survival Analysis. Wiley 1981 (also Embury SH et al. West J Med 1977;126:267-272). Weeks to
relapse; ``+`` = censored.

Reference values: R ``print(survfit(Surv(time, status) ~ x, data = aml))`` with the default ``conf.type = "log"``::

                     n events median 0.95LCL 0.95UCL
    x=Maintained    11      7     31      18      NA
    x=Nonmaintained 12     11     23       8      NA

and ``summary(survfit(Surv(time, status) ~ x, data = aml))`` for the Maintained arm (survival, lower95, upper95)::

    time n.risk n.event survival std.err lower 95% CI upper 95% CI
       9     11       1    0.909  0.0867       0.7541        1.000
      13     10       1    0.818  0.1163       0.6192        1.000
      18      8       1    0.716  0.1397       0.4884        1.000
      23      7       1    0.614  0.1526       0.3769        0.999
      31      5       1    0.491  0.1642       0.2549        0.946
      34      4       1    0.368  0.1627       0.1549        0.875
      48      2       1    0.184  0.1535       0.0359        0.944

lifelines' own band is the exponential Greenwood ("log-log") one, which gives other limits (a test below shows the
difference is real, so this suite would catch a silent switch); oncoline computes R's default "log" band from
lifelines' event table.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from oncoline.analytics.survival import durations, km_fit

MAINTAINED = ([9, 13, 13, 18, 23, 28, 31, 34, 45, 48, 161], [1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 0])
NONMAINTAINED = ([5, 5, 8, 8, 12, 16, 23, 27, 30, 33, 43, 45], [1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1])


def test_aml_medians_and_ci_match_r() -> None:
    m = km_fit(*MAINTAINED)
    assert (m.n, m.events, m.median, m.median_lower, m.median_upper) == (11, 7, 31.0, 18.0, None)
    n = km_fit(*NONMAINTAINED)
    assert (n.n, n.events, n.median, n.median_lower, n.median_upper) == (12, 11, 23.0, 8.0, None)


def test_aml_maintained_band_matches_r_summary() -> None:
    r_rows = {  # time: (survival, lower, upper) from R's summary()
        9: (0.909, 0.7541, 1.000),
        13: (0.818, 0.6192, 1.000),
        18: (0.716, 0.4884, 1.000),
        23: (0.614, 0.3769, 0.999),
        31: (0.491, 0.2549, 0.946),
        34: (0.368, 0.1549, 0.875),
        48: (0.184, 0.0359, 0.944),
    }
    c = km_fit(*MAINTAINED).curve
    at = {t: i for i, t in enumerate(c["time"])}
    for time, (s, lo, hi) in r_rows.items():
        i = at[float(time)]
        assert c["survival"][i] == pytest.approx(s, abs=5e-4)
        assert c["lower"][i] == pytest.approx(lo, abs=5e-5)
        assert c["upper"][i] == pytest.approx(hi, abs=5e-4)


def test_lifelines_default_band_differs_from_r_default() -> None:
    """The log-log band of lifelines gives another lower limit at 18 weeks: the "log" band is a choice."""
    from lifelines import KaplanMeierFitter

    kmf = KaplanMeierFitter().fit(*MAINTAINED)
    loglog_lower = float(kmf.confidence_interval_.iloc[:, 0].loc[18.0])
    assert abs(loglog_lower - 0.4884) > 0.02


def test_nonpositive_duration_refused_and_counted() -> None:
    as_of = dt.date(2024, 6, 30)
    lines = pa.table(
        {
            "person_id": ["a", "a", "b"],
            "line": [1, 2, 1],
            "regimen": ["x", "y", "x"],
            "start_date": [dt.date(2024, 1, 1), dt.date(2024, 6, 30), dt.date(2024, 2, 1)],
            "time_on_treatment_days": [30, 1, 10],
            "time_to_next_treatment_days": pa.array([181, None, None], pa.int32()),
            "end_reason": ["switched", "ongoing", "gap"],
        }
    )
    kept, refused = durations(lines, endpoint="ttnt", as_of=as_of)
    # a's line 2 starts on the cut-off: 0 days to censoring, refused and counted
    assert refused == {"nonpositive_duration": 1}
    assert kept.column("days").to_pylist() == [181, 150]
    assert kept.column("event").to_pylist() == [True, False]
    tot, refused_tot = durations(lines, endpoint="tot", as_of=as_of)
    # the ongoing line is censored at the cut-off (start day counts: 1 day); the gap-closed line is an event
    assert not refused_tot
    assert tot.column("days").to_pylist() == [30, 1, 10]
    assert tot.column("event").to_pylist() == [True, False, True]
    with pytest.raises(ValueError, match="positive"):
        km_fit([0, 3], [1, 1])
