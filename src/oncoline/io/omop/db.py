"""Database access for the OMOP CDM: one small interface over DuckDB, PostgreSQL and SQLAlchemy URLs.

The OMOP readers and writers (:mod:`oncoline.io.omop`) send plain, portable SQL through
:class:`OmopDatabase` and get :class:`pyarrow.Table` back, so the same mapping logic runs on every back end
and the same CDM gives the same cohort.

URLs (:func:`connect`):

==========================================  =============================================================
``path/to/cdm.duckdb``, ``duckdb:///abs/…``  an embedded DuckDB file (``duckdb://:memory:`` for memory)
``postgresql://user@host:port/db``           PostgreSQL through psycopg 3 (``postgres://`` too)
``mysql://…``, ``mssql+pyodbc://…`` …        any other SQLAlchemy URL, when SQLAlchemy and its driver exist
==========================================  =============================================================

A ``?schema=NAME`` query parameter (or the ``schema=`` argument) names the schema holding the CDM tables.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from oncoline.errors import BackendError, InputError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["Backend", "OmopDatabase", "connect", "redact_url"]

Backend = Literal["duckdb", "postgresql", "sqlalchemy"]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages and reports)."""
    parts = urllib.parse.urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return url


@dataclass(frozen=True)
class _Target:
    backend: Backend
    dsn: str
    schema: str | None


def _parse(url: str, schema: str | None, *, must_exist: bool) -> _Target:
    if "://" not in url:
        path = Path(url)
        if must_exist and not path.is_file():
            raise InputError(
                f"no DuckDB file at {url!r}; give an existing OMOP CDM DuckDB file, a postgresql:// URL, or "
                f"create one with `oncoline omop init {url}`",
                source=url,
            )
        return _Target("duckdb", str(path), schema)
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    url_schema = next((v for k, v in query if k == "schema"), None)
    rest = urllib.parse.urlencode([(k, v) for k, v in query if k != "schema"])
    schema = schema or url_schema or None
    if schema is not None and not _IDENT.match(schema):
        raise InputError(f"schema {schema!r} is not a plain SQL identifier (letters, digits, _)", source=url)
    scheme = parts.scheme.lower()
    if scheme == "duckdb":
        path_text = (parts.netloc + parts.path) if parts.netloc else parts.path
        if path_text in ("", ":memory:", "/:memory:"):
            return _Target("duckdb", ":memory:", schema)
        if must_exist and not Path(path_text).is_file():
            raise InputError(f"no DuckDB file at {path_text!r}; create one with `oncoline omop init {url}`", source=url)
        return _Target("duckdb", path_text, schema)
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        dsn = urllib.parse.urlunsplit(parts._replace(scheme="postgresql", query=rest))
        return _Target("postgresql", dsn, schema)
    return _Target("sqlalchemy", urllib.parse.urlunsplit(parts._replace(query=rest)), schema)


