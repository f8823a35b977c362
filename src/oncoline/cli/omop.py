"""``oncoline omop`` — OMOP CDM in, lines of therapy out as OMOP oncology episodes.

Thin over the OMOP use cases of :mod:`oncoline.app.omop`.

::

    oncoline omop init URL [--demo] [--schema S]          create the CDM tables oncoline uses (and a demo CDM)
    oncoline omop read URL [--exposures F --index F]      read a cohort: report mapping and data defects
    oncoline omop lines URL [--write-episodes] [--out F]  derive lines; write EPISODE / EPISODE_EVENT rows
    oncoline omop episodes URL [--out F]                  read back the Treatment Regimen episodes

URL: a DuckDB file (``cdm.duckdb`` or ``duckdb:///path``), ``postgresql://user@host:port/db``, or another
SQLAlchemy URL; ``?schema=NAME`` (or ``--schema``) names the CDM schema.

Data cut-off of ``omop lines`` without ``--as-of``: the latest ``observation_period_end_date`` of the CDM (when
OBSERVATION_PERIOD has rows), else the latest DRUG_EXPOSURE start or end date; never later than today. One
cut-off for every person; the summary names it and the rule that chose it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from oncoline.cli.common import guarded, parse_as_of, print_report

__all__ = ["register"]

_URL_HELP = "OMOP CDM: a DuckDB file, postgresql://user@host:port/db, or a SQLAlchemy URL (?schema=NAME)."
_SCHEMA_HELP = "Schema holding the CDM tables (overrides ?schema= in the URL)."


def register(app: typer.Typer) -> None:
    """Add the ``omop`` command group to ``app``."""
    omop = typer.Typer(
        name="omop",
        help="OMOP CDM: read cohorts, derive lines, write oncology EPISODE / EPISODE_EVENT rows.",
        no_args_is_help=True,
    )
    app.add_typer(omop, name="omop")

    @omop.command("init")
    @guarded
    def init(
        url: str = typer.Argument(..., metavar="URL", help=_URL_HELP),
        schema: str | None = typer.Option(None, "--schema", help=_SCHEMA_HELP),
        demo: bool = typer.Option(False, "--demo", help="Also load the synthetic demo CDM (3 persons, defects)."),
        vocabulary: bool = typer.Option(
            True, "--vocabulary/--no-vocabulary", help="With --demo: load CONCEPT / CONCEPT_ANCESTOR rows too."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print JSON instead of the readable summary."),
    ) -> None:
        """Create the OMOP CDM v5.4 tables oncoline reads and writes (existing tables are left alone)."""
        from oncoline.app.omop import init_omop, shown_url

        out = init_omop(url, schema=schema, demo=demo, vocabulary=vocabulary)
        print_report(f"OMOP CDM tables in {shown_url(url)}", out, as_json=as_json)

    @omop.command("read")
    @guarded
    def read(
        url: str = typer.Argument(..., metavar="URL", help=_URL_HELP),
        schema: str | None = typer.Option(None, "--schema", help=_SCHEMA_HELP),
        her2_positive_only: bool = typer.Option(
            False, "--her2-positive-only", help="Keep persons with a positive HER2 result in MEASUREMENT."
        ),
        exposures_out: Path | None = typer.Option(None, "--exposures", help="Write the exposure table here."),
        index_out: Path | None = typer.Option(None, "--index", help="Write the index table here."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON instead of the readable summary."),
    ) -> None:
        """Read a cohort (drug mapping, metastatic index dates, HER2/ER/PR) and print what was read and flagged."""
        from oncoline.app.omop import read_omop_cohort, shown_url

        cohort = read_omop_cohort(
            url, schema=schema, her2_positive_only=her2_positive_only, exposures_out=exposures_out, index_out=index_out
        )
        print_report(f"OMOP cohort read from {shown_url(url)}", cohort.report.to_dict(), as_json=as_json)

    @omop.command("lines")
    @guarded
    def lines(
        url: str = typer.Argument(..., metavar="URL", help=_URL_HELP),
        schema: str | None = typer.Option(None, "--schema", help=_SCHEMA_HELP),
        engine: str = typer.Option("duckdb", "--engine", help="Line engine: duckdb, spark or reference."),
        as_of: str | None = typer.Option(
            None,
            "--as-of",
            help="Data cut-off date YYYY-MM-DD. Default: the latest observation_period_end_date in the CDM, else "
            "the latest drug_exposure date (never later than today); one cut-off for all persons.",
            show_default="latest date in the data",
        ),
        param: list[str] | None = typer.Option(
            None, "--param", help="Override a line-of-therapy parameter, e.g. --param gap_days=90 (repeatable)."
        ),
        her2_positive_only: bool = typer.Option(
            False, "--her2-positive-only", help="Keep persons with a positive HER2 result in MEASUREMENT."
        ),
        out: Path | None = typer.Option(None, "--out", help="Write the lines table (.parquet or .csv)."),
        assignments: Path | None = typer.Option(None, "--assignments", help="Write the row → line table."),
        write_episodes: bool = typer.Option(
            False,
            "--write-episodes",
            help="Write the lines to EPISODE (Treatment Regimen, episode_number = line) and EPISODE_EVENT, "
            "replacing earlier derived regimens of the same persons.",
        ),
        as_json: bool = typer.Option(False, "--json", help="Print JSON instead of the readable summary."),
    ) -> None:
        """Derive lines of therapy from an OMOP CDM and optionally store them as OMOP oncology episodes.

        Without --as-of the data cut-off is the latest observation_period_end_date (else drug_exposure date) in
        the CDM, so a line stopped long before it is closed, not ongoing; the summary names the cut-off.
        """
        from oncoline.app.lines import parse_params
        from oncoline.app.omop import check_table_option, derive_omop_lines, shown_url

        check_table_option(out, "--out")
        check_table_option(assignments, "--assignments")
        given: dt.date | None = parse_as_of(as_of)
        run = derive_omop_lines(
            url,
            schema=schema,
            engine=engine,
            as_of=given,
            today=dt.date.today(),  # the CLI owns the clock
            params=parse_params(param),
            her2_positive_only=her2_positive_only,
            out=out,
            assignments_out=assignments,
            write_episodes=write_episodes,
        )
        summary = run.summary(readable_cut_off=not as_json)
        print_report(f"Lines of therapy from {shown_url(url)}", summary, as_json=as_json)

    @omop.command("episodes")
    @guarded
    def episodes(
        url: str = typer.Argument(..., metavar="URL", help=_URL_HELP),
        schema: str | None = typer.Option(None, "--schema", help=_SCHEMA_HELP),
        out: Path | None = typer.Option(None, "--out", help="Write the episodes table (.parquet or .csv)."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON instead of the readable summary."),
    ) -> None:
        """Read back the derived Treatment Regimen episodes and the DRUG_EXPOSURE rows linked to each."""
        from oncoline.app.omop import read_omop_episodes, shown_url

        found = read_omop_episodes(url, schema=schema, out=out)
        rows = found.rows
        print_report(
            f"Derived treatment-regimen episodes in {shown_url(url)}",
            {"episodes": len(rows), "events": found.events.num_rows, "rows": rows if out is None else None},
            as_json=as_json,
        )
