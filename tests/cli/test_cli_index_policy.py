"""One index policy for ``oncoline lines`` and ``oncoline cohort report`` (new-user report, SEVERE 4 and 5).

The same index file was accepted by ``lines`` (exit 0, an empty or partial cohort, a duplicated person's earliest
date kept without a word) and refused by ``cohort report``. Each case below runs the same file through both
commands: both exit 1 and name the file, the field and the fix.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from oncoline.cli.app import app

runner = CliRunner()

EXPOSURES = (
    "person_id,drug,start_date,end_date,exposure_id\n"
    "1,pertuzumab,2022-04-01,,a1\n"
    "1,trastuzumab,2022-04-01,,a2\n"
    "1,docetaxel,2022-04-01,,a3\n"
    "1,trastuzumab deruxtecan,2023-01-10,,a4\n"
    "2,capecitabine,2022-06-01,2022-09-01,b1\n"
    "2,lapatinib,2022-06-01,2022-09-01,b2\n"
    "3,trastuzumab emtansine,2022-08-01,,c1\n"
)
GOOD_INDEX = "person_id,metastatic_diagnosis\n1,2022-03-17\n2,2022-05-20\n3,2022-07-01\n"

BAD_INDEXES = {
    # every date in US format: lines counted index_bad_dates and wrote an empty cohort (exit 0)
    "us_dates": (
        "person_id,metastatic_diagnosis\n1,03/17/2022\n2,05/20/2022\n3,07/01/2022\n",
        ["metastatic_diagnosis", "'03/17/2022'", "YYYY-MM-DD", "every row"],
    ),
    # one unreadable date: its person silently lost every line (no_index_date)
    "one_bad_date": (
        "person_id,metastatic_diagnosis\n1,2022-03-17\n2,20/05/2022\n3,2022-07-01\n",
        ["metastatic_diagnosis", "row 2", "'20/05/2022'", "YYYY-MM-DD", "1 of 3 rows"],
    ),
    # a header and no rows: lines wrote an empty table (exit 0)
    "empty": ("person_id,metastatic_diagnosis\n", ["person_id", "no persons"]),
    # a person twice with two dates: lines kept the earliest without saying so
    "conflicting_duplicate": (
        "person_id,metastatic_diagnosis\n1,2022-03-17\n2,2023-01-01\n3,2022-07-01\n2,2022-04-20\n",
        ["person_id", "'2' on rows 2, 4", "'2023-01-01', '2022-04-20'", "different metastatic_diagnosis"],
    ),
    # the same row twice: refused too (one row per person), saying to drop the repeat
    "repeated_row": (
        "person_id,metastatic_diagnosis\n1,2022-03-17\n2,2022-05-20\n2,2022-05-20\n3,2022-07-01\n",
        ["person_id", "'2' on rows 2, 3", "drop the repeated rows"],
    ),
    # ids written with leading zeros: lines said "6 persons, 0 lines" (exit 0)
    "ids_do_not_match": (
        "person_id,metastatic_diagnosis\n001,2022-03-17\n002,2022-05-20\n003,2022-07-01\n",
        ["person_id", "'001'", "'1'", "leading zeros", "exposures.csv"],
    ),
}


def _files(tmp_path: Path, index_text: str) -> tuple[Path, Path, Path]:
    """(exposures, the index under test, a lines table derived with a good index)."""
    exposures = tmp_path / "exposures.csv"
    exposures.write_text(EXPOSURES, encoding="utf-8")
    good = tmp_path / "good_index.csv"
    good.write_text(GOOD_INDEX, encoding="utf-8")
    lines = tmp_path / "lines.parquet"
    made = runner.invoke(
        app, ["lines", str(exposures), "--index", str(good), "--out", str(lines), "--engine", "reference"]
    )
    assert made.exit_code == 0, made.output
    index = tmp_path / "idx.csv"
    index.write_text(index_text, encoding="utf-8")
    return exposures, index, lines


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("case", sorted(BAD_INDEXES))
@pytest.mark.parametrize("engine", ["reference", "duckdb"])
def test_lines_refuses_the_index_naming_file_and_field(tmp_path: Path, case: str, engine: str) -> None:
    if engine == "duckdb":
        pytest.importorskip("oncoline.engines.lines.duckdb_engine")
    index_text, expected = BAD_INDEXES[case]
    exposures, index, _lines = _files(tmp_path, index_text)
    out = tmp_path / "out.csv"
    res = runner.invoke(
        app,
        ["lines", str(exposures), "--index", str(index), "--out", str(out), "--engine", engine],
        env={"COLUMNS": "300"},
    )
    text = _flat(res.output)
    assert res.exit_code == 1, res.output
    assert "idx.csv" in text and all(part in text for part in expected), text
    assert not out.exists()  # no empty or partial table for a pipeline to go on with


@pytest.mark.parametrize("case", sorted(BAD_INDEXES))
def test_cohort_report_refuses_the_same_index_with_the_same_words(tmp_path: Path, case: str) -> None:
    index_text, expected = BAD_INDEXES[case]
    exposures, index, lines = _files(tmp_path, index_text)
    res = runner.invoke(
        app,
        [
            "cohort",
            "report",
            str(lines),
            "--index",
            str(index),
            "--exposures",
            str(exposures),
            "--out",
            str(tmp_path / "report"),
            "--as-of",
            "2024-01-01",
            "--no-concordance",
        ],
        env={"COLUMNS": "300"},
    )
    text = _flat(res.output)
    assert res.exit_code == 1, res.output
    assert "idx.csv" in text and all(part in text for part in expected), text


def test_a_date_with_a_time_part_is_read_alike_by_both(tmp_path: Path) -> None:
    """The engines read ``2022-03-17 00:00:00`` as its date; the report refused it. Both now accept it."""
    index_text = "person_id,metastatic_diagnosis\n1,2022-03-17 00:00:00\n2,2022-05-20\n3,\n"
    exposures, index, _lines = _files(tmp_path, index_text)
    lines = tmp_path / "lines2.parquet"
    res = runner.invoke(app, ["lines", str(exposures), "--index", str(index), "--out", str(lines), "--json"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        app,
        [
            "cohort",
            "report",
            str(lines),
            "--index",
            str(index),
            "--out",
            str(tmp_path / "report"),
            "--as-of",
            "2024-01-01",
            "--no-concordance",
            "--min-cell",
            "1",
        ],
    )
    assert res.exit_code == 0, res.output
