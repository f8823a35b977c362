"""Lines of therapy for cohorts larger than memory: partition the files by person, run an engine per partition.

The cohort engines take in-memory Arrow tables (about 185 bytes per input row at peak for the DuckDB engine,
input included), so 10^8 rows do not fit in 8 GB. :func:`derive_lines_cohort_files` reads Parquet or CSV
files instead and:

1. numbers the input rows (1-based, as messages and default exposure ids do) — a CSV file is first streamed
   into a temporary Parquet file, all columns as text, as :func:`oncoline.io.exposures.read_table` reads it;
2. cuts the persons into ``partitions`` contiguous ranges of ``person_id`` text order (``ntile`` over the
   distinct persons of both tables) and, in one pass over each input in batches (bounded memory), writes each
   range's rows to a temporary uncompressed Arrow IPC stream, in the file's row order — read back
   memory-mapped, with no decoding and no sort by row number (the DuckDB ``PARTITION_BY`` Parquet write it
   replaces was half the run's wall time at 10^8 rows, and each partition then had to be sorted back);
3. runs the engine on the partitions, two at a time on two threads (the engines' numpy, Arrow and numba work
   releases the GIL; ``workers``), each partition on its own (every person's rows are in one partition, so
   lines, row assignments and per-person counts are those of a run on the whole cohort), appending lines and
   assignments to the outputs in partition order — ranges in person order, so the outputs come out sorted as
   the engines sort them and equal the in-memory result row for row;
4. merges the partition reports (:func:`oncoline.engines.lines.cohort.merge_reports`): examples name each
   row by its number in the input file.

Peak memory is about that of the engine on ``workers`` partitions (about 1.3 GB per 10^7 rows; the split itself
holds one batch): 2.6 GB at 10^8 rows with the defaults (benchmarks/README.md). The temporary partitions take
about 40 bytes per exposure row on disk (4 GB at 10^8 rows), in the system's temporary directory.
"""

from __future__ import annotations

import datetime as dt
import functools
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

