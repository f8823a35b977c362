"""Synthetic HER2-positive metastatic breast cancer cohorts for the line-of-therapy benchmark.

Each patient gets 1–6 metastatic lines drawn in guideline order from the reference regimens
(shared/reference/her2-mbc.md §a): THP (or Phesgo + docetaxel, or weekly paclitaxel) with the taxane stopped
after 4–8 cycles and, for about half of the patients, an aromatase inhibitor added to HP maintenance (stopped
with HP); then in second line T-DXd from its second-line approval (4 May 2022, reference §f) and T-DM1 before
it; then the others in random order: tucatinib + trastuzumab + capecitabine; T-DM1 or T-DXd; neratinib +
capecitabine; lapatinib + capecitabine. How many lines and how long each lasts: see "Durations" below.
Infusions are one-day exposures every 21 days (weekly for paclitaxel), oral drugs are 28-day dispensings
(capecitabine 14 days of every 21). On top: adjuvant trastuzumab before the metastatic diagnosis (early
setting), supportive drugs (ondansetron and dexamethasone on chemotherapy days, denosumab every 28 days),
brand names and RxNorm codes instead of generic names, a documented toxicity or progression on some lines,
treatment holidays longer than the gap rule, a few unknown drug names and exact duplicate rows. Rows are
shuffled: real extracts are not sorted.

A line's documented stop (progression or toxicity) is written on the last administration of the drugs given
on the line's last day (the drugs of one visit share the day's schedule slip); a taxane that stops after its
planned cycles while HP continues carries no stop, except that about one taxane course in six stops for
toxicity (neuropathy) — the de-escalation of reference §a.3, one line. Like a real extract the data end at a
fixed cut-off (:data:`DATA_CUTOFF`): no exposure starts after it, ends are cut to it, and a stop that would
fall after it is not written (it had not happened by then);
metastatic diagnoses run from 2015 to the end of 2024, so follow-up is 1–11 years.

Durations are calibrated to published real-world figures, so that the report's Kaplan–Meier medians of time to
next treatment (TTNT) come out where real-world HER2-positive cohorts put them. The source is Cottu et al.,
"Attrition between lines of therapy and real-world outcomes of patients with HER2-positive metastatic breast
cancer in Europe", Breast Cancer Res Treat 2024, doi:10.1007/s10549-024-07506-4 (EMR data of seven hospital
systems in five countries, diagnoses 2017–2021; the figures quoted by issue 10): median TTNT 15.4 months in first
line (:data:`TTNT_1L_MEDIAN_MONTHS`) and 13.5 in second (:data:`TTNT_2L_MEDIAN_MONTHS`); median time to treatment
discontinuation (TTD) 12.1, 8.9 and 6.4 months in lines 1–3 (:data:`TTD_MEDIAN_MONTHS`); 29.6 % of the treated
patients had no later line after first line and 34.2 % none after second (:data:`NO_NEXT_LINE_SHARE`). Figures the
paper does not give are assumptions, marked as such where they are defined.

How a person's lines are drawn: after each line the person goes on to a next line with probability
1 − :data:`NO_NEXT_LINE_SHARE` (at most six lines); otherwise the person leaves treatment (death, end-of-life
care or loss to follow-up — none of which the extract records). A line followed by another lasts an exponential
time, and the next line starts after a gap of 1–6 weeks (5 % of gaps are treatment holidays of 5–12 months). The
report cannot see deaths, so a person with no further line is censored at the data cut-off and the Kaplan–Meier
TTNT curve levels off at about the no-next-line share; the exponential's median is therefore solved
(:func:`_continuing_median_days`) so that this mixture's median equals the published TTNT median — with about 30 %
never going on, a line that is followed by another lasts about 8 months (1L) and 6 months (2L). A person's last
line lasts an exponential time with the published TTD median. Every line lasts at least 6 weeks. The price of
matching TTNT without deaths in the data: the report's time on treatment comes out shorter than the published
TTD (first line about 8 months against 12.1).

The generator is vectorised (a Python loop builds one "stream" per drug and line, numpy expands streams into
rows), so 10^7 rows take seconds. It draws from a seeded ``numpy.random.Generator``; the same seed and size
give the same files.

Output tables (Parquet):

- exposures: ``person_id`` int64, ``exposure_id`` int64 (unique), ``drug`` string, ``start_date`` date32,
  ``end_date`` date32 (null for about a third of infusions: end defaults to start), ``stopped`` string (null,
  ``progression`` or ``toxicity``);
- index: ``person_id`` int64, ``metastatic_diagnosis`` date32.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["Cohort", "generate_cohort", "write_cohort", "write_cohort_chunked"]

EPOCH = dt.date(1970, 1, 1)
DATA_CUTOFF = dt.date(2025, 12, 31)
"""The generated extract's data cut-off: no exposure after it (real extracts end on a fixed date)."""
_TAXANE_TOXICITY = 1 / 6
"""Share of taxane courses (THP induction) stopped for toxicity while HP continues."""

