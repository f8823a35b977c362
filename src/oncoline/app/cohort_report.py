"""Use case: build the cohort report — attrition, pathways, time on treatment and time to next treatment,
guideline concordance and sensitivity to the line rules — as suppressed Arrow tables, and write it.

One core, many doors (house style S25): the CLI (``oncoline cohort report``) and any other door call
:func:`build_cohort_report` (tables in memory), :func:`report_inputs_from_files` / :func:`report_inputs_from_omop`
(reading) and :func:`write_cohort_report` (``report.html`` plus every table as Parquet and CSV). Nothing here
prints; progress is reported through a callback.

Every count in every table is suppressed below ``min_cell`` before it leaves this module
(:mod:`oncoline.analytics.suppression`); the HTML is rendered from the same suppressed tables, so every number
in the report is in an exported table.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oncoline.errors import InputError

if TYPE_CHECKING:
    import pyarrow as pa

    from oncoline.engines.lines.cohort import CohortReport as LinesReport
    from oncoline.engines.lines.params import LineParams

__all__ = [
    "REPORT_TABLES",
    "CohortReportResult",
    "ReportInputs",
    "ReportOptions",
    "build_cohort_report",
    "report_file_names",
    "report_inputs_from_files",
    "report_inputs_from_omop",
    "tidy_out_dir",
    "write_cohort_report",
]

Progress = Callable[[str, float, float], None]
"""``progress(step description, done, total)``: called as work advances (the CLI draws Rich bars with ETA)."""


def _quiet(_step: str, _done: float, _total: float) -> None:
    return None


@dataclass(frozen=True)
class ReportOptions:
    """Options of the cohort report (defaults are the issue's and OHDSI's conventions)."""

    min_cell: int = 5
    """Counts from 1 to ``min_cell - 1`` are shown as ``<min_cell>`` everywhere (complementary suppression too)."""
    max_lines: int = 5
    """Lines per pathway."""
    top_regimens: int = 12
    """Regimens named (and coloured) in pathways and per-regimen curves; the rest are 'other regimens'."""
    sensitivity: bool = True
    """Run the sensitivity grid (needs the exposure table)."""
    gap_days: tuple[int, ...] = (60, 90, 120, 180)
    regimen_window_days: tuple[int, ...] = (21, 28, 35)
    concordance: bool = True
    """Judge every line against the recommender as of its start."""
    at_risk_months: tuple[int, ...] = (0, 6, 12, 18, 24, 36, 48, 60)
    """Times of the at-risk tables under the Kaplan–Meier plots (months)."""


@dataclass(frozen=True)
class ReportInputs:
    """What the report is built from.

    Attributes
    ----------
    lines
        The lines table of ``oncoline lines`` (one row per person and line).
    index
        The index table (``person_id``, ``metastatic_diagnosis`` and the optional columns of
        :mod:`oncoline.io.cohort_index`).
    as_of, as_of_note
        The data cut-off and the rule that chose it (in words, for the report).
    exposures
        The exposure table, when known: the sensitivity grid and the row attrition need it.
    lines_report
        The line engine's report of the exposures (rows in, left out and why), when known.
    params
        The line parameters the lines were derived with.
    source
        What was read, in words (file names or the redacted database URL).
    """

    lines: pa.Table
    index: pa.Table
    as_of: dt.date
    as_of_note: str
    params: LineParams
    source: str
    exposures: pa.Table | None = None
    lines_report: LinesReport | None = None


@dataclass(frozen=True)
class CohortReportResult:
    """The cohort report: suppressed tables (the data behind every figure) and what the text needs.

    ``tables`` maps a name to a table; :func:`write_cohort_report` writes each as ``NAME.parquet`` and ``NAME.csv``.
    Count columns are nullable int64 (null = suppressed) with a ``*_shown`` text twin (``"<5"``).
    """

    tables: dict[str, pa.Table]
    as_of: dt.date
    as_of_note: str
    source: str
    min_cell: int
    max_lines: int
    params_version: str
    kb_version: str
    median_convention: str
    notes: tuple[str, ...] = ()
    recommender_calls: int = 0
    timings: dict[str, float] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------- reading
def _latest_date(table: pa.Table, columns: tuple[str, ...]) -> dt.date | None:
    import pyarrow as pa
    import pyarrow.compute as pc

    found: list[dt.date] = []
    for name in columns:
        if name in table.column_names and table.num_rows:
            col = table.column(name)
            if not pa.types.is_date(col.type):
                try:
                    col = pc.cast(col, pa.date32())
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    continue
            value = pc.max(col).as_py()
            if value is not None:
                found.append(value)
    return max(found, default=None)


def report_inputs_from_files(
    lines_path: Path,
    index_path: Path,
    /,
    *,
    exposures_path: Path | None = None,
    params: Mapping[str, Any] | None = None,
    as_of: dt.date | None = None,
    today: dt.date | None = None,
) -> ReportInputs:
    """Read a lines table (``oncoline lines --out``), its index and optionally its exposure table.

    Parameters
    ----------
    lines_path, index_path, exposures_path
        Parquet or CSV files.
    params
        Line-parameter overrides the lines were derived with (``{"gap_days": 90}``).
    as_of
        The data cut-off. Default: the latest date in the exposure table (the rule of ``oncoline lines``), else the
        latest line end in the lines table; never later than ``today``.
    today
        The clock (None: read now).

    Raises
    ------
    InputError
        A file is missing or unreadable, a column is missing or holds a bad value, or no date gives a cut-off.
    """
    from oncoline.app.dates import resolve_today
    from oncoline.app.lines import CutOff, cohort_cut_off, line_params
    from oncoline.engines.lines.cohort import lines_schema
    from oncoline.io.cohort_index import read_cohort_index
    from oncoline.io.exposures import latest_exposure_date, read_table

    now = resolve_today(today)
    lines = _read_lines(lines_path)
    missing = [f.name for f in lines_schema() if f.name not in lines.column_names]
    if missing:
        raise InputError(
            f"not a lines table: no {', '.join(missing)}; give the --out table of `oncoline lines`",
            source=str(lines_path),
            field=missing[0],
        )
    index = read_cohort_index(index_path)
    exposures = None
    if exposures_path is not None:
        exposures = read_table(exposures_path, kind="exposures")
    if as_of is not None:
        cut = CutOff(as_of, "option")
        note = cut.describe()
    elif exposures is not None:
        cut = cohort_cut_off(latest_exposure_date(exposures), "latest_in_data", today=now)
        note = cut.describe()
    else:
        cut = cohort_cut_off(_latest_date(lines, ("end_date",)), "latest_in_data", today=now)
        note = (
            "latest line end in the lines table; give --exposures to use the exposure table's latest date as "
            "`oncoline lines` does, or --as-of to set it"
        )
    if cut.as_of is None:
        raise InputError("the data hold no date to take the data cut-off from; give --as-of", field="--as-of")
    source = f"lines {lines_path.name}, index {index_path.name}" + (
        f", exposures {exposures_path.name}" if exposures_path is not None else ""
    )
    return ReportInputs(
        lines=lines,
        index=index,
        as_of=cut.as_of,
        as_of_note=note,
        params=line_params(params),
        source=source,
        exposures=exposures,
    )


def _read_lines(path: Path) -> pa.Table:
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    if not path.is_file():
        raise InputError(f"{path} does not exist; give the --out table of `oncoline lines`", source=str(path))
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            table = pq.read_table(path)
        elif suffix == ".csv":  # `,`, or `;` / tab when the header holds no comma (as for exposures and index)
            from oncoline.io.exposures import csv_delimiter

            table = pcsv.read_csv(path, parse_options=pcsv.ParseOptions(delimiter=csv_delimiter(path)))
        else:
            raise InputError(f"unknown format {suffix!r}; give a .parquet or .csv lines table", source=str(path))
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"cannot read the lines table ({exc})", source=str(path)) from exc
    if "drugs" in table.column_names and pa.types.is_string(table.column("drugs").type):
        # a CSV lines table holds the drug list as text: rebuild it from the regimen
        import pyarrow.compute as pc

        table = table.set_column(
            table.column_names.index("drugs"), "drugs", pc.split_pattern(table.column("regimen"), " + ")
        )
    return table


def report_inputs_from_omop(
    url: str,
    /,
    *,
    params: Mapping[str, Any] | None = None,
    as_of: dt.date | None = None,
    today: dt.date | None = None,
    progress: Progress = _quiet,
) -> ReportInputs:
    """Read an OMOP CDM, derive its lines (the application layer's cohort use case, DuckDB engine) and fill the
    index from PERSON and MEASUREMENT (:func:`oncoline.io.cohort_index.index_from_omop`).

    The cut-off without ``as_of`` is the rule of ``oncoline lines --omop``
    (:func:`oncoline.app.omop.omop_cut_off`): the latest ``observation_period_end_date``, else the latest
    DRUG_EXPOSURE date, never later than ``today``.

    Raises
    ------
    InputError, BackendError
        As :func:`oncoline.app.omop.read_omop_cohort`.
    """
    from oncoline.app.dates import resolve_today
    from oncoline.app.lines import CutOff, derive_cohort_lines, line_params
    from oncoline.app.omop import omop_cut_off, read_omop_cohort
    from oncoline.io.cohort_index import index_from_omop, validate_index
    from oncoline.io.omop.db import redact_url

    now = resolve_today(today)
    progress("reading the OMOP CDM", 0, 3)
    cohort = read_omop_cohort(url)
    index = validate_index(index_from_omop(url, cohort.index), source=redact_url(url))
    cut = CutOff(as_of, "option") if as_of is not None else omop_cut_off(url, today=now)
    if cut.as_of is None:
        raise InputError("the CDM holds no date to take the data cut-off from; give --as-of", field="--as-of")
    progress("deriving lines (DuckDB engine)", 1, 3)
    run = derive_cohort_lines(cohort.exposures, index, engine="duckdb", as_of=cut.as_of, today=now, params=params)
    progress("lines derived", 3, 3)
    assert run.lines is not None
    return ReportInputs(
        lines=run.lines,
        index=index,
        as_of=cut.as_of,
        as_of_note=cut.describe(),
        params=line_params(params),
        source=redact_url(url),
        exposures=cohort.exposures,
        lines_report=run.report,
    )


# ------------------------------------------------------------------------------------------------ building
def build_cohort_report(
    inputs: ReportInputs, /, *, options: ReportOptions = ReportOptions(), progress: Progress = _quiet
) -> CohortReportResult:
    """Compute every table of the cohort report, suppressed.

    Parameters
    ----------
    inputs
        :class:`ReportInputs` (from :func:`report_inputs_from_files` or :func:`report_inputs_from_omop`).
    options
        :class:`ReportOptions`.
    progress
        Progress callback (step, done, total).

    Returns
    -------
    CohortReportResult
        Tables: ``attrition``; ``regimens``, ``pathways``, ``pathway_steps``, ``pathway_transitions``,
        ``line_regimens``; ``km_summary``, ``km_curves``, ``km_at_risk``; ``concordance_by_line``,
        ``concordance_by_year``, ``concordance_reasons`` (with ``options.concordance``); ``sensitivity``,
        ``sensitivity_regimens`` (with ``options.sensitivity`` and an exposure table). Each is documented in
        ``docs`` of the report and in the builders below.

    Raises
    ------
    InputError
        When ``min_cell`` or ``max_lines`` is below 1.
    """
    import time

    import pyarrow as pa

    from oncoline.analytics import survival as sv
    from oncoline.analytics.pathways import pathways
    from oncoline.analytics.strata import person_strata
    from oncoline.knowledge.loader import load_knowledge

    if options.min_cell < 1:
        raise InputError(f"--min-cell must be at least 1, got {options.min_cell}", field="--min-cell")
    if options.max_lines < 1:
        raise InputError(f"--max-lines must be at least 1, got {options.max_lines}", field="--max-lines")
    timings: dict[str, float] = {}
    notes: list[str] = []
    tables: dict[str, pa.Table] = {}
    mc = options.min_cell
    lines, outside = _lines_in_index(inputs.lines, inputs.index)
    if outside[0]:
        notes.append(
            f"{outside[0]:,} person(s) of the lines table have no row in the index; their {outside[1]:,} line(s) are "
            "left out of every table (counted in the attrition)."
        )
    steps = 5 + int(options.concordance) + int(options.sensitivity and inputs.exposures is not None)
    done = 0

    def tick(what: str) -> None:
        nonlocal done
        progress(what, done, steps)
        done += 1

    t0 = time.perf_counter()
    tick("strata and pathways")
    strata = person_strata(inputs.index)
    paths = pathways(lines, strata, max_lines=options.max_lines, top_regimens=options.top_regimens)
    label_of = dict(
        zip(paths.regimens.column("regimen").to_pylist(), paths.regimens.column("label").to_pylist(), strict=True)
    )
    tables.update(_pathway_tables(paths, mc))
    timings["pathways"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    tick("Kaplan–Meier: time on treatment and time to next treatment")
    refused: Counter[str] = Counter()
    km_rows: list[dict[str, Any]] = []
    curves: list[pa.Table] = []
    at_risk: list[pa.Table] = []
    data: dict[str, pa.Table] = {}
    for endpoint in ("tot", "ttnt"):
        d, bad = sv.durations(lines, endpoint=endpoint, as_of=inputs.as_of)
        refused.update({f"{endpoint}:{k}": v for k, v in bad.items()})
        labels = [label_of.get(r) for r in d.column("regimen").to_pylist()]
        d = d.append_column("label", pa.array(labels, pa.string()))
        data[endpoint] = d
        groups = {
            "line": sv.km_groups(d, group_col="line", groups=list(range(1, options.max_lines + 1)), min_n=mc),
            "regimen": sv.km_groups(
                d, group_col="label", groups=paths.regimens.column("label").unique().to_pylist(), min_n=mc
            ),
        }
        for kind, fits in groups.items():
            for name, fit in fits.items():
                _km_outputs(endpoint, kind, name, fit, mc, options.at_risk_months, km_rows, curves, at_risk)
    timings["km"] = time.perf_counter() - t0

    kb = load_knowledge()
    calls = 0
    if options.concordance:
        t0 = time.perf_counter()
        tick("guideline concordance (recommender as of each line start)")
        from oncoline.analytics.concordance import Judge, concordance

        judge = Judge(kb, inputs.params)
        conc_step = done

        def judged_states(k: int, total: int) -> None:
            progress(f"guideline concordance: {k:,}/{total:,} distinct states", conc_step - 1 + k / total, steps)

        judged = concordance(lines, inputs.index, judge=judge, on_progress=judged_states)
        calls = judge.calls
        tables.update(_concordance_tables(judged, strata, mc))
        # TTNT by concordance category
        ttnt = data["ttnt"]
        cat_of = {
            (p, ln): c
            for p, ln, c in zip(
                judged.column("person_id").to_pylist(),
                judged.column("line").to_pylist(),
                judged.column("category").to_pylist(),
                strict=True,
            )
        }
        cats = pa.array(
            [
                cat_of.get((p, ln))
                for p, ln in zip(ttnt.column("person_id").to_pylist(), ttnt.column("line").to_pylist(), strict=True)
            ],
            pa.string(),
        )
        fits = sv.km_groups(
            ttnt.append_column("category", cats),
            group_col="category",
            groups=["concordant_preferred", "concordant_other", "not_concordant", "not_assessable"],
            min_n=mc,
        )
        for name, fit in fits.items():
            _km_outputs("ttnt", "concordance", name, fit, mc, options.at_risk_months, km_rows, curves, at_risk)
        timings["concordance"] = time.perf_counter() - t0

    tables.update(_km_tables(km_rows, curves, at_risk, mc))

    # the exposure table prepared once: the sensitivity grid runs its kernel on it, the attrition reads its report
    prepared = None
    if inputs.exposures is not None and (inputs.lines_report is None or options.sensitivity):
        from oncoline.engines.lines.duckdb_engine import prepare_kernel_input

        prepared = prepare_kernel_input(inputs.exposures, inputs.index, params=inputs.params, as_of=inputs.as_of)

    if options.sensitivity:
        if inputs.exposures is None:
            notes.append(
                "Sensitivity to the line rules needs the exposure table: give --exposures (or --omop) to add it."
            )
        else:
            t0 = time.perf_counter()
            from oncoline.analytics.sensitivity import sensitivity_grid

            n_cells = len(options.gap_days) * len(options.regimen_window_days)
            base = done

            def cell(k: int, total: int) -> None:
                progress(f"sensitivity grid: cell {k}/{total}", base + k / total, steps)

            tick(f"sensitivity grid ({n_cells} settings of the line rules)")
            summary, regimens = sensitivity_grid(
                inputs.exposures,
                inputs.index,
                params=inputs.params,
                as_of=inputs.as_of,
                gap_days=options.gap_days,
                regimen_window_days=options.regimen_window_days,
                on_cell=cell,
                prepared=prepared,
            )
            tables.update(_sensitivity_tables(summary, regimens, mc))
            mismatch = _grid_mismatch(summary, lines.num_rows, inputs.params)
            if mismatch:
                notes.append(mismatch)
            timings["sensitivity"] = time.perf_counter() - t0

    tick("attrition")
    persons_with_lines = int(pa.compute.count_distinct(lines.column("person_id")).as_py()) if lines.num_rows else 0
    rows_report = inputs.lines_report if inputs.lines_report is not None else getattr(prepared, "report", None)
    tables["attrition"] = _attrition(
        inputs, rows_report, persons_with_lines, lines.num_rows, refused, mc, calls, outside=outside
    )
    tables = {"attrition": tables.pop("attrition"), **tables}
    progress("tables ready", steps, steps)
    return CohortReportResult(
        tables=tables,
        as_of=inputs.as_of,
        as_of_note=inputs.as_of_note,
        source=inputs.source,
        min_cell=mc,
        max_lines=options.max_lines,
        params_version=inputs.params.version,
        kb_version=str(getattr(kb, "version", "")),
        median_convention=sv.MEDIAN_CONVENTION,
        notes=tuple(notes),
        recommender_calls=calls,
        timings=timings,
    )


# ---------------------------------------------------------------------------------------- table builders
def _grid_mismatch(summary: pa.Table, n_lines: int, params: Any) -> str | None:
    """A note when the grid's default cell (the line rules given) does not reproduce the lines table.

    The lines table does not record the parameters it was derived with, so a file made with ``--param
    gap_days=60`` would otherwise sit under a grid whose "default" row is 120: the line counts tell them apart.
    """
    base = [r for r in summary.to_pylist() if r["is_default"]]
    if not base or base[0]["lines"] == n_lines:
        return None
    return (
        f"The lines table holds {n_lines:,} lines of persons in the index, but the line rules given here "
        f"(gap_days {params.gap_days}, regimen_window_days {params.regimen_window_days}, parameters "
        f"{params.version}) derive {base[0]['lines']:,} from the exposure table: the lines were made with other "
        "parameters, another cut-off or other data. The sensitivity grid's 'default' row is the rules given here, "
        "not those of the lines table; give the same --param and --as-of as for `oncoline lines`."
    )


def _lines_in_index(lines: pa.Table, index: pa.Table) -> tuple[pa.Table, tuple[int, int]]:
    """The lines of persons in the index, and (persons, lines) left out because their person has no index row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if lines.num_rows == 0:
        return lines, (0, 0)
    ids = pc.cast(lines.column("person_id"), pa.string())
    known = pc.is_in(ids, value_set=pc.unique(pc.cast(index.column("person_id"), pa.string())))
    if pc.all(known).as_py():
        return lines, (0, 0)
    out = pc.invert(known)
    persons = int(pc.count_distinct(pc.filter(ids, out)).as_py())
    return lines.filter(known), (persons, int(pc.sum(out).as_py() or 0))


def _pathway_tables(paths: Any, mc: int) -> dict[str, pa.Table]:
    from oncoline.analytics.suppression import suppress

    return {
        "regimens": suppress(paths.regimens, counts=["lines"], min_cell=mc),
        "pathways": suppress(
            paths.pathways,
            counts=["persons"],
            min_cell=mc,
            group_by=["stratum_kind", "stratum"],
            shares={"share": "persons"},
        ),
        "pathway_steps": suppress(
            paths.steps, counts=["persons"], min_cell=mc, group_by=["stratum_kind", "stratum", "parent"]
        ),
        "pathway_transitions": suppress(
            paths.transitions,
            counts=["persons"],
            min_cell=mc,
            group_by=["stratum_kind", "stratum", "line", "from_regimen"],
        ),
        "line_regimens": suppress(
            paths.line_regimens,
            counts=["persons"],
            min_cell=mc,
            group_by=["stratum_kind", "stratum", "line"],
            shares={"share": "persons"},
        ),
    }


def _km_outputs(
    endpoint: str,
    kind: str,
    name: str,
    fit: Any,
    mc: int,
    months: tuple[int, ...],
    rows: list[dict[str, Any]],
    curves: list[pa.Table],
    at_risk: list[pa.Table],
) -> None:
    import numpy as np
    import pyarrow as pa

    from oncoline.analytics.survival import DAYS_PER_MONTH

    censored = fit.n - fit.events
    hide = 0 < fit.events < mc or 0 < censored < mc
    rows.append(
        {
            "endpoint": endpoint,
            "group_kind": kind,
            "group": name,
            "n": fit.n,
            "events": None if hide else fit.events,
            "censored": None if hide else censored,
            "median_days": fit.median,
            "median_lower_days": fit.median_lower,
            "median_upper_days": fit.median_upper,
            "median_months": None if fit.median is None else round(fit.median / DAYS_PER_MONTH, 1),
            "median_lower_months": None if fit.median_lower is None else round(fit.median_lower / DAYS_PER_MONTH, 1),
            "median_upper_months": None if fit.median_upper is None else round(fit.median_upper / DAYS_PER_MONTH, 1),
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


def _km_tables(rows: list[dict[str, Any]], curves: list[pa.Table], at_risk: list[pa.Table], mc: int) -> dict[str, Any]:
    import pyarrow as pa

    from oncoline.analytics.suppression import shown_text, suppress

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
    for name in ("n", "events", "censored"):
        summary = summary.append_column(
            f"{name}_shown", pa.array([shown_text(v, mc) for v in summary.column(name).to_pylist()], pa.string())
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


def _concordance_tables(judged: pa.Table, strata: pa.Table, mc: int) -> dict[str, pa.Table]:
    import duckdb

    from oncoline.analytics.suppression import suppress

    con = duckdb.connect()
    try:
        con.register("j", judged)
        con.register("s", strata)
        by_line = con.execute(
            """SELECT line, category, count(*) AS lines,
                      count(*) / sum(count(*)) OVER (PARTITION BY line) AS share
               FROM j GROUP BY 1, 2 ORDER BY line, category"""
        ).to_arrow_table()
        by_year = con.execute(
            """SELECT coalesce(s.index_year, 'unknown') AS index_year, category, count(*) AS lines,
                      count(*) / sum(count(*)) OVER (PARTITION BY coalesce(s.index_year, 'unknown')) AS share
               FROM j LEFT JOIN s USING (person_id) GROUP BY 1, 2 ORDER BY index_year, category"""
        ).to_arrow_table()
        reasons = con.execute(
            """SELECT category, reason, count(*) AS lines FROM j
               WHERE category IN ('not_concordant', 'not_assessable') GROUP BY 1, 2
               ORDER BY category, lines DESC, reason"""
        ).to_arrow_table()
    finally:
        con.close()
    return {
        "concordance_by_line": suppress(
            by_line, counts=["lines"], min_cell=mc, group_by=["line"], shares={"share": "lines"}
        ),
        "concordance_by_year": suppress(
            by_year, counts=["lines"], min_cell=mc, group_by=["index_year"], shares={"share": "lines"}
        ),
        "concordance_reasons": suppress(reasons, counts=["lines"], min_cell=mc, group_by=["category"]),
    }


def _sensitivity_tables(summary: pa.Table, regimens: pa.Table, mc: int) -> dict[str, pa.Table]:
    from oncoline.analytics.suppression import suppress

    out = summary
    for name in ("persons", "lines", "persons_2l"):
        out = suppress(out, counts=[name], min_cell=mc, group_by=["gap_days", "regimen_window_days"])
    return {
        "sensitivity": suppress_derived(summary, out, mc),
        "sensitivity_regimens": suppress(
            regimens,
            counts=["persons"],
            min_cell=mc,
            group_by=["gap_days", "regimen_window_days"],
            shares={"share": "persons"},
        ),
    }


SENSITIVITY_DERIVED = {
    "lines_per_person": "persons",
    "median_ttnt_1l_days": "persons",
    "median_ttnt_1l_lower": "persons",
    "median_ttnt_1l_upper": "persons",
    "median_ttnt_2l_days": "persons_2l",
}
"""Derived columns of the sensitivity grid and the count of persons each is computed from (its denominator or
group): the derived figure is suppressed whenever that count is below ``min_cell``."""


def suppress_derived(raw: pa.Table, suppressed: pa.Table, mc: int) -> pa.Table:
    """Suppress the sensitivity grid's derived figures (ratios, medians) whose group is below ``mc`` persons.

    A ratio such as lines / person next to a shown count lets a reader recover a hidden count by division, and a
    median of fewer than ``mc`` persons is the value of one of them; both are null where their group
    (:data:`SENSITIVITY_DERIVED`) holds 1 to ``mc - 1`` persons (a group of 0 has no figure to hide). Each derived
    column gains a text twin ``<name>_shown``: ``"suppressed (<5 persons)"`` there, otherwise the value
    (``lines_per_person`` is rounded to 2 decimals in the table itself).

    Parameters
    ----------
    raw
        The grid before suppression (counts as derived).
    suppressed
        The same rows with the counts already suppressed.
    mc
        The minimum cell count (≥ 1).

    Returns
    -------
    pyarrow.Table
        ``suppressed`` with the derived columns nulled where their group is small, plus the ``*_shown`` twins.
    """
    import pyarrow as pa

    out = suppressed
    groups = {name: raw.column(name).to_pylist() for name in set(SENSITIVITY_DERIVED.values())}
    for name, group in SENSITIVITY_DERIVED.items():
        if name not in out.column_names:
            continue
        values: list[float | None] = []
        shown: list[str] = []
        for v, n in zip(out.column(name).to_pylist(), groups[group], strict=True):
            if n is not None and 0 < int(n) < mc:
                values.append(None)
                shown.append(f"suppressed (<{mc} persons)")
                continue
            if v is not None and name == "lines_per_person":
                v = round(float(v), 2)
            values.append(v)
            shown.append("" if v is None else (f"{v:.2f}" if name == "lines_per_person" else f"{v:.0f}"))
        out = out.set_column(out.column_names.index(name), name, pa.array(values, pa.float64()))
        out = out.append_column(f"{name}_shown", pa.array(shown, pa.string()))
    return out


def _attrition(
    inputs: ReportInputs,
    rep: Any,
    persons_with_lines: int,
    n_lines: int,
    refused: Counter[str],
    mc: int,
    calls: int,
    *,
    outside: tuple[int, int] = (0, 0),
) -> pa.Table:
    import pyarrow as pa

    from oncoline.analytics.suppression import suppress

    rows: list[tuple[int, str, str, str, int]] = []  # step, unit, group, description, count

    def add(unit: str, group: str, text: str, count: int) -> None:
        rows.append((len(rows) + 1, unit, group, text, count))

    if rep is not None:  # the exposure-row report of `oncoline lines` (or of the same preparation here)
        add("exposure rows", "", "exposure rows read", rep.rows_in)
        for reason, count in rep.excluded.items():
            add("exposure rows", "rows", f"left out: {reason.replace('_', ' ')}", count)
        add("exposure rows", "rows", "used in a line", rep.rows_used)
    n_index = int(pa.compute.count_distinct(inputs.index.column("person_id")).as_py()) if inputs.index.num_rows else 0
    add("persons", "", "persons in the index", n_index)
    add(
        "persons",
        "persons",
        "no metastatic line (no anticancer exposure in the metastatic setting)",
        max(n_index - persons_with_lines, 0),
    )
    add("persons", "persons", "at least one metastatic line (the pathway cohort)", persons_with_lines)
    if outside[0]:
        add("not in the index", "persons", "persons in the lines table without an index row: left out", outside[0])
        add("not in the index", "lines", "their lines: left out", outside[1])
    add("lines", "", "lines of therapy", n_lines)
    for endpoint, text in (("tot", "time on treatment"), ("ttnt", "time to next treatment")):
        bad = refused.get(f"{endpoint}:nonpositive_duration", 0)
        add("lines", endpoint, f"{text}: refused, duration ≤ 0 days (nonpositive_duration)", bad)
        add("lines", endpoint, f"{text}: fitted", n_lines - bad)
    if calls:
        add("states", "", "guideline concordance: distinct patient states judged (one recommender call each)", calls)
    table = pa.table(
        {
            "step": pa.array([r[0] for r in rows], pa.int32()),
            "unit": pa.array([r[1] for r in rows], pa.string()),
            "partition": pa.array([r[2] for r in rows], pa.string()),
            "description": pa.array([r[3] for r in rows], pa.string()),
            "count": pa.array([r[4] for r in rows], pa.int64()),
        }
    )
    return suppress(table, counts=["count"], min_cell=mc, group_by=["unit", "partition"])


# ------------------------------------------------------------------------------------------------ writing
REPORT_TABLES = (
    "attrition",
    "regimens",
    "pathways",
    "pathway_steps",
    "pathway_transitions",
    "line_regimens",
    "km_summary",
    "km_curves",
    "km_at_risk",
    "concordance_by_line",
    "concordance_by_year",
    "concordance_reasons",
    "sensitivity",
    "sensitivity_regimens",
)
"""Every table the report can write (``NAME.parquet`` and ``NAME.csv``); with ``report.html`` its own files."""


def report_file_names() -> set[str]:
    """The names of every file the cohort report can write in its ``--out`` directory."""
    return {"report.html"} | {f"{t}.{ext}" for t in REPORT_TABLES for ext in ("parquet", "csv")}


def tidy_out_dir(out_dir: Path, written: list[Path], /) -> tuple[list[Path], list[Path]]:
    """After writing: remove the report's own files left from an earlier run that this run did not write (a
    ``concordance_by_line.csv`` from a run with concordance beside a run without it would be stale), and list the
    other files found. Files the report does not write are never touched.

    Returns
    -------
    tuple of list of Path
        ``(removed, others)``: the stale report files removed, and the files in ``out_dir`` that are not the
        report's (left as they are), both sorted.
    """
    own = report_file_names()
    done = {p.name for p in written}
    removed: list[Path] = []
    others: list[Path] = []
    for path in sorted(out_dir.iterdir()):
        if path.name in own and path.name not in done and path.is_file():
            path.unlink()
            removed.append(path)
        elif path.name not in own:
            others.append(path)
    return removed, others


def write_cohort_report(result: CohortReportResult, out_dir: Path, /, *, progress: Progress = _quiet) -> list[Path]:
    """Write ``report.html`` and every table as ``NAME.parquet`` and ``NAME.csv`` in ``out_dir`` (created).

    Returns
    -------
    list of Path
        The files written, report first.

    Raises
    ------
    InputError
        When ``out_dir`` exists and is not a directory, or cannot be written.
    """
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    from oncoline.outputs.report import render_report

    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir} exists and is not a directory; give a directory for --out", source=str(out_dir))
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create {out_dir} ({exc})", source=str(out_dir)) from exc
    progress("rendering report.html", 0, 2)
    html = render_report(result)
    written = [out_dir / "report.html"]
    written[0].write_text(html, encoding="utf-8")
    progress("writing the tables (Parquet and CSV)", 1, 2)
    for name, table in result.tables.items():
        if table.num_columns == 0:
            continue
        pq.write_table(table, out_dir / f"{name}.parquet")
        pcsv.write_csv(table, out_dir / f"{name}.csv")
        written += [out_dir / f"{name}.parquet", out_dir / f"{name}.csv"]
    progress("report written", 2, 2)
    return written