from oncoline.errors import InputError
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
    """
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
    writers: list[_Writer] = []
    try:
        exp_file = _as_parquet(exp_src, workdir, "exposures.parquet")
        idx_file = _as_parquet(idx_src, workdir, "index.parquet")
        n_rows = int(pq.ParquetFile(exp_file).metadata.num_rows)
        n_parts = partitions or max(1, math.ceil(n_rows / ROWS_PER_PARTITION))
        exp_pid = exp_names[exp_canon.index("person_id")]
        idx_pid = idx_names[idx_canon.index("person_id")]
        threads = min(2, os.cpu_count() or 1)  # the split's threads (each holds one batch)
        exp_persons = _distinct(exp_file, exp_pid, threads)
        idx_persons = _distinct(idx_file, idx_pid, 1)
        exp_lookup, idx_lookup = _person_parts(exp_persons, idx_persons, n_parts)
        exp_dict = [exp_names[exp_canon.index(c)] for c in encoded if c in exp_canon]
        _split(
            exp_file,
            exp_names,
            exp_canon,
            exp_pid,
            exp_lookup,
            n_parts,
            workdir / "exp",
            dictionary=exp_dict,
            workers=threads,
        )
        _split(idx_file, idx_names, idx_canon, idx_pid, idx_lookup, n_parts, workdir / "idx", dictionary=[], workers=1)

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
            # each partition's rows are in the file's row order (the split keeps it); the engines take default ids
            # and example row numbers from source_row
            exposures = _read_part(workdir / "exp", part, [*exp_canon, "source_row"], exp_file)
            index = _read_part(workdir / "idx", part, [*idx_canon, "source_row"], idx_file)
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
    finally:
        for w in writers:
            w.close()
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


_BATCH_ROWS = 1 << 20
"""Rows read and split at a time (bounded memory whatever the file's row groups)."""


def _row_ranges(path: Path, workers: int) -> list[tuple[list[int], int]]:
    """Up to ``workers`` contiguous runs of the file's row groups with about equal rows, each with the 1-based
    number of its first row (one run when the file has one row group)."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    total, done = sum(sizes), 0
    runs: list[tuple[list[int], int]] = []
    current: list[int] = []
    start = 1
    for i, size in enumerate(sizes):
        current.append(i)
        done += size
        if len(runs) < workers - 1 and done * workers >= total * (len(runs) + 1):
            runs.append((current, start))
            start, current = done + 1, []
    if current or not runs:
        runs.append((current, start))
    return runs


def _on_threads(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls on threads (the first on this one); results in call order, the first error raised."""
    if len(calls) == 1:
        return [calls[0]()]
    with ThreadPoolExecutor(max_workers=len(calls) - 1) as pool:
        futures = [pool.submit(c) for c in calls[1:]]
        first = calls[0]()
        return [first, *(f.result() for f in futures)]


def _distinct(path: Path, column: str, workers: int) -> pa.Array:
    """The distinct non-null values of one column of a Parquet file, read in batches on ``workers`` threads."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from oncoline.io.exposures import _read_error

    def run(groups: list[int]) -> list[pa.Array]:
        reader = pq.ParquetFile(path)
        batches = reader.iter_batches(_BATCH_ROWS, row_groups=groups, columns=[column])
        return [_plain(pc.unique(b.column(0))) for b in batches]

    try:
        pieces = [
            x
            for run_pieces in _on_threads([functools.partial(run, g) for g, _ in _row_ranges(path, workers)])
            for x in run_pieces
        ]
    except (pa.ArrowInvalid, OSError) as exc:
        raise _read_error(exc, str(path)) from exc
    if not pieces:
        stored = pq.read_schema(path).field(column).type
        return pa.array([], stored.value_type if pa.types.is_dictionary(stored) else stored)
    values = pc.unique(pa.chunked_array(pieces).combine_chunks())
    return values.drop_null()


def _plain(values: pa.Array) -> pa.Array:
    """Dictionary-encoded values (ids stored as categories) decoded; others as they are."""
    import pyarrow as pa

    return values.dictionary_decode() if pa.types.is_dictionary(values.type) else values


def _ntile(n_values: int, n_parts: int) -> Any:
    """0-based partition of each rank 0..n_values-1, as SQL's ``ntile(n_parts)`` cuts them (the first
    ``n_values % n_parts`` partitions one value larger)."""
    import numpy as np

    q, r = divmod(n_values, n_parts)
    ranks = np.arange(n_values, dtype=np.int64)
    big = r * (q + 1)
    return np.where(ranks < big, ranks // (q + 1), r + (ranks - big) // max(q, 1)).astype(np.int32)


@dataclass(frozen=True)
class _PartLookup:
    """Person id → 0-based partition for one table's ids (rows without person: partition 0)."""

    values: pa.Array
    parts: Any  # np.ndarray[int32], aligned with values
    dense: tuple[int, Any] | None  # (smallest id, partition by id - smallest) for compact integer ids

    def __call__(self, ids: pa.Array | pa.ChunkedArray) -> Any:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        if isinstance(ids, pa.ChunkedArray):
            ids = ids.combine_chunks()
        if pa.types.is_dictionary(ids.type):  # (ids stored as categories: looked up by their values)
            ids = ids.dictionary_decode()
        if len(self.values) == 0:
            return np.zeros(len(ids), np.int32)
        if self.dense is not None:
            low, table = self.dense
            out = table[ids.fill_null(low).to_numpy() - low]
            if ids.null_count:
                out[ids.is_null().to_numpy(zero_copy_only=False)] = 0
            return out
        pos = pc.index_in(ids, value_set=self.values).fill_null(len(self.values))
        return np.append(self.parts, np.int32(0))[pos.to_numpy()]


