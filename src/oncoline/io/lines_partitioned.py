"""Lines of therapy for cohorts larger than memory: partition the files by person, run an engine per partition.

The cohort engines take in-memory Arrow tables (about 185 bytes per input row at peak for the DuckDB engine,
input included), so 10^8 rows do not fit in 8 GB. :func:`derive_lines_cohort_files` reads Parquet or CSV
files instead and:

1. numbers the input rows (1-based, as messages and default exposure ids do) — a CSV file is first streamed
   into a temporary Parquet file, all columns as text, as :func:`oncoline.io.exposures.read_table` reads it;
2. lets DuckDB (out of core, ``memory_limit`` bounded) split persons into ``partitions`` contiguous ranges of
   ``person_id`` text order (``ntile`` over the distinct persons of both tables) and write each range's
   exposure and index rows to a temporary partitioned Parquet dataset, in one pass over the input;
3. runs the engine on the partitions, two at a time on two threads (the engines' numpy, Arrow and numba work
   releases the GIL; ``workers``), each partition on its own (every person's rows are in one partition, so
   lines, row assignments and per-person counts are those of a run on the whole cohort), appending lines and
   assignments to the outputs in partition order — ranges in person order, so the outputs come out sorted as
   the engines sort them and equal the in-memory result row for row;
4. merges the partition reports (:func:`oncoline.engines.lines.cohort.merge_reports`): examples name each
   row by its number in the input file.

Peak memory is about that of the engine on ``workers`` partitions (about 1.5 GB per 10^7 rows), or DuckDB's
``memory_limit`` while it partitions (DuckDB is closed before the engine runs): 3.3 GB at 10^8 rows with the
defaults (benchmarks/README.md).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oncoline.errors import BackendError, InputError
from oncoline.io.lines_metadata import with_lines_metadata, write_lines_sidecar

if TYPE_CHECKING:
    import pyarrow as pa

    from oncoline.engines.lines.cohort import CohortLines, CohortReport
    from oncoline.engines.lines.params import LineParams

__all__ = ["ROWS_PER_PARTITION", "PartitionedRun", "derive_lines_cohort_files", "estimate_rows"]

ROWS_PER_PARTITION = 10_000_000
"""Default partition size in input rows (about 2 GB at peak for the DuckDB engine)."""

_CSV_BYTES_PER_ROW = 60
"""Rough size of one exposure row in a CSV file, to estimate its rows without reading it."""


@dataclass(frozen=True)
class PartitionedRun:
    """What :func:`derive_lines_cohort_files` did.

    Attributes
    ----------
    report
        The merged input report (equal to an in-memory run's).
    n_lines
        Lines written.
    persons_with_lines
        Persons with at least one line.
    lines_per_person
        Number of lines → persons with that many lines (persons with lines only).
    partitions
        Partitions run.
    out, assignments
        The files written (``assignments`` None when not asked for).
    """

    report: CohortReport
    n_lines: int
    persons_with_lines: int
    lines_per_person: dict[int, int]
    partitions: int
    out: Path
    assignments: Path | None


def estimate_rows(path: str | Path) -> int:
    """Input rows of an exposures file: exact for Parquet (metadata), estimated from the size for CSV.

    Raises
    ------
    InputError
        When the file does not exist or cannot be read.
    """
    p = Path(path)
    if not p.exists():
        raise InputError("file not found; check the path", source=str(p))
    if p.suffix.lower() in (".parquet", ".pq"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            return int(pq.ParquetFile(p).metadata.num_rows)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"cannot read the table: {exc}", source=str(p)) from exc
    return max(1, p.stat().st_size // _CSV_BYTES_PER_ROW)


def _canonical_names(path: Path, kind: str) -> tuple[list[str], list[str]]:
    """(column names as in the file, canonical names) — the renaming and checks of ``read_table``."""
    import pyarrow as pa

    from oncoline.io.exposures import EXPOSURE_ALIASES, INDEX_ALIASES, _read_error, _rename, csv_delimiter

    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            names = list(pq.read_schema(path).names)
        else:
            import pyarrow.csv as pacsv

            with pacsv.open_csv(path, parse_options=pacsv.ParseOptions(delimiter=csv_delimiter(path))) as reader:
                names = list(reader.schema.names)
    except (pa.ArrowInvalid, OSError) as exc:
        raise _read_error(exc, str(path)) from exc
    empty = pa.table({f"c{i}": pa.array([], pa.string()) for i in range(len(names))}).rename_columns(names)
    aliases = EXPOSURE_ALIASES if kind == "exposures" else INDEX_ALIASES
    return names, list(_rename(empty, aliases, kind=kind, source=str(path)).column_names)


def _as_parquet(path: Path, workdir: Path, name: str) -> Path:
    """``path`` itself when Parquet; a CSV streamed (bounded memory) into ``workdir/name`` with text columns."""
    if path.suffix.lower() in (".parquet", ".pq"):
        return path
    suffixes = "".join(path.suffixes[-2:]).lower()
    if path.suffix.lower() != ".csv" and suffixes != ".csv.gz":
        raise InputError(f"unknown table format {path.suffix!r}; give a .parquet or .csv file", source=str(path))
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from oncoline.io.exposures import _read_error, csv_delimiter

    target = workdir / name
    try:
        parse = pacsv.ParseOptions(delimiter=csv_delimiter(path))
        with pacsv.open_csv(path, parse_options=parse) as probe:
            header = probe.schema.names
        convert = pacsv.ConvertOptions(column_types={n: pa.string() for n in header}, strings_can_be_null=True)
        with (
            pacsv.open_csv(path, parse_options=parse, convert_options=convert) as reader,
            pq.ParquetWriter(target, reader.schema) as out,
        ):
            for batch in reader:
                out.write_batch(batch)
    except (pa.ArrowInvalid, OSError) as exc:
        raise _read_error(exc, str(path)) from exc
    return target


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


class _Writer:
    """Appends Arrow tables to one Parquet or CSV file (lists joined by " + " in CSV, as ``write_table``)."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        import pyarrow as pa

        self.path = path
        self.csv = path.suffix.lower() == ".csv"
        if not self.csv and path.suffix.lower() not in (".parquet", ".pq"):
            raise InputError(f"unknown output format {path.suffix!r}; give a .parquet or .csv file", source=str(path))
        self.schema = schema
        try:
            if self.csv:
                import pyarrow.csv as pacsv

                fields = [pa.field(f.name, pa.string()) if pa.types.is_list(f.type) else f for f in schema]
                self._csv = pacsv.CSVWriter(path, pa.schema(fields))
            else:
                import pyarrow.parquet as pq

                self._pq = pq.ParquetWriter(path, schema)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"cannot write the table: {exc}", source=str(path)) from exc

    def write(self, table: pa.Table) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        if table.schema.field("person_id").type != self.schema.field("person_id").type:  # integer ids kept
            table = table.set_column(
                table.column_names.index("person_id"),
                self.schema.field("person_id"),
                table.column("person_id").cast(self.schema.field("person_id").type),
            )
        if self.csv:
            for i, f in enumerate(table.schema):
                if pa.types.is_list(f.type):
                    table = table.set_column(i, f.name, pc.binary_join(table.column(i), " + "))
            self._csv.write_table(table)
        else:
            self._pq.write_table(table)

    def close(self) -> None:
        (self._csv if self.csv else self._pq).close()


