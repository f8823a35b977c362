"""``oncoline lines`` — lines of therapy for one patient (an events file) or a cohort (exposure tables or an
OMOP CDM database).

One patient::

    oncoline lines events.yaml [--json] [--as-of DATE] [--param gap_days=90]

A cohort::

    oncoline lines exposures.parquet --index index.csv --out lines.parquet [--engine duckdb|spark|reference]
                   [--assignments rows.parquet] [--as-of DATE] [--param gap_days=90 ...] [--partitions N]
    oncoline lines --omop postgresql://... --out lines.parquet

Thin over :func:`oncoline.app.derive_patient_lines` and :func:`oncoline.app.derive_cohort_lines`, which own the
data cut-off policy, the engine choice and partitioning; this module parses options and renders.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import importlib
import importlib.abc
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from oncoline.cli.common import err_console, esc, guarded, output_console, parse_as_of, print_json
from oncoline.errors import InputError

if TYPE_CHECKING:
    from oncoline.app.lines import CutOff
    from oncoline.engines.lines.cohort import CohortReport
    from oncoline.engines.lines.params import LineParams
    from oncoline.model.lines import LinesResult

__all__ = ["register"]


# ------------------------------------------------------------------------------------------- one patient
def _single(
    file: Path, *, as_json: bool, as_of: dt.date | None, overrides: dict[str, Any], engine: str | None = None
) -> None:
    from oncoline.app.lines import derive_patient_lines

    run = derive_patient_lines(file, as_of=as_of, today=dt.date.today(), params=overrides, engine=engine)
    if run.ignored_fields:
        err_console.print(
            f"[dim]{esc(file)}: a patient file; lines use its metastatic_diagnosis, exposures and as_of and ignore "
            f"{esc(', '.join(run.ignored_fields))}[/]",
            highlight=False,
        )
    if as_json or run.result is None:
        print_json(run.data)
        return
    _print_result(run.result, run.params, run.cut)


def _print_result(result: LinesResult, params: LineParams, cut: CutOff) -> None:
    from rich.table import Table

    from oncoline.outputs.printable import SafeText as Text

    console = output_console()
    table = Table(title=esc(f"Lines of therapy — {result.person_id} (data cut-off {cut.as_of}: {cut.describe()})"))
    for col in ("line", "regimen", "start", "end", "days on", "TTNT", "opened → closed (end reason)"):
        table.add_column(col, justify="right" if col in ("line", "days on", "TTNT") else "left")
    for ln in result.lines:
        ttnt = f"{ln.time_to_next_treatment_days}" if ln.time_to_next_treatment_days is not None else "censored"
        table.add_row(
            str(ln.line),
            Text(ln.regimen),
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
        console.print(f"rows left out: {esc(parts)}")
    console.print(f"[dim]rules: line-of-therapy parameters {esc(params.version)} (knowledge/data/lines.yaml)[/]")


# ------------------------------------------------------------------------------------------------ cohort
class _NoPandas(importlib.abc.MetaPathFinder):
    """Refuses ``pandas`` (see :func:`_without_pandas`)."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if fullname == "pandas":
            raise ImportError("pandas is not used by this command")


def _command_is_the_process() -> bool:
    """True when this command runs as its own process (the ``oncoline`` console script, whose ``__main__`` is
    :func:`oncoline.cli.app.main`), not inside a longer-lived program (a test runner, a notebook)."""
    entry = getattr(sys.modules.get("oncoline.cli.app"), "main", None)  # loaded: it runs this command
    return entry is not None and getattr(sys.modules.get("__main__"), "main", None) is entry


@contextlib.contextmanager
def _without_pandas() -> Iterator[None]:
    """Keep pyarrow from importing pandas while the command runs (0.25 s of CPU time at start-up, half of a
    whole-process DuckDB sort of 10^6 rows; issue 13).

    pyarrow imports pandas, when installed, on its first conversion from or to numpy (to ask whether values
    are pandas objects, and for pandas' missing-value objects); the DuckDB and reference engines pass none and
    convert none, and pyarrow goes on without pandas when the import fails. Only when the command is the whole
    process and pandas is not loaded yet (the callers exclude Spark, which converts through pandas), so that no
    other code meets the refusal; the import works again when the command is done.
    """
    if "pandas" in sys.modules or not _command_is_the_process():
        yield
        return
    blocker = _NoPandas()
    sys.meta_path.insert(0, blocker)
    try:
        yield
    finally:
        sys.meta_path.remove(blocker)


