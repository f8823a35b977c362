"""``oncoline cohort report`` — the cohort report: attrition, pathways, time on treatment and time to next treatment,
guideline concordance and sensitivity to the line rules, as one HTML page plus every table (Parquet and CSV).

A thin door over :mod:`oncoline.app.cohort_report` (reading, building, writing); this module only parses options,
draws progress bars and prints the summary.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import typer

from oncoline.cli.common import guarded, output_console, parse_as_of
from oncoline.errors import InputError

__all__ = ["register"]


def _ints(text: str, option: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise InputError(
            f"{option} {text!r}: give whole days separated by commas, e.g. 60,90,120,180", field=option
        ) from exc
    if not values or min(values) < 1:
        raise InputError(f"{option} {text!r}: give at least one value, each ≥ 1", field=option)
    return values


def register(app: typer.Typer) -> None:
    """Add the ``cohort`` command group (``cohort report``) to ``app``."""
    cohort = typer.Typer(
        help="Cohort analytics: the cohort report (pathways, time to next treatment, guideline concordance).",
        no_args_is_help=True,
    )
    app.add_typer(cohort, name="cohort")

    @cohort.command("report")
    @guarded
    def report(
        lines: Path | None = typer.Argument(
            None, metavar="LINES", help="The lines table written by `oncoline lines --out` (.parquet or .csv)."
        ),
        index: Path | None = typer.Option(
            None,
            "--index",
            help="The cohort index (.parquet/.csv): person_id, metastatic_diagnosis; optional her2_status, "
            "hr_status, birth_year or age_at_index, sex, presentation (de_novo | recurrent).",
        ),
        out: Path = typer.Option(..., "--out", help="Directory for report.html and the tables (created)."),
        exposures: Path | None = typer.Option(
            None,
            "--exposures",
            help="The exposure table the lines came from: adds the sensitivity grid and the row attrition, and "
            "sets the default cut-off as `oncoline lines` does.",
        ),
        omop: str | None = typer.Option(
            None, "--omop", help="Derive the lines from an OMOP CDM (DuckDB file or PostgreSQL URL) instead."
        ),
        min_cell: int = typer.Option(5, "--min-cell", min=1, help="Smallest count shown; smaller ones read '<N'."),
        max_lines: int = typer.Option(5, "--max-lines", min=1, help="Lines per pathway."),
        top_regimens: int = typer.Option(
            12, "--top-regimens", min=1, help="Regimens named and coloured; the rest are 'other regimens'."
        ),
        as_of: str | None = typer.Option(
            None,
            "--as-of",
            help="Data cut-off YYYY-MM-DD for censoring. Default: the latest date in the exposure table "
            "(--exposures), the latest observation_period_end_date (--omop), else the latest line end.",
            show_default="from the data",
        ),
        param: list[str] | None = typer.Option(
            None, "--param", help="Line parameter the lines were derived with, e.g. --param gap_days=90."
        ),
        gap_grid: str = typer.Option("60,90,120,180", "--gap-grid", help="gap_days values of the sensitivity grid."),
        window_grid: str = typer.Option(
            "21,28,35", "--window-grid", help="regimen_window_days values of the sensitivity grid."
        ),
        sensitivity: bool = typer.Option(True, "--sensitivity/--no-sensitivity", help="Run the sensitivity grid."),
        concordance: bool = typer.Option(
            True, "--concordance/--no-concordance", help="Judge every line against the recommender."
        ),
        engine: str = typer.Option(
            "duckdb",
            "--engine",
            help="Where the lines become counts: duckdb (in memory) or spark (a Parquet lines file or directory of "
            "any size; only counts reach the driver; no --exposures/--omop). See docs/cohort-report.md.",
        ),
    ) -> None:
        """Write the cohort report: DIR/report.html (self-contained, opens with no internet) and, beside it, the
        data behind every figure as Parquet and CSV. Small counts are suppressed everywhere (--min-cell).

        From files: oncoline cohort report LINES.parquet --index INDEX.csv --out DIR [--exposures EXPOSURES].
        From OMOP: oncoline cohort report --omop cdm.duckdb --out DIR.
        On Spark: oncoline cohort report LINES.parquet --index INDEX.csv --out DIR --engine spark [--as-of DATE].
        """
        from rich.console import Console

        from oncoline.app.cohort_report import (
            ReportOptions,
            build_cohort_report,
            report_inputs_from_files,
            report_inputs_from_omop,
            report_overwrites,
            tidy_out_dir,
            write_cohort_report,
        )
        from oncoline.app.lines import parse_params

        if engine not in ("duckdb", "spark"):
            raise InputError(f"--engine {engine!r}: choose duckdb or spark", field="--engine")
        if engine == "spark" and omop is not None:
            raise InputError(
                "--engine spark reads a lines file (LINES --index INDEX); derive the lines of a CDM with "
                "`oncoline lines --omop URL --out LINES.parquet` first, or use --engine duckdb",
                field="--engine",
            )
        cut = parse_as_of(as_of)
        params = parse_params(param)
        options = ReportOptions(
            engine="spark" if engine == "spark" else "duckdb",
            min_cell=min_cell,
            max_lines=max_lines,
            top_regimens=top_regimens,
            sensitivity=sensitivity,
            concordance=concordance,
            gap_days=_ints(gap_grid, "--gap-grid"),
            regimen_window_days=_ints(window_grid, "--window-grid"),
        )
        today = dt.date.today()  # the door owns the clock
        console = Console(stderr=True)
        with _progress(console) as step:
            if omop is not None:
                if lines is not None or index is not None or exposures is not None:
                    raise InputError("give either --omop URL or LINES with --index, not both")
                inputs = report_inputs_from_omop(omop, params=params, as_of=cut, today=today, progress=step)
            else:
                if lines is None or index is None:  # a missing argument is a usage error (exit 2), as documented
                    raise InputError(  # a field naming the option: a usage error (exit 2), as the README says
                        "give the lines table (LINES) and --index INDEX, or --omop URL",
                        field="LINES" if lines is None else "--index",
                    )
                step("reading the lines, index and exposures", 0, 1)
                inputs = report_inputs_from_files(
                    lines,
                    index,
                    exposures_path=exposures,
                    params=params,
                    as_of=cut,
                    today=today,
                    engine=options.engine,
                )
            if inputs.cut_off_warning:  # loud, before the long work: the user may want to stop and give --as-of
                console.print(f"[bold red]Warning — data cut-off {inputs.as_of}:[/] {inputs.cut_off_warning}")
            result = build_cohort_report(inputs, options=options, progress=step)
            existed = out.is_dir() and any(out.iterdir())
            overwritten = report_overwrites(result, out)
            if overwritten:  # files of the report's names that no earlier report run recorded: the user's own
                console.print(
                    f"[yellow]--out {out}: overwriting {len(overwritten)} file(s) that no earlier report run "
                    f"recorded ({_names(overwritten)})[/]",
                    highlight=False,
                )
            written = write_cohort_report(result, out, progress=step)
            removed, others = tidy_out_dir(out, written)
        _summary(output_console(), result, written)  # not cut at 80 columns in a file or a pipe
        if result.cut_off_warning:  # again after the summary, where the eye lands
            console.print(f"[bold red]Warning — data cut-off {result.as_of}:[/] {result.cut_off_warning}")
        if existed:
            console.print(
                f"[yellow]--out {out} already held files: the report's own were replaced"
                + (
                    f"; removed {len(removed)} stale file{'s' if len(removed) != 1 else ''} an earlier report run "
                    f"wrote ({_names(removed)})"
                    if removed
                    else ""
                )
                + (f"; left {len(others)} other file(s) as they are ({_names(others)})" if others else "")
                + "[/]",
                highlight=False,
            )


class _progress:
    """A Rich progress bar with ETA driven by the use case's ``progress(step, done, total)`` callback."""

    def __init__(self, console: Any) -> None:
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            # 4 redraws a second (Rich's default is 10): the bar and ETA still move smoothly, and the redraw thread
            # takes less of the process that builds the report's tables while its workers hold the cores
            refresh_per_second=4,
        )
        self.task: Any = None

    def __enter__(self) -> Any:
        if not self.progress.console.is_terminal:
            # stderr is a file or a pipe (a script, CI, a scheduler): a bar is never drawn there (transient), so
            # its redraw thread would only take CPU from the report's own work (as `oncoline lines` does)
            return _no_progress
        self.progress.__enter__()
        self.task = self.progress.add_task("starting", total=1)

        def step(description: str, done: float, total: float) -> None:
            self.progress.update(self.task, description=description, completed=done, total=max(total, 1))

        return step

    def __exit__(self, *exc: object) -> None:
        if self.task is not None:
            self.progress.__exit__(*exc)  # type: ignore[arg-type]


