"""SQL text helpers shared by the OMOP readers and writers (portable SQL, Arrow casts)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa


_RXNORM_VOCABS = ("RxNorm", "RxNorm Extension")


def _ints(values: list[int]) -> str:
    return ", ".join(str(int(v)) for v in values) or "NULL"


def _strs(values: list[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values) or "NULL"


def _cast(table: pa.Table, schema: pa.Schema) -> pa.Table:
    import pyarrow as pa

    cols = []
    for f in schema:
        col = table.column(f.name)
        if pa.types.is_decimal(col.type) and pa.types.is_floating(f.type):
            col = col.cast(pa.float64())
        cols.append(col.cast(f.type))
    return pa.table(cols, schema=schema)


def _vocabulary_mode(tables: set[str]) -> str:
    if "concept" in tables and "concept_ancestor" in tables:
        return "concept_ancestor"
    return "concept" if "concept" in tables else "none"