def _use_system_allocator() -> None:
    """Make Arrow allocate from the C library's ``malloc`` in this process (``ARROW_DEFAULT_MEMORY_POOL=system``,
    Arrow's documented switch, read when pyarrow first allocates).

    pyarrow's default pool (mimalloc or jemalloc) keeps the memory it frees for reuse, so the process's peak
    resident memory holds the Arrow buffers of every step at once: reading 10^6 exposure rows (a 31 MB table)
    raised the resident memory by 71 MB with it and by 55 MB with ``malloc``, and a whole ``oncoline lines`` run
    peaked at 280 MB instead of 247 MB (10^7 rows: 1.15-1.30 GB instead of 1.05 GB) at the same CPU time
    (issue 13: peak memory against a DuckDB sort of the same file). Only when the command is the whole process
    (:func:`_command_is_the_process`), pyarrow is not loaded yet and the environment chooses no pool itself
    (``pyarrow.set_memory_pool`` would not do: Arrow's C++ readers and kernels keep their own default)."""
    if "pyarrow" in sys.modules or "ARROW_DEFAULT_MEMORY_POOL" in os.environ or not _command_is_the_process():
        return
    os.environ["ARROW_DEFAULT_MEMORY_POOL"] = "system"


@contextlib.contextmanager
def _progress() -> Iterator[Callable[[str, int, int | None], None] | None]:
    """A progress display on stderr while the cohort runs (spinner, bar, steps, elapsed time), cleared at the
    end; its callback for :func:`~oncoline.app.lines.derive_cohort_lines`. None when stderr is not a terminal
    (a pipe, a log file, a batch job): the display would show nothing there, and Rich's progress machinery
    is not loaded for nothing (``FORCE_TERMINAL`` forces it, as in Rich)."""
    if not (sys.stderr.isatty() or os.environ.get("FORCE_TERMINAL")):
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=output_console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task("reading input", total=None)

        def advance(description: str, done: int, total: int | None) -> None:
            progress.update(task, completed=done, total=total, description=esc(description))

        yield advance


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
    from oncoline.app.lines import check_table_path, derive_cohort_lines

    # before the progress display starts and before anything is read
    inputs = {
        "the exposure table this command reads": exposures_path,
        "the --index table this command reads": index_path,
    }
    check_table_path(out, option="--out", inputs=inputs)
    check_table_path(assignments_out, option="--assignments", inputs={**inputs, "the --out table": out})
    from oncoline.cli.usage import UsageClock

    no_pandas = omop is None and engine in (None, "duckdb", "reference")
    if no_pandas:
        _use_system_allocator()
    if not as_json:
        _import_in_background("rich.table", "rich.text", "oncoline.outputs.printable")
    clock = UsageClock()
    with _without_pandas() if no_pandas else contextlib.nullcontext(), _progress() as advance:
        run = derive_cohort_lines(
            exposures_path,
            index_path,
            omop=omop,
            out=out,
            assignments_out=assignments_out,
            engine=engine,
            as_of=as_of,
            today=dt.date.today(),  # the CLI owns the clock
            params=overrides,
            partitions=partitions,
            progress=advance,
        )
    usage = clock.stop()
    if as_json:
        print_json(run.summary)
    else:
        _print_summary(run.summary, run.report)
        # so a user sees whether the run kept the machine's cores busy (Spark's JVM and workers included)
        output_console().print(esc(f"run: {usage.describe()}"), highlight=False)
    if _command_is_the_process():
        # the process exits next: what it holds needs no collecting. Without this, the collector's last passes
        # over pyarrow's, pydantic's and Typer's objects at exit cost ~0.04 s of CPU time, a tenth of a whole
        # run at 10^6 rows (issue 13); finalisers still run as references go
        gc.freeze()


