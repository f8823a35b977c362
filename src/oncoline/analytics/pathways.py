"""Treatment pathways: each person's regimen sequence over the first ``max_lines`` lines, counted per stratum.

Pure computations on Arrow tables (DuckDB SQL in memory), in two steps so that a big cohort can do the first one
elsewhere (Spark): each person's label sequence grouped and counted (:func:`person_sequences`, from the per-regimen
line counts of :func:`regimen_counts`), then every pathway table from those counts alone (:func:`pathway_tables`).
Counts are raw here; the report suppresses small cells (:mod:`oncoline.analytics.suppression`) before anything is
shown or written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from oncoline.analytics.strata import STRATA

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "END",
    "OTHER",
    "SEQUENCE_STRATA",
    "PathwayTables",
    "pathway_tables",
    "pathways",
    "person_sequences",
    "regimen_counts",
    "regimen_labels",
    "regimen_labels_from_counts",
]

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


def regimen_counts(lines: pa.Table, /) -> pa.Table:
    """Lines per regimen: ``regimen``, ``lines`` (int64) — the aggregate :func:`regimen_labels_from_counts` ranks.

    Examples
    --------
    >>> import pyarrow as pa
    >>> sorted(regimen_counts(pa.table({"regimen": ["a", "b", "a"]})).to_pylist(), key=lambda r: r["regimen"])
    [{'regimen': 'a', 'lines': 2}, {'regimen': 'b', 'lines': 1}]
    """
    from oncoline.analytics._duckdb import connect_one_thread

    con = connect_one_thread()
    try:
        con.register("lines_in", lines.select(["regimen"]))
        return con.execute("SELECT regimen, count(*) AS lines FROM lines_in GROUP BY regimen").to_arrow_table()
    finally:
        con.close()


def regimen_labels_from_counts(counts: pa.Table, /, *, top_regimens: int) -> pa.Table:
    """The regimen → label table (see :attr:`PathwayTables.regimens`) from ``regimen``, ``lines`` counts (one row
    per regimen, from any engine), most frequent first, ties by name."""
    from oncoline.analytics._duckdb import connect_one_thread

    con = connect_one_thread()
    try:
        con.register("counts_in", counts.select(["regimen", "lines"]))
        return con.execute(
            f"""SELECT regimen, lines, rank,
                       CASE WHEN rank <= {int(top_regimens)} THEN regimen ELSE '{OTHER}' END AS label
                FROM (SELECT regimen, CAST(sum(lines) AS BIGINT) AS lines,
                             CAST(row_number() OVER (ORDER BY sum(lines) DESC, regimen) AS INTEGER) AS rank
                      FROM counts_in GROUP BY regimen)
                ORDER BY rank"""
        ).to_arrow_table()
    finally:
        con.close()


def regimen_labels(lines: pa.Table, /, *, top_regimens: int) -> pa.Table:
    """The regimen → label table (see :attr:`PathwayTables.regimens`), most frequent first, ties by name.

    Examples
    --------
    >>> import pyarrow as pa
    >>> t = regimen_labels(pa.table({"regimen": ["a", "b", "a", "c"]}), top_regimens=1)
    >>> t.column("label").to_pylist()
    ['a', 'other regimens', 'other regimens']
    """
    return regimen_labels_from_counts(regimen_counts(lines), top_regimens=top_regimens)


SEQUENCE_STRATA = STRATA[1:]
"""Stratum columns of a :func:`person_sequences` table (``all`` is their sum)."""


def person_sequences(lines: pa.Table, strata: pa.Table, regimens: pa.Table, /, *, max_lines: int) -> pa.Table:
    """Each person's label sequence over the first ``max_lines`` lines, grouped and counted (the aggregate the
    pathway tables are built from; the Spark path computes the same table in Spark).

    Parameters
    ----------
    lines
        ``person_id``, ``line``, ``regimen`` (one row per person and line).
    strata
        :func:`oncoline.analytics.strata.person_strata`; a person without a row is ``unknown`` in every kind.
    regimens
        :func:`regimen_labels_from_counts` (``regimen`` → ``label``).
    max_lines
        Lines per sequence (≥ 1).

    Returns
    -------
    pyarrow.Table
        One row per distinct (strata, sequence): ``index_year``, ``age_band``, ``hr_status``, ``presentation``,
        ``seq`` (list of labels by line), ``n_lines`` (int32), ``persons`` (int64).
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from oncoline.analytics._duckdb import connect_one_thread

    kinds = SEQUENCE_STRATA
    x = lines.select(["person_id", "line", "regimen"])
    if x.num_rows == 0 or x.column("person_id").null_count:  # (no null ids come from the index join)
        return _person_sequences_sql(x, strata, regimens, max_lines=max_lines)
    # each person's labels in line order, built with Arrow and numpy: DuckDB's list() aggregate over 10^5 persons
    # cost 0.5 s of the report's main process. The same rows as the SQL twin (_person_sequences_sql), which the
    # tests compare: the inner join to the labels, the lines up to max_lines, labels ordered by line.
    x = x.filter(pc.less_equal(x.column("line"), int(max_lines)))
    at = pc.index_in(x.column("regimen"), value_set=regimens.column("regimen"), skip_nulls=True)
    x = x.append_column("at", at).filter(pc.is_valid(at))
    x = x.take(pc.sort_indices(x, [("person_id", "ascending"), ("line", "ascending")]))
    labels = regimens.column("label").take(x.column("at"))
    person = x.column("person_id").combine_chunks()
    n = len(person)
    if n == 0:  # every line past max_lines or without a label
        return _person_sequences_sql(lines, strata, regimens, max_lines=max_lines)
    changes = pc.not_equal(person[1:], person[:-1]).to_numpy(zero_copy_only=False)
    offsets = np.concatenate([[0], np.flatnonzero(changes) + 1, [n]]).astype(np.int32)
    per_person = pa.table(
        {
            "person_id": person.take(pa.array(offsets[:-1])),
            "seq": pa.ListArray.from_arrays(pa.array(offsets), labels.combine_chunks()),
            "n_lines": x.column("line").take(pa.array(offsets[1:] - 1)).cast(pa.int32()),
        }
    )
    con = connect_one_thread()
    try:
        con.register("p", per_person)
        con.register("strata_in", strata)
        stratum_cols = ", ".join(f"coalesce(s.{k}, 'unknown') AS {k}" for k in kinds)
        return con.execute(
            f"""WITH q AS (
                  SELECT {stratum_cols}, p.seq, p.n_lines
                  FROM p LEFT JOIN strata_in s ON s.person_id = CAST(p.person_id AS VARCHAR))
                SELECT {", ".join(kinds)}, seq, n_lines, count(*) AS persons
                FROM q GROUP BY ALL ORDER BY ALL"""
        ).to_arrow_table()
    finally:
        con.close()


