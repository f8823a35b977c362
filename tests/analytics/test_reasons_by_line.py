"""Concordance reasons split by line, with the regimens most often behind each (suppressed)."""

from __future__ import annotations

import pyarrow as pa

from oncoline.analytics.suppression import COMPLEMENTARY_TEXT


def _counts() -> pa.Table:
    rows = [
        (1, "2021", "concordant_preferred", None, "THP", 300),
        (1, "2021", "not_concordant", "not_an_option", "A", 40),
        (1, "2022", "not_concordant", "not_an_option", "B", 30),
        (1, "2021", "not_concordant", "not_an_option", "C", 10),
        (1, "2021", "not_concordant", "not_an_option", "D", 2),
        (2, "2021", "not_concordant", "not_an_option", "A", 7),
        (2, "2021", "not_concordant", "progressed_on", "X", 20),
        (2, "2022", "not_concordant", "progressed_on", "X", 5),
        (3, "2021", "not_assessable", "her2_status", "X", 6),
        (3, "2021", "not_assessable", "hr_status", "Y", 2),
    ]
    keys = ("line", "index_year", "category", "reason", "regimen", "lines")
    return pa.Table.from_pylist(
        [dict(zip(keys, r, strict=True)) for r in rows],
        schema=pa.schema(
            [
                ("line", pa.int32()),
                ("index_year", pa.string()),
                ("category", pa.string()),
                ("reason", pa.string()),
                ("regimen", pa.string()),
                ("lines", pa.int64()),
            ]
        ),
    )


def test_reasons_are_split_by_line_and_name_their_regimens() -> None:
    """The new user's "not_an_option 35,610" for the whole cohort could not be read: now one row per line, and
    the regimens behind it (a small regimen count stays hidden, its complementary partner says so)."""
    from oncoline.analytics.concordance_tables import concordance_tables

    tables = concordance_tables(_counts(), min_cell=5)
    reasons = {(r["line"], r["reason"]): r for r in tables["concordance_reasons"].to_pylist()}
    assert set(reasons) == {
        (1, "not_an_option"),
        (2, "not_an_option"),
        (2, "progressed_on"),
        (3, "her2_status"),
        (3, "hr_status"),
    }
    assert reasons[1, "not_an_option"]["lines"] == 82
    assert reasons[1, "not_an_option"]["top_regimens"] == f"A (40); B (30); C ({COMPLEMENTARY_TEXT})"
    assert reasons[2, "progressed_on"]["top_regimens"] == "X (25)"
    top = [r for r in tables["concordance_reason_regimens"].to_pylist() if r["line"] == 1]
    assert [(r["rank"], r["regimen"], r["lines"]) for r in top] == [(1, "A", 40), (2, "B", 30), (3, "C", None)]
    assert all(r["regimen"] != "D" for r in top)  # the hidden small cell is not named by rank


def test_regimens_of_a_hidden_reason_are_hidden() -> None:
    """Line 3's not-assessable reasons are 6 and 2 (both hidden: "suppressed"); the single regimen behind the 6
    showed "X (6)", giving the reason away and, by subtraction from the category total, the 2."""
    from oncoline.analytics.concordance_tables import concordance_tables
    from oncoline.analytics.suppression import SUPPRESSED_TEXT

    tables = concordance_tables(_counts(), min_cell=5)
    line3 = [r for r in tables["concordance_reasons"].to_pylist() if r["line"] == 3]
    assert all(r["lines"] is None for r in line3)
    behind = [r for r in tables["concordance_reason_regimens"].to_pylist() if r["line"] == 3]
    assert {(r["regimen"], r["lines"], r["lines_shown"]) for r in behind} == {
        ("X", None, SUPPRESSED_TEXT),
        ("Y", None, "<5"),
    }
    assert "(6)" not in " ".join(r["top_regimens"] for r in line3)
