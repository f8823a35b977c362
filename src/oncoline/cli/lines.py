"""``oncoline lines`` — lines of therapy for one patient (an events file) or a cohort (exposure tables or an
OMOP CDM database).

One patient::

    oncoline lines events.yaml [--json] [--as-of DATE] [--param gap_days=90]

A cohort::

    oncoline lines exposures.parquet --index index.csv --out lines.parquet [--engine duckdb|spark|reference]
                   [--assignments rows.parquet] [--as-of DATE] [--param gap_days=90 ...] [--partitions N]
    oncoline lines --omop postgresql://... --out lines.parquet

The data cut-off (``as_of``) is always passed to the engines explicitly; the CLI owns the clock. Without
``--as-of`` it is, for one patient, the file's ``as_of``, else today (a date in the file later than today is
refused); for a cohort file, the latest date anywhere in the exposure table (one cut-off for every person); for
OMOP, the latest ``observation_period_end_date``, else the latest ``drug_exposure`` date. A cohort cut-off from
the data is never later than today. :class:`CutOff` says which rule chose it, in the JSON and the readable output.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from oncoline.cli.common import err_console, guarded, parse_as_of, print_json, refuse_future_dates
from oncoline.errors import BackendError, InputError

if TYPE_CHECKING:
    from oncoline.engines.lines.cohort import CohortLines, CohortReport
    from oncoline.engines.lines.params import LineParams
    from oncoline.model.lines import LinesResult

__all__ = ["CutOff", "available_engines", "cohort_cut_off", "parse_params", "register"]

ENGINES = ("duckdb", "spark", "reference")
AUTO_PARTITION_ROWS = 20_000_000
"""Exposure files with more rows than this (exact for Parquet, estimated for CSV) are run in person partitions
of about 10^7 rows each (:mod:`oncoline.io.lines_partitioned`), keeping peak memory near 2-4 GB."""
_ENGINE_MODULES = {
    "duckdb": "oncoline.engines.lines.duckdb_engine",
    "spark": "oncoline.engines.lines.spark_engine",
}


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
        ``option`` (``--as-of``), ``file`` (the events file's ``as_of``), ``today``, ``latest_in_data`` (the
        latest date in a cohort's exposure table), ``observation_period_end`` or ``latest_drug_exposure`` (OMOP),
        ``none``.
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
        """``{"as_of", "as_of_source", "as_of_note"}`` for the JSON outputs."""
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


def parse_params(values: list[str] | None) -> dict[str, Any]:
    """``["gap_days=90", ...]`` → ``{"gap_days": 90}`` (whole numbers; other values kept as text).

    Raises
    ------
    InputError
        When an item is not ``NAME=VALUE``.
    """
    out: dict[str, Any] = {}
    for item in values or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InputError(f"--param {item!r}: write NAME=VALUE, e.g. --param gap_days=90", field="--param")
        text = value.strip()
        out[name.strip()] = int(text) if text.lstrip("-").isdigit() else text
    return out


def available_engines() -> list[str]:
    """Engines whose module imports here (``reference`` always)."""
    found = []
    for name, module in _ENGINE_MODULES.items():
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        found.append(name)
    return [*found, "reference"]


def _engine_fn(engine: str) -> Any:
    if engine == "reference":
        from oncoline.engines.lines.reference import derive_lines_reference_cohort

        return derive_lines_reference_cohort
    try:
        module = importlib.import_module(_ENGINE_MODULES[engine])
    except ImportError as exc:
        raise BackendError(
            f"the {engine} line engine is not available ({exc}); install its extra "
            f"(pip install 'oncoline[{engine}]') or use --engine reference"
        ) from exc
    fn = getattr(module, "derive_lines_cohort", None)
    if fn is None:
        raise BackendError(f"{_ENGINE_MODULES[engine]} has no derive_lines_cohort; use --engine reference")
    return fn


def _default_engine() -> str:
    try:
        importlib.import_module(_ENGINE_MODULES["duckdb"])
    except ImportError:
        return "reference"
    return "duckdb"


# ------------------------------------------------------------------------------------------- one patient
def _single(
    file: Path, *, as_json: bool, as_of: dt.date | None, overrides: dict[str, Any], engine: str | None = None
) -> None:
    from oncoline.engines.lines.params import load_line_params
    from oncoline.engines.lines.reference import derive_lines
    from oncoline.io.exposures import load_events

    events = load_events(file)
    if events.ignored_fields:
        err_console.print(
            f"[dim]{file}: a patient file; lines use its metastatic_diagnosis, exposures and as_of and ignore "
            f"{', '.join(events.ignored_fields)}[/]",
            highlight=False,
        )
    cut = _single_cut_off(events, as_of, file)
    params = load_line_params({**events.params, **overrides})
    if engine is not None and engine != "reference":
        _single_on_engine(events, params=params, cut=cut, engine=engine)
        return
    result = derive_lines(
        list(events.exposures),
        metastatic_diagnosis=events.metastatic_diagnosis,
        params=params,
        as_of=cut.as_of,
        person_id=events.person_id,
    )
    if as_json:
        print_json(_result_json(result, params, cut))
        return
    _print_result(result, params, cut)


def _single_cut_off(events: Any, as_of: dt.date | None, file: Path) -> CutOff:
    """``--as-of``, else the file's ``as_of``, else today, refusing dates later than today."""
    if as_of is not None:
        return CutOff(as_of, "option")
    if events.as_of is not None:
        if events.as_of > dt.date.today():
            raise InputError(
                f"{events.as_of} is in the future (today is {dt.date.today()}); correct it, or leave as_of out "
                "to use today",
                source=str(file),
                field="as_of",
            )
        return CutOff(events.as_of, "file")
    today = dt.date.today()
    found: list[tuple[str, dt.date | None]] = [("metastatic_diagnosis", events.metastatic_diagnosis)]
    for i, row in enumerate(events.exposures):
        found += [(f"exposures[{i}].start", row.start), (f"exposures[{i}].end", row.end)]
    future = [(field, day) for field, day in found if day is not None and day > today]
    refuse_future_dates(future, today=today, source=str(file), what="derive lines (or as_of in the file)")
    return CutOff(today, "today")


