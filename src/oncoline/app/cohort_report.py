"""Use case: build the cohort report — attrition, pathways, time on treatment and time to next treatment,
guideline concordance and sensitivity to the line rules — as suppressed Arrow tables, and write it.

One core, many doors (house style S25): the CLI (``oncoline cohort report``) and any other door call
:func:`build_cohort_report` (tables in memory), :func:`report_inputs_from_files` / :func:`report_inputs_from_omop`
(reading: :mod:`oncoline.app.cohort_inputs`, re-exported here) and :func:`write_cohort_report` (``report.html``
plus every table as Parquet and CSV). Nothing here prints; progress is reported through a callback. The tables
themselves are computed in :mod:`oncoline.analytics` (aggregates first, then tables from them).

Every count in every table is suppressed below ``min_cell`` before it leaves this module
(:mod:`oncoline.analytics.suppression`); the HTML is rendered from the same suppressed tables, so every number
in the report is in an exported table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from oncoline.app.cohort_inputs import (
    SPARK_NO_EXPOSURES,
    ReportInputs,
    read_lines_spark,
    report_inputs_from_files,
    report_inputs_from_omop,
)
from oncoline.errors import InputError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "REPORT_MANIFEST",
    "REPORT_TABLES",
    "CohortReportResult",
    "ReportInputs",
    "ReportOptions",
    "build_cohort_report",
    "read_lines_spark",
    "report_file_names",
    "report_inputs_from_files",
    "report_inputs_from_omop",
    "report_overwrites",
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
    at_risk_months: tuple[int, ...] = tuple(range(0, 61, 6))
    """Times of the at-risk tables under the Kaplan–Meier plots (months)."""
    engine: Literal["duckdb", "spark"] = "duckdb"
    """Where the lines become counts: in memory (DuckDB) or in Spark (a lines file of any size; only counts
    reach the driver)."""
    spark: Any = None
    """A ``SparkSession`` for ``engine="spark"``; None starts (or reuses) a local one, or the one spark-submit
    configured."""


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
    states_judged: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    engine: str = "duckdb"
    """Where the lines became counts: ``duckdb`` (in memory) or ``spark``."""
    cut_off_warning: str = ""
    """Non-empty when the cut-off defaulted to today because the data run past it (see :class:`ReportInputs`)."""
    line_rules: str = ""
    """The line rules the lines were derived with, in words, or "line rules unknown …" when the lines table
    records none (see :attr:`ReportInputs.line_rules`); empty: only :attr:`params_version` is known."""


# ------------------------------------------------------------------------------------------------ building
def build_cohort_report(
    inputs: ReportInputs, /, *, options: ReportOptions = ReportOptions(), progress: Progress = _quiet
) -> CohortReportResult:
    """Compute every table of the cohort report, suppressed.

    The lines become counts first (:class:`oncoline.analytics.aggregates.CohortAggregates`: in memory with
    DuckDB, or in Spark with ``options.engine == "spark"``), and every table comes from those counts
    (:func:`oncoline.analytics.aggregates.report_tables`), so both engines give the same tables.

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
        ``line_regimens``; ``concordance_by_line``, ``concordance_by_year``, ``concordance_reasons``,
        ``concordance_reason_regimens`` (with ``options.concordance``); ``km_summary``, ``km_curves``,
        ``km_at_risk``; ``sensitivity``, ``sensitivity_regimens`` (with ``options.sensitivity`` and an exposure
        table). Each is documented in ``docs/cohort-report.md`` and in :mod:`oncoline.analytics`.

    Raises
    ------
    InputError
        When ``min_cell`` or ``max_lines`` is below 1, or the Spark path is asked without a lines file.
    BackendError
        When the Spark path cannot start Spark or a Spark job fails.
    """
    import time

    import pyarrow as pa

    from oncoline.analytics.aggregates import aggregate_lines, her2_scope, report_tables
    from oncoline.analytics.attrition import attrition_table
    from oncoline.analytics.survival import MEDIAN_CONVENTION
    from oncoline.knowledge.loader import load_knowledge

    if options.min_cell < 1:
        raise InputError(f"--min-cell must be at least 1, got {options.min_cell}", field="--min-cell")
    if options.max_lines < 1:
        raise InputError(f"--max-lines must be at least 1, got {options.max_lines}", field="--max-lines")
    timings: dict[str, float] = {}
    notes: list[str] = []
    if inputs.line_rules and not inputs.rules_known:
        notes.append(inputs.line_rules[:1].upper() + inputs.line_rules[1:] + ".")
    mc = options.min_cell
    grid = options.sensitivity and inputs.exposures is not None
    steps = 4 + int(grid)

    kb = load_knowledge()
    judge = None
    if options.concordance:
        from oncoline.analytics.concordance import Judge

        judge = Judge(kb, inputs.params)

    def within(base: int) -> Callable[[str, float, float], None]:
        def step(what: str, done: float, total: float) -> None:
            progress(what, base + done / max(total, 1), steps)

        return step

    # With the sensitivity grid on DuckDB, the concordance's recommender calls and the grid (preparing the
    # exposures, the line kernel per cell) start first in forked worker processes (before this process starts
    # DuckDB again) and run while this process builds the aggregates and tables: both cores busy. The tables are
    # the same in either order.
    # the report is about HER2-positive disease: HER2-negative persons of the index are left out of every table
    # (both engines apply her2_scope themselves and count them; the concordance and the grid take the same index)
    analysed, her2 = her2_scope(inputs.index)
    _check_lines_match_index(inputs)
    pending_grid = None
    rows_prepared = None
    # (the grid first: its worker, preparing 10^7 exposure rows and running the kernel per cell, is the longer
    # path; the concordance keys its lines after the fork, in this process, and forks its own workers)
    if grid and options.engine == "duckdb":
        from oncoline.analytics.sensitivity import start_sensitivity_grid

        assert inputs.exposures is not None
        progress("sensitivity grid: starting beside the other steps", 0, steps)
        pending_grid = start_sensitivity_grid(
            inputs.exposures,
            inputs.index,  # the exposure-row report (attrition) covers every person of the index
            params=inputs.params,
            as_of=inputs.as_of,
            gap_days=options.gap_days,
            regimen_window_days=options.regimen_window_days,
            grid_index=analysed if her2.negative else None,
        )
        if not pending_grid.forked:
            pending_grid = None
    started = None
    if judge is not None and grid and options.engine == "duckdb" and inputs.lines is not None:
        from oncoline.analytics.aggregates import lines_in_index
        from oncoline.analytics.concordance import start_concordance

        progress("guideline concordance: starting the recommender calls", 0, steps)
        try:
            started = start_concordance(lines_in_index(inputs.lines, analysed)[0], analysed, judge=judge)
        except BaseException:
            if pending_grid is not None:
                pending_grid.cancel()  # the error (or Ctrl-C) is not held up by a grid nobody will read
            raise
    agg_base, grid_base = (1, 0) if started is not None else (0, 3)

    # the exposure table prepared once: the sensitivity grid runs its kernel on it, the attrition reads its report
    prepared = None
    grid_notes: list[str] = []
    tables_grid: tuple[pa.Table, pa.Table] | None = None

    def prepare_and_grid() -> None:
        nonlocal prepared, tables_grid
        if inputs.exposures is not None and (inputs.lines_report is None or options.sensitivity):
            from oncoline.engines.lines.duckdb_engine import prepare_kernel_input

            prepared = prepare_kernel_input(inputs.exposures, inputs.index, params=inputs.params, as_of=inputs.as_of)
        if options.sensitivity and inputs.exposures is None:
            grid_notes.append(
                "Sensitivity to the line rules needs the exposure table: give --exposures (or --omop) to add it."
            )
        elif grid:
            assert inputs.exposures is not None
            t0 = time.perf_counter()
            from oncoline.analytics.sensitivity import grid_cells, sensitivity_grid

            # + one cell per other value of toxicity_stop_ends_line
            n_cells = len(
                grid_cells(inputs.params, gap_days=options.gap_days, regimen_window_days=options.regimen_window_days)
            )

            def cell(k: int, total: int) -> None:
                progress(f"sensitivity grid: cell {k}/{total}", grid_base + k / total, steps)

            progress(f"sensitivity grid ({n_cells} settings of the line rules)", grid_base, steps)
            tables_grid = sensitivity_grid(
                inputs.exposures,
                analysed,
                params=inputs.params,
                as_of=inputs.as_of,
                gap_days=options.gap_days,
                regimen_window_days=options.regimen_window_days,
                on_cell=cell,
                # the prepared table holds every person of the index (its report is the row attrition)
                prepared=prepared if not her2.negative else None,
            )
            timings["sensitivity"] = time.perf_counter() - t0

    if started is not None and pending_grid is None:
        try:
            prepare_and_grid()
        except BaseException:
            started.cancel()  # the error (or Ctrl-C) is not held up by judgements nobody will read
            raise

    t0 = time.perf_counter()
    if options.engine == "spark":
        from oncoline.analytics.spark_aggregates import aggregate_lines_spark

        if inputs.lines_path is None:
            raise InputError("the Spark path reads the lines table from a file: give LINES", field="LINES")
        if inputs.exposures is not None:
            raise InputError(SPARK_NO_EXPOSURES, field="--exposures")
        agg = aggregate_lines_spark(
            read_lines_spark(inputs.lines_path, spark=options.spark),
            inputs.index,
            as_of=inputs.as_of,
            max_lines=options.max_lines,
            top_regimens=options.top_regimens,
            judge=judge,
            step=within(agg_base),
        )
    else:
        try:
            agg = aggregate_lines(
                inputs.lines,
                inputs.index,
                as_of=inputs.as_of,
                max_lines=options.max_lines,
                top_regimens=options.top_regimens,
                judge=judge,
                step=within(agg_base),
                started=started,
            )
        except BaseException:
            if started is not None:
                started.cancel()
            if pending_grid is not None:
                pending_grid.cancel()
            raise
    timings["aggregates"] = time.perf_counter() - t0
    if agg.outside[0]:
        notes.append(
            f"{agg.outside[0]:,} person(s) of the lines table have no row in the index; their {agg.outside[1]:,} "
            "line(s) are left out of every table (counted in the attrition)."
        )

    t0 = time.perf_counter()
    progress("pathways, Kaplan–Meier and concordance tables", agg_base + 2, steps)
    try:
        tables, refused = report_tables(
            agg, min_cell=mc, max_lines=options.max_lines, at_risk_months=options.at_risk_months
        )
    except BaseException:
        if pending_grid is not None:
            pending_grid.cancel()  # the error (or Ctrl-C) is not held up by a grid nobody will read
        raise
    timings["tables"] = time.perf_counter() - t0

    if pending_grid is not None:
        t0 = time.perf_counter()
        progress("sensitivity grid: collecting the worker's tables", steps - 1, steps)
        summary_grid, regimens_grid, rows_prepared = pending_grid.result()
        tables_grid = (summary_grid, regimens_grid)
        timings["sensitivity"] = time.perf_counter() - t0
    elif started is None:
        prepare_and_grid()
    notes.extend(grid_notes)
    if tables_grid is not None:
        from oncoline.analytics.sensitivity import grid_mismatch, sensitivity_tables, unmoved_rules

        summary, regimens = tables_grid
        tables.update(sensitivity_tables(summary, regimens, min_cell=mc))
        mismatch = grid_mismatch(summary, agg.n_lines, inputs.params)
        recorded_as_of = (inputs.provenance or {}).get("as_of")
        if mismatch and inputs.rules_known and recorded_as_of == inputs.as_of.isoformat():
            # the lines table records the rules and cut-off the grid used, so only other data explain it
            raise InputError(
                f"the lines table does not come from this exposure table: it holds {agg.n_lines:,} lines of persons "
                "in the index, while its own recorded line rules and cut-off derive "
                f"{_default_cell_lines(summary):,} from the exposures given; derive the lines from these exposures "
                "again (`oncoline lines EXPOSURES --index INDEX --out LINES`) or give the exposures and index they "
                "were derived from",
                source=inputs.source,
            )
        if mismatch:
            notes.append(mismatch)
        notes.extend(unmoved_rules(summary, min_persons=mc))

    progress("attrition", steps - 1, steps)
    rows_report = inputs.lines_report if inputs.lines_report is not None else getattr(prepared, "report", None)
    if pending_grid is not None and inputs.lines_report is None:
        rows_report = rows_prepared
    attrition = attrition_table(
        rows_report=rows_report,
        n_index=agg.n_index,
        persons_with_lines=agg.persons_with_lines,
        n_lines=agg.n_lines,
        refused=refused,
        states_judged=agg.states_judged,
        outside=agg.outside,
        min_cell=mc,
        her2=agg.her2,
    )
    tables = {"attrition": attrition, **tables}
    progress("tables ready", steps, steps)
    assert all(isinstance(t, pa.Table) for t in tables.values())
    return CohortReportResult(
        tables=tables,
        as_of=inputs.as_of,
        as_of_note=inputs.as_of_note,
        source=inputs.source,
        min_cell=mc,
        max_lines=options.max_lines,
        params_version=inputs.params.version,
        kb_version=str(getattr(kb, "version", "")),
        median_convention=MEDIAN_CONVENTION,
        notes=tuple(notes),
        states_judged=agg.states_judged,
        timings=timings,
        engine=options.engine,
        cut_off_warning=inputs.cut_off_warning,
        line_rules=inputs.line_rules,
    )


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
    "concordance_reason_regimens",
    "sensitivity",
    "sensitivity_regimens",
)
"""Every table the report can write (``NAME.parquet`` and ``NAME.csv``); with ``report.html`` its own files."""


def _default_cell_lines(summary: pa.Table, /) -> int:
    return next(int(r["lines"]) for r in summary.to_pylist() if r["is_default"])


def _check_lines_match_index(inputs: ReportInputs, /) -> None:
    """Refuse a lines table none of whose persons is in the index (another cohort's lines; an empty report would
    follow), naming both files and the fix."""
    if inputs.lines is None or inputs.lines.num_rows == 0 or inputs.index.num_rows == 0:
        return
    from oncoline.analytics.aggregates import lines_in_index

    kept, (persons, _lines) = lines_in_index(inputs.lines, inputs.index)
    if kept.num_rows == 0:
        raise InputError(
            f"none of the {persons:,} persons of the lines table has a row in the index (person_id): the lines and "
            "the index come from different cohorts; give the index the lines were derived with",
            field="person_id",
            source=inputs.source,
        )


def report_file_names() -> set[str]:
    """The names of every file the cohort report can write in its ``--out`` directory."""
    return {"report.html"} | {f"{t}.{ext}" for t in REPORT_TABLES for ext in ("parquet", "csv")}


REPORT_MANIFEST = ".oncoline-report.json"
"""The manifest every report run writes in its ``--out`` directory: the files it wrote. Only files a manifest
lists are ever removed as stale; files of the same names that no run recorded are the user's own."""