def _no_progress(_description: str, _done: float, _total: float) -> None:
    return None


def _names(paths: list[Path], limit: int = 6) -> str:
    shown = ", ".join(p.name for p in paths[:limit])
    return shown + (f", … {len(paths) - limit} more" if len(paths) > limit else "")


def _summary(console: Any, result: Any, written: list[Path]) -> None:
    attrition = {r["description"]: r["count_shown"] for r in result.tables["attrition"].to_pylist()}
    persons = attrition.get("at least one metastatic line (the pathway cohort)", "?")
    console.print(
        f"cohort report → [bold]{written[0]}[/] ({len(written) - 1} table files beside it); "
        f"{persons} persons with ≥1 line; data cut-off {result.as_of} ({result.as_of_note})",
        highlight=False,
    )
    for r in result.tables["km_summary"].to_pylist():
        if r["group_kind"] == "line" and r["group"] in ("1", "2"):
            if r["median_months"] is not None:
                med = f"{r['median_months']} months"
            else:  # "not reached", or suppressed (fewer than --min-cell events): its *_shown text says which
                med = r.get("median_months_shown") or "not reached"
            what = "time on treatment" if r["endpoint"] == "tot" else "time to next treatment"
            console.print(f"  line {r['group']} median {what}: {med} (n {r['n_shown']})", highlight=False)
    if result.states_judged:
        console.print(f"  concordance: {result.states_judged} distinct patient states judged", highlight=False)
    for note in result.notes:
        console.print(f"[yellow]{note}[/]")
