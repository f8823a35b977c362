"""Read drug exposures: one patient's FORMAT.md ``events`` block (YAML/JSON), or a cohort's exposure and
index tables (Parquet or CSV); write line tables.

Single patient: every malformed row is an :class:`~oncoline.errors.InputError` naming the file, the row and
the fix; an unknown drug is an :class:`~oncoline.errors.UnknownDrugError` naming the closest known drugs.

Cohort: tables are read as they are (CSV columns as text) and every unusable row is counted and reported by
:func:`oncoline.engines.lines.cohort.prepare_cohort`; only structural problems (a missing file or column)
raise. pyarrow is imported inside the functions that need it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oncoline.errors import InputError, UnknownDrugError

# the events-file readers import pydantic, the patient models and the document reader when called: the cohort
# table readers (``oncoline lines FILE --index ...``) need none of them (issue 13: whole-process cost)

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "EXPOSURE_ALIASES",
    "INDEX_ALIASES",
    "EventsInput",
    "IdentifiedExposure",
    "csv_delimiter",
    "events_from_mapping",
    "latest_exposure_date",
    "load_events",
    "read_table",
    "write_table",
]

EXPOSURE_ALIASES = {
    "person": "person_id",
    "patient_id": "person_id",
    "patient": "person_id",
    "drug_name": "drug",
    "start": "start_date",
    "end": "end_date",
    "id": "exposure_id",
    "row_id": "exposure_id",
}
"""Accepted exposure column spellings → canonical names (names are also lower-cased and trimmed)."""

INDEX_ALIASES = {
    "person": "person_id",
    "patient_id": "person_id",
    "patient": "person_id",
    "index_date": "metastatic_diagnosis",
    "metastatic_diagnosis_date": "metastatic_diagnosis",
}
"""Accepted index column spellings → canonical names."""


@dataclass(frozen=True)
class IdentifiedExposure:
    """An exposure with the row id the line assignment reports (``exposure_id`` or its position)."""

    exposure_id: str
    drug: str
    start: dt.date
    end: dt.date | None
    stopped: str | None


@dataclass(frozen=True)
class EventsInput:
    """One patient's ``events`` block, validated."""

    metastatic_diagnosis: dt.date
    exposures: tuple[IdentifiedExposure, ...]
    params: dict[str, Any]
    as_of: dt.date | None
    person_id: str
    source: str | None
    ignored_fields: tuple[str, ...] = ()
    """Patient-file fields that play no part in lines (a patient file given to ``oncoline lines``), sorted."""


def _date(value: Any, *, field: str, source: str | None) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise InputError(f"{value!r} is not a date; write YYYY-MM-DD", source=source, field=field) from None


_EVENTS_FIELDS = frozenset({"metastatic_diagnosis", "exposures", "params", "as_of", "person_id", "id"})