def _single_on_engine(events: Any, *, params: LineParams, cut: CutOff, engine: str) -> None:
    """One patient through a cohort engine (DuckDB or Spark): the same JSON contract as the reference, so the
    shared line cases can be checked against every engine (``--engine``)."""
    import pyarrow as pa

    rows = events.exposures
    exposures = pa.table(
        {
            "person_id": pa.array([events.person_id] * len(rows), pa.string()),
            "exposure_id": pa.array([r.exposure_id for r in rows], pa.string()),
            "drug": pa.array([r.drug for r in rows], pa.string()),
            "start_date": pa.array([r.start for r in rows], pa.date32()),
            "end_date": pa.array([r.end for r in rows], pa.date32()),
            "stopped": pa.array([r.stopped for r in rows], pa.string()),
        }
    )
    index = pa.table(
        {
            "person_id": pa.array([events.person_id], pa.string()),
            "metastatic_diagnosis": pa.array([events.metastatic_diagnosis], pa.date32()),
        }
    )
    result: CohortLines = _engine_fn(engine)(exposures, index, params=params, as_of=cut.as_of)
    assignments = {str(r["exposure_id"]): int(r["line"]) for r in result.assignments.to_pylist()}
    lines = sorted(result.lines.to_pylist(), key=lambda r: r["line"])
    print_json(
        {
            "person_id": events.person_id,
            **cut.to_json(),
            "lines": [
                {
                    "line": r["line"],
                    "drugs": list(r["drugs"]),
                    "regimen": r["regimen"],
                    "start": r["start_date"],
                    "end": r["end_date"],
                    "n_exposures": r["n_exposures"],
                    "open_rule": r["open_rule"],
                    "close_rule": r["close_rule"],
                    "end_reason": r["end_reason"],
                    "time_on_treatment_days": r["time_on_treatment_days"],
                    "time_to_next_treatment_days": r["time_to_next_treatment_days"],
                    "ttnt_censored": r["ttnt_censored"],
                }
                for r in lines
            ],
            "assignments": assignments,
            "excluded": dict(result.report.excluded),
            "unknown_drugs": dict(result.report.unknown_drugs),
            "examples": dict(result.report.examples),
            "params_version": params.version,
        }
    )