def _with_id(schema: pa.Schema, id_field: pa.Field) -> pa.Schema:
    return schema.set(schema.get_field_index("person_id"), id_field)


def derive_lines_cohort_files(
    exposures_path: str | Path,
    index_path: str | Path,
    out_path: str | Path,
    /,
    *,
    params: LineParams,
    as_of: dt.date | None,
    partitions: int | None = None,
    assignments_path: str | Path | None = None,
    engine: Callable[..., CohortLines] | None = None,
    memory_limit: str = "2GB",
    workers: int | None = None,
    on_partition: Callable[[int, int, int], None] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> PartitionedRun:
    """Derive the lines of a cohort stored in files, one person partition at a time (bounded memory).

    Parameters
    ----------
    exposures_path, index_path
        Parquet or CSV files, columns as for :func:`oncoline.io.exposures.read_table` (same aliases, CSV read
        as text). A missing ``exposure_id`` (column or value) becomes the 1-based row number in the file.
    out_path
        Lines table to write (``.parquet`` or ``.csv``), :func:`~oncoline.engines.lines.cohort.lines_schema`.
    params, as_of
        As for the engines (:func:`oncoline.engines.lines.duckdb_engine.derive_lines_cohort`).
    partitions
        Number of person partitions; None: one per :data:`ROWS_PER_PARTITION` input rows.
    assignments_path
        Also write the row → line table here (``.parquet`` or ``.csv``).
    metadata
        The lines table's provenance (:mod:`oncoline.io.lines_metadata`): kept in the Parquet schema metadata,
        or a ``.meta.json`` sidecar beside a CSV.
    engine
        A cohort engine function (default: the DuckDB engine).
    memory_limit
        DuckDB's memory limit while it partitions (it spills to a temporary directory beyond it).
    workers
        Partitions run at once, in threads (None: 2, or 1 on a one-core machine); each holds one partition
        in memory, so peak memory grows with it.
    on_partition
        Called after each partition with (partitions done, partitions in all, input rows so far).

    Returns
    -------
    PartitionedRun
        The merged report and what was written. Lines and assignments equal an in-memory run's, row for row.

    Raises
    ------
    InputError
        A missing file, an unknown format, a missing column, a repeated exposure id, an unwritable output.
    BackendError
        When DuckDB fails.
    """
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    from oncoline.engines.lines.cohort import assignments_schema, lines_schema, merge_reports

    exp_src, idx_src = Path(exposures_path), Path(index_path)
    out = Path(out_path)
    assign_out = None if assignments_path is None else Path(assignments_path)
    for p in (exp_src, idx_src):
        if not p.exists():
            raise InputError("file not found; check the path", source=str(p))
    if partitions is not None and partitions < 1:
        raise InputError(f"partitions must be at least 1, got {partitions}", field="partitions")
    exp_names, exp_canon = _canonical_names(exp_src, "exposures")
    idx_names, idx_canon = _canonical_names(idx_src, "index")
    from oncoline.engines.lines.duckdb_engine import derive_lines_cohort

    if engine is None:
        engine = derive_lines_cohort
    # the DuckDB engine takes drug names and stop reasons dictionary-encoded, as Parquet stores them (a quarter of
    # the memory, and small dictionaries to number instead of 10^7 texts per partition; as `oncoline lines` reads)
    encoded = ("drug", "stopped") if engine is derive_lines_cohort else ()
    if "source_row" in exp_canon:
        raise InputError("the exposures table has a source_row column; rename it", source=str(exp_src))

    workdir = Path(tempfile.mkdtemp(prefix="oncoline-partitions-"))
    con = duckdb.connect()
    writers: list[_Writer] = []
    try:
        con.execute(f"SET memory_limit = '{memory_limit}'")
        con.execute(f"SET temp_directory = {_sql_path(workdir / 'spill')}")
        con.execute("SET preserve_insertion_order = false")
        con.execute("SET enable_progress_bar = false")
        exp_file = _as_parquet(exp_src, workdir, "exposures.parquet")
        idx_file = _as_parquet(idx_src, workdir, "index.parquet")
        n_rows = int(pq.ParquetFile(exp_file).metadata.num_rows)
        n_parts = partitions or max(1, math.ceil(n_rows / ROWS_PER_PARTITION))

        exp_cols = [f"{_quote(a)} AS {_quote(b)}" for a, b in zip(exp_names, exp_canon, strict=True)]
        idx_cols = [f"{_quote(a)} AS {_quote(b)}" for a, b in zip(idx_names, idx_canon, strict=True)]
        con.execute(
            f"CREATE VIEW exp AS SELECT {', '.join(exp_cols)}, file_row_number + 1 AS source_row "
            f"FROM read_parquet({_sql_path(exp_file)}, file_row_number = true)"
        )
        con.execute(
            f"CREATE VIEW idx AS SELECT {', '.join(idx_cols)}, file_row_number + 1 AS source_row "
            f"FROM read_parquet({_sql_path(idx_file)}, file_row_number = true)"
        )
        # persons in text order (as the engines order them), cut into n_parts contiguous ranges; each table's
        # distinct person ids (in their own type) get their range, so the big join compares native values
        # (rows without person go to partition 1)
        for view in ("exp", "idx"):
            con.execute(
                f"CREATE TABLE {view}_persons AS SELECT DISTINCT person_id AS pid FROM {view} WHERE pid IS NOT NULL"
            )
        con.execute(
            "CREATE TABLE part_of AS SELECT p, ntile($n) OVER (ORDER BY p) AS part FROM ("
            "SELECT CAST(pid AS VARCHAR) AS p FROM exp_persons UNION SELECT CAST(pid AS VARCHAR) FROM idx_persons)",
            {"n": n_parts},
        )
        for view in ("exp", "idx"):
            con.execute(
                f"CREATE TABLE {view}_part AS SELECT x.pid, m.part FROM {view}_persons x "
                "JOIN part_of m ON m.p = CAST(x.pid AS VARCHAR)"
            )
            con.execute(
                f"COPY (SELECT v.*, coalesce(m.part, 1) AS _part FROM {view} v "
                f"LEFT JOIN {view}_part m ON m.pid = v.person_id) "
                f"TO {_sql_path(workdir / view)} (FORMAT parquet, PARTITION_BY (_part))"
            )
        con.close()  # the partitions are written: DuckDB's memory is released before the engine runs

        # integer person ids in both inputs stay integers in the outputs (the engines give them as text)
        ids = [
            pq.read_schema(f).field(names[canon.index("person_id")]).type
            for f, names, canon in ((exp_file, exp_names, exp_canon), (idx_file, idx_names, idx_canon))
        ]
        id_field = pa.field("person_id", pa.int64() if all(pa.types.is_integer(t) for t in ids) else pa.string())
        schema = _with_id(lines_schema(), id_field)
        schema = schema if metadata is None else with_lines_metadata(schema, metadata)
        lines_writer = _Writer(out, schema)
        writers.append(lines_writer)
        assign_writer = None
        if assign_out is not None:
            assign_writer = _Writer(assign_out, _with_id(assignments_schema(), id_field))
            writers.append(assign_writer)
        n_workers = workers if workers is not None else min(2, os.cpu_count() or 1)
        reports: list[CohortReport] = []
        n_lines = 0
        per_person_hist: dict[int, int] = {}
        rows_done = 0

        def run_part(part: int) -> CohortLines:
            exposures = _read_part(workdir / "exp", part, [*exp_canon, "source_row"], exp_file, dictionary=encoded)
            index = _read_part(workdir / "idx", part, [*idx_canon, "source_row"], idx_file).sort_by("source_row")
            # the file's row order; the engines take default ids and example row numbers from source_row
            exposures = exposures.sort_by("source_row")
            assert engine is not None
            return engine(exposures, index, params=params, as_of=as_of)

        # up to `workers` partitions in flight (threads: the engines' numpy, Arrow and numba work releases the
        # GIL); results are written in partition order, so memory holds at most `workers` + 1 partitions
        # numpy's huge-page hint is process-wide: switched off once around all threads (see the DuckDB engine)
        from oncoline.engines.lines.duckdb_engine import _without_hugepage_hint

        hint = _without_hugepage_hint()
        hint.__enter__()
        pool = ThreadPoolExecutor(max_workers=max(1, n_workers))
        pending: deque[Future[CohortLines]] = deque()
        next_part = 1
        try:
            for part in range(1, n_parts + 1):
                while next_part <= n_parts and len(pending) < max(1, n_workers):
                    pending.append(pool.submit(run_part, next_part))
                    next_part += 1
                result = pending.popleft().result()
                lines_writer.write(result.lines)
                if assign_writer is not None:
                    assign_writer.write(result.assignments)
                n_lines += result.lines.num_rows
                counts = result.lines.group_by("person_id").aggregate([("line", "count")]).column("line_count")
                for c in counts.to_pylist():
                    per_person_hist[c] = per_person_hist.get(c, 0) + 1
                reports.append(result.report)
                rows_done += result.report.rows_in
                del result
                if on_partition is not None:
                    on_partition(part, n_parts, rows_done)
        finally:
            for f in pending:
                f.cancel()
            pool.shutdown(wait=True)
            hint.__exit__(None, None, None)
        for w in writers:
            w.close()
        writers.clear()
    except duckdb.Error as exc:
        raise BackendError(f"DuckDB failed while partitioning the cohort: {exc}") from exc
    finally:
        for w in writers:
            w.close()
        con.close()
        shutil.rmtree(workdir, ignore_errors=True)
    if metadata is not None:
        write_lines_sidecar(out, metadata)
    return PartitionedRun(
        report=merge_reports(reports),
        n_lines=n_lines,
        persons_with_lines=sum(per_person_hist.values()),
        lines_per_person=dict(sorted(per_person_hist.items())),
        partitions=n_parts,
        out=out,
        assignments=assign_out,
    )


def _read_part(
    directory: Path, part: int, columns: list[str], original: Path, *, dictionary: tuple[str, ...] = ()
) -> pa.Table:
    """One partition's rows (none, with the input's column types, when the partition holds no person); the text
    columns named in ``dictionary`` read dictionary-encoded."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted((directory / f"_part={part}").glob("*.parquet"))
    if files:  # ParquetFile, not the dataset reader: a third of its CPU time (see oncoline.io.exposures)
        tables = []
        for f in files:
            schema = pq.read_schema(f)
            encoded = [
                name
                for name in dictionary
                if name in schema.names
                and (pa.types.is_string(schema.field(name).type) or pa.types.is_large_string(schema.field(name).type))
            ]
            tables.append(pq.ParquetFile(f, read_dictionary=encoded or None).read(columns=columns))
        # (pieces read dictionary-encoded each have their own dictionary: one chunked column, unified later)
        return pa.concat_tables(tables)
    schema = pq.read_schema(original)
    fields: list[Any] = [
        pa.field("source_row", pa.int64()) if name == "source_row" else schema.field(i)
        for i, name in enumerate(columns)
    ]
    return pa.schema(fields).empty_table().rename_columns(columns)