def _split_patient_fields(doc: dict[str, Any], source: str | None) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The events fields of ``doc`` and the patient-only fields left out (sorted).

    Raises
    ------
    InputError
        A field that neither an events block nor a patient has (a typo).
    """
    from oncoline.model.patient import Patient

    extra = set(doc) - _EVENTS_FIELDS
    unknown = sorted(extra - set(Patient.model_fields))
    if unknown:
        raise InputError(
            f"unknown field(s) {unknown}; an events block holds {sorted(_EVENTS_FIELDS)} (a patient file may also "
            "hold the patient fields (`oncoline schema patient`), which lines do not use)",
            source=source,
            field=unknown[0],
        )
    return {k: v for k, v in doc.items() if k in _EVENTS_FIELDS}, tuple(sorted(extra))


def events_from_mapping(doc: Any, *, source: str | None = None) -> EventsInput:
    """Validate a FORMAT.md ``events`` block, a whole ``kind: lines`` case file holding one, or a patient file.

    Parameters
    ----------
    doc
        ``{"metastatic_diagnosis": date, "exposures": [{"drug", "start", "end"?, "stopped"?, "exposure_id"?}],
        "params"?: {name: value}, "as_of"?: date, "person_id"?: text}``. A patient file (FORMAT.md
        ``patient`` block, or a whole ``kind: patient`` case file) is accepted too: its
        ``metastatic_diagnosis``, ``exposures``, ``as_of`` and ``id`` are read, its other fields (age, tumour,
        history, ...) are left out and named in :attr:`EventsInput.ignored_fields`.
    source
        The file name, for messages.

    Returns
    -------
    EventsInput
        Rows with ids (``exposure_id``/``id`` when given, else the 0-based position as text).

    Raises
    ------
    InputError
        Not a mapping, no metastatic diagnosis, no exposure list, a row without drug or start, a bad date, an
        end before its start, a field that neither an events block nor a patient has.
    UnknownDrugError
        A drug the vocabulary does not know (names the row and the closest known names).
    """
    if isinstance(doc, dict) and isinstance(doc.get("events"), dict):  # a whole `kind: lines` case file
        block = dict(doc["events"])
        if doc.get("params") and "params" not in block:
            block["params"] = doc["params"]
        doc = block
    elif isinstance(doc, dict) and isinstance(doc.get("patient"), dict):  # a whole `kind: patient` case file
        block = dict(doc["patient"])
        if doc.get("as_of") and "as_of" not in block:
            block["as_of"] = doc["as_of"]
        doc = block
    if not isinstance(doc, dict):
        raise InputError("expected an events block: metastatic_diagnosis, exposures (see docs/lines.md)", source=source)
    doc, ignored = _split_patient_fields(doc, source)
    dx = _date(doc.get("metastatic_diagnosis"), field="metastatic_diagnosis", source=source)
    if dx is None:
        raise InputError(
            "the metastatic diagnosis date is missing; lines are counted from it (YYYY-MM-DD)",
            source=source,
            field="metastatic_diagnosis",
        )
    rows = doc.get("exposures")
    if rows is None:
        rows = []
    if not isinstance(rows, list):
        raise InputError("give exposures as a list of {drug, start, end}", source=source, field="exposures")
    params = doc.get("params") or {}
    if not isinstance(params, dict):
        raise InputError("give params as a mapping, e.g. {gap_days: 90}", source=source, field="params")
    from pydantic import ValidationError

    from oncoline.io.patient_file import validation_to_input_error
    from oncoline.knowledge.drugs import load_vocabulary
    from oncoline.model.patient import Exposure

    vocab = load_vocabulary()
    out: list[IdentifiedExposure] = []
    seen: set[str] = set()
    for pos, row in enumerate(rows):
        where = f"exposures[{pos}]"
        if not isinstance(row, dict):
            raise InputError("give each exposure as {drug, start, end}", source=source, field=where)
        fields = dict(row)
        rid_raw = fields.pop("exposure_id", fields.pop("id", None))
        rid = str(pos) if rid_raw is None else str(rid_raw)
        if rid in seen:
            raise InputError(f"exposure id {rid!r} is given twice; make ids unique", source=source, field=where)
        seen.add(rid)
        try:
            exp = Exposure.model_validate(fields)
        except ValidationError as exc:
            err = validation_to_input_error(exc, source=None)
            message = str(err).removeprefix(f"field {err.field!r}: " if err.field else "")
            inner = "" if err.field in (None, "(top level)") else f".{err.field}"
            raise InputError(message, source=source, field=f"{where}{inner}") from exc
        if vocab.lookup(exp.drug) is None:
            raise UnknownDrugError(exp.drug, vocab.suggest(exp.drug), source=source, field=f"{where}.drug")
        out.append(
            IdentifiedExposure(
                exposure_id=rid,
                drug=exp.drug,
                start=exp.start,
                end=exp.end,
                stopped=None if exp.stopped is None else exp.stopped.value,
            )
        )
    return EventsInput(
        metastatic_diagnosis=dx,
        exposures=tuple(out),
        params=dict(params),
        as_of=_date(doc.get("as_of"), field="as_of", source=source),
        person_id=str(doc.get("person_id") or doc.get("id") or "patient"),
        source=source,
        ignored_fields=ignored,
    )


def load_events(path: str | Path) -> EventsInput:
    """Read one patient's events block from a YAML or JSON file (see :func:`events_from_mapping`).

    Raises
    ------
    InputError
        File missing, unreadable, not YAML/JSON, or a malformed block (names the row and the fix).
    UnknownDrugError
        An unknown drug.
    """
    from oncoline.io.patient_file import load_document

    return events_from_mapping(load_document(path), source=str(path))


_REQUIRED = {
    "exposures": ("person_id", "drug", "start_date"),
    "index": ("person_id", "metastatic_diagnosis"),
}
_OPTIONAL = {"exposures": ("end_date", "exposure_id", "stopped"), "index": ()}


def _spellings(name: str, aliases: dict[str, str]) -> str:
    others = [a for a, canonical in aliases.items() if canonical == name]
    return f"{name} (or {', '.join(others)})" if others else name


def _rename(table: pa.Table, aliases: dict[str, str], *, kind: str, source: str) -> pa.Table:
    """Canonical column names; a missing required column names the file's own columns and the accepted ones."""
    names = []
    for name in table.column_names:
        key = name.strip().lower()
        names.append(aliases.get(key, key))
    required = _REQUIRED.get(kind, ())
    missing = [n for n in required if n not in names]
    if missing:
        found = ", ".join(table.column_names) or "(none)"
        need = "; ".join(_spellings(n, aliases) for n in required)
        optional = "; ".join(_spellings(n, aliases) for n in _OPTIONAL.get(kind, ()))
        raise InputError(
            f"the {kind} table has no {' or '.join(missing)} column. Columns found: {found}. "
            f"Required: {need}" + (f". Optional: {optional}" if optional else "") + ". Rename the header to match",
            source=source,
            field=missing[0],
        )
    return table.rename_columns(names)