def _import_in_background(*modules: str) -> None:
    """Import ``modules`` (the printed summary's Rich modules) on a daemon thread while the cohort runs: the engine's
    Arrow and numpy work leaves the interpreter free most of the time (and at 10^7 rows the command waits for the
    read), so the ~0.015 s of imports no longer sit after the run (issue 13: whole-process cost). A caller that
    needs a module first simply waits for its import; a failed import is raised again where it is used."""

    def run() -> None:
        for name in modules:
            with contextlib.suppress(ImportError):
                importlib.import_module(name)

    threading.Thread(target=run, name="oncoline-preload", daemon=True).start()


def _counted_rows(title: str, what: str, counts: Mapping[str, int], examples: Mapping[str, list[str]]) -> Any:
    """A Rich table of counted rows (a reason or a repair, its row count, the example rows the engines gave)."""
    from rich.table import Table

    from oncoline.outputs.printable import SafeText as Text

    table = Table(title=title)
    table.add_column(what)
    table.add_column("rows", justify="right")
    table.add_column("examples (row 1 = first data row)")
    for name, count in counts.items():
        table.add_row(Text(name), f"{count:,}", Text("\n".join(examples.get(name, []))))
    return table


def _print_summary(summary: dict[str, Any], report: CohortReport) -> None:
    from rich.table import Table

    from oncoline.outputs.printable import SafeText as Text

    console = output_console()
    parts = f", {summary['partitions']} person partitions" if summary.get("partitions") else ""
    console.print(
        f"[bold]{summary['persons']:,}[/] persons, [bold]{summary['lines']:,}[/] lines "
        f"({summary['persons_with_lines']:,} persons with ≥1 line) — {esc(summary['engine'])} engine{parts} → "
        f"{esc(summary['out'])}"
    )
    console.print(esc(f"data cut-off {summary['as_of'] or 'none'} ({summary['as_of_note']})"), highlight=False)
    dist = Table(title="lines per person")
    dist.add_column("lines")
    dist.add_column("persons", justify="right")
    for k, v in summary["lines_per_person"].items():
        dist.add_row(k, f"{v:,}")
    console.print(dist)
    console.print(f"rows: {report.rows_in:,} in, {report.rows_used:,} used")
    if report.excluded:
        console.print(_counted_rows("rows ignored and why", "reason", report.excluded, report.examples))
    if report.unknown_drugs:
        unk = Table(title="unknown drugs (add them to the vocabulary or fix the names)")
        unk.add_column("name")
        unk.add_column("rows", justify="right")
        for name, count in list(report.unknown_drugs.items())[:20]:
            unk.add_row(Text(name), f"{count:,}")
        if len(report.unknown_drugs) > 20:
            unk.add_row(f"… {len(report.unknown_drugs) - 20} more", "")
        console.print(unk)
    if report.repaired:
        # every repair with its count, and for those the engines give examples of (an undocumented `stopped`
        # value, an unusable or late index date) the rows themselves, so a user can find and fix them
        console.print(_counted_rows("rows repaired and kept", "repair", report.repaired, report.examples))
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
        from oncoline.app.lines import check_engine, parse_params

        cut = parse_as_of(as_of)
        overrides = parse_params(param)
        check_engine(engine)
        if omop is not None or index is not None:
            if omop is not None and (file is not None or index is not None):
                raise InputError("give either --omop URL or an exposure table with --index, not both", field="--omop")
            if omop is None and file is None:
                raise InputError("give the cohort's exposure table before --index", field="FILE")
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
            raise InputError(
                "give an events file (one patient) or an exposure table with --index (a cohort)", field="FILE"
            )
        if file.suffix.lower() in (".parquet", ".pq", ".csv"):
            raise InputError(
                "an exposure table needs --index INDEX (person_id, metastatic_diagnosis) and --out LINES",
                source=str(file),
                field="--index",
            )
        if out is not None or assignments is not None or partitions is not None:
            given = "--out" if out is not None else ("--assignments" if assignments is not None else "--partitions")
            raise InputError(
                "--out, --assignments and --partitions apply to cohorts (with --index or --omop)", field=given
            )
        if engine not in (None, "reference") and not as_json:
            raise InputError("for one patient, --engine duckdb|spark prints JSON: add --json", field="--engine")
        _single(file, as_json=as_json, as_of=cut, overrides=overrides, engine=engine)
