"""HER2 scope of the cohort report: HER2-negative persons of the index are left out and counted; unknown kept."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from oncoline.analytics.attrition import HER2_ANALYSED, HER2_NEGATIVE, HER2_UNKNOWN, PATHWAY_COHORT


def her2_mixed_index(index: pa.Table, *, negative: int, unknown: int) -> tuple[pa.Table, list[str], list[str]]:
    """``index`` with the first ``negative`` persons HER2-negative and the next ``unknown`` without a status."""
    ids = sorted(set(pc.cast(index.column("person_id"), pa.string()).to_pylist()))
    neg, unk = ids[:negative], ids[negative : negative + unknown]
    status = [
        "negative" if p in neg else (None if p in unk else s)
        for p, s in zip(
            pc.cast(index.column("person_id"), pa.string()).to_pylist(),
            index.column("her2_status").to_pylist(),
            strict=True,
        )
    ]
    pos = index.column_names.index("her2_status")
    return index.set_column(pos, "her2_status", pa.array(status, pa.string())), neg, unk


def test_her2_negative_persons_are_left_out_with_an_attrition_row() -> None:
    """The new user's finding: HER2-negative persons of the index went into every table of a HER2-positive
    report with no attrition step."""
    from oncoline.app.cohort_report import ReportInputs, ReportOptions, build_cohort_report
    from oncoline.engines.lines.params import load_line_params
    from tests.analytics.cohort import AS_OF, small_cohort

    exposures, index, lines = small_cohort(8_000, 3)
    index, neg, _unk = her2_mixed_index(index, negative=7, unknown=6)
    line_ids = pc.cast(lines.column("person_id"), pa.string())
    neg_lines = int(pc.sum(pc.is_in(line_ids, value_set=pa.array(neg))).as_py())
    analysed_with_lines = len(set(line_ids.to_pylist()) - set(neg))
    assert neg_lines > 0
    result = build_cohort_report(
        ReportInputs(
            lines=lines,
            index=index,
            as_of=AS_OF,
            as_of_note="test",
            params=load_line_params(),
            source="test",
            exposures=exposures,
        ),
        options=ReportOptions(min_cell=3, gap_days=(120,), regimen_window_days=(28,)),
    )
    t = result.tables
    attrition = {r["description"]: r["count"] for r in t["attrition"].to_pylist()}
    assert attrition[HER2_NEGATIVE] == 7
    assert attrition[HER2_UNKNOWN] == 6
    assert attrition["HER2-positive in the index"] == index.num_rows - 13
    assert attrition["their lines: left out"] == neg_lines
    assert attrition["persons analysed (HER2-positive or unknown)"] == index.num_rows - 7
    assert attrition[PATHWAY_COHORT] == analysed_with_lines
    assert attrition["lines of therapy"] == lines.num_rows - neg_lines
    whole = [r["persons"] for r in t["pathways"].to_pylist() if r["stratum_kind"] == "all"]
    assert sum(v or 0 for v in whole) <= analysed_with_lines
    key = ("tot", "line", "1")
    km1 = [r for r in t["km_summary"].to_pylist() if (r["endpoint"], r["group_kind"], r["group"]) == key]
    assert km1[0]["n"] == analysed_with_lines
    default = [r for r in t["sensitivity"].to_pylist() if r["is_default"]]
    assert default[0]["persons"] == analysed_with_lines  # the grid is of the persons analysed too
    # unknown HER2: kept, and concordance says not assessable for the missing status
    reasons = {(r["category"], r["reason"]): r["lines"] for r in t["concordance_reasons"].to_pylist()}
    assert ("not_assessable", "her2_status") in reasons
    assert not any(r == "not_her2_positive" for _, r in reasons)


def test_small_her2_counts_cannot_be_recovered_from_the_attrition() -> None:
    """Property over the HER2 counts: from the attrition's shown counts (and the persons analysed, which the next
    partition adds up to anyway) no HER2-negative or unknown count of 1 to ``min_cell - 1`` can be derived."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from oncoline.analytics.aggregates import Her2Counts
    from oncoline.analytics.attrition import attrition_table

    @settings(deadline=None, max_examples=60)
    @given(st.integers(0, 30), st.integers(0, 12), st.integers(0, 12), st.integers(2, 6))
    def check(pos: int, neg: int, unk: int, mc: int) -> None:
        n = pos + neg + unk
        table = attrition_table(
            rows_report=None,
            n_index=n,
            persons_with_lines=pos + unk,
            n_lines=2 * (pos + unk),
            refused={},
            states_judged=0,
            outside=(0, 0),
            min_cell=mc,
            her2=Her2Counts(positive=pos, negative=neg, unknown=unk),
        )
        shown = {r["description"]: r["count"] for r in table.to_pylist()}
        if 0 < neg < mc:
            assert shown[HER2_NEGATIVE] is None
            assert shown["persons in the index"] is None  # else index - analysed = the small count
        if 0 < unk < mc:
            assert shown[HER2_UNKNOWN] is None
            # the persons analysed are known (no metastatic line + pathway cohort): analysed - positive = unknown
            assert shown["HER2-positive in the index"] in (None, 0)
            if pos == 0:  # zero is shown; the analysed total is then itself small, and hidden
                assert shown[HER2_ANALYSED] is None

    check()