def _result_json(result: LinesResult, params: LineParams, cut: CutOff) -> dict[str, Any]:
    return {
        "person_id": result.person_id,
        **cut.to_json(),
        "lines": [
            {
                "line": ln.line,
                "drugs": list(ln.drugs),
                "regimen": ln.regimen,
                "start": ln.start,
                "end": ln.end,
                "n_exposures": ln.n_exposures,
                "open_rule": ln.open_rule.value,
                "close_rule": ln.close_rule.value,
                "end_reason": ln.end_reason.value,
                "time_on_treatment_days": ln.time_on_treatment_days,
                "time_to_next_treatment_days": ln.time_to_next_treatment_days,
                "ttnt_censored": ln.ttnt_censored,
            }
            for ln in result.lines
        ],
        "assignments": result.assignments,
        "excluded": result.excluded,
        "unknown_drugs": result.unknown_drugs,
        "examples": result.examples,
        "params_version": params.version,
    }


def _print_result(result: LinesResult, params: LineParams, cut: CutOff) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"Lines of therapy — {result.person_id} (data cut-off {cut.as_of}: {cut.describe()})")
    for col in ("line", "regimen", "start", "end", "days on", "TTNT", "opened → closed (end reason)"):
        table.add_column(col, justify="right" if col in ("line", "days on", "TTNT") else "left")
    for ln in result.lines:
        ttnt = f"{ln.time_to_next_treatment_days}" if ln.time_to_next_treatment_days is not None else "censored"
        table.add_row(
            str(ln.line),
            ln.regimen,
            ln.start.isoformat(),
            ln.end.isoformat(),
            str(ln.time_on_treatment_days),
            ttnt,
            f"{ln.open_rule.value} → {ln.close_rule.value} ({ln.end_reason.value})",
        )
    console.print(table)
    if not result.lines:
        console.print("[yellow]no metastatic line:[/] no anticancer exposure on or after the index window")
    if result.excluded:
        parts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(result.excluded.items()))
        console.print(f"rows left out: {parts}")
    console.print(f"[dim]rules: line-of-therapy parameters {params.version} (knowledge/data/lines.yaml)[/]")


# ------------------------------------------------------------------------------------------------ cohort
def _cohort(
    exposures_path: Path | None,
    *,
    index_path: Path | None,
    omop: str | None,
    out: Path,
    assignments_out: Path | None,
    engine: str | None,
    as_of: dt.date | None,
    overrides: dict[str, Any],
    as_json: bool,
    partitions: int | None = None,
) -> None:
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from oncoline.engines.lines.params import load_line_params
    from oncoline.io.exposures import read_table, write_table

    params = load_line_params(overrides)
    for target in (out, assignments_out):
        if target is not None and target.suffix.lower() not in (".parquet", ".pq", ".csv"):
            raise InputError(
                f"unknown output format {target.suffix!r}; give a .parquet or .csv file", source=str(target)
            )
    chosen = engine or _default_engine()
    fn = _engine_fn(chosen)
    if omop is None and exposures_path is not None and index_path is not None:
        from oncoline.io.lines_partitioned import estimate_rows

        if partitions is not None or estimate_rows(exposures_path) > AUTO_PARTITION_ROWS:
            from oncoline.io.exposures import latest_exposure_date

            cut = CutOff(as_of, "option")
            if as_of is None:
                cut = cohort_cut_off(latest_exposure_date(exposures_path), "latest_in_data", today=dt.date.today())
            _cohort_partitioned(
                exposures_path,
                index_path,
                out=out,
                assignments_out=assignments_out,
                engine=chosen,
                fn=fn,
                params=params,
                cut=cut,
                partitions=partitions,
                as_json=as_json,
            )
            return
    console = Console(stderr=True)
    source_report: Any = None
    cut = CutOff(as_of, "option")
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console, transient=True
    ) as progress:
        step = progress.add_task("reading input", total=4)
        if omop is not None:
            try:
                omop_io = importlib.import_module("oncoline.io.omop")
            except ImportError as exc:
                raise BackendError(f"OMOP input is not available in this build (oncoline.io.omop: {exc})") from exc
            reader = getattr(omop_io, "read_cohort", None)
            if reader is None:
                raise BackendError("OMOP input is not available in this build (oncoline.io.omop.read_cohort missing)")
            exposures, index, source_report = reader(omop)
            if as_of is None:
                from oncoline.cli.omop import omop_cut_off

                cut = omop_cut_off(omop)
        else:
            assert exposures_path is not None and index_path is not None
            exposures = read_table(exposures_path, kind="exposures")
            index = read_table(index_path, kind="index")
            if as_of is None:
                from oncoline.io.exposures import latest_exposure_date

                cut = cohort_cut_off(latest_exposure_date(exposures), "latest_in_data", today=dt.date.today())
        progress.update(step, advance=1, description=f"deriving lines ({chosen} engine, {exposures.num_rows:,} rows)")
        result: CohortLines = fn(exposures, index, params=params, as_of=cut.as_of)
        progress.update(step, advance=1, description=f"writing {out}")
        write_table(result.lines, out)
        if assignments_out is not None:
            write_table(result.assignments, assignments_out)
        progress.update(step, advance=2, description="done")
    summary = _summary(result, chosen, out, assignments_out, source_report, cut)
    if as_json:
        print_json(summary)
    else:
        _print_summary(summary, result.report)