_UTF8_HINT = "save the file as UTF-8 (in a spreadsheet: Save As, CSV UTF-8) and run again"


def csv_delimiter(path: str | Path) -> str:
    """The field separator of a CSV file, from its header line: ``,`` unless the header holds no comma but
    semicolons (a spreadsheet in a locale with a decimal comma) or tabs.

    Raises
    ------
    InputError
        When the header cannot be read, or is not UTF-8 (the message says to save the file as UTF-8).
    """
    import gzip

    p = Path(path)
    opener: Any = gzip.open if p.suffix.lower() == ".gz" else open
    try:
        with opener(p, "rb") as fh:
            head = fh.readline(65536)
    except OSError as exc:
        raise InputError(f"cannot read the table: {exc}", source=str(p)) from exc
    try:
        header = head.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"the file is not UTF-8 text; {_UTF8_HINT}", source=str(p)) from None
    if "," in header:
        return ","
    for sep in (";", "\t"):
        if sep in header:
            return sep
    return ","


def _read_error(exc: Exception, source: str) -> InputError:
    """A reader's failure as an InputError with the fix (a UTF-8 hint for undecodable text)."""
    text = str(exc)
    if "UTF8" in text or "UTF-8" in text or "utf-8" in text:
        return InputError(f"the file is not UTF-8 text ({text.splitlines()[0]}); {_UTF8_HINT}", source=source)
    return InputError(f"cannot read the table: {text}", source=source)


def read_table(path: str | Path, *, kind: str = "exposures", dictionary: tuple[str, ...] = ()) -> pa.Table:
    """Read an exposures or index table from Parquet or CSV.

    Parameters
    ----------
    path
        ``.parquet``/``.pq`` or ``.csv`` (optionally ``.csv.gz``); CSV columns are read as text so that bad
        dates are counted per row, not fatal. The CSV separator is ``,``, or ``;`` / tab when the header
        holds no comma (:func:`csv_delimiter`); the text must be UTF-8.
    kind
        ``"exposures"`` or ``"index"``: selects the accepted column aliases (:data:`EXPOSURE_ALIASES`,
        :data:`INDEX_ALIASES`).
    dictionary
        Canonical names of text columns to read dictionary-encoded from Parquet (as the file stores them: each
        distinct text once, a 32-bit index per row; 10^7 drug names take 40 MB instead of 150 MB and no
        decoding). The values are the same; CSV ignores it.

    Returns
    -------
    pyarrow.Table
        Columns renamed to canonical names; rows untouched.

    Raises
    ------
    InputError
        Missing file, unknown suffix, a file the reader cannot parse (a file that is not UTF-8 is told to be
        saved as UTF-8), or a required column missing (the message lists the file's columns as found and the
        required ones with their accepted spellings).
    """
    import pyarrow as pa

    p = Path(path)
    if not p.exists():
        raise InputError("file not found; check the path", source=str(p))
    suffixes = "".join(p.suffixes[-2:]).lower()
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            # ParquetFile.read, not read_table: the dataset reader behind read_table costs three times the CPU
            # time (1.4 s more at 10^7 rows, mostly page faults) and a 0.3 s import (benchmarks/README.md)
            if p.is_dir():
                table = pq.read_table(p)
            else:
                file = pq.ParquetFile(p)
                aliases = EXPOSURE_ALIASES if kind == "exposures" else INDEX_ALIASES
                as_dictionary = [
                    name
                    for name, field in zip(file.schema_arrow.names, file.schema_arrow, strict=True)
                    if aliases.get(name.strip().lower(), name.strip().lower()) in dictionary
                    and (pa.types.is_string(field.type) or pa.types.is_large_string(field.type))
                ]
                table = file.read() if not as_dictionary else pq.ParquetFile(p, read_dictionary=as_dictionary).read()
        elif p.suffix.lower() == ".csv" or suffixes == ".csv.gz":
            import pyarrow.csv as pacsv

            parse = pacsv.ParseOptions(delimiter=csv_delimiter(p))
            with pacsv.open_csv(p, parse_options=parse) as reader:
                header = reader.schema.names
            table = pacsv.read_csv(
                p,
                parse_options=parse,
                convert_options=pacsv.ConvertOptions(
                    column_types={name: pa.string() for name in header}, strings_can_be_null=True
                ),
            )
        else:
            raise InputError(f"unknown table format {p.suffix!r}; give a .parquet or .csv file", source=str(p))
    except (pa.ArrowInvalid, OSError) as exc:
        raise _read_error(exc, str(p)) from exc
    return _rename(table, EXPOSURE_ALIASES if kind == "exposures" else INDEX_ALIASES, kind=kind, source=str(p))


