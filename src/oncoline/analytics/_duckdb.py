"""The DuckDB connection of the report's aggregates and tables.

They run on lines-sized tables (about 3 rows per person: ~3·10^5 rows for 10^7 exposure rows) in the report's
main process while its worker processes (the sensitivity grid, the concordance's recommender calls) keep every
core busy; on such tables DuckDB's second thread costs more in synchronisation than it saves (measured at 10^7
exposure rows on 2 cores: aggregates and tables 2.1 → 1.4 CPU s, the same tables). One thread, then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

__all__ = ["connect_one_thread"]


def connect_one_thread() -> duckdb.DuckDBPyConnection:
    """A new in-memory DuckDB connection limited to one thread (the caller closes it)."""
    import duckdb

    return duckdb.connect(config={"threads": 1})
