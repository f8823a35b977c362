"""The attrition table of the cohort report: exposure rows, persons and lines in and out at every step, with why.

Built from counts only (whichever engine counted them), suppressed before it is returned.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

    from oncoline.analytics.aggregates import Her2Counts
    from oncoline.engines.lines.cohort import CohortReport

__all__ = ["HER2_ANALYSED", "HER2_NEGATIVE", "HER2_UNKNOWN", "PATHWAY_COHORT", "attrition_table"]

HER2_NEGATIVE = "HER2-negative in the index: left out of every table"
"""The attrition step counting the persons left out because the report is about HER2-positive disease."""

HER2_ANALYSED = "persons analysed (HER2-positive or unknown)"
"""The attrition step of the persons every table is about (the index less the HER2-negative persons)."""

HER2_UNKNOWN = "HER2 status unknown or equivocal in the index: kept (their concordance is not assessable)"
"""The attrition step counting the persons analysed without a positive HER2 status in the index."""

PATHWAY_COHORT = "at least one metastatic line (the pathway cohort)"
"""The attrition step holding the persons with at least one line (the total the pathways add up to)."""


def attrition_table(
    *,
    rows_report: CohortReport | None,
    n_index: int,
    persons_with_lines: int,
    n_lines: int,
    refused: Mapping[str, int],
    states_judged: int,
    outside: tuple[int, int],
    min_cell: int,
    her2: Her2Counts | None = None,
) -> pa.Table:
    """One row per attrition step, suppressed within each partition.

    Parameters
    ----------
    rows_report
        The line engine's report of the exposure rows (rows read, left out by reason, used), when known.
    n_index
        Distinct persons in the index.
    persons_with_lines, n_lines
        Persons with ≥ 1 line and lines, of persons in the index.
    refused
        Durations refused per ``"<endpoint>:<reason>"`` (:func:`oncoline.analytics.survival.km_tables`).
    states_judged
        Distinct patient states judged (0: no concordance;
        :func:`oncoline.analytics.concordance_tables.count_distinct_states`).
    outside
        (persons, lines) of the lines table without an index row (left out).
    min_cell
        The minimum cell count.
    her2
        Persons of the index by HER2 status and the lines of the HER2-negative ones
        (:func:`oncoline.analytics.aggregates.her2_scope`); None: every person of the index is analysed.

    Returns
    -------
    pyarrow.Table
        ``step`` (int32), ``unit`` (exposure rows / persons / lines / …), ``partition`` (rows that add up to the
        step above), ``description``, ``count`` (nullable int64) and ``count_shown``.
    """
    import pyarrow as pa

    from oncoline.analytics.suppression import suppress

    rows: list[tuple[int, str, str, str, int]] = []  # step, unit, group, description, count

    def add(unit: str, group: str, text: str, count: int) -> None:
        rows.append((len(rows) + 1, unit, group, text, count))

    if rows_report is not None:  # the exposure-row report of `oncoline lines` (or of the same preparation here)
        add("exposure rows", "", "exposure rows read", rows_report.rows_in)
        for reason, count in rows_report.excluded.items():
            add("exposure rows", "rows", f"left out: {reason.replace('_', ' ')}", count)
        add("exposure rows", "rows", "used in a line", rows_report.rows_used)
    add("persons", "", "persons in the index", n_index)
    analysed = n_index
    if her2 is not None:
        # two partitions, each suppressed on its own: the index = HER2-negative + analysed, and the analysed =
        # positive + unknown (the analysed total is also the sum of the next partition, so it is never secret)
        analysed = n_index - her2.negative
        add("persons", "her2", HER2_NEGATIVE, her2.negative)
        add("persons", "her2", HER2_ANALYSED, analysed)
        if her2.negative_lines[1]:
            add("HER2-negative", "lines", "their lines: left out", her2.negative_lines[1])
        add("persons analysed", "her2 status", "HER2-positive in the index", her2.positive)
        add("persons analysed", "her2 status", HER2_UNKNOWN, her2.unknown)
    add(
        "persons",
        "persons",
        "no metastatic line (no anticancer exposure in the metastatic setting)",
        max(analysed - persons_with_lines, 0),
    )
    add("persons", "persons", PATHWAY_COHORT, persons_with_lines)
    if outside[0]:
        add("not in the index", "persons", "persons in the lines table without an index row: left out", outside[0])
        add("not in the index", "lines", "their lines: left out", outside[1])
    add("lines", "", "lines of therapy", n_lines)
    for endpoint, text in (("tot", "time on treatment"), ("ttnt", "time to next treatment")):
        bad = refused.get(f"{endpoint}:nonpositive_duration", 0)
        add("lines", endpoint, f"{text}: refused, duration ≤ 0 days (nonpositive_duration)", bad)
        add("lines", endpoint, f"{text}: fitted", n_lines - bad)
    if states_judged:
        add(
            "states",
            "",
            "guideline concordance: distinct patient states judged (knowledge period and state, each judged once)",
            states_judged,
        )
    table = pa.table(
        {
            "step": pa.array([r[0] for r in rows], pa.int32()),
            "unit": pa.array([r[1] for r in rows], pa.string()),
            "partition": pa.array([r[2] for r in rows], pa.string()),
            "description": pa.array([r[3] for r in rows], pa.string()),
            "count": pa.array([r[4] for r in rows], pa.int64()),
        }
    )
    out = suppress(table, counts=["count"], min_cell=min_cell, group_by=["unit", "partition"])
    if her2 is not None and 0 < her2.negative < min_cell:
        # the persons analysed add up from the next partition: the index total minus them would give the small
        # HER2-negative count away
        from oncoline.analytics.suppression import COMPLEMENTARY_TEXT

        pos = [r[3] for r in rows].index("persons in the index")
        counts = out.column("count").to_pylist()
        texts = out.column("count_shown").to_pylist()
        counts[pos], texts[pos] = None, COMPLEMENTARY_TEXT
        out = out.set_column(out.column_names.index("count"), "count", pa.array(counts, pa.int64()))
        out = out.set_column(out.column_names.index("count_shown"), "count_shown", pa.array(texts, pa.string()))
    return out
