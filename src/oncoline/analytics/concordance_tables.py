"""The concordance tables of the cohort report from counts, and the driver-side judgement of distinct states.

:mod:`oncoline.analytics.concordance` (its own module, with its fast paths) judges every line of an in-memory
lines table. The report needs only counts of the judged lines — per line and category, per index year and
category, per category and reason, and each line's category for the time-to-next-treatment curves — so it works
on one aggregate, :func:`concordance_counts`, whichever engine made it. A lines table too big for memory (the
Spark path) is reduced to its distinct patient states there, the states are judged here on the driver
(:func:`judge_states`, the one call into the concordance module's :class:`~oncoline.analytics.concordance.Judge`),
and the judgements are joined back as counts.

A state is the key :func:`oncoline.analytics.concordance.concordance` memoises on: the knowledge period of the
line's start (``period``: index into ``Judge.dates``, −1 before the first), ``her2``, ``hr`` (lower-case index
values, earliest index date first), ``prior_key`` (the earlier lines as sorted ``drugs_key#stop`` joined with
``;``, ``stop`` = ``toxicity`` or empty) and ``drugs_key`` (the line's sorted drugs joined with ``|``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from oncoline.analytics.concordance import Judge, LineState

__all__ = [
    "REASON_TOP_REGIMENS",
    "STATE_COLUMNS",
    "concordance_counts",
    "concordance_tables",
    "count_distinct_states",
    "distinct_states",
    "judge_states",
    "person_status",
]

STATE_COLUMNS = ("period", "her2", "hr", "prior_key", "drugs_key")
"""Columns of a distinct patient state (see the module docstring)."""


def person_status(index: pa.Table, /) -> pa.Table:
    """HER2 and HR status per person as the concordance reads them: ``person_id`` (text), ``her2``, ``hr``
    (lower-case text or null; the row with the earliest index date when a person has several)."""
    from oncoline.analytics._duckdb import connect_one_thread

    cols = set(index.column_names)

    def opt(name: str) -> str:
        return (
            f"arg_min(lower(CAST({name} AS VARCHAR)), "
            "coalesce(TRY_CAST(metastatic_diagnosis AS DATE), DATE '9999-12-31'))"
            if name in cols
            else "CAST(NULL AS VARCHAR)"
        )

    con = connect_one_thread()
    try:
        con.register("idx", index)
        return con.execute(
            f"""SELECT CAST(person_id AS VARCHAR) AS person_id, {opt("her2_status")} AS her2,
                       {opt("hr_status")} AS hr
                FROM idx GROUP BY 1 ORDER BY 1"""
        ).to_arrow_table()
    finally:
        con.close()


def judge_states(
    judge: Judge, states: pa.Table, /, *, on_progress: Callable[[int, int], None] | None = None
) -> pa.Table:
    """Judge each distinct patient state (:data:`STATE_COLUMNS`) once, on this process.

    Parameters
    ----------
    judge
        :class:`oncoline.analytics.concordance.Judge` (memoised by canonical state).
    states
        One row per distinct state.
    on_progress
        Called with ``(states judged, states)`` every 500 states.

    Returns
    -------
    pyarrow.Table
        ``states`` plus ``category`` and ``reason``.
    """
    import pyarrow as pa

    rows = states.select(list(STATE_COLUMNS)).to_pylist()
    category: list[str] = []
    reason: list[str] = []
    for i, row in enumerate(rows, start=1):
        state = _line_state(judge, row)
        j = judge.judge(state, tuple(row["drugs_key"].split("|")))
        category.append(j.category.value)
        reason.append(j.reason)
        if on_progress is not None and i % 500 == 0:
            on_progress(i, len(rows))
    return states.append_column("category", pa.array(category, pa.string())).append_column(
        "reason", pa.array(reason, pa.string())
    )


def _line_state(judge: Judge, row: dict[str, Any]) -> LineState:
    """The :class:`~oncoline.analytics.concordance.LineState` of one state row (as ``concordance`` builds it)."""
    from oncoline.analytics.concordance import LineState

    prior: list[tuple[tuple[str, ...], str | None]] = []
    if row["prior_key"]:
        for item in row["prior_key"].split(";"):
            d, _, s = item.rpartition("#")
            prior.append((tuple(d.split("|")), s or None))
    p = int(row["period"])
    return LineState(  # the judge names its periods (the first day, or its marker for "before all")
        period_start=judge.period_start(judge.dates[p] if p >= 0 else dt.date.min),
        her2_status=row["her2"],
        hr_status=row["hr"],
        prior=tuple(prior),
    )


def count_distinct_states(judge: Judge, states: pa.Table, /) -> int:
    """The distinct patient states judged: the rows of ``states`` (:data:`STATE_COLUMNS`) reduced to their knowledge
    period and canonical state (:func:`oncoline.analytics.concordance.canonical_state`, what the judge memoises
    on), counted. The report counts states, not the judge's recommender calls: those depend on how it works (worker
    processes each with their own memo repeat some; reusing an answer across periods saves some) and would differ
    between engines for the same lines."""
    from oncoline.analytics.concordance import canonical_state

    rows = states.select(["period", "her2", "hr", "prior_key"]).to_pylist()
    return len({canonical_state(_line_state(judge, r)) for r in rows})


def distinct_states(lines: pa.Table, status: pa.Table, judge: Judge, /) -> pa.Table:
    """The distinct patient states (:data:`STATE_COLUMNS`) of an in-memory lines table, keyed as
    :func:`oncoline.analytics.concordance.concordance` keys them (the Spark path computes the same in Spark).

    Parameters
    ----------
    lines
        ``person_id``, ``line``, ``drugs``, ``start_date``, ``end_reason`` (one row per person and line).
    status
        :func:`person_status` of the index.
    judge
        Its ``dates`` bound the knowledge periods.
    """
    from oncoline.analytics._duckdb import connect_one_thread

    bounds = ", ".join(f"DATE '{d.isoformat()}'" for d in judge.dates)
    period = f"len(list_filter([{bounds}], d -> d <= l.start_date)) - 1" if judge.dates else "-1"
    con = connect_one_thread()
    try:
        con.register("lines_in", lines.select(["person_id", "line", "drugs", "start_date", "end_reason"]))
        con.register("status_in", status)
        return con.execute(
            f"""WITH l AS (SELECT CAST(person_id AS VARCHAR) AS person_id, CAST(line AS INTEGER) AS line,
                                  array_to_string(list_sort(drugs), '|') AS drugs_key, start_date,
                                  CASE end_reason WHEN 'toxicity' THEN 'toxicity' ELSE '' END AS stop
                           FROM lines_in)
                SELECT DISTINCT CAST({period} AS INTEGER) AS period, s.her2, s.hr,
                       coalesce(array_to_string(list_sort(list(l.drugs_key || '#' || l.stop) OVER (
                           PARTITION BY l.person_id ORDER BY l.line
                           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)), ';'), '') AS prior_key,
                       l.drugs_key
                FROM l LEFT JOIN status_in s USING (person_id)"""
        ).to_arrow_table()
    finally:
        con.close()


def concordance_counts(judged: pa.Table, strata: pa.Table, /) -> pa.Table:
    """Judged lines counted: one row per (``line`` int32, ``index_year``, ``category``, ``reason``, ``regimen``)
    with ``lines``.

    Parameters
    ----------
    judged
        One row per line: ``person_id``, ``line``, ``regimen``, ``category``, ``reason``
        (:func:`oncoline.analytics.concordance.concordance`).
    strata
        :func:`oncoline.analytics.strata.person_strata` (``index_year``; ``unknown`` without a row).
    """
    from oncoline.analytics._duckdb import connect_one_thread

    con = connect_one_thread()
    try:
        con.register("j", judged.select(["person_id", "line", "category", "reason", "regimen"]))
        con.register("s", strata.select(["person_id", "index_year"]))
        return con.execute(
            """SELECT CAST(j.line AS INTEGER) AS line, coalesce(s.index_year, 'unknown') AS index_year, j.category,
                      j.reason, CAST(j.regimen AS VARCHAR) AS regimen, count(*) AS lines
               FROM j LEFT JOIN s ON s.person_id = CAST(j.person_id AS VARCHAR)
               GROUP BY ALL ORDER BY ALL"""
        ).to_arrow_table()
    finally:
        con.close()


def concordance_tables(counts: pa.Table, /, *, min_cell: int) -> dict[str, pa.Table]:
    """The suppressed concordance tables from :func:`concordance_counts` (from any engine).

    Returns
    -------
    dict of pyarrow.Table
        ``concordance_by_line`` (``line``, ``category``, ``lines``, ``share`` of the line's lines),
        ``concordance_by_year`` (``index_year``, ``category``, ``lines``, ``share``) and ``concordance_reasons``
        (``line``, ``category``, ``reason``, ``lines``; not concordant and not assessable only; suppressed within
        each line and category, whose total ``concordance_by_line`` shows; ``top_regimens``: the
        :data:`REASON_TOP_REGIMENS` regimens most often behind the reason, as text ``regimen (lines)``) and
        ``concordance_reason_regimens`` (``line``, ``category``, ``reason``, ``rank``, ``regimen``, ``lines``: those
        regimens, suppressed within each reason before the top ones are taken), each with ``lines_shown``.
    """
    import pyarrow as pa

    from oncoline.analytics._duckdb import connect_one_thread
    from oncoline.analytics.suppression import suppress

    con = connect_one_thread()
    try:
        con.register("c", counts)
        n = "CAST(sum(lines) AS BIGINT)"
        by_line = con.execute(
            f"""SELECT line, category, {n} AS lines,
                      sum(lines) / sum(sum(lines)) OVER (PARTITION BY line) AS share
               FROM c GROUP BY 1, 2 ORDER BY line, category"""
        ).to_arrow_table()
        by_year = con.execute(
            f"""SELECT index_year, category, {n} AS lines,
                      sum(lines) / sum(sum(lines)) OVER (PARTITION BY index_year) AS share
               FROM c GROUP BY 1, 2 ORDER BY index_year, category"""
        ).to_arrow_table()
        reasons = con.execute(
            f"""SELECT line, category, reason, {n} AS lines FROM c
               WHERE category IN ('not_concordant', 'not_assessable') GROUP BY 1, 2, 3
               ORDER BY line, category, lines DESC, reason"""
        ).to_arrow_table()
        behind = con.execute(
            f"""SELECT line, category, reason, regimen, {n} AS lines FROM c
               WHERE category IN ('not_concordant', 'not_assessable') GROUP BY 1, 2, 3, 4
               ORDER BY line, category, reason, lines DESC, regimen"""
        ).to_arrow_table()
    finally:
        con.close()
    reasons = suppress(reasons, counts=["lines"], min_cell=min_cell, group_by=["line", "category"])
    behind = suppress(behind, counts=["lines"], min_cell=min_cell, group_by=["line", "category", "reason"])
    behind = _hide_with_reason(behind, reasons, min_cell)
    top = _top_regimens(behind)
    text = {
        key: "; ".join(f"{r['regimen']} ({r['lines_shown']})" for r in rows) for key, rows in _by_reason(top).items()
    }
    reasons = reasons.append_column(
        "top_regimens",
        pa.array(
            [text.get((r["line"], r["category"], r["reason"]), "") for r in reasons.to_pylist()],
            pa.string(),
        ),
    )
    return {
        "concordance_by_line": suppress(
            by_line, counts=["lines"], min_cell=min_cell, group_by=["line"], shares={"share": "lines"}
        ),
        "concordance_by_year": suppress(
            by_year, counts=["lines"], min_cell=min_cell, group_by=["index_year"], shares={"share": "lines"}
        ),
        "concordance_reasons": reasons,
        "concordance_reason_regimens": top,
    }


def _hide_with_reason(behind: pa.Table, reasons: pa.Table, min_cell: int) -> pa.Table:
    """Every regimen cell of a hidden reason hidden too: the regimens of a reason add up to it, so a shown one
    would give the hidden reason (and, by subtraction from its category, its small partner) away. Such a cell
    reads ``"<5"`` when it is small, else :data:`~oncoline.analytics.suppression.SUPPRESSED_TEXT` (no range)."""
    import pyarrow as pa

    from oncoline.analytics.suppression import SUPPRESSED_TEXT

    hidden = {(r["line"], r["category"], r["reason"]) for r in reasons.to_pylist() if r["lines"] is None}
    if not hidden:
        return behind
    raw = behind.to_pylist()
    values: list[int | None] = []
    texts: list[str] = []
    for r in raw:
        if (r["line"], r["category"], r["reason"]) not in hidden:
            values.append(r["lines"])
            texts.append(r["lines_shown"])
            continue
        small = r["lines_shown"] == f"<{min_cell}"
        values.append(None)
        texts.append(r["lines_shown"] if small else SUPPRESSED_TEXT)
    out = behind.set_column(behind.column_names.index("lines"), "lines", pa.array(values, pa.int64()))
    return out.set_column(out.column_names.index("lines_shown"), "lines_shown", pa.array(texts, pa.string()))


REASON_TOP_REGIMENS = 3
"""Regimens named behind each concordance reason (the most frequent ones)."""


def _top_regimens(behind: pa.Table) -> pa.Table:
    """The :data:`REASON_TOP_REGIMENS` most frequent regimens of each (line, category, reason), from the suppressed
    table: shown counts first (largest first), hidden ones after (their order would tell their size), by name."""
    import pyarrow as pa

    rows = behind.to_pylist()
    rows.sort(
        key=lambda r: (r["line"], r["category"], r["reason"], r["lines"] is None, -(r["lines"] or 0), r["regimen"])
    )
    out: list[dict[str, object]] = []
    for rows_of in _by_reason(rows).values():
        for rank, r in enumerate(rows_of[:REASON_TOP_REGIMENS], start=1):
            out.append({**r, "rank": rank})
    schema = pa.schema(
        [
            ("line", pa.int32()),
            ("category", pa.string()),
            ("reason", pa.string()),
            ("rank", pa.int32()),
            ("regimen", pa.string()),
            ("lines", pa.int64()),
            ("lines_shown", pa.string()),
        ]
    )
    return pa.Table.from_pylist(out, schema=schema)


def _by_reason(rows: pa.Table | list[dict[str, Any]]) -> dict[tuple[Any, Any, Any], list[dict[str, Any]]]:
    out: dict[tuple[Any, Any, Any], list[dict[str, Any]]] = {}
    for r in rows if isinstance(rows, list) else rows.to_pylist():
        out.setdefault((r["line"], r["category"], r["reason"]), []).append(r)
    return out