def _cohort_partitioned(
    exposures_path: Path,
    index_path: Path,
    *,
    out: Path,
    assignments_out: Path | None,
    engine: str,
    fn: Any,
    params: LineParams,
    cut: CutOff,
    partitions: int | None,
    as_json: bool,
) -> None:
    """A cohort from files, one person partition at a time; the progress bar advances per partition."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from oncoline.io.lines_partitioned import derive_lines_cohort_files

    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(f"partitioning by person ({engine} engine)", total=partitions)

        def advance(done: int, total: int, rows: int) -> None:
            progress.update(
                task, completed=done, total=total, description=f"partition {done}/{total}: {rows:,} rows done"
            )

        run = derive_lines_cohort_files(
            exposures_path,
            index_path,
            out,
            params=params,
            as_of=cut.as_of,
            partitions=partitions,
            assignments_path=assignments_out,
            engine=fn,
            workers=1 if engine == "spark" else None,  # Spark spreads each partition itself
            on_partition=advance,
        )
    report = run.report
    dist: Counter[str] = Counter({"0": report.persons - run.persons_with_lines})
    for n, persons in run.lines_per_person.items():
        dist[str(n) if n < 5 else "5+"] += persons
    summary = _summary_dict(
        report,
        engine=engine,
        out=out,
        assignments_out=assignments_out,
        persons_with_lines=run.persons_with_lines,
        n_lines=run.n_lines,
        dist=dist,
        cut=cut,
    )
    summary["partitions"] = run.partitions
    if as_json:
        print_json(summary)
    else:
        _print_summary(summary, report)


def _summary_dict(
    report: CohortReport,
    *,
    engine: str,
    out: Path,
    assignments_out: Path | None,
    persons_with_lines: int,
    n_lines: int,
    dist: Counter[str],
    cut: CutOff,
) -> dict[str, Any]:
    return {
        "engine": engine,
        **cut.to_json(),
        "out": str(out),
        "assignments": None if assignments_out is None else str(assignments_out),
        "persons": report.persons,
        "persons_with_lines": persons_with_lines,
        "lines": n_lines,
        "lines_per_person": dict(sorted(dist.items(), key=lambda kv: (kv[0] == "5+", kv[0]))),
        "rows_in": report.rows_in,
        "rows_used": report.rows_used,
        "excluded": report.excluded,
        "examples": report.examples,
        "unknown_drugs": report.unknown_drugs,
        "repaired": report.repaired,
        "persons_without_index": report.persons_without_index,
    }


def _summary(
    result: CohortLines, engine: str, out: Path, assignments_out: Path | None, source_report: Any, cut: CutOff
) -> dict[str, Any]:
    report = result.report
    per_person = Counter(result.lines.column("person_id").to_pylist())
    persons_with_lines = len(per_person)
    dist: Counter[str] = Counter({"0": report.persons - persons_with_lines})
    for n in per_person.values():
        dist[str(n) if n < 5 else "5+"] += 1
    summary = _summary_dict(
        report,
        engine=engine,
        out=out,
        assignments_out=assignments_out,
        persons_with_lines=persons_with_lines,
        n_lines=result.lines.num_rows,
        dist=dist,
        cut=cut,
    )
    if source_report is not None:
        summary["source_report"] = _plain(source_report)
    return summary


def _plain(obj: Any) -> Any:
    """A JSON-ready view of a reader's report (mapping, dataclass or pydantic model)."""
    import dataclasses

    if isinstance(obj, dict):
        return obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    return str(obj)


