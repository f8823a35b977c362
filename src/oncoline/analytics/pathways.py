"""Treatment pathways: each person's regimen sequence over the first ``max_lines`` lines, counted per stratum.

Pure computations on Arrow tables (DuckDB SQL in memory). Counts are raw here; the report suppresses small
cells (:mod:`oncoline.analytics.suppression`) before anything is shown or written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from oncoline.analytics.strata import STRATA

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["END", "OTHER", "PathwayTables", "pathways", "regimen_labels"]

END = "(no further line)"
"""Pseudo-regimen closing a pathway: the person had no later line (by the cut-off, or beyond ``max_lines``)."""
OTHER = "other regimens"
"""Label of the regimens outside the ``top_regimens`` most frequent ones."""
ARROW = " → "


@dataclass(frozen=True)
class PathwayTables:
    """The pathway tables of one cohort (raw counts).

    Attributes
    ----------
    regimens
        ``regimen``, ``lines`` (lines with that regimen, all line numbers), ``rank`` (1 = most frequent),
        ``label`` (the regimen, or :data:`OTHER` beyond ``top_regimens``): the colour key of every figure.
    pathways
        ``stratum_kind``, ``stratum``, ``pathway`` (labels joined with " → "), ``n_lines``, ``persons``,
        ``share`` (of the stratum's persons with ≥ 1 line). The persons of one stratum sum to its persons
        with ≥ 1 line.
    steps
        Sunburst nodes: ``stratum_kind``, ``stratum``, ``depth`` (line), ``id`` (the pathway up to this line),
        ``parent`` (the pathway up to the line before; empty at depth 1), ``regimen`` (label or :data:`END`),
        ``persons``. The children of one parent sum to the parent's persons.
    transitions
        Sankey links: ``stratum_kind``, ``stratum``, ``line`` (from line k to k + 1), ``from_regimen``,
        ``to_regimen`` (label or :data:`END`), ``persons``. The links out of one (line, from_regimen) sum to
        ``line_regimens.persons`` of that line and regimen.
    line_regimens
        ``stratum_kind``, ``stratum``, ``line``, ``regimen`` (label), ``persons``, ``share`` (of the stratum's
        persons reaching that line).
    """

    regimens: pa.Table
    pathways: pa.Table
    steps: pa.Table
    transitions: pa.Table
    line_regimens: pa.Table


def regimen_labels(lines: pa.Table, /, *, top_regimens: int) -> pa.Table:
    """The regimen → label table (see :attr:`PathwayTables.regimens`), most frequent first, ties by name.

    Examples
    --------
    >>> import pyarrow as pa
    >>> t = regimen_labels(pa.table({"regimen": ["a", "b", "a", "c"]}), top_regimens=1)
    >>> t.column("label").to_pylist()
    ['a', 'other regimens', 'other regimens']
    """
    import duckdb

    con = duckdb.connect()
    try:
        con.register("lines_in", lines.select(["regimen"]))
        return con.execute(
            f"""SELECT regimen, lines, rank,
                       CASE WHEN rank <= {int(top_regimens)} THEN regimen ELSE '{OTHER}' END AS label
                FROM (SELECT regimen, count(*) AS lines,
                             CAST(row_number() OVER (ORDER BY count(*) DESC, regimen) AS INTEGER) AS rank
                      FROM lines_in GROUP BY regimen)
                ORDER BY rank"""
        ).to_arrow_table()
    finally:
        con.close()


def pathways(lines: pa.Table, strata: pa.Table, /, *, max_lines: int = 5, top_regimens: int = 15) -> PathwayTables:
    """Count the regimen sequences of a cohort, per stratum.

    Parameters
    ----------
    lines
        The lines table of ``oncoline lines`` (``person_id``, ``line``, ``regimen``; one row per person and line).
    strata
        :func:`oncoline.analytics.strata.person_strata` of the index; persons with lines but no index row fall
        in stratum ``unknown`` of every kind.
    max_lines
        Lines per pathway (later lines are not shown; ≥ 1).
    top_regimens
        Regimens named in figures and tables; the rest are counted as :data:`OTHER`.

    Returns
    -------
    PathwayTables
        Raw counts (not yet suppressed).

    Raises
    ------
    ValueError
        When ``max_lines`` < 1.
    """
    import duckdb

    if max_lines < 1:
        raise ValueError(f"max_lines must be at least 1, got {max_lines}")
    regimens = regimen_labels(lines, top_regimens=top_regimens)
    kinds = STRATA[1:]
    con = duckdb.connect()
    try:
        con.register("lines_in", lines.select(["person_id", "line", "regimen"]))
        con.register("strata_in", strata)
        con.register("regimens_in", regimens)
        stratum_cols = ", ".join(f"coalesce(s.{k}, 'unknown') AS {k}" for k in kinds)
        con.execute(
            f"""CREATE TEMP TABLE l AS
                SELECT CAST(x.person_id AS VARCHAR) AS person_id, CAST(x.line AS INTEGER) AS line, r.label,
                       {stratum_cols}
                FROM lines_in x JOIN regimens_in r USING (regimen)
                LEFT JOIN strata_in s ON s.person_id = CAST(x.person_id AS VARCHAR)
                WHERE x.line <= {int(max_lines)}"""
        )
        con.execute(
            f"""CREATE TEMP TABLE p AS
                SELECT person_id, {", ".join(f"any_value({k}) AS {k}" for k in kinds)},
                       list(label ORDER BY line) AS seq, max(line) AS n_lines
                FROM l GROUP BY person_id"""
        )
        # one row per person and stratum kind (plus 'all')
        unions = " UNION ALL ".join(
            ["SELECT 'all' AS stratum_kind, 'all' AS stratum, seq, n_lines FROM p"]
            + [f"SELECT '{k}', {k}, seq, n_lines FROM p" for k in kinds]
        )
        con.execute(f"CREATE TEMP TABLE ps AS {unions}")
        order = "CASE stratum_kind " + " ".join(f"WHEN '{k}' THEN {i}" for i, k in enumerate(STRATA)) + " END"
        path_tbl = con.execute(
            f"""SELECT stratum_kind, stratum, array_to_string(seq, '{ARROW}') AS pathway,
                       CAST(any_value(n_lines) AS INTEGER) AS n_lines, count(*) AS persons,
                       count(*) / sum(count(*)) OVER (PARTITION BY stratum_kind, stratum) AS share
                FROM ps GROUP BY stratum_kind, stratum, seq
                ORDER BY {order}, stratum, persons DESC, pathway"""
        ).to_arrow_table()
        steps = con.execute(
            f"""WITH d AS (
                  SELECT stratum_kind, stratum, CAST(k AS INTEGER) AS depth,
                         CASE WHEN k <= len(seq) THEN array_to_string(seq[1:k], '{ARROW}')
                              ELSE array_to_string(seq, '{ARROW}') || '{ARROW}{END}' END AS id,
                         CASE WHEN k = 1 THEN '' ELSE array_to_string(seq[1:k-1], '{ARROW}') END AS parent,
                         CASE WHEN k <= len(seq) THEN seq[k] ELSE '{END}' END AS regimen
                  FROM ps, range(1, {int(max_lines) + 1}) t(k)
                  WHERE k <= len(seq) + 1 AND k <= {int(max_lines)})
                SELECT stratum_kind, stratum, depth, id, parent, regimen, count(*) AS persons
                FROM d GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY {order}, stratum, depth, parent, persons DESC, id"""
        ).to_arrow_table()
        transitions = con.execute(
            f"""WITH d AS (
                  SELECT stratum_kind, stratum, CAST(k AS INTEGER) AS line, seq[k] AS from_regimen,
                         CASE WHEN k + 1 <= len(seq) THEN seq[k + 1] ELSE '{END}' END AS to_regimen
                  FROM ps, range(1, {int(max_lines)}) t(k) WHERE k <= len(seq))
                SELECT stratum_kind, stratum, line, from_regimen, to_regimen, count(*) AS persons
                FROM d GROUP BY 1, 2, 3, 4, 5 ORDER BY {order}, stratum, line, from_regimen, persons DESC, to_regimen"""
        ).to_arrow_table()
        line_regimens = con.execute(
            f"""WITH d AS (
                  SELECT stratum_kind, stratum, CAST(k AS INTEGER) AS line, seq[k] AS regimen
                  FROM ps, range(1, {int(max_lines) + 1}) t(k) WHERE k <= len(seq))
                SELECT stratum_kind, stratum, line, regimen, count(*) AS persons,
                       count(*) / sum(count(*)) OVER (PARTITION BY stratum_kind, stratum, line) AS share
                FROM d GROUP BY 1, 2, 3, 4 ORDER BY {order}, stratum, line, persons DESC, regimen"""
        ).to_arrow_table()
    finally:
        con.close()
    return PathwayTables(
        regimens=regimens, pathways=path_tbl, steps=steps, transitions=transitions, line_regimens=line_regimens
    )