class OmopDatabase:
    """An open connection to an OMOP CDM database.

    Use :func:`connect`; close with :meth:`close` or a ``with`` block. All SQL given to :meth:`query` and
    :meth:`execute` must be portable (DuckDB and PostgreSQL dialects); :meth:`table` returns a qualified
    table name for the configured schema.
    """

    def __init__(self, target: _Target, url: str) -> None:
        self.backend: Backend = target.backend
        self.schema = target.schema
        self.url = redact_url(url)
        self._conn: Any
        try:
            if target.backend == "duckdb":
                import duckdb

                self._conn = duckdb.connect(target.dsn)
            elif target.backend == "postgresql":
                try:
                    import psycopg
                except ImportError:  # pragma: no cover - psycopg is a declared extra
                    raise BackendError("PostgreSQL needs psycopg 3: pip install 'oncoline[postgres]'") from None
                self._conn = psycopg.connect(target.dsn, autocommit=True, connect_timeout=15)
            else:
                try:
                    import sqlalchemy  # type: ignore[import-not-found, unused-ignore]
                except ImportError:
                    raise BackendError(
                        f"{self.url}: this URL scheme needs SQLAlchemy and its database driver "
                        "(pip install sqlalchemy <driver>); DuckDB files and postgresql:// URLs work without it"
                    ) from None
                self._conn = sqlalchemy.create_engine(target.dsn).connect()
        except (BackendError, InputError):
            raise
        except Exception as exc:
            raise BackendError(f"cannot open {self.url}: {exc}") from exc

    # ------------------------------------------------------------------ plumbing
    def __enter__(self) -> OmopDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (idempotent)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def table(self, name: str) -> str:
        """The qualified name of CDM table ``name`` (``schema.name`` when a schema is set)."""
        if not _IDENT.match(name):
            raise ValueError(f"not a table name: {name!r}")
        return f"{self.schema}.{name}" if self.schema else name

    def _fail(self, sql: str, exc: Exception) -> BackendError:
        first = " ".join(sql.split())[:160]
        return BackendError(f"{self.url}: query failed ({exc}); SQL: {first}…")

    # ------------------------------------------------------------------ SQL
    def query(self, sql: str) -> pa.Table:
        """Run a SELECT and return its rows as an Arrow table (column types as the driver gives them).

        Raises
        ------
        BackendError
            When the database rejects the query.
        """
        import pyarrow as pa

        try:
            if self.backend == "duckdb":
                return self._conn.execute(sql).to_arrow_table()
            if self.backend == "postgresql":
                with self._conn.cursor() as cur:
                    cur.execute(sql)
                    names = [d.name for d in cur.description]
                    rows = cur.fetchall()
            else:
                import sqlalchemy

                result = self._conn.execute(sqlalchemy.text(sql))
                names = list(result.keys())
                rows = [tuple(r) for r in result]
        except Exception as exc:
            raise self._fail(sql, exc) from exc
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
        return pa.table({n: pa.array(list(c)) for n, c in zip(names, columns, strict=True)})

    def execute(self, sql: str) -> None:
        """Run a statement that returns no rows (DDL, DELETE …).

        Raises
        ------
        BackendError
            When the database rejects the statement.
        """
        try:
            if self.backend == "sqlalchemy":
                import sqlalchemy

                self._conn.execute(sqlalchemy.text(sql))
            else:
                self._conn.execute(sql)
        except Exception as exc:
            raise self._fail(sql, exc) from exc

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All statements inside the block commit together or not at all."""
        if self.backend == "postgresql":
            with self._conn.transaction():
                yield
            return
        if self.backend == "sqlalchemy":
            with self._conn.begin():
                yield
            return
        self._conn.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def insert(self, name: str, data: pa.Table) -> None:
        """Append the rows of ``data`` to table ``name`` (columns matched by name).

        Raises
        ------
        BackendError
            When the database rejects the rows (missing table, type or constraint violation).
        """
        cols = ", ".join(data.column_names)
        target = self.table(name)
        try:
            if self.backend == "duckdb":
                self._conn.register("_oncoline_insert", data)
                try:
                    self._conn.execute(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM _oncoline_insert")
                finally:
                    self._conn.unregister("_oncoline_insert")
            elif self.backend == "postgresql":
                with self._conn.cursor() as cur, cur.copy(f"COPY {target} ({cols}) FROM STDIN") as copy:
                    for row in data.to_pylist():
                        copy.write_row(tuple(row.values()))
            else:
                import sqlalchemy

                params = ", ".join(f":{c}" for c in data.column_names)
                self._conn.execute(
                    sqlalchemy.text(f"INSERT INTO {target} ({cols}) VALUES ({params})"), data.to_pylist()
                )
        except Exception as exc:
            raise BackendError(f"{self.url}: cannot insert {data.num_rows} row(s) into {target}: {exc}") from exc

    def tables(self) -> set[str]:
        """Lower-case names of the tables (and views) in the configured schema (or the default one)."""
        schema = f"'{self.schema}'" if self.schema else "current_schema()"
        t = self.query(f"SELECT table_name FROM information_schema.tables WHERE table_schema = {schema}")
        return {str(v).lower() for v in t.column("table_name").to_pylist()}

    def require(self, names: Sequence[str], *, purpose: str) -> None:
        """Raise a clear :class:`InputError` when any of ``names`` is not a table here.

        Raises
        ------
        InputError
            Naming the missing tables, the schema searched and how to fix it.
        """
        missing = [n for n in names if n not in self.tables()]
        if missing:
            where = f"schema {self.schema!r}" if self.schema else "the default schema"
            raise InputError(
                f"{purpose} needs the OMOP CDM table(s) {', '.join(missing)}, not found in {where}; point at "
                "the CDM schema with ?schema=NAME, or create the tables with `oncoline omop init URL`",
                source=self.url,
            )


def connect(url: str, /, *, schema: str | None = None, must_exist: bool = True) -> OmopDatabase:
    """Open the OMOP CDM database at ``url``.

    Parameters
    ----------
    url
        A DuckDB file path or ``duckdb://`` URL, a ``postgresql://`` URL, or another SQLAlchemy URL; an
        optional ``?schema=NAME`` names the CDM schema.
    schema
        The CDM schema; overrides the URL's ``schema`` parameter.
    must_exist
        For DuckDB: fail when the file does not exist (True when reading; False to create it).

    Returns
    -------
    OmopDatabase
        An open connection; close it (``with connect(url) as db: …``).

    Raises
    ------
    InputError
        When the DuckDB file does not exist or the schema name is not a plain identifier.
    BackendError
        When the database cannot be reached or its driver is not installed.
    """
    return OmopDatabase(_parse(url, schema, must_exist=must_exist), url)
