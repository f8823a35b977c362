"""Reading the cohort report's inputs: a lines table (in memory, or left in Spark), its index and optionally the
exposure table or an OMOP CDM, with the data cut-off and the rule that chose it.

Part of the cohort report use case (:mod:`oncoline.app.cohort_report` re-exports these names).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from oncoline.errors import InputError

if TYPE_CHECKING:
    import pyarrow as pa

    from oncoline.engines.lines.cohort import CohortReport as LinesReport
    from oncoline.engines.lines.params import LineParams

__all__ = [
    "RULES_UNKNOWN",
    "SPARK_NO_EXPOSURES",
    "ReportInputs",
    "describe_rules",
    "read_lines_spark",
    "report_inputs_from_files",
    "report_inputs_from_omop",
]

Progress = Callable[[str, float, float], None]


def _quiet(_step: str, _done: float, _total: float) -> None:
    return None


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
    lines_path
        The lines file, for the Spark path (which reads it there; ``lines`` is then an empty table).
    cut_off_warning
        Set when the cut-off defaulted to today because the data run past it (shown loudly in the report and by
        the CLI on stderr).
    params
        The line parameters the lines were derived with.
    source
        What was read, in words (file names or the redacted database URL).
    line_rules
        The line rules in words, for the report's header: the parameters the lines table records (or that were
        derived here), else "line rules unknown" with what the report assumes.
    provenance
        What the lines table records about how it was made (:func:`oncoline.app.lines.lines_provenance`), or
        None when it records nothing (made before oncoline recorded it, or elsewhere).
    """

    lines: pa.Table
    index: pa.Table
    as_of: dt.date
    as_of_note: str
    params: LineParams
    source: str
    exposures: pa.Table | None = None
    lines_report: LinesReport | None = None
    lines_path: Path | None = None
    cut_off_warning: str = ""
    line_rules: str = ""
    provenance: dict[str, Any] | None = None

    @property
    def rules_known(self) -> bool:
        """True when the line rules are known (recorded in the lines table, or the lines were derived here)."""
        return not self.line_rules.startswith(RULES_UNKNOWN)


#: How the report's header begins when the lines table records no line rules.
RULES_UNKNOWN = "line rules unknown"


