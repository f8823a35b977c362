"""The cohort report's aggregates: every table of the report is computed from these counts alone.

A lines table becomes a handful of small tables — lines per regimen, each person's regimen sequence grouped and
counted, every line's durations grouped and counted, the judged lines counted — and a few totals
(:class:`CohortAggregates`). :func:`report_tables` turns them into the report's suppressed tables. The in-memory
path (:func:`aggregate_lines`, DuckDB) and the Spark path (:mod:`oncoline.analytics.spark_aggregates`, for lines
tables that do not fit in memory) produce the same aggregates, so the same report.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

    from oncoline.analytics.concordance import Judge, PendingConcordance

__all__ = [
    "CohortAggregates",
    "Her2Counts",
    "aggregate_lines",
    "count_persons",
    "her2_scope",
    "lines_in_index",
    "report_tables",
]

Step = Callable[[str, float, float], None]
"""``step(description, done, total)`` progress within one aggregation step."""


@dataclass(frozen=True)
class Her2Counts:
    """Persons of the index by their ``her2_status`` (the report is about HER2-positive metastatic breast cancer).

    Attributes
    ----------
    positive
        ``her2_status`` positive: analysed.
    negative
        ``her2_status`` negative: left out of every table (an attrition row counts them and their lines).
    unknown
        ``her2_status`` empty, ``equivocal`` or the column absent: analysed, counted in their own attrition row
        (their lines' concordance is not assessable).
    negative_lines
        (persons, lines) of the lines table belonging to HER2-negative persons: left out.
    """

    positive: int = 0
    negative: int = 0
    unknown: int = 0
    negative_lines: tuple[int, int] = (0, 0)


def her2_scope(index: pa.Table, /) -> tuple[pa.Table, Her2Counts]:
    """The index of the persons analysed (every person whose index ``her2_status`` is not negative) and the
    persons counted by status.

    Parameters
    ----------
    index
        The validated cohort index (one row per person; optional ``her2_status``: positive | negative |
        equivocal | null).

    Returns
    -------
    tuple
        ``(analysed index, counts)``; ``counts.negative_lines`` is (0, 0) here (the engines fill it).

    Examples
    --------
    >>> import pyarrow as pa
    >>> kept, c = her2_scope(pa.table({"person_id": [1, 2, 3], "her2_status": ["positive", "negative", None]}))
    >>> kept.column("person_id").to_pylist(), (c.positive, c.negative, c.unknown)
    ([1, 3], (1, 1, 1))
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    n = index.num_rows
    if "her2_status" not in index.column_names:
        return index, Her2Counts(unknown=n)
    status = pc.utf8_lower(pc.utf8_trim_whitespace(pc.cast(index.column("her2_status"), pa.string())))
    negative = pc.fill_null(pc.equal(status, "negative"), False)
    n_neg = int(pc.sum(negative).as_py() or 0)
    n_pos = int(pc.sum(pc.fill_null(pc.equal(status, "positive"), False)).as_py() or 0)
    kept = index.filter(pc.invert(negative)) if n_neg else index
    return kept, Her2Counts(positive=n_pos, negative=n_neg, unknown=n - n_pos - n_neg)


@dataclass(frozen=True)
class CohortAggregates:
    """Counts the report is built from (no row per person or line).

    Attributes
    ----------
    regimens
        :func:`oncoline.analytics.pathways.regimen_labels_from_counts`: ``regimen``, ``lines``, ``rank``, ``label``.
    sequences
        :func:`oncoline.analytics.pathways.person_sequences`.
    durations
        :func:`oncoline.analytics.survival.duration_counts` (``category`` filled when judged).
    concordance
        :func:`oncoline.analytics.concordance_tables.concordance_counts`, when judged.
    n_index
        Distinct persons in the index (all of them, HER2-negative included).
    persons_with_lines, n_lines
        Persons with ≥ 1 line and lines, of the persons analysed (in the index, not HER2-negative).
    outside
        (persons, lines) of the lines table without an index row.
    states_judged
        Distinct patient states judged for the concordance (knowledge period and canonical state;
        :func:`oncoline.analytics.concordance_tables.count_distinct_states`) — the same on every engine, however
        many recommender calls the judge needed for them.
    """

    regimens: pa.Table
    sequences: pa.Table
    durations: pa.Table
    concordance: pa.Table | None
    n_index: int
    persons_with_lines: int
    n_lines: int
    outside: tuple[int, int]
    states_judged: int = 0
    her2: Her2Counts = Her2Counts()
    """Persons by index HER2 status; HER2-negative persons and their lines are left out (:func:`her2_scope`)."""


def count_persons(table: pa.Table, /) -> int:
    """Distinct ``person_id`` values of ``table`` (0 for no rows)."""
    import pyarrow.compute as pc

    return int(pc.count_distinct(table.column("person_id")).as_py()) if table.num_rows else 0


def lines_in_index(lines: pa.Table, index: pa.Table, /) -> tuple[pa.Table, tuple[int, int]]:
    """The lines of persons in the index, and (persons, lines) left out because their person has no index row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if lines.num_rows == 0:
        return lines, (0, 0)
    ids = pc.cast(lines.column("person_id"), pa.string())
    known = pc.is_in(ids, value_set=pc.unique(pc.cast(index.column("person_id"), pa.string())))
    if pc.all(known).as_py():
        return lines, (0, 0)
    out = pc.invert(known)
    persons = int(pc.count_distinct(pc.filter(ids, out)).as_py())
    return lines.filter(known), (persons, int(pc.sum(out).as_py() or 0))


def aggregate_lines(
    lines: pa.Table,
    index: pa.Table,
    /,
    *,
    as_of: dt.date,
    max_lines: int,
    top_regimens: int,
    judge: Judge | None = None,
    step: Step | None = None,
    started: PendingConcordance | None = None,
) -> CohortAggregates:
    """The aggregates of an in-memory lines table (DuckDB).

    Parameters
    ----------
    lines
        The lines table of ``oncoline lines``; lines of persons without an index row, or HER2-negative in the
        index, are left out and counted.
    index
        The validated cohort index.
    as_of
        The data cut-off (censoring).
    max_lines, top_regimens
        Lines per pathway; regimens named (the rest: "other regimens").
    judge
        Judge every line's concordance with it (:func:`oncoline.analytics.concordance.concordance`); None: no
        concordance.
    step
        Progress: ``step(description, done, total)`` as each part finishes (the states judged within the
        concordance part).
    started
        The concordance already under way (:func:`oncoline.analytics.concordance.start_concordance` on the lines of
        ``lines`` of the persons analysed — :func:`lines_in_index` on :func:`her2_scope`'s index — with ``judge``):
        its result is used instead of judging here, so the judging could overlap other work. None: judged here when
        ``judge`` is given.

    Returns
    -------
    CohortAggregates
    """
    from oncoline.analytics.concordance_tables import (
        concordance_counts,
        count_distinct_states,
        distinct_states,
        person_status,
    )
    from oncoline.analytics.pathways import person_sequences, regimen_counts, regimen_labels_from_counts
    from oncoline.analytics.strata import person_strata
    from oncoline.analytics.survival import duration_counts

    def tick(what: str, done: float, total: float) -> None:
        if step is not None:
            step(what, done, total)

    kept, outside = lines_in_index(lines, index)
    analysed, her2 = her2_scope(index)
    kept, negative_lines = lines_in_index(kept, analysed)
    her2 = dataclasses.replace(her2, negative_lines=negative_lines)
    tick("strata and pathways", 0, 3)
    strata = person_strata(analysed)
    regimens = regimen_labels_from_counts(regimen_counts(kept), top_regimens=top_regimens)
    sequences = person_sequences(kept, strata, regimens, max_lines=max_lines)
    categories = None
    conc = None
    calls = 0
    if judge is not None:
        from oncoline.analytics.concordance import concordance

        tick("guideline concordance (recommender as of each line start)", 1, 3)

        def judged_states(k: int, total: int) -> None:
            tick(f"guideline concordance: {k:,}/{total:,} distinct states", 1 + k / max(total, 1), 3)

        if started is not None:
            judged = started.result(judged_states)
            calls = started.states()
        else:
            judged = concordance(kept, analysed, judge=judge, on_progress=judged_states)
            calls = count_distinct_states(judge, distinct_states(kept, person_status(analysed), judge))
        conc = concordance_counts(judged, strata)
        categories = judged.select(["person_id", "line", "category"])
    tick("durations (time on treatment, time to next treatment)", 2, 3)
    durations = duration_counts(kept, as_of=as_of, regimens=regimens, max_lines=max_lines, categories=categories)
    tick("aggregates ready", 3, 3)
    return CohortAggregates(
        regimens=regimens,
        sequences=sequences,
        durations=durations,
        concordance=conc,
        n_index=count_persons(index),
        persons_with_lines=count_persons(kept),
        n_lines=kept.num_rows,
        outside=outside,
        states_judged=calls,
        her2=her2,
    )


def report_tables(
    agg: CohortAggregates,
    /,
    *,
    min_cell: int,
    max_lines: int,
    at_risk_months: tuple[int, ...],
) -> tuple[dict[str, pa.Table], Counter[str]]:
    """The report's suppressed tables from its aggregates (every table but ``attrition`` and the sensitivity
    grid's), in report order, and the durations refused per endpoint (for the attrition).

    Returns
    -------
    tuple
        ``(tables, refused)``: ``regimens``, ``pathways``, ``pathway_steps``, ``pathway_transitions``,
        ``line_regimens``, the concordance tables when judged, ``km_summary``, ``km_curves``, ``km_at_risk``.
    """
    from oncoline.analytics.concordance_tables import concordance_tables
    from oncoline.analytics.pathways import pathway_tables
    from oncoline.analytics.suppression import suppress
    from oncoline.analytics.survival import km_tables

    mc = min_cell
    paths = pathway_tables(agg.sequences, agg.regimens, max_lines=max_lines)
    tables: dict[str, pa.Table] = {
        "regimens": suppress(paths.regimens, counts=["lines"], min_cell=mc),
        "pathways": suppress(
            paths.pathways,
            counts=["persons"],
            min_cell=mc,
            group_by=["stratum_kind", "stratum"],
            shares={"share": "persons"},
        ),
        "pathway_steps": suppress(
            paths.steps, counts=["persons"], min_cell=mc, group_by=["stratum_kind", "stratum", "parent"]
        ),
        "pathway_transitions": suppress(
            paths.transitions,
            counts=["persons"],
            min_cell=mc,
            group_by=["stratum_kind", "stratum", "line", "from_regimen"],
        ),
        "line_regimens": suppress(
            paths.line_regimens,
            counts=["persons"],
            min_cell=mc,
            group_by=["stratum_kind", "stratum", "line"],
            shares={"share": "persons"},
        ),
    }
    if agg.concordance is not None:
        tables.update(concordance_tables(agg.concordance, min_cell=mc))
    km, refused = km_tables(
        agg.durations,
        min_cell=mc,
        max_lines=max_lines,
        labels=list(dict.fromkeys(agg.regimens.column("label").to_pylist())),
        at_risk_months=at_risk_months,
        by_category=agg.concordance is not None,
    )
    tables.update(km)
    return tables, refused
