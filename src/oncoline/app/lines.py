"""Lines of therapy for one patient, a cohort in files or tables, or an OMOP CDM, with the data cut-off policy.

The data cut-off (``as_of``) is always passed to the engines explicitly; the application layer and the doors
own the clock. Without an as-of date it is, for one patient, the document's ``as_of``, else ``today`` (a date
in the document later than today is refused); for a cohort file, the latest date anywhere in the exposure table
(one cut-off for every person); for OMOP, the latest ``observation_period_end_date``, else the latest
``drug_exposure`` date. A cohort cut-off from the data is never later than today. :class:`CutOff` says which
rule chose it.
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from oncoline.app._json import json_ready
from oncoline.app.cutoff import CutOff, cohort_cut_off
from oncoline.app.dates import refuse_future_dates, refuse_future_file_as_of, resolve_today
from oncoline.app.documents import DocumentSource, read_document
from oncoline.errors import BackendError, InputError

if TYPE_CHECKING:
    import pyarrow as pa

    from oncoline.engines.lines.cohort import CohortLines, CohortReport
    from oncoline.engines.lines.params import LineParams
    from oncoline.io.exposures import EventsInput
    from oncoline.io.lines_partitioned import PartitionedRun
    from oncoline.model.lines import LinesResult

__all__ = [
    "AUTO_PARTITION_ROWS",
    "ENGINES",
    "CohortRun",
    "CutOff",
    "PatientLines",
    "ProgressCallback",
    "available_engines",
    "cohort_cut_off",
    "default_engine",
    "derive_cohort_lines",
    "derive_patient_lines",
    "engine_function",
    "input_id_type",
    "integer_person_ids",
    "line_params",
    "lines_provenance",
    "parse_params",
    "read_lines_provenance",
    "write_lines_table",
]

ENGINES = ("duckdb", "spark", "reference")
AUTO_PARTITION_ROWS = 20_000_000
"""Exposure files with more rows than this (exact for Parquet, estimated for CSV) are run in person partitions
of about 10^7 rows each (:mod:`oncoline.io.lines_partitioned`), keeping peak memory near 2-4 GB."""
_ENGINE_MODULES = {
    "duckdb": "oncoline.engines.lines.duckdb_engine",
    "spark": "oncoline.engines.lines.spark_engine",
}
_TABLE_SUFFIXES = (".parquet", ".pq", ".csv")

ProgressCallback = Callable[[str, int, "int | None"], None]
"""Called as work advances with (what is being done, steps done, steps in all or None when unknown)."""


def parse_params(values: list[str] | None) -> dict[str, Any]:
    """``["gap_days=90", ...]`` → ``{"gap_days": 90}`` (whole numbers; other values kept as text), each checked
    against the line-of-therapy parameters of ``lines.yaml``.

    Raises
    ------
    InputError
        With field ``--param`` (a usage error) when an item is not ``NAME=VALUE``, names an unknown parameter
        (the message lists the known ones) or gives an invalid value (the message says what to write).
    """
    out: dict[str, Any] = {}
    for item in values or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InputError(f"--param {item!r}: write NAME=VALUE, e.g. --param gap_days=90", field="--param")
        text = value.strip()
        out[name.strip()] = int(text) if text.lstrip("-").isdigit() else text
    for name, value in out.items():
        try:
            line_params({name: value})
        except InputError as exc:
            reason = str(exc).split(": ", 1)[-1] if exc.field else str(exc)
            raise InputError(f"{name}={value!s}: {reason}", field="--param") from exc
    return out


def line_params(overrides: Mapping[str, Any] | None = None, /) -> LineParams:
    """The line-of-therapy parameters of ``knowledge/data/lines.yaml`` with ``overrides`` applied.

    Raises
    ------
    InputError
        An unknown parameter or an invalid value.
    KnowledgeBaseError
        ``lines.yaml`` is malformed.
    """
    from oncoline.engines.lines.params import load_line_params

    return load_line_params(dict(overrides or {}))


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


def check_engine(engine: str | None, /) -> None:
    """Refuse an engine name not in :data:`ENGINES`.

    Raises
    ------
    InputError
        Field ``--engine`` (a usage error).
    """
    if engine is not None and engine not in ENGINES:
        raise InputError(f"--engine {engine!r}: choose one of {', '.join(ENGINES)}", field="--engine")


def engine_function(engine: str, /) -> Callable[..., CohortLines]:
    """The cohort function of a line engine: ``fn(exposures, index, /, *, params, as_of) -> CohortLines``.

    Raises
    ------
    BackendError
        The engine's library is not installed (names the extra to install).
    """
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
    return fn  # type: ignore[no-any-return]


def default_engine() -> str:
    """``duckdb`` when its engine imports, else ``reference``."""
    try:
        importlib.import_module(_ENGINE_MODULES["duckdb"])
    except ImportError:
        return "reference"
    return "duckdb"


# ------------------------------------------------------------------------------------------- one patient
@dataclass(frozen=True)
class PatientLines:
    """One patient's lines and the cut-off they were derived at.

    Attributes
    ----------
    person_id
        The events block's ``person_id`` (or ``id``).
    cut
        The data cut-off and the rule that chose it.
    params
        The line-of-therapy parameters used.
    engine
        ``reference``, ``duckdb`` or ``spark``.
    source
        The document's name (path or upload name).
    ignored_fields
        Patient-file fields that play no part in lines (a patient file given as events), sorted.
    result
        The reference engine's typed result; None when a cohort engine ran (see ``data``).
    data
        The JSON contract (``oncoline lines FILE --json``): person_id, as_of, as_of_source, as_of_note, lines
        (one mapping per line, numbered from 1), assignments (exposure_id → line), excluded, unknown_drugs,
        examples, params_version. Dates as :class:`datetime.date`; :meth:`to_json` gives ISO text.
    """

    person_id: str
    cut: CutOff
    params: LineParams
    engine: str
    source: str
    ignored_fields: tuple[str, ...]
    result: LinesResult | None
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """:attr:`data` with dates as ISO text."""
        return json_ready(self.data)  # type: ignore[no-any-return]


def _patient_cut_off(events: EventsInput, as_of: dt.date | None, source: str, today: dt.date) -> CutOff:
    """``as_of`` given, else the file's ``as_of``, else today, refusing dates later than today."""
    if as_of is not None:
        return CutOff(as_of, "option")
    if events.as_of is not None:
        refuse_future_file_as_of(events.as_of, today=today, source=source)
        return CutOff(events.as_of, "file")
    found: list[tuple[str, dt.date | None]] = [("metastatic_diagnosis", events.metastatic_diagnosis)]
    for i, row in enumerate(events.exposures):
        found += [(f"exposures[{i}].start", row.start), (f"exposures[{i}].end", row.end)]
    future = [(name, day) for name, day in found if day is not None and day > today]
    refuse_future_dates(future, today=today, source=source, what="derive lines (or as_of in the file)")
    return CutOff(today, "today")