def _person_parts(exp_ids: pa.Array, idx_ids: pa.Array, n_parts: int) -> tuple[_PartLookup, _PartLookup]:
    """Cut the persons of both tables (text order, as the engines sort them) into ``n_parts`` contiguous ranges,
    as ``ntile``; each table's distinct ids (in their own type) get their range."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    texts = [pc.cast(ids, pa.string()) for ids in (exp_ids, idx_ids)]
    every = pc.unique(pa.chunked_array(texts, type=pa.string()).combine_chunks())
    order = pc.sort_indices(every).to_numpy()
    part_of = np.empty(len(every), np.int32)
    part_of[order] = _ntile(len(every), n_parts)
    lookups = []
    for ids, text in zip((exp_ids, idx_ids), texts, strict=True):
        parts = part_of[pc.index_in(text, value_set=every).to_numpy()] if len(ids) else np.zeros(0, np.int32)
        dense = None
        if len(ids) and pa.types.is_integer(ids.type):
            low, high = int(pc.min(ids).as_py()), int(pc.max(ids).as_py())
            if high - low < 4 * len(ids) + 4096:
                table = np.zeros(high - low + 1, np.int32)
                table[ids.to_numpy() - low] = parts
                dense = (low, table)
        lookups.append(_PartLookup(ids, parts, dense))
    return lookups[0], lookups[1]


def _split(
    path: Path,
    names: list[str],
    canon: list[str],
    person: str,
    lookup: _PartLookup,
    n_parts: int,
    directory: Path,
    *,
    dictionary: list[str],
    workers: int,
) -> None:
    """Write each partition's rows of a Parquet file to ``directory/PART.RUN.arrows`` (Arrow IPC streams, 1-based
    PART; RUN numbers the contiguous runs of row groups read on ``workers`` threads), columns renamed to
    ``canon`` plus ``source_row`` (1-based row number), each stream in the file's row order.

    One pass in batches of :data:`_BATCH_ROWS` rows; the text columns named in ``dictionary`` stay
    dictionary-encoded as Parquet stores them. Uncompressed IPC: written and memory-mapped back without
    encoding, decoding or a sort (about 40 bytes per exposure row on disk).
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from oncoline.io.exposures import _read_error

    directory.mkdir()
    try:
        schema = pq.read_schema(path)
        encoded = [
            n
            for n in dictionary
            if pa.types.is_string(schema.field(n).type) or pa.types.is_large_string(schema.field(n).type)
        ]

        def run(run_no: int, groups: list[int], first: int) -> None:
            writers: dict[int, pa.ipc.RecordBatchStreamWriter] = {}
            try:
                reader = pq.ParquetFile(path, read_dictionary=encoded or None)
                for batch in reader.iter_batches(_BATCH_ROWS, row_groups=groups, columns=names):
                    rows = np.arange(first, first + batch.num_rows, dtype=np.int64)
                    first += batch.num_rows
                    # columns stored dictionary-encoded (categories) decoded — the engines count and compare plain
                    # values across a partition's batches, each with its own dictionary — except those asked for
                    columns = [
                        c.dictionary_decode() if pa.types.is_dictionary(c.type) and name not in encoded else c
                        for c, name in zip(batch.columns, names, strict=True)
                    ]
                    table = pa.RecordBatch.from_arrays([*columns, pa.array(rows)], names=[*canon, "source_row"])
                    if n_parts == 1:
                        pieces = [(0, table)]
                    else:
                        part = lookup(batch.column(names.index(person)))
                        counts = np.bincount(part, minlength=n_parts)
                        table = table.take(np.argsort(part, kind="stable"))  # stable: each partition in row order
                        ends = np.cumsum(counts)
                        pieces = [(k, table.slice(ends[k] - counts[k], counts[k])) for k in range(n_parts) if counts[k]]
                    for k, piece in pieces:
                        if k not in writers:
                            writers[k] = pa.ipc.new_stream(directory / f"{k + 1}.{run_no}.arrows", piece.schema)
                        writers[k].write_batch(piece)
            finally:
                for w in writers.values():
                    w.close()

        runs = _row_ranges(path, workers)
        _on_threads([functools.partial(run, i, g, f) for i, (g, f) in enumerate(runs)])
    except (pa.ArrowInvalid, OSError) as exc:
        raise _read_error(exc, str(path)) from exc


def _read_part(directory: Path, part: int, columns: list[str], original: Path) -> pa.Table:
    """One partition's rows, memory-mapped (none, with the input's column types, when the partition holds no
    person)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    # one stream per run of row groups the split read on its own thread, concatenated in run (= row) order
    paths = sorted((directory.glob(f"{part}.*.arrows")), key=lambda p: int(p.suffixes[0][1:]))
    if paths:  # (batches read dictionary-encoded each have their own dictionary: unified later)
        tables = [pa.ipc.open_stream(pa.memory_map(str(p))).read_all() for p in paths]
        return pa.concat_tables(tables).select(columns)
    schema = pq.read_schema(original)
    fields: list[Any] = [
        pa.field("source_row", pa.int64()) if name == "source_row" else schema.field(i)
        for i, name in enumerate(columns)
    ]
    return pa.schema(fields).empty_table().rename_columns(columns)