def describe_rules(params: LineParams, /) -> str:
    """Every line parameter in words: ``gap_days 120, regimen_window_days 28, … (lines.yaml 2026.12.06)``."""
    values = params.model_dump(mode="json")
    version = values.pop("version")
    parts = [f"{k} {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in values.items()]
    return f"{'; '.join(parts)} (line-of-therapy parameters {version}, knowledge/data/lines.yaml)"


def _recorded_params(
    provenance: dict[str, Any] | None, overrides: Mapping[str, Any] | None, source: str
) -> LineParams | None:
    """The parameters a lines table records, checked against ``--param`` overrides (which must then agree)."""
    from pydantic import ValidationError

    from oncoline.engines.lines.params import LineParams

    if provenance is None or not isinstance(provenance.get("params"), dict):
        return None
    try:
        recorded = LineParams.model_validate(
            {**provenance["params"], "version": str(provenance.get("params_version", ""))}
        )
    except ValidationError:
        return None
    given = recorded.model_dump()
    differ = [f"{k}={v} (the table records {given[k]})" for k, v in (overrides or {}).items() if given.get(k) != v]
    if differ:
        raise InputError(
            f"the lines table was derived with other line rules than --param gives: {', '.join(differ)}; leave out "
            "--param (the report uses the rules the table records) or derive the lines again with these values",
            source=source,
            field="--param",
        )
    return recorded


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


def _distinct_persons(exposures: pa.Table) -> pa.Table:
    """The distinct ``person_id`` values of ``exposures`` (first-seen order, null kept) as a one-column table, for
    :func:`oncoline.io.cohort_index.check_index_covers`; a table without the column, or empty, as it is."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if "person_id" not in exposures.column_names or exposures.num_rows == 0:
        return exposures
    return pa.table({"person_id": pc.unique(exposures.column("person_id"))})


def report_inputs_from_files(
    lines_path: Path,
    index_path: Path,
    /,
    *,
    exposures_path: Path | None = None,
    params: Mapping[str, Any] | None = None,
    as_of: dt.date | None = None,
    today: dt.date | None = None,
    engine: Literal["duckdb", "spark"] = "duckdb",
    spark: Any = None,
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
    engine
        ``duckdb``: the lines are read into memory. ``spark``: they stay in Spark (a Parquet file or directory of
        any size; :func:`read_lines_spark`), only the index is read here, and ``exposures_path`` is refused.
    spark
        The ``SparkSession`` for ``engine="spark"`` (None: a local one, or spark-submit's).

    Raises
    ------
    InputError
        A file is missing or unreadable, a column is missing or holds a bad value, or no date gives a cut-off.
    BackendError
        ``engine="spark"`` and Spark does not start.
    """
    import pyarrow as pa

    from oncoline.app.dates import resolve_today
    from oncoline.app.lines import CutOff, cohort_cut_off, line_params
    from oncoline.engines.lines.cohort import lines_schema
    from oncoline.io.cohort_index import check_index_covers, read_cohort_index
    from oncoline.io.exposures import latest_exposure_date, read_table

    now = resolve_today(today)
    if engine == "spark":
        if exposures_path is not None:
            raise InputError(SPARK_NO_EXPOSURES, field="--exposures")
        from oncoline.analytics.spark_aggregates import latest_line_end

        lines_df = read_lines_spark(lines_path, spark=spark)
        lines = lines_schema().empty_table()
        latest_end = latest_line_end(lines_df) if as_of is None else None
    else:
        lines = _read_lines(lines_path)
        missing = [f.name for f in lines_schema() if f.name not in lines.column_names]
        if missing:
            raise InputError(
                f"not a lines table: no {', '.join(missing)}; give the --out table of `oncoline lines`",
                source=str(lines_path),
                field=missing[0],
            )
        latest_end = _latest_date(lines, ("end_date",))
    assert isinstance(lines, pa.Table)
    from oncoline.app.lines import read_lines_provenance

    provenance = read_lines_provenance(lines_path)
    recorded = _recorded_params(provenance, params, str(lines_path))
    index = read_cohort_index(index_path)
    exposures = None
    if exposures_path is not None:
        # drug names dictionary-encoded, as Parquet stores them and as `oncoline lines` reads them: the DuckDB
        # engine's preparation (grid, attrition) numbers a small dictionary instead of hashing every row's text
        exposures = read_table(exposures_path, kind="exposures", dictionary=("drug",))
        # on the distinct ids (as `oncoline lines` checks them): the check casts its ids to text, and casting the
        # ~10^5 distinct ids instead of 10^7 rows' takes 0.7 s off the report's serial path (the cast is one-to-one:
        # the same distinct texts in the same order, so the same answer and message)
        check_index_covers(
            _distinct_persons(exposures), index, exposures_source=str(exposures_path), index_source=str(index_path)
        )
    if as_of is not None:
        cut = CutOff(as_of, "option")
        note = cut.describe()
    elif exposures is not None:
        cut = cohort_cut_off(latest_exposure_date(exposures), "latest_in_data", today=now)
        note = cut.describe()
    elif provenance is not None and provenance.get("as_of"):
        cut = CutOff(dt.date.fromisoformat(str(provenance["as_of"])), "option")
        note = f"recorded in the lines table by `oncoline lines`: {provenance.get('as_of_note', 'its cut-off')}"
    else:
        cut = cohort_cut_off(latest_end, "latest_in_data", today=now)
        note = (
            "latest line end in the lines table; give --exposures to use the exposure table's latest date as "
            "`oncoline lines` does, or --as-of to set it"
        )
    if cut.as_of is None:
        raise InputError("the data hold no date to take the data cut-off from; give --as-of", field="--as-of")
    source = f"lines {lines_path.name}, index {index_path.name}" + (
        f", exposures {exposures_path.name}" if exposures_path is not None else ""
    )
    if recorded is not None and provenance is not None:
        chosen = recorded
        made = f"{provenance.get('engine', '?')} engine, oncoline {provenance.get('oncoline_version', '?')}"
        rules = f"{describe_rules(chosen)}; recorded in the lines table ({made})"
    else:
        chosen = line_params(params)
        assumed = "as given with --param" if params else "the current defaults are assumed"
        rules = (
            f"{RULES_UNKNOWN}: the lines table records no line rules (made before oncoline recorded them, or "
            f"elsewhere); the sensitivity grid and concordance use {describe_rules(chosen)}, {assumed}. Derive the "
            "lines again with `oncoline lines` to record them"
        )
    return ReportInputs(
        lines=lines,
        index=index,
        as_of=cut.as_of,
        as_of_note=note,
        params=chosen,
        source=source,
        exposures=exposures,
        lines_path=lines_path if engine == "spark" else None,
        cut_off_warning=_cut_off_warning(cut) or _cut_off_differs(provenance, cut.as_of),
        line_rules=rules,
        provenance=provenance,
    )


def _cut_off_differs(provenance: dict[str, Any] | None, as_of: dt.date) -> str:
    """A loud note when the report's cut-off is not the one the lines table records: its last lines were closed
    (or left ongoing) at the other date, so censoring at this one mixes two cut-offs."""
    recorded = None if provenance is None else provenance.get("as_of")
    if provenance is None or not recorded or str(recorded) == as_of.isoformat():
        return ""
    return (
        f"The lines table was derived with the data cut-off {recorded} ({provenance.get('as_of_note', '')}) but "
        f"this report uses {as_of}: lines still running are censored at a date the lines were not derived at. "
        f"Give --as-of {recorded}, or derive the lines again with --as-of {as_of}."
    )


def _cut_off_warning(cut: Any) -> str:
    """A loud note when the cut-off defaulted to today because the data run past it (generated or mis-dated data:
    every later row is left out and every line still running is censored today)."""
    latest = getattr(cut, "latest_in_data", None)
    if latest is None:
        return ""
    return (
        f"The data run to {latest}, after today ({cut.as_of}), so the data cut-off defaulted to today: rows after "
        "it are left out and lines still running are censored at it. Dates in the future usually mean generated or "
        "mis-dated data; give --as-of (the same as for `oncoline lines`) to set the cut-off."
    )


#: Why ``--engine spark`` refuses the exposure table (shown as the error).
SPARK_NO_EXPOSURES = (
    "--engine spark reads only the lines table (of any size); the exposure table (sensitivity grid, row attrition) "
    "is read in memory: run it with --engine duckdb, or leave out --exposures (and give --as-of for the cut-off)"
)


def read_lines_spark(path: Path, /, *, spark: Any = None) -> Any:
    """The lines table as a Spark DataFrame (``spark.read.parquet``: one Parquet file or a directory of them).

    Parameters
    ----------
    path
        The ``--out`` table of ``oncoline lines`` (Parquet), or a directory of Parquet parts with its columns.
    spark
        A ``SparkSession``; None starts (or reuses) a local one, or the one spark-submit configured
        (:func:`oncoline.engines.lines.spark_engine.local_session`).

    Raises
    ------
    InputError
        The path is missing, is not Parquet, or lacks a column of the lines table.
    BackendError
        pyspark is not installed or Spark does not start.
    """
    from oncoline.engines.lines.cohort import lines_schema
    from oncoline.engines.lines.spark_engine import local_session

    if not path.exists():
        raise InputError(f"{path} does not exist; give the --out table of `oncoline lines`", source=str(path))
    if path.is_file() and path.suffix.lower() not in (".parquet", ".pq"):
        raise InputError(
            f"--engine spark reads Parquet lines tables (a file or a directory of parts), not {path.suffix!r}; "
            "write the lines with `oncoline lines … --out LINES.parquet`",
            source=str(path),
        )
    session = spark if spark is not None else local_session()
    try:
        df = session.read.parquet(str(path))
    except Exception as exc:  # Spark analysis errors have no common base class
        raise InputError(f"Spark cannot read the lines table ({exc})", source=str(path)) from exc
    missing = [f.name for f in lines_schema() if f.name not in df.columns]
    if missing:
        raise InputError(
            f"not a lines table: no {', '.join(missing)}; give the --out table of `oncoline lines`",
            source=str(path),
            field=missing[0],
        )
    return df


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
    chosen = line_params(params)
    return ReportInputs(
        lines=run.lines,
        index=index,
        as_of=cut.as_of,
        as_of_note=cut.describe(),
        params=chosen,
        line_rules=f"{describe_rules(chosen)}; the lines were derived here (DuckDB engine)",
        source=redact_url(url),
        exposures=cohort.exposures,
        lines_report=run.report,
        cut_off_warning=_cut_off_warning(cut),
    )