def derive_patient_lines(
    source: DocumentSource,
    /,
    *,
    media_type: str | None = None,
    name: str | None = None,
    as_of: dt.date | None = None,
    today: dt.date | None = None,
    params: Mapping[str, Any] | None = None,
    engine: str | None = None,
) -> PatientLines:
    """Derive one patient's metastatic lines of therapy from an events document.

    Parameters
    ----------
    source, media_type, name
        An events block (``metastatic_diagnosis``, ``exposures``, ``params``?, ``as_of``?), a ``kind: lines`` case
        or a patient file: a path, or content with its media type.
    as_of
        The data cut-off. Default: the document's ``as_of``, else ``today`` (no date may then lie after it).
    today
        The clock's date, injected by the door (default: read now).
    params
        Parameter overrides (``{"gap_days": 90}``) applied over the document's own ``params``.
    engine
        ``reference`` (default), or ``duckdb`` / ``spark`` to run the patient through a cohort engine (the same
        JSON contract; no typed ``result``).

    Returns
    -------
    PatientLines

    Raises
    ------
    InputError
        A malformed document (row and fix named), a date after ``today`` without an as-of date, an unknown
        parameter or invalid value, an unknown engine (field ``--engine``).
    UnknownDrugError
        An unknown drug.
    BackendError
        The engine's library is not installed.
    """
    from oncoline.engines.lines.reference import derive_lines
    from oncoline.io.exposures import events_from_mapping

    check_engine(engine)
    doc = read_document(source, media_type=media_type, name=name)
    events = events_from_mapping(doc.data, source=doc.source)
    cut = _patient_cut_off(events, as_of, doc.source, resolve_today(today))
    chosen = line_params({**events.params, **(params or {})})
    if engine is not None and engine != "reference":
        data = _patient_on_engine(events, params=chosen, cut=cut, engine=engine)
        return PatientLines(events.person_id, cut, chosen, engine, doc.source, events.ignored_fields, None, data)
    result = derive_lines(
        list(events.exposures),
        metastatic_diagnosis=events.metastatic_diagnosis,
        params=chosen,
        as_of=cut.as_of,
        person_id=events.person_id,
    )
    data = _result_json(result, chosen, cut)
    return PatientLines(events.person_id, cut, chosen, "reference", doc.source, events.ignored_fields, result, data)


