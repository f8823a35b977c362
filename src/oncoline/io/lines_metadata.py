"""The provenance a lines table carries: the line parameters, the ``lines.yaml`` version, the data cut-off and the
rule that chose it, the engine and the oncoline version (written by ``oncoline lines``, read by the cohort report).

Where it is kept:

- **Parquet** (a file, or a directory of parts): the Parquet key-value metadata of the schema, key
  ``oncoline.lines``, a JSON object. pyarrow (``pq.read_schema(path).metadata``), DuckDB
  (``parquet_kv_metadata``) and any Parquet reader see it; rewriting the table elsewhere may drop it.
- **CSV**: a sidecar ``LINES.csv.meta.json`` beside the file (the same JSON object), since CSV has no metadata.

A table without it (made before this was recorded, or elsewhere) reads as ``None``: its line rules are unknown.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oncoline.errors import InputError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["METADATA_KEY", "read_lines_metadata", "sidecar_path", "with_lines_metadata", "write_lines_sidecar"]

METADATA_KEY = b"oncoline.lines"
"""The Parquet key-value metadata key holding the provenance (a JSON object)."""


def sidecar_path(path: Path, /) -> Path:
    """The sidecar of a CSV lines table: ``lines.csv`` → ``lines.csv.meta.json``."""
    return path.with_name(path.name + ".meta.json")


def with_lines_metadata(schema_or_table: Any, metadata: Mapping[str, Any], /) -> Any:
    """``schema_or_table`` (a :class:`pyarrow.Schema` or :class:`pyarrow.Table`) with ``metadata`` stored under
    :data:`METADATA_KEY` in its schema metadata (other keys kept)."""
    import pyarrow as pa

    schema = schema_or_table if isinstance(schema_or_table, pa.Schema) else schema_or_table.schema
    merged = {**(schema.metadata or {}), METADATA_KEY: json.dumps(dict(metadata), sort_keys=True).encode()}
    if isinstance(schema_or_table, pa.Schema):
        return schema_or_table.with_metadata(merged)
    return schema_or_table.replace_schema_metadata(merged)


def write_lines_sidecar(path: Path, metadata: Mapping[str, Any], /) -> Path | None:
    """Write the sidecar of a CSV lines table (nothing for Parquet, which holds the metadata itself).

    Returns
    -------
    Path or None
        The sidecar written, or None for a Parquet table.

    Raises
    ------
    InputError
        The sidecar cannot be written.
    """
    if path.suffix.lower() != ".csv":
        return None
    target = sidecar_path(path)
    try:
        target.write_text(json.dumps(dict(metadata), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write the lines table's metadata ({exc})", source=str(target)) from exc
    return target


def _from_schema(schema: pa.Schema) -> dict[str, Any] | None:
    raw = (schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def read_lines_metadata(path: Path, /) -> dict[str, Any] | None:
    """The provenance of a lines table, or None when it records none (its line rules are unknown).

    Parameters
    ----------
    path
        A Parquet file, a directory of Parquet parts (the first part that holds it), or a CSV file (its sidecar).

    Returns
    -------
    dict or None
        ``params`` (every line parameter), ``params_version``, ``as_of``, ``as_of_source``, ``as_of_note``,
        ``engine``, ``oncoline_version`` (as written by ``oncoline lines``); None when absent or unreadable.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.suffix.lower() == ".csv":
        side = sidecar_path(path)
        if not side.is_file():
            return None
        try:
            value = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return value if isinstance(value, dict) else None
    parts = [path] if path.is_file() else sorted(p for p in path.rglob("*.parquet") if p.is_file())
    for part in parts:
        try:
            found = _from_schema(pq.read_schema(part))
        except (pa.ArrowInvalid, OSError):
            continue
        if found is not None:
            return found
    return None