DAYS_PER_MONTH = 365.25 / 12
TTNT_1L_MEDIAN_MONTHS = 15.4
"""First-line median time to next treatment, months: 15.4 (95 % CI 13.6–20.6), Cottu et al. 2024 (module doc)."""
TTNT_2L_MEDIAN_MONTHS = 13.5
"""Second-line median time to next treatment, months: 13.5 (95 % CI 10.8–19.4), Cottu et al. 2024."""
TTNT_LATER_MEDIAN_MONTHS = 10.0
"""Third and later lines, months — an assumption (the paper gives no 3L TTNT): its 3L TTD of 6.4 months plus the
3–4.5 months by which TTNT exceeds TTD in its first and second lines."""
TTD_MEDIAN_MONTHS = (12.1, 8.9, 6.4)
"""Median time to treatment discontinuation in lines 1, 2 and ≥ 3, months (Cottu et al. 2024; 3L used for all
later lines): the duration of a person's last line."""
NO_NEXT_LINE_SHARE = (0.296, 0.342, 0.342)
"""Share of persons with no later line after lines 1, 2 and ≥ 3: 29.6 % after 1L and 34.2 % after 2L (Cottu et
al. 2024, "attrition"); the 2L share is assumed for later lines."""
MAX_LINES = 6
"""Lines per person at most (first line and the five later regimens)."""
_GAP_DAYS = (7, 43)
"""Days between the end of a line and the start of the next: uniform on [7, 43)."""
_HOLIDAY = (0.05, 150, 350)
"""Share of gaps that are treatment holidays beyond the gap rule, and their extra days: uniform on [150, 350)."""
_MIN_LINE_DAYS = 42

# kind: (interval_days, duration_days) per administration
_IV = (21, 1)
_WEEKLY = (7, 1)
_ORAL = (28, 28)
_CAPE = (21, 14)

# Each regimen: a list of (names the drug may be recorded as, schedule, max administrations or 0 = no cap).
# The first name is canonical; the others are brands, biosimilars and RxNorm codes that resolve to it.
_TRAS = ("trastuzumab", "Herceptin", "trastuzumab-dkst", "224905", "Herceptin Hylecta")
_PERT = ("pertuzumab", "Perjeta")
_DOCE = ("docetaxel", "Taxotere", "72962")
_PACL = ("paclitaxel", "Taxol", "56946")
_TDXD = ("trastuzumab deruxtecan", "Enhertu", "T-DXd")
_TDM1 = ("trastuzumab emtansine", "Kadcyla", "T-DM1", "ado-trastuzumab emtansine")
_TUCA = ("tucatinib", "Tukysa")
_CAPE_N = ("capecitabine", "Xeloda", "194000")
_NERA = ("neratinib", "Nerlynx")
_LAPA = ("lapatinib", "Tykerb", "lapatinib ditosylate")
_LETR = ("letrozole", "Femara", "72965")
_PHESGO = ("Phesgo", "pertuzumab, trastuzumab, and hyaluronidase-zzxf")