def _patient_on_engine(events: EventsInput, *, params: LineParams, cut: CutOff, engine: str) -> dict[str, Any]:
    """One patient through a cohort engine (DuckDB or Spark): the same JSON contract as the reference, so the
    shared line cases can be checked against every engine."""
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
    result = engine_function(engine)(exposures, index, params=params, as_of=cut.as_of)
    assignments = {str(r["exposure_id"]): int(r["line"]) for r in result.assignments.to_pylist()}
    lines = sorted(result.lines.to_pylist(), key=lambda r: r["line"])
    return {
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


# ------------------------------------------------------------------------------------------------ cohort
@dataclass(frozen=True)
class CohortRun:
    """A cohort's lines, what happened to its rows, and the summary every door shows.

    Attributes
    ----------
    summary
        engine, as_of, as_of_source, as_of_note, out, assignments, persons, persons_with_lines, lines,
        lines_per_person ("0".."4", "5+" → persons), rows_in, rows_used, excluded, examples, unknown_drugs,
        repaired, persons_without_index; ``partitions`` (partitioned run) and ``source_report`` (OMOP) when
        they apply. Dates as :class:`datetime.date`; :meth:`to_json` gives ISO text.
    report
        The engine's row accounting (``rows_in == rows_used + sum(excluded)``).
    cut
        The data cut-off and the rule that chose it.
    engine
        The engine that ran.
    lines
        The lines table (one row per person_id and line); None after a partitioned run (written straight to
        ``out`` partition by partition).
    source
        The engine's result behind :attr:`assignments` (the row → line table, built on first read); None after
        a partitioned run.
    """

    summary: dict[str, Any]
    report: CohortReport
    cut: CutOff
    engine: str
    lines: pa.Table | None = None
    source: CohortLines | None = field(default=None, repr=False)
    partitions: int | None = field(default=None)
    integer_ids: bool = False
    """True when both input tables hold ``person_id`` as integers: the output tables keep them as int64."""

    @property
    def assignments(self) -> pa.Table | None:
        """The row → line table, built only when first read (most runs never need it: issue 13, whole-process
        cost); None after a partitioned run. ``person_id`` has the inputs' type (see :attr:`integer_ids`)."""
        return None if self.source is None else input_id_type(self.source.assignments, integer=self.integer_ids)

    def to_json(self) -> dict[str, Any]:
        """:attr:`summary` with dates as ISO text (``oncoline lines ... --json``)."""
        return json_ready(self.summary)  # type: ignore[no-any-return]


def check_table_path(
    path: Path | None, /, *, option: str = "--out", inputs: Mapping[str, Path | None] | None = None
) -> None:
    """Refuse an output table path before any work: one of the command's own input files (writing it would
    destroy the data), a directory, not ``.parquet``/``.pq``/``.csv``, in a directory that does not exist, or
    not writable.

    Parameters
    ----------
    path
        The table to write (None: nothing to check).
    option
        The option that gave it, named in the error (``--out``, ``--assignments``).
    inputs
        Files the output must not be, by what they are (``{"the exposure table this command reads": path}``).

    Raises
    ------
    InputError
        Naming the option, the file and the fix.
    """
    if path is None:
        return
    for what, given in (inputs or {}).items():
        same = given is not None and (
            os.path.samefile(path, given) if path.exists() and given.exists() else path.resolve() == given.resolve()
        )
        if same:
            raise InputError(
                f"{option}: {path} is also {what}; writing there would destroy or mix it — give another file name",
                source=str(path),
            )
    if path.is_dir():
        raise InputError(
            f"{option}: {path} is a directory; give a file name such as {path / 'lines.parquet'}", source=str(path)
        )
    if path.suffix.lower() not in _TABLE_SUFFIXES:
        raise InputError(
            f"{option}: unknown output format {path.suffix!r}; give a .parquet or .csv file", source=str(path)
        )
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(
            f"{option}: the directory {parent} does not exist; create it (mkdir -p {parent}) or write elsewhere",
            source=str(path),
        )
    import tempfile

    try:  # a real file in the directory: permission bits say too little (root, read-only mounts, /proc)
        with tempfile.TemporaryFile(dir=parent):
            pass
        writable = not path.exists() or os.access(path, os.W_OK)
    except OSError:
        writable = False
    if not writable:
        raise InputError(
            f"{option}: {path if path.exists() else parent} is not writable; give a path you can write to",
            source=str(path),
        )


def integer_person_ids(*tables: pa.Table) -> bool:
    """True when every table's ``person_id`` column is an integer type (a Parquet ``int64`` id, an OMOP
    ``person_id``); the engines number persons by text, so their outputs give the id as text."""
    import pyarrow as pa

    return bool(tables) and all(
        "person_id" in t.column_names and pa.types.is_integer(t.schema.field("person_id").type) for t in tables
    )


def input_id_type(table: pa.Table, /, *, integer: bool) -> pa.Table:
    """``table`` with ``person_id`` as int64 when the inputs held integer ids (``integer``), else unchanged (text):
    integer in, integer out; text in, text out (a join back to the index needs no cast)."""
    import pyarrow as pa

    if not integer or pa.types.is_integer(table.schema.field("person_id").type):
        return table
    i = table.column_names.index("person_id")
    return table.set_column(i, table.schema.field(i).with_type(pa.int64()), table.column(i).cast(pa.int64()))


def lines_provenance(params: LineParams, cut: CutOff, engine: str, /) -> dict[str, Any]:
    """What a lines table records about how it was made (:mod:`oncoline.io.lines_metadata`).

    Returns
    -------
    dict
        ``params`` (every line parameter, ``version`` left out), ``params_version`` (of ``lines.yaml``), ``as_of``
        (ISO date or None), ``as_of_source`` and ``as_of_note`` (the rule that chose the cut-off), ``engine``,
        ``oncoline_version``.
    """
    from oncoline._version import __version__

    values = params.model_dump(mode="json")
    version = str(values.pop("version"))
    return {
        "params": values,
        "params_version": version,
        **json_ready(cut.to_json()),
        "engine": engine,
        "oncoline_version": __version__,
    }


def read_lines_provenance(path: str | os.PathLike[str], /) -> dict[str, Any] | None:
    """The provenance recorded in a lines table (:func:`lines_provenance`'s mapping), or None when the table
    records none (made before oncoline recorded it, or elsewhere): its line rules are then unknown.

    Parameters
    ----------
    path
        A Parquet lines file or directory of parts, or a CSV lines file (read from its ``.meta.json`` sidecar).
    """
    from oncoline.io.lines_metadata import read_lines_metadata

    return read_lines_metadata(Path(path))


def write_lines_table(table: pa.Table, path: Path, provenance: Mapping[str, Any]) -> None:
    """Write a lines table (one row per person and line) with its provenance (:func:`lines_provenance`): in the
    Parquet schema metadata, or a ``.meta.json`` sidecar beside a CSV (:mod:`oncoline.io.lines_metadata`).

    Raises
    ------
    InputError
        The table or its sidecar cannot be written.
    """
    from oncoline.io.exposures import write_table
    from oncoline.io.lines_metadata import with_lines_metadata, write_lines_sidecar

    write_table(with_lines_metadata(table, provenance), path)
    write_lines_sidecar(path, provenance)


def derive_cohort_lines(
    exposures: str | os.PathLike[str] | pa.Table | None = None,
    index: str | os.PathLike[str] | pa.Table | None = None,
    /,
    *,
    omop: str | None = None,
    out: str | os.PathLike[str] | None = None,
    assignments_out: str | os.PathLike[str] | None = None,
    engine: str | None = None,
    as_of: dt.date | None = None,
    today: dt.date | None = None,
    params: Mapping[str, Any] | None = None,
    partitions: int | None = None,
    progress: ProgressCallback | None = None,
) -> CohortRun:
    """Derive a cohort's lines of therapy from exposure and index tables (files or in memory) or an OMOP CDM.

    Parameters
    ----------
    exposures, index
        The exposure table (person_id, drug, start_date, end_date?, exposure_id?, stopped?; one row per drug
        exposure) and the index table (person_id, metastatic_diagnosis; one row per person): ``.parquet``/``.csv``
        paths or :class:`pyarrow.Table` objects. Leave both out with ``omop``.
    omop
        Read the cohort from this OMOP CDM URL instead (a DuckDB file or ``postgresql://...``).
    out, assignments_out
        Write the lines (one row per person_id and line) and the row → line table here (``.parquet``/``.csv``).
        ``out`` is needed for a partitioned run; otherwise the tables are also returned.
    engine
        ``duckdb`` (default when installed), ``spark`` or ``reference``.
    as_of
        The data cut-off. Default: the latest date in the exposure table (files), or the latest
        observation_period_end_date, else drug_exposure date (OMOP); never later than ``today``.
    today
        The clock's date, injected by the door (default: read now).
    params
        Line-of-therapy parameter overrides (``{"gap_days": 90}``).
    partitions
        Run exposure files in N person partitions (bounded memory, same output); default: automatic above
        :data:`AUTO_PARTITION_ROWS` input rows.
    progress
        Called as work advances (see :data:`ProgressCallback`).

    Returns
    -------
    CohortRun

    Raises
    ------
    InputError
        Missing or malformed tables (file, column and fix named), an index file that breaks the index policy
        shared with the cohort report (no rows, a person on several rows, an unreadable metastatic_diagnosis, no
        exposure person in it: :func:`oncoline.io.cohort_index.check_index_rows` and ``check_index_covers``; not
        for OMOP or tables in memory), an unknown output format, both or neither of ``omop`` and tables,
        partitions with OMOP or in-memory tables, unknown parameters or values.
    BackendError
        The engine or database is not available or fails.
    """
    check_engine(engine)
    ex: Path | pa.Table | None = _as_path(exposures)
    ix: Path | pa.Table | None = _as_path(index)
    out_path: Path | None = None if out is None else Path(out)
    asg: Path | None = None if assignments_out is None else Path(assignments_out)
    if omop is not None and (ex is not None or ix is not None):
        raise InputError("give either --omop URL or an exposure table with --index, not both")
    if omop is None and (ex is None or ix is None):
        raise InputError("give the cohort's exposure table and its --index table (or --omop URL)", field="--index")
    if omop is not None and partitions is not None:
        raise InputError("--partitions applies to exposure files (with --index), not --omop", field="--partitions")
    now = resolve_today(today)
    reading: _Reading | None = None
    try:
        inputs = {
            "the exposure table this command reads": ex if isinstance(ex, Path) else None,
            "the --index table this command reads": ix if isinstance(ix, Path) else None,
        }
        check_table_path(out_path, option="--out", inputs=inputs)
        check_table_path(asg, option="--assignments", inputs={**inputs, "the --out table": out_path})
        if isinstance(ex, Path) and isinstance(ix, Path):
            from oncoline.io.lines_partitioned import estimate_rows

            partitioned = partitions is not None or estimate_rows(ex) > AUTO_PARTITION_ROWS
            if not partitioned:  # the files are read on a thread from here, while the line parameters are loaded
                # and the engine's libraries imported in this one (issue 13: whole-process cost); the DuckDB
                # engine takes drug names and stop reasons dictionary-encoded, as Parquet stores them (a quarter of
                # the memory, no decoding; 0.2 s less CPU at 10^7 for the stop reasons); other engines get text
                duckdb = engine == "duckdb" or (engine is None and importlib.util.find_spec("duckdb") is not None)
                reading = _read_in_background(ex, ix, dictionary=("drug", "stopped") if duckdb else ())
    except InputError:
        line_params(params)  # a bad parameter is named before a bad path, as it always was
        raise
    chosen_params = line_params(params)
    chosen = engine or default_engine()
    fn = engine_function(chosen)
    if isinstance(ex, Path) and isinstance(ix, Path):
        if reading is None:
            if out_path is None:
                raise InputError("a partitioned run writes its lines to a file: give --out", field="--out")
            from oncoline.io.cohort_index import check_index_rows
            from oncoline.io.exposures import latest_exposure_date, read_table

            # the index policy shared with `oncoline cohort report` (the index is small; the exposures are not
            # read here, so a partitioned run does not check that their ids meet the index's)
            check_index_rows(read_table(ix, kind="index"), source=str(ix))
            cut = CutOff(as_of, "option")
            if as_of is None:
                cut = cohort_cut_off(latest_exposure_date(ex), "latest_in_data", today=now)
            return _partitioned(
                ex,
                ix,
                out=out_path,
                assignments_out=asg,
                engine=chosen,
                fn=fn,
                params=chosen_params,
                cut=cut,
                partitions=partitions,
                progress=progress,
            )
    elif partitions is not None:
        raise InputError("--partitions applies to exposure files, not tables in memory", field="--partitions")
    from oncoline.io.exposures import read_table, write_table

    def step(description: str, done: int) -> None:
        if progress is not None:
            progress(description, done, 4)

    step("reading input", 0)
    source_report: Any = None
    covering: Future[None] | None = None
    cut = CutOff(as_of, "option")
    if omop is not None:
        from oncoline.app import cutoff

        try:
            omop_io = importlib.import_module("oncoline.io.omop")
        except ImportError as exc:
            raise BackendError(f"OMOP input is not available in this build (oncoline.io.omop: {exc})") from exc
        reader = getattr(omop_io, "read_cohort", None)
        if reader is None:
            raise BackendError("OMOP input is not available in this build (oncoline.io.omop.read_cohort missing)")
        exposures_table, index_table, source_report = reader(omop)
        if as_of is None:
            cut = cutoff.omop_cut_off(omop, today=now)
    else:
        assert ex is not None and ix is not None
        if reading is not None:  # (both files are paths)
            exposures_table, index_table = reading.checked(str(ix))
        else:
            exposures_table = read_table(ex, kind="exposures") if isinstance(ex, Path) else ex
            index_table = read_table(ix, kind="index") if isinstance(ix, Path) else ix
            if isinstance(ix, Path):
                from oncoline.io.cohort_index import check_index_rows

                check_index_rows(index_table, source=str(ix))
        if isinstance(ix, Path):  # the index policy shared with `oncoline cohort report` (docs/lines.md, "The
            # cohort index"); tables given in memory keep the engines' lenient, counted reading. On a thread beside
            # the engine (taking 10^7 ids distinct is 0.05 s of CPU); its error is raised before any other below
            from oncoline.io.cohort_index import check_index_covers

            given_exposures, given_index = exposures_table, index_table
            covering = _in_thread(
                lambda: check_index_covers(
                    _distinct_persons(given_exposures),
                    given_index,
                    exposures_source=str(ex) if isinstance(ex, Path) else "exposures",
                    index_source=str(ix),
                ),
                name="oncoline-index-check",
            )
    try:
        if as_of is None and omop is None:
            from oncoline.io.exposures import latest_exposure_date

            cut = cohort_cut_off(latest_exposure_date(exposures_table), "latest_in_data", today=now)
        step(f"deriving lines ({chosen} engine, {exposures_table.num_rows:,} rows)", 1)
        with _naming(lambda: _input_name(ex, omop)):
            result = fn(exposures_table, index_table, params=chosen_params, as_of=cut.as_of)
    except BaseException:
        if covering is not None:
            covering.result()  # an index that holds no exposure person is named first, as when checked first
        raise
    if covering is not None:
        covering.result()
    integer = integer_person_ids(exposures_table, index_table)
    lines_table = input_id_type(result.lines, integer=integer)
    writing: Future[None] | None = None
    if out_path is not None:
        step(f"writing {out_path}", 2)
        # on a thread while the row → line table and the summary are built here (Arrow writes without the GIL)
        writing = _in_thread(
            lambda: write_lines_table(lines_table, out_path, lines_provenance(chosen_params, cut, chosen)),
            name="oncoline-write",
        )
    try:
        if asg is not None:
            write_table(input_id_type(result.assignments, integer=integer), asg)
        summary = _summary(result, chosen, out_path, asg, source_report, cut)
    except BaseException:
        if writing is not None:
            writing.result()  # the lines file's error first, as when the files were written in turn
        raise
    if writing is not None:
        writing.result()
    step("done", 4)
    return CohortRun(summary, result.report, cut, chosen, lines_table, result, integer_ids=integer)


_R = TypeVar("_R")


def _in_thread(fn: Callable[[], _R], *, name: str) -> Future[_R]:
    """``fn()`` on a new thread; the future gives its result or raises its error."""
    done: Future[_R] = Future()

    def run() -> None:
        try:
            done.set_result(fn())
        except BaseException as exc:  # re-raised by .result() in the caller's thread
            done.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return done


@dataclass(frozen=True)
class _Reading:
    """The index and exposure files being read on a thread (:func:`_read_in_background`), index first."""

    index: Future[pa.Table]
    exposures: Future[pa.Table]

    def checked(self, index_source: str) -> tuple[pa.Table, pa.Table]:
        """Both tables, the index's rows checked (:func:`oncoline.io.cohort_index.check_index_rows`) while the
        exposures are still being read. Errors come in the order of a plain read then check: the exposure
        file's, the index file's, then the index rows'."""
        from oncoline.io.cohort_index import check_index_rows

        try:
            index_table = self.index.result()
            check_index_rows(index_table, source=index_source)
        except BaseException:
            self.exposures.result()  # raises the exposure file's error first, when there is one
            raise
        return self.exposures.result(), index_table


def _read_in_background(exposures: Path, index: Path, *, dictionary: tuple[str, ...] = ()) -> _Reading:
    """Start reading the index, then the exposure file (:func:`oncoline.io.exposures.read_table`) on a daemon
    thread; each future gives its table or raises the reader's error. Arrow reads without the GIL, so the
    caller's imports and the index check run meanwhile (issue 13: whole-process cost)."""
    from oncoline.io.exposures import read_table

    index_done: Future[pa.Table] = Future()
    exposures_done: Future[pa.Table] = Future()

    def read() -> None:
        for done, path, kind, encoded in (
            (index_done, index, "index", ()),
            (exposures_done, exposures, "exposures", dictionary),
        ):
            try:
                done.set_result(read_table(path, kind=kind, dictionary=encoded))
            except BaseException as exc:  # re-raised by .result() in the caller's thread
                done.set_exception(exc)

    # a daemon thread: a caller that fails meanwhile (an engine not installed) exits without waiting for it
    threading.Thread(target=read, name="oncoline-read", daemon=True).start()
    return _Reading(index_done, exposures_done)


def _distinct_persons(exposures: pa.Table) -> pa.Table:
    """The distinct ``person_id`` values of ``exposures`` (first-seen order, null kept) as a one-column table,
    for :func:`oncoline.io.cohort_index.check_index_covers`: it casts the ids to text before taking them
    distinct, and casting 10^7 integer ids cost 0.4 s of CPU time on the process's serial path, where
    casting the ~10^5 distinct ones costs nothing (the same distinct texts in the same order: the cast of
    ids is one-to-one). A table without the column is returned as it is."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if "person_id" not in exposures.column_names or exposures.num_rows == 0:
        return exposures
    return pa.table({"person_id": pc.unique(exposures.column("person_id"))})


def _as_path(value: str | os.PathLike[str] | pa.Table | None) -> Path | pa.Table | None:
    """A path given as text or any ``os.PathLike`` becomes a :class:`~pathlib.Path`; a table or None is kept."""
    return Path(value) if isinstance(value, (str, os.PathLike)) else value


def _partitioned(
    exposures_path: Path,
    index_path: Path,
    *,
    out: Path,
    assignments_out: Path | None,
    engine: str,
    fn: Callable[..., CohortLines],
    params: LineParams,
    cut: CutOff,
    partitions: int | None,
    progress: ProgressCallback | None,
) -> CohortRun:
    """A cohort from files, one person partition at a time; ``progress`` advances per partition."""
    if progress is not None:
        progress(f"partitioning by person ({engine} engine)", 0, partitions)

    def advance(done: int, total: int, rows: int) -> None:
        if progress is not None:
            progress(f"partition {done}/{total}: {rows:,} rows done", done, total)

    with _naming(lambda: str(exposures_path)):
        run = _run_partitions(
            exposures_path,
            index_path,
            out=out,
            assignments_out=assignments_out,
            engine=engine,
            fn=fn,
            params=params,
            cut=cut,
            partitions=partitions,
            advance=advance,
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
    return CohortRun(summary, report, cut, engine, partitions=run.partitions)


def _run_partitions(
    exposures_path: Path,
    index_path: Path,
    *,
    out: Path,
    assignments_out: Path | None,
    engine: str,
    fn: Callable[..., CohortLines],
    params: LineParams,
    cut: CutOff,
    partitions: int | None,
    advance: Callable[[int, int, int], None],
) -> PartitionedRun:
    from oncoline.io.lines_partitioned import derive_lines_cohort_files

    return derive_lines_cohort_files(
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
        metadata=lines_provenance(params, cut, engine),
    )


def _input_name(exposures: Path | pa.Table | None, omop: str | None) -> str | None:
    if omop is not None:
        from oncoline.io.omop.db import redact_url

        return redact_url(omop)
    return str(exposures) if isinstance(exposures, Path) else None


@contextmanager
def _naming(name: Callable[[], str | None]) -> Iterator[None]:
    """Name the input (``name()``, asked only on error) in an engine's :class:`InputError`: engines know columns
    and rows, not files."""
    try:
        yield
    except InputError as exc:
        source = None if exc.source is not None else name()
        if source is None:
            raise
        reason = str(exc).split(": ", 1)[-1] if exc.field else str(exc)
        raise InputError(reason, source=source, field=exc.field) from exc


def _summary_dict(
    report: CohortReport,
    *,
    engine: str,
    out: Path | None,
    assignments_out: Path | None,
    persons_with_lines: int,
    n_lines: int,
    dist: Counter[str],
    cut: CutOff,
) -> dict[str, Any]:
    return {
        "engine": engine,
        **cut.to_json(),
        "out": None if out is None else str(out),
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
    result: CohortLines,
    engine: str,
    out: Path | None,
    assignments_out: Path | None,
    source_report: Any,
    cut: CutOff,
) -> dict[str, Any]:
    import pyarrow.compute as pc

    report = result.report
    # lines per person counted by Arrow (not 10^5 Python objects per 10^6 rows through a Counter)
    per_person = pc.value_counts(result.lines.column("person_id")).field("counts").to_pylist()
    persons_with_lines = len(per_person)
    dist: Counter[str] = Counter({"0": report.persons - persons_with_lines})
    for n, persons in Counter(per_person).items():
        dist[str(n) if n < 5 else "5+"] += persons
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