def _manifest_names(out_dir: Path) -> set[str]:
    """The file names the manifest in ``out_dir`` lists (none when there is no readable manifest)."""
    import json

    try:
        data = json.loads((out_dir / REPORT_MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    files = data.get("files") if isinstance(data, dict) else None
    own = report_file_names()
    return {f for f in files if isinstance(f, str) and f in own} if isinstance(files, list) else set()


def _write_manifest(out_dir: Path, names: set[str]) -> None:
    import json

    from oncoline._version import __version__

    body = {"written_by": f"oncoline {__version__} cohort report", "files": sorted(names)}
    (out_dir / REPORT_MANIFEST).write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")


def _names_to_write(result: CohortReportResult) -> list[str]:
    return ["report.html"] + [
        f"{name}.{ext}" for name, t in result.tables.items() if t.num_columns for ext in ("parquet", "csv")
    ]


def report_overwrites(result: CohortReportResult, out_dir: Path, /) -> list[Path]:
    """The files in ``out_dir`` that writing ``result`` would overwrite although no earlier report run recorded
    them in its manifest (:data:`REPORT_MANIFEST`): the user's own files of the report's names, sorted. Call it
    before :func:`write_cohort_report` to say so."""
    if not out_dir.is_dir():
        return []
    recorded = _manifest_names(out_dir)
    return sorted(out_dir / n for n in _names_to_write(result) if n not in recorded and (out_dir / n).exists())


def tidy_out_dir(out_dir: Path, written: list[Path], /) -> tuple[list[Path], list[Path]]:
    """After writing: remove the files an earlier report run recorded in its manifest (:data:`REPORT_MANIFEST`)
    that this run did not write (a ``concordance_by_line.csv`` from a run with concordance beside a run without it
    would be stale), then record this run's files in the manifest. Files no manifest lists are never touched,
    whatever their names.

    Returns
    -------
    tuple of list of Path
        ``(removed, others)``: the stale report files removed, and the other files in ``out_dir`` (left as they
        are; the manifest itself not counted), both sorted.
    """
    recorded = _manifest_names(out_dir)
    done = {p.name for p in written}
    removed: list[Path] = []
    others: list[Path] = []
    for path in sorted(out_dir.iterdir()):
        if path.name in done or path.name == REPORT_MANIFEST:
            continue
        if path.name in recorded and path.is_file():
            path.unlink()
            removed.append(path)
        else:
            others.append(path)
    _write_manifest(out_dir, done)
    return removed, others


def write_cohort_report(result: CohortReportResult, out_dir: Path, /, *, progress: Progress = _quiet) -> list[Path]:
    """Write ``report.html`` and every table as ``NAME.parquet`` and ``NAME.csv`` in ``out_dir`` (created).

    Writes the manifest :data:`REPORT_MANIFEST` too (the files of this run; see :func:`tidy_out_dir`).

    Returns
    -------
    list of Path
        The files written, report first (the manifest not listed).

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
    # every run records its files (with those of an earlier run not yet tidied): only these are ever removed
    _write_manifest(out_dir, _manifest_names(out_dir) | {p.name for p in written})
    progress("report written", 2, 2)
    return written