def write_table(table: pa.Table, path: str | Path) -> Path:
    """Write ``table`` to Parquet or CSV, chosen by the suffix of ``path``.

    In CSV, list columns (``drugs``) are written as text joined by ``" + "``.

    Raises
    ------
    InputError
        An unknown suffix, or the file cannot be written.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    p = Path(path)
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            pq.write_table(table, p)
        elif p.suffix.lower() == ".csv":
            import pyarrow.csv as pacsv

            for i, f in enumerate(table.schema):
                if pa.types.is_list(f.type):
                    table = table.set_column(i, f.name, pc.binary_join(table.column(i), " + "))
            pacsv.write_csv(table, p)
        else:
            raise InputError(f"unknown output format {p.suffix!r}; give a .parquet or .csv file", source=str(p))
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"cannot write the table: {exc}", source=str(p)) from exc
    return p


def _latest_sql(column: str, type_name: str) -> str:
    """A DuckDB expression: the latest date in ``column``, read as :func:`read_table` rows are (a date, a
    timestamp, or text holding ``YYYY-MM-DD`` optionally followed by a time part)."""
    quoted = '"' + column.replace('"', '""') + '"'
    kind = type_name.upper()
    if kind == "DATE":
        return f"max({quoted})"
    if kind.startswith("TIMESTAMP"):
        return f"max(CAST({quoted} AS DATE))"
    text = f"trim(CAST({quoted} AS VARCHAR))"
    return (
        f"max(CASE WHEN length({text}) = 10 OR substr({text}, 11, 1) IN ('T', ' ') "
        f"THEN CAST(try_strptime(left({text}, 10), '%Y-%m-%d') AS DATE) END)"
    )


def latest_exposure_date(source: str | Path | pa.Table, /) -> dt.date | None:
    """The latest start or end date anywhere in a cohort's exposure table: the cohort-wide data cut-off that
    ``oncoline lines`` uses when no ``--as-of`` is given.

    Parameters
    ----------
    source
        An exposure table as returned by :func:`read_table`, or its file (``.parquet``/``.pq``/``.csv``, read
        out of core by DuckDB, so a table larger than memory costs one scan). Columns ``start_date`` and
        ``end_date`` (or their :data:`EXPOSURE_ALIASES` spellings) as dates, timestamps or ``YYYY-MM-DD`` text;
        unreadable values are skipped here (the engines count them).

    Returns
    -------
    datetime.date or None
        The latest date over both columns and all persons; None when the table holds no readable date.

    Raises
    ------
    InputError
        A missing file or an unknown suffix, or a file DuckDB cannot read.
    """
    import duckdb

    con = duckdb.connect()
    try:
        if isinstance(source, (str, Path)):
            p = Path(source)
            if not p.exists():
                raise InputError("file not found; check the path", source=str(p))
            literal = "'" + str(p).replace("'", "''") + "'"
            if p.suffix.lower() in (".parquet", ".pq"):
                relation = f"read_parquet({literal})"
            elif p.suffix.lower() == ".csv" or "".join(p.suffixes[-2:]).lower() == ".csv.gz":
                sep = "'" + csv_delimiter(p).replace("'", "''") + "'"
                relation = f"read_csv({literal}, all_varchar = true, header = true, delim = {sep})"
            else:
                raise InputError(f"unknown table format {p.suffix!r}; give a .parquet or .csv file", source=str(p))
        else:
            con.register("exposures_in", source)
            relation = "exposures_in"
        columns = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
        parts = [
            _latest_sql(name, type_name)
            for name, type_name, *_ in columns
            if EXPOSURE_ALIASES.get(name.strip().lower(), name.strip().lower()) in ("start_date", "end_date")
        ]
        if not parts:
            return None
        row = con.execute(f"SELECT {', '.join(parts)} FROM {relation}").fetchone()
    except duckdb.Error as exc:
        where = str(source) if isinstance(source, (str, Path)) else None
        raise InputError(f"cannot read the exposure dates: {exc}", source=where) from exc
    finally:
        con.close()
    found = [d for d in (row or ()) if d is not None]
    return max(found) if found else None
