"""``oncoline omop`` — OMOP CDM in, lines of therapy out as OMOP oncology episodes.

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
import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from oncoline.cli.common import guarded, parse_as_of, print_report
from oncoline.errors import BackendError, InputError

if TYPE_CHECKING:
    from oncoline.cli.lines import CutOff

__all__ = ["omop_cut_off", "register"]

_ENGINES = {
    "duckdb": ("oncoline.engines.lines.duckdb_engine", "derive_lines_cohort"),
    "spark": ("oncoline.engines.lines.spark_engine", "derive_lines_cohort"),
    "reference": ("oncoline.engines.lines.reference", "derive_lines_reference_cohort"),
}

_URL_HELP = "OMOP CDM: a DuckDB file, postgresql://user@host:port/db, or a SQLAlchemy URL (?schema=NAME)."
_SCHEMA_HELP = "Schema holding the CDM tables (overrides ?schema= in the URL)."


def _engine(name: str) -> Any:
    if name not in _ENGINES:
        raise InputError(f"--engine {name!r}: choose one of {', '.join(_ENGINES)}", field="--engine")
    module, fn = _ENGINES[name]
    try:
        return getattr(importlib.import_module(module), fn)
    except (ImportError, AttributeError) as exc:
        raise BackendError(f"the {name} line engine is not available ({exc}); use --engine reference") from exc


def _table_path(path: Path | None, option: str) -> None:
    if path is not None and path.suffix.lower() not in (".parquet", ".pq", ".csv"):
        raise InputError(f"{option} {path}: give a .parquet or .csv file", field=option)


def _write(table: Any, path: Path) -> None:
    from oncoline.io.exposures import write_table

    write_table(table, path)


def _shown(url: str) -> str:
    from oncoline.io.omop_db import redact_url

    return redact_url(url)


def omop_cut_off(url: str, /, *, schema: str | None = None, today: dt.date | None = None) -> CutOff:
    """The cohort-wide data cut-off of an OMOP CDM: the latest ``observation_period_end_date`` when
    OBSERVATION_PERIOD has rows, else the latest DRUG_EXPOSURE start or end date; never later than ``today``.

    Parameters
    ----------
    url, schema
        As for :func:`oncoline.io.omop.read_cohort`.
    today
        The clock (default: ``datetime.date.today()``); a date from the data later than it is replaced by it.

    Returns
    -------
    oncoline.cli.lines.CutOff
        ``source`` is ``observation_period_end``, ``latest_drug_exposure`` or ``none`` (no date at all).

    Raises
    ------
    InputError
        A DuckDB file that does not exist, a bad schema name.
    BackendError
        The database cannot be reached or rejects the query.
    """
    from oncoline.cli.lines import cohort_cut_off
    from oncoline.io.omop_db import connect

    with connect(url, schema=schema) as db:
        latest: dt.date | None = None
        if "observation_period" in db.tables():
            table = db.query(f"SELECT max(observation_period_end_date) AS d FROM {db.table('observation_period')}")
            latest = _as_date(table.column("d")[0].as_py())
        if latest is not None:
            return cohort_cut_off(latest, "observation_period_end", today=today or dt.date.today())
        table = db.query(
            "SELECT max(drug_exposure_start_date) AS s, max(drug_exposure_end_date) AS e "
            f"FROM {db.table('drug_exposure')}"
        )
    found = [d for d in (_as_date(table.column(c)[0].as_py()) for c in ("s", "e")) if d is not None]
    return cohort_cut_off(max(found, default=None), "latest_drug_exposure", today=today or dt.date.today())


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


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
        from oncoline.io.omop import init_cdm
        from oncoline.io.omop_db import connect
        from oncoline.io.omop_demo import DEMO_AS_OF, load_demo

        created = init_cdm(url, schema=schema)
        out: dict[str, Any] = {"created_tables": created}
        if demo:
            with connect(url, schema=schema) as db:
                out["loaded_rows"] = load_demo(db, vocabulary=vocabulary)
            out["demo_as_of"] = DEMO_AS_OF
        print_report(f"OMOP CDM tables in {_shown(url)}", out, as_json=as_json)

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
        from oncoline.io.omop import read_cohort

        _table_path(exposures_out, "--exposures")
        _table_path(index_out, "--index")
        exposures, index, report = read_cohort(url, schema=schema, her2_positive_only=her2_positive_only)
        if exposures_out is not None:
            _write(exposures, exposures_out)
        if index_out is not None:
            _write(index, index_out)
        print_report(f"OMOP cohort read from {_shown(url)}", report.to_dict(), as_json=as_json)

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
        from oncoline.cli.lines import CutOff, parse_params
        from oncoline.engines.lines.params import load_line_params
        from oncoline.io import omop as omop_io

        _table_path(out, "--out")
        _table_path(assignments, "--assignments")
        given: dt.date | None = parse_as_of(as_of)
        params = load_line_params(parse_params(param))
        fn = _engine(engine)
        exposures, index, report = omop_io.read_cohort(url, schema=schema, her2_positive_only=her2_positive_only)
        cut = CutOff(given, "option") if given is not None else omop_cut_off(url, schema=schema)
        result = fn(exposures, index, params=params, as_of=cut.as_of)
        if out is not None:
            _write(result.lines, out)
        if assignments is not None:
            _write(result.assignments, assignments)
        summary: dict[str, Any] = {
            "engine": engine,
            **(
                cut.to_json()
                if as_json
                else {"data cut-off": f"{cut.as_of or 'none'} ({cut.describe()})"}  # one readable line
            ),
            "persons": result.report.persons,
            "lines": result.lines.num_rows,
            "out": None if out is None else str(out),
            "read": report.to_dict(),
            "engine_report": {
                "rows_in": result.report.rows_in,
                "rows_used": result.report.rows_used,
                "excluded": result.report.excluded,
                "unknown_drugs": result.report.unknown_drugs,
                "repaired": result.report.repaired,
            },
        }
        if write_episodes:
            summary["episodes"] = omop_io.write_episodes(url, result, schema=schema).to_dict()
        if out is None:
            summary["line_rows"] = [{k: v for k, v in row.items() if k != "drugs"} for row in result.lines.to_pylist()]
        print_report(f"Lines of therapy from {_shown(url)}", summary, as_json=as_json)

    @omop.command("episodes")
    @guarded
    def episodes(
        url: str = typer.Argument(..., metavar="URL", help=_URL_HELP),
        schema: str | None = typer.Option(None, "--schema", help=_SCHEMA_HELP),
        out: Path | None = typer.Option(None, "--out", help="Write the episodes table (.parquet or .csv)."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON instead of the readable summary."),
    ) -> None:
        """Read back the derived Treatment Regimen episodes and the DRUG_EXPOSURE rows linked to each."""
        from oncoline.io.omop import read_episodes

        _table_path(out, "--out")
        eps, events = read_episodes(url, schema=schema)
        if out is not None:
            _write(eps, out)
        per_episode: dict[tuple[str, int], int] = {}
        for e in events.to_pylist():
            k = (e["person_id"], e["line"])
            per_episode[k] = per_episode.get(k, 0) + 1
        rows = [{**r, "n_events": per_episode.get((r["person_id"], r["line"]), 0)} for r in eps.to_pylist()]
        print_report(
            f"Derived treatment-regimen episodes in {_shown(url)}",
            {"episodes": len(rows), "events": events.num_rows, "rows": rows if out is None else None},
            as_json=as_json,
        )