_Regimen = tuple[tuple[tuple[str, ...], tuple[int, int], int], ...]
"""A regimen: its drugs as (names, schedule, max administrations or 0)."""
_FIRST_LINES: tuple[_Regimen, ...] = (
    ((_PERT, _IV, 0), (_TRAS, _IV, 0), (_DOCE, _IV, 6)),
    ((_PHESGO, _IV, 0), (_DOCE, _IV, 6)),
    ((_PERT, _IV, 0), (_TRAS, _IV, 0), (_PACL, _WEEKLY, 18)),
)
_LATER_LINES: tuple[_Regimen, ...] = (
    ((_TDXD, _IV, 0),),
    ((_TUCA, _ORAL, 0), (_TRAS, _IV, 0), (_CAPE_N, _CAPE, 0)),
    ((_TDM1, _IV, 0),),
    ((_NERA, _ORAL, 0), (_CAPE_N, _CAPE, 0)),
    ((_LAPA, _ORAL, 0), (_CAPE_N, _CAPE, 0)),
)
_TDXD_2L = 0  # index in _LATER_LINES
_TDM1_2L = 2
_TDXD_2L_FROM = (dt.date(2022, 5, 4) - dt.date(1970, 1, 1)).days
"""T-DXd's regular FDA approval after one prior anti-HER2 regimen (4 May 2022, reference §f): 2L from then on."""
_SUPPORT_ON_CHEMO = ("ondansetron", "dexamethasone", "Zofran")
_DENOSUMAB = ("denosumab", "Xgeva")
_UNKNOWN = ("investigational agent XY-17", "trial drug")
_CHEMO = {_DOCE, _PACL, _CAPE_N}


@dataclass(frozen=True)
class Cohort:
    """A generated cohort: the exposures and index (metastatic diagnosis) tables."""

    exposures: pa.Table
    index: pa.Table

    @property
    def n_rows(self) -> int:
        """Exposure rows."""
        return int(self.exposures.num_rows)


def _continuing_median_days(ttnt_median_months: float, no_next_share: float) -> float:
    """Median (days) of the exponential duration of a line that is followed by another.

    The report's Kaplan–Meier TTNT survival at ``t`` is ``p + (1 − p) · P(D + G > t)``: ``p`` persons with no next
    line are censored at the cut-off, the others have their event at duration ``D`` plus gap ``G`` (:data:`_GAP_DAYS`,
    with :data:`_HOLIDAY`). Solved by bisection on the exponential's rate so that it is 0.5 at the published median.

    Parameters
    ----------
    ttnt_median_months
        The published median TTNT, months.
    no_next_share
        Share of persons with no later line (``p`` < 0.5).

    Returns
    -------
    float
        The median of ``D`` in days.
    """
    target = ttnt_median_months * DAYS_PER_MONTH
    gaps = np.arange(*_GAP_DAYS, dtype=np.float64)
    holidays = np.arange(_HOLIDAY[1], _HOLIDAY[2], dtype=np.float64)
    gap_values = np.concatenate([gaps, (gaps[:, None] + holidays[None, :]).ravel()])
    gap_weights = np.concatenate(
        [
            np.full(gaps.size, (1 - _HOLIDAY[0]) / gaps.size),
            np.full(gaps.size * holidays.size, _HOLIDAY[0] / (gaps.size * holidays.size)),
        ]
    )
    goal = (0.5 - no_next_share) / (1 - no_next_share)  # P(D + G > target) among those who go on

    def over(rate: float) -> float:
        left = np.clip(target - gap_values, 0, None)
        return float(np.sum(gap_weights * np.where(left > 0, np.exp(-rate * left), 1.0)))

    lo, hi = 1e-6, 1.0  # rate per day: `over` falls as the rate grows
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if over(mid) > goal else (lo, mid)
    return float(np.log(2) / ((lo + hi) / 2))