def _print_summary(summary: dict[str, Any], report: CohortReport) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    parts = f", {summary['partitions']} person partitions" if summary.get("partitions") else ""
    console.print(
        f"[bold]{summary['persons']:,}[/] persons, [bold]{summary['lines']:,}[/] lines "
        f"({summary['persons_with_lines']:,} persons with ≥1 line) — {summary['engine']} engine{parts} → "
        f"{summary['out']}"
    )
    console.print(f"data cut-off {summary['as_of'] or 'none'} ({summary['as_of_note']})", highlight=False)
    dist = Table(title="lines per person")
    dist.add_column("lines")
    dist.add_column("persons", justify="right")
    for k, v in summary["lines_per_person"].items():
        dist.add_row(k, f"{v:,}")
    console.print(dist)
    console.print(f"rows: {report.rows_in:,} in, {report.rows_used:,} used")
    if report.excluded:
        ign = Table(title="rows ignored and why")
        ign.add_column("reason")
        ign.add_column("rows", justify="right")
        ign.add_column("examples (row 1 = first data row)")
        for reason, count in report.excluded.items():
            ign.add_row(reason, f"{count:,}", "\n".join(report.examples.get(reason, [])))
        console.print(ign)
    if report.unknown_drugs:
        unk = Table(title="unknown drugs (add them to the vocabulary or fix the names)")
        unk.add_column("name")
        unk.add_column("rows", justify="right")
        for name, count in list(report.unknown_drugs.items())[:20]:
            unk.add_row(name, f"{count:,}")
        if len(report.unknown_drugs) > 20:
            unk.add_row(f"… {len(report.unknown_drugs) - 20} more", "")
        console.print(unk)
    if report.repaired:
        console.print("repaired and kept: " + ", ".join(f"{k} {v:,}" for k, v in report.repaired.items()))
    if report.persons_without_index:
        n = report.persons_without_index
        console.print(
            f"[yellow]{n:,} person{'s have' if n != 1 else ' has'} exposures but no index date "
            "(metastatic diagnosis): their rows are counted under no_index_date[/]"
        )