def _person_sequences_sql(lines: pa.Table, strata: pa.Table, regimens: pa.Table, /, *, max_lines: int) -> pa.Table:
    """:func:`person_sequences` in SQL (lines with a null ``person_id``, and the twin the tests compare with)."""
    from oncoline.analytics._duckdb import connect_one_thread

    kinds = SEQUENCE_STRATA
    con = connect_one_thread()
    try:
        con.register("lines_in", lines.select(["person_id", "line", "regimen"]))
        con.register("strata_in", strata)
        con.register("regimens_in", regimens.select(["regimen", "label"]))
        stratum_cols = ", ".join(f"coalesce(s.{k}, 'unknown') AS {k}" for k in kinds)
        return con.execute(
            f"""WITH l AS (
                  SELECT CAST(x.person_id AS VARCHAR) AS person_id, CAST(x.line AS INTEGER) AS line, r.label,
                         {stratum_cols}
                  FROM lines_in x JOIN regimens_in r USING (regimen)
                  LEFT JOIN strata_in s ON s.person_id = CAST(x.person_id AS VARCHAR)
                  WHERE x.line <= {int(max_lines)}),
                p AS (
                  SELECT person_id, {", ".join(f"any_value({k}) AS {k}" for k in kinds)},
                         list(label ORDER BY line) AS seq, CAST(max(line) AS INTEGER) AS n_lines
                  FROM l GROUP BY person_id)
                SELECT {", ".join(kinds)}, seq, n_lines, count(*) AS persons
                FROM p GROUP BY ALL ORDER BY ALL"""
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
    if max_lines < 1:
        raise ValueError(f"max_lines must be at least 1, got {max_lines}")
    regimens = regimen_labels(lines, top_regimens=top_regimens)
    sequences = person_sequences(lines, strata, regimens, max_lines=max_lines)
    return pathway_tables(sequences, regimens, max_lines=max_lines)


def pathway_tables(sequences: pa.Table, regimens: pa.Table, /, *, max_lines: int) -> PathwayTables:
    """The pathway tables from grouped sequences (:func:`person_sequences`, or the same table from Spark).

    Parameters
    ----------
    sequences
        One row per distinct (strata, sequence) with its ``persons``.
    regimens
        :func:`regimen_labels_from_counts` (returned as the ``regimens`` table).
    max_lines
        Lines per pathway (≥ 1; the sequences hold at most this many).

    Returns
    -------
    PathwayTables
        Raw counts (not yet suppressed).

    Raises
    ------
    ValueError
        When ``max_lines`` < 1.
    """
    from oncoline.analytics._duckdb import connect_one_thread

    if max_lines < 1:
        raise ValueError(f"max_lines must be at least 1, got {max_lines}")
    kinds = SEQUENCE_STRATA
    con = connect_one_thread()
    try:
        con.register("seqs", sequences.select([*kinds, "seq", "n_lines", "persons"]))
        # one row per (stratum kind, sequence) with its persons (plus 'all')
        unions = " UNION ALL ".join(
            ["SELECT 'all' AS stratum_kind, 'all' AS stratum, seq, n_lines, persons FROM seqs"]
            + [f"SELECT '{k}', {k}, seq, n_lines, persons FROM seqs" for k in kinds]
        )
        con.execute(f"CREATE TEMP TABLE ps AS {unions}")
        order = "CASE stratum_kind " + " ".join(f"WHEN '{k}' THEN {i}" for i, k in enumerate(STRATA)) + " END"
        n = "CAST(sum(persons) AS BIGINT)"
        path_tbl = con.execute(
            f"""SELECT stratum_kind, stratum, array_to_string(seq, '{ARROW}') AS pathway,
                       CAST(any_value(n_lines) AS INTEGER) AS n_lines, {n} AS persons,
                       sum(persons) / sum(sum(persons)) OVER (PARTITION BY stratum_kind, stratum) AS share
                FROM ps GROUP BY stratum_kind, stratum, seq
                ORDER BY {order}, stratum, persons DESC, pathway"""
        ).to_arrow_table()
        steps = con.execute(
            f"""WITH d AS (
                  SELECT stratum_kind, stratum, CAST(k AS INTEGER) AS depth,
                         CASE WHEN k <= len(seq) THEN array_to_string(seq[1:k], '{ARROW}')
                              ELSE array_to_string(seq, '{ARROW}') || '{ARROW}{END}' END AS id,
                         CASE WHEN k = 1 THEN '' ELSE array_to_string(seq[1:k-1], '{ARROW}') END AS parent,
                         CASE WHEN k <= len(seq) THEN seq[k] ELSE '{END}' END AS regimen, persons
                  FROM ps, range(1, {int(max_lines) + 1}) t(k)
                  WHERE k <= len(seq) + 1 AND k <= {int(max_lines)})
                SELECT stratum_kind, stratum, depth, id, parent, regimen, {n} AS persons
                FROM d GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY {order}, stratum, depth, parent, persons DESC, id"""
        ).to_arrow_table()
        transitions = con.execute(
            f"""WITH d AS (
                  SELECT stratum_kind, stratum, CAST(k AS INTEGER) AS line, seq[k] AS from_regimen,
                         CASE WHEN k + 1 <= len(seq) THEN seq[k + 1] ELSE '{END}' END AS to_regimen, persons
                  FROM ps, range(1, {int(max_lines)}) t(k) WHERE k <= len(seq))
                SELECT stratum_kind, stratum, line, from_regimen, to_regimen, {n} AS persons
                FROM d GROUP BY 1, 2, 3, 4, 5 ORDER BY {order}, stratum, line, from_regimen, persons DESC, to_regimen"""
        ).to_arrow_table()
        line_regimens = con.execute(
            f"""WITH d AS (
                  SELECT stratum_kind, stratum, CAST(k AS INTEGER) AS line, seq[k] AS regimen, persons
                  FROM ps, range(1, {int(max_lines) + 1}) t(k) WHERE k <= len(seq))
                SELECT stratum_kind, stratum, line, regimen, {n} AS persons,
                       sum(persons) / sum(sum(persons)) OVER (PARTITION BY stratum_kind, stratum, line) AS share
                FROM d GROUP BY 1, 2, 3, 4 ORDER BY {order}, stratum, line, persons DESC, regimen"""
        ).to_arrow_table()
    finally:
        con.close()
    return PathwayTables(
        regimens=regimens, pathways=path_tbl, steps=steps, transitions=transitions, line_regimens=line_regimens
    )