_TTNT_MEDIAN_MONTHS = (TTNT_1L_MEDIAN_MONTHS, TTNT_2L_MEDIAN_MONTHS, TTNT_LATER_MEDIAN_MONTHS)
_CONTINUING_MEDIAN_DAYS = tuple(
    _continuing_median_days(t, p) for t, p in zip(_TTNT_MEDIAN_MONTHS, NO_NEXT_LINE_SHARE, strict=True)
)
_LAST_MEDIAN_DAYS = tuple(m * DAYS_PER_MONTH for m in TTD_MEDIAN_MONTHS)


def _line_days(rng: np.random.Generator, line: int, *, last: bool) -> int:
    """Duration of line ``line`` (1-based) in days: exponential, its median calibrated (module docstring)."""
    k = min(line, 3) - 1
    median = _LAST_MEDIAN_DAYS[k] if last else _CONTINUING_MEDIAN_DAYS[k]
    return int(max(_MIN_LINE_DAYS, rng.exponential(median / np.log(2))))


def generate_cohort(n_rows: int, *, seed: int = 20261129, cutoff: dt.date = DATA_CUTOFF) -> Cohort:
    """A cohort of about ``n_rows`` exposure rows (whole patients; at most one patient's rows over).

    Parameters
    ----------
    n_rows
        Target number of exposure rows (≥ 1), counted after the cut-off (rows it removes are made up by more
        patients).
    seed
        Seed of the random generator.
    cutoff
        The data cut-off: no exposure starts after it and no end runs past it.

    Returns
    -------
    Cohort
        Exposures (shuffled) and index tables; see the module docstring for the schema.
    """
    rng = np.random.default_rng(seed)
    # streams: person, label (index into labels), first day, count, interval, duration, stop code on last
    s_person: list[int] = []
    s_label: list[int] = []
    s_first: list[int] = []
    s_count: list[int] = []
    s_interval: list[int] = []
    s_duration: list[int] = []
    s_stop: list[int] = []
    labels: list[str] = []
    label_id: dict[str, int] = {}

    def label(name: str) -> int:
        if name not in label_id:
            label_id[name] = len(labels)
            labels.append(name)
        return label_id[name]

    cut_day = (cutoff - EPOCH).days

    def stream(person: int, names: tuple[str, ...], first: int, count: int, sched: tuple[int, int], stop: int) -> int:
        """Add a stream of ``count`` administrations (fewer when the cut-off comes first); returns the rows added."""
        if count > 0 and first + (count - 1) * sched[0] + 2 > cut_day:  # +2: the jitter on infusion days
            count = max(0, (cut_day - 2 - first) // sched[0] + 1)
            stop = 0  # the documented stop had not happened by the cut-off
        if count <= 0:
            return 0
        # 70 % canonical name, 30 % another recorded form
        name = names[0] if len(names) == 1 or rng.random() < 0.7 else names[int(rng.integers(1, len(names)))]
        s_person.append(person)
        s_label.append(label(name))
        s_first.append(first)
        s_count.append(count)
        s_interval.append(sched[0])
        s_duration.append(sched[1])
        s_stop.append(stop)
        return count

    idx_person: list[int] = []
    idx_dx: list[int] = []
    rows = 0
    person = 0
    base_day = (dt.date(2015, 1, 1) - EPOCH).days
    while rows < n_rows:
        person += 1
        dx = base_day + int(rng.integers(0, 3650))  # 2015-01-01 .. 2024-12-29
        idx_person.append(person)
        idx_dx.append(dx)
        p_rows = 0
        if rng.random() < 0.3:  # adjuvant trastuzumab: early setting
            first = dx - 700 - int(rng.integers(0, 700))
            p_rows += stream(person, _TRAS, first, 17, _IV, 0)
        n_lines = 1  # each line is followed by another with the published probability (NO_NEXT_LINE_SHARE)
        while n_lines < MAX_LINES and rng.random() >= NO_NEXT_LINE_SHARE[min(n_lines, 3) - 1]:
            n_lines += 1
        day = dx + int(rng.integers(-20, 40))
        denosumab = rng.random() < 0.4
        first_line = _FIRST_LINES[int(rng.integers(0, len(_FIRST_LINES)))]
        later = [int(k) for k in rng.permutation(np.arange(len(_LATER_LINES)))]
        treat_start = day
        for li in range(1, n_lines + 1):
            if li == 1:
                regimen = first_line
            else:
                if li == 2:  # second line: T-DXd from its 2L approval on, T-DM1 before (reference §a.4, §f)
                    second = _TDXD_2L if day >= _TDXD_2L_FROM else _TDM1_2L
                    later.remove(second)
                    later.insert(0, second)
                regimen = _LATER_LINES[later[li - 2]]
            length = _line_days(rng, li, last=li == n_lines)
            r = rng.random()
            stop = 2 if r < 0.1 else 1 if r < 0.3 else 0
            hr_positive = li == 1 and rng.random() < 0.5
            if day > cut_day:
                break
            ends: list[tuple[int, int]] = []  # (stream index, last administration day) of streams carrying `stop`
            line_last = day  # the line's last administration day
            for names, sched, cap in regimen:
                count = max(1, length // sched[0])
                own_stop = stop
                if cap:
                    capped = int(rng.integers(cap - 2, cap + 3))
                    if capped < count:  # stopped after its planned cycles while the rest of the line goes on
                        count = capped
                        own_stop = 2 if rng.random() < _TAXANE_TOXICITY else 0
                # starts within the regimen window: oral drugs a few days later
                offset = int(rng.integers(0, 8)) if sched is _ORAL else 0
                count = stream(person, names, day + offset, count, sched, own_stop)
                p_rows += count
                if count:
                    line_last = max(line_last, day + offset + (count - 1) * sched[0])
                if count and own_stop == stop:
                    ends.append((len(s_stop) - 1, day + offset + (count - 1) * sched[0]))
                if names in _CHEMO:
                    for s in _SUPPORT_ON_CHEMO[:2]:
                        if rng.random() < 0.5:
                            p_rows += stream(
                                person, (s, _SUPPORT_ON_CHEMO[2]) if s == "ondansetron" else (s,), day, count, sched, 0
                            )
            last_day = max((d for _, d in ends), default=0)
            for i, d in ends:  # the line's stop is documented at its end: on the drugs given on its last day
                if d < last_day:
                    s_stop[i] = 0
            if hr_positive and length > 200:  # letrozole added to HP maintenance after induction, stopped with HP
                add = day + 150 + int(rng.integers(0, 40))
                n_letr = (line_last - add) // 28
                p_rows += stream(person, _LETR, add, n_letr, _ORAL, 0)
            day += length + int(rng.integers(*_GAP_DAYS))
            if rng.random() < _HOLIDAY[0]:  # treatment holiday beyond the gap rule
                day += int(rng.integers(_HOLIDAY[1], _HOLIDAY[2]))
        if denosumab:
            n_deno = max(1, (day - treat_start) // 28)
            p_rows += stream(person, _DENOSUMAB, treat_start, n_deno, (28, 1), 0)
        if rng.random() < 0.02:
            p_rows += stream(person, _UNKNOWN, treat_start + 30, 3, _IV, 0)
        rows += p_rows

    person_a = np.asarray(s_person, dtype=np.int64)
    count_a = np.asarray(s_count, dtype=np.int64)
    total = int(count_a.sum())
    rep = np.repeat(np.arange(len(s_person)), count_a)
    k = np.arange(total) - np.repeat(np.cumsum(count_a) - count_a, count_a)
    interval_a = np.asarray(s_interval, dtype=np.int64)[rep]
    duration_a = np.asarray(s_duration, dtype=np.int64)[rep]
    # a day or two of jitter on infusions, as real schedules slip — the same for every drug a person gets on one
    # planned day (the drugs of one cycle are given at one visit)
    planned = np.asarray(s_first, dtype=np.int64)[rep] + k * interval_a
    visit = (person_a[rep] * 2_654_435_761 + planned * 40_503) % 1_000_003
    jitter = np.where(duration_a == 1, visit % 3, 0)
    start = planned + jitter
    end = np.minimum(start + duration_a - 1, cut_day)  # a dispensing's supply is cut at the extract's end
    last = k == count_a[rep] - 1
    stop_a = np.where(last, np.asarray(s_stop, dtype=np.int8)[rep], 0)
    drug = np.asarray(s_label, dtype=np.int32)[rep]
    # duplicates: 1 % of rows appear twice
    dup = rng.random(total) < 0.01
    take = np.concatenate([np.arange(total), np.flatnonzero(dup)])
    order = rng.permutation(take.shape[0])
    take = take[order]
    n = take.shape[0]
    end_null = (duration_a[take] == 1) & (rng.random(n) < 0.33)
    stopped_dict = pa.array([None, "progression", "toxicity"], pa.string())
    stop_idx = stop_a[take].astype(np.int32)
    exposures = pa.table(
        {
            "person_id": pa.array(person_a[rep][take]),
            "exposure_id": pa.array(np.arange(1, n + 1, dtype=np.int64)),
            "drug": pa.DictionaryArray.from_arrays(pa.array(drug[take]), pa.array(labels, pa.string())).cast(
                pa.string()
            ),
            "start_date": pa.array(start[take].astype(np.int32)).cast(pa.date32()),
            "end_date": pa.array(end[take].astype(np.int32), mask=end_null).cast(pa.date32()),
            "stopped": stopped_dict.take(pa.array(stop_idx)),
        }
    )
    index = pa.table(
        {
            "person_id": pa.array(np.asarray(idx_person, dtype=np.int64)),
            "metastatic_diagnosis": pa.array(np.asarray(idx_dx, dtype=np.int32)).cast(pa.date32()),
        }
    )
    return Cohort(exposures=exposures, index=index)


def write_cohort(cohort: Cohort, directory: Path) -> tuple[Path, Path]:
    """Write ``exposures.parquet`` and ``index.parquet`` into ``directory``; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    exp = directory / "exposures.parquet"
    idx = directory / "index.parquet"
    pq.write_table(cohort.exposures, exp, row_group_size=1_000_000)
    pq.write_table(cohort.index, idx)
    return exp, idx


def write_cohort_chunked(
    n_rows: int, directory: Path, *, chunk_rows: int = 10_000_000, seed: int = 20261129
) -> tuple[Path, Path]:
    """Write a cohort too large to build in memory (10^8 rows) as chunks of about ``chunk_rows`` rows.

    Chunk ``i`` is :func:`generate_cohort` with seed ``seed + i``, its person and exposure ids shifted past the
    previous chunks' (persons never span chunks); rows are shuffled within a chunk, not across chunks. Peak
    memory is that of one chunk (about 3 GB at 10^7 rows).

    Returns
    -------
    tuple of Path
        ``exposures.parquet`` and ``index.parquet`` in ``directory``.
    """
    import pyarrow.compute as pc

    directory.mkdir(parents=True, exist_ok=True)
    exp = directory / "exposures.parquet"
    idx = directory / "index.parquet"
    written = person_offset = id_offset = 0
    exp_writer: pq.ParquetWriter | None = None
    idx_writer: pq.ParquetWriter | None = None
    i = 0
    try:
        while written < n_rows:
            chunk = generate_cohort(min(chunk_rows, n_rows - written), seed=seed + i)
            e, x = chunk.exposures, chunk.index
            e = e.set_column(0, "person_id", pc.add(e.column("person_id"), person_offset))
            e = e.set_column(1, "exposure_id", pc.add(e.column("exposure_id"), id_offset))
            x = x.set_column(0, "person_id", pc.add(x.column("person_id"), person_offset))
            if exp_writer is None or idx_writer is None:
                exp_writer = pq.ParquetWriter(exp, e.schema)
                idx_writer = pq.ParquetWriter(idx, x.schema)
            exp_writer.write_table(e, row_group_size=1_000_000)
            idx_writer.write_table(x)
            person_offset += int(pc.max(x.column("person_id")).as_py()) - person_offset
            id_offset += e.num_rows
            written += e.num_rows
            i += 1
    finally:
        if exp_writer is not None:
            exp_writer.close()
        if idx_writer is not None:
            idx_writer.close()
    return exp, idx