def register(app: typer.Typer) -> None:
    """Add the ``lines`` command to ``app``."""

    @app.command("lines")
    @guarded
    def lines(
        file: Path | None = typer.Argument(
            None,
            metavar="FILE",
            help="One patient's events file (YAML/JSON: metastatic_diagnosis, exposures, params?, as_of?; a "
            "patient file or case file is accepted too), or "
            "with --index a cohort's exposure table (.parquet/.csv: person_id, drug, start_date, end_date?, "
            "exposure_id? (default: the 1-based row number), stopped?).",
        ),
        index: Path | None = typer.Option(
            None, "--index", help="Cohort index table (.parquet/.csv): person_id, metastatic_diagnosis."
        ),
        omop: str | None = typer.Option(None, "--omop", help="Read the cohort from an OMOP CDM database URL."),
        out: Path | None = typer.Option(
            None,
            "--out",
            help="Cohort lines table to write (.parquet or .csv); required in cohort mode (--index or --omop).",
        ),
        assignments: Path | None = typer.Option(
            None, "--assignments", help="Also write the row → line table (.parquet or .csv)."
        ),
        engine: str | None = typer.Option(
            None,
            "--engine",
            help="Line engine: duckdb, spark or reference. A cohort uses duckdb unless told (reference when DuckDB "
            "is not installed); one patient uses reference, and duckdb|spark there need --json.",
            show_default="duckdb for a cohort, reference for one patient",
        ),
        as_of: str | None = typer.Option(
            None,
            "--as-of",
            help="Data cut-off date YYYY-MM-DD: later rows are left out, a stop documented later is not known yet, "
            "and the last line is ongoing when given within gap_days of it. Default: one patient, the file's "
            "as_of, else today (dates after today are refused); a cohort file, the latest date anywhere in the "
            "exposure table (one cut-off for all persons); --omop, the latest observation_period_end_date, else "
            "the latest drug_exposure date. A cut-off from the data is never later than today.",
            show_default="file's as_of, else today / latest date in the data",
        ),
        param: list[str] | None = typer.Option(
            None, "--param", help="Override a line-of-therapy parameter, e.g. --param gap_days=90 (repeatable)."
        ),
        as_json: bool = typer.Option(
            False,
            "--json",
            help="Print JSON (lines for one patient, a summary for a cohort); as_of, as_of_source and as_of_note "
            "say which cut-off was used and why.",
        ),
        partitions: int | None = typer.Option(
            None,
            "--partitions",
            min=1,
            help="Cohort files: run the engine on N person partitions, one at a time (bounded memory; same "
            "output). Used by itself, about one partition per 10^7 rows, above 2x10^7 exposure rows.",
            show_default="automatic",
        ),
    ) -> None:
        """Derive metastatic lines of therapy from raw drug exposures, each with the rule that opened and closed
        it, time on treatment and time to next treatment (censored at the data cut-off).

        One patient: oncoline lines EVENTS.yaml [--json] (an events block, a kind: lines case, or a patient
        file: its metastatic_diagnosis, exposures and as_of are used, its other fields ignored).
        A cohort: oncoline lines EXPOSURES.csv --index INDEX.csv --out LINES.parquet (--out is required).

        Data cut-off without --as-of: the file's as_of, else today (one patient); the latest date in the exposure
        table (a cohort); the latest observation_period_end_date, else drug_exposure date (--omop). The output
        names the cut-off and the rule that chose it.
        """
        cut = parse_as_of(as_of)
        overrides = parse_params(param)
        if engine is not None and engine not in ENGINES:
            raise InputError(f"--engine {engine!r}: choose one of {', '.join(ENGINES)}", field="--engine")
        if omop is not None or index is not None:
            if omop is not None and (file is not None or index is not None):
                raise InputError("give either --omop URL or an exposure table with --index, not both")
            if omop is None and file is None:
                raise InputError("give the cohort's exposure table before --index")
            if omop is not None and partitions is not None:
                raise InputError(
                    "--partitions applies to exposure files (with --index), not --omop", field="--partitions"
                )
            if out is None:
                raise InputError("cohort mode needs --out LINES (.parquet or .csv)", field="--out")
            _cohort(
                file,
                index_path=index,
                omop=omop,
                out=out,
                assignments_out=assignments,
                engine=engine,
                as_of=cut,
                overrides=overrides,
                as_json=as_json,
                partitions=partitions,
            )
            return
        if file is None:
            raise InputError("give an events file (one patient) or an exposure table with --index (a cohort)")
        if file.suffix.lower() in (".parquet", ".pq", ".csv"):
            raise InputError(
                "an exposure table needs --index INDEX (person_id, metastatic_diagnosis) and --out LINES",
                source=str(file),
            )
        if out is not None or assignments is not None or partitions is not None:
            raise InputError("--out, --assignments and --partitions apply to cohorts (with --index or --omop)")
        if engine not in (None, "reference") and not as_json:
            raise InputError("for one patient, --engine duckdb|spark prints JSON: add --json", field="--engine")
        _single(file, as_json=as_json, as_of=cut, overrides=overrides, engine=engine)
