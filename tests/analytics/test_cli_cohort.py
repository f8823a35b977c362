"""``oncoline cohort report`` as a user runs it: the demo OMOP CDM and files; bad input exits 1 naming the fix."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from typer.testing import CliRunner

from oncoline.cli.app import app


def test_report_from_demo_omop(tmp_path: Path) -> None:
    runner = CliRunner()
    cdm = tmp_path / "cdm.duckdb"
    assert runner.invoke(app, ["omop", "init", str(cdm), "--demo"]).exit_code == 0
    out = tmp_path / "report"
    res = runner.invoke(app, ["cohort", "report", "--omop", str(cdm), "--out", str(out), "--min-cell", "1"])
    assert res.exit_code == 0, res.output
    assert "report.html" in res.output and "data cut-off" in res.output
    assert (out / "report.html").stat().st_size > 1_000_000  # plotly.js embedded
    for name in ("attrition", "pathways", "km_summary", "concordance_by_line", "sensitivity"):
        assert (out / f"{name}.parquet").is_file() and (out / f"{name}.csv").is_file()


def test_report_from_files_and_errors(tmp_path: Path) -> None:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from tests.analytics.cohort import small_cohort

    _exposures, index, lines = small_cohort(8_000, 3)
    pq.write_table(lines, tmp_path / "lines.parquet")
    pq.write_table(index, tmp_path / "index.parquet")
    pacsv.write_csv(index, tmp_path / "index.csv")  # a CSV index holds its dates as text (found by the new-user run)
    runner = CliRunner()
    args = ["cohort", "report", str(tmp_path / "lines.parquet"), "--index", str(tmp_path / "index.csv")]
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "r"), "--as-of", "2026-06-30"])
    assert res.exit_code == 0, res.output
    assert "Sensitivity" in res.output  # no exposures: the grid is named as skipped, with the fix
    res = runner.invoke(
        app,
        [
            "cohort",
            "report",
            str(tmp_path / "index.parquet"),
            "--index",
            str(tmp_path / "index.parquet"),
            "--out",
            str(tmp_path / "x"),
        ],
    )
    assert res.exit_code == 1 and "not a lines table" in res.output
    res = runner.invoke(app, ["cohort", "report", "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "--omop" in res.output  # a missing argument is a usage error (README: exit 2)
    res = runner.invoke(app, ["cohort", "report", str(tmp_path / "lines.parquet"), "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "--index" in res.output
    # a `;` CSV lines table was refused as "no person_id"; it is read like a `;` index or exposure table
    pacsv.write_csv(
        lines.set_column(
            lines.column_names.index("drugs"),
            "drugs",
            pa.array([" + ".join(d) for d in lines.column("drugs").to_pylist()]),
        ),
        tmp_path / "lines_semi.csv",
        pacsv.WriteOptions(delimiter=";"),
    )
    semi = ["cohort", "report", str(tmp_path / "lines_semi.csv"), "--index", str(tmp_path / "index.csv")]
    res = runner.invoke(app, [*semi, "--out", str(tmp_path / "s"), "--as-of", "2026-06-30", "--no-concordance"])
    assert res.exit_code == 0, res.output


def test_lines_outside_the_index_are_left_out_and_counted(tmp_path: Path) -> None:
    """An index with part of the cohort: the other persons' lines were fitted and reported (0 in the index but 300
    with a line); now they are left out and counted, and an empty index is an input error naming the file."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from tests.analytics.cohort import small_cohort

    _exposures, index, lines = small_cohort(8_000, 3)
    pq.write_table(lines, tmp_path / "lines.parquet")
    ids = sorted({str(p) for p in lines.column("person_id").to_pylist()})
    kept = set(ids[: len(ids) // 2])
    part = index.filter(
        pa.compute.is_in(pa.compute.cast(index.column("person_id"), pa.string()), pa.array(sorted(kept), pa.string()))
    )
    pacsv.write_csv(part, tmp_path / "part.csv")
    pacsv.write_csv(index.slice(0, 0), tmp_path / "empty.csv")
    runner = CliRunner()
    base = ["cohort", "report", str(tmp_path / "lines.parquet"), "--as-of", "2026-06-30", "--no-concordance"]
    res = runner.invoke(
        app, [*base, "--index", str(tmp_path / "part.csv"), "--out", str(tmp_path / "r"), "--min-cell", "1"]
    )
    assert res.exit_code == 0, res.output
    attrition = {r["description"]: r["count"] for r in pq.read_table(tmp_path / "r" / "attrition.parquet").to_pylist()}
    left_out = len(ids) - len(kept)
    assert attrition["persons in the lines table without an index row: left out"] == left_out
    assert attrition["at least one metastatic line (the pathway cohort)"] == len(kept)
    assert attrition["their lines: left out"] + attrition["lines of therapy"] == lines.num_rows
    res = runner.invoke(app, [*base, "--index", str(tmp_path / "empty.csv"), "--out", str(tmp_path / "e")])
    assert res.exit_code == 1 and "empty.csv" in res.output and "no persons" in res.output


def test_out_dir_with_old_files_is_tidied_and_reported(tmp_path: Path) -> None:
    """--out with an earlier run's tables: a table this run does not write was left stale beside the new ones,
    without a word. Now the files an earlier run recorded in its manifest are removed and named; other files are
    kept and named, even with a report table's name (nu-analyst2: a user's own sensitivity.csv was deleted)."""
    import pyarrow.parquet as pq

    from tests.analytics.cohort import small_cohort

    _exposures, index, lines = small_cohort(8_000, 3)
    pq.write_table(lines, tmp_path / "lines.parquet")
    pq.write_table(index, tmp_path / "index.parquet")
    out = tmp_path / "r"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    (out / "concordance_reasons.csv").write_text("mine too")  # a report table's name, but no run wrote it
    args = ["cohort", "report", str(tmp_path / "lines.parquet"), "--index", str(tmp_path / "index.parquet")]
    res = CliRunner().invoke(app, [*args, "--out", str(out), "--as-of", "2026-06-30"])  # with concordance
    assert res.exit_code == 0, res.output
    assert (out / "concordance_by_line.csv").is_file()
    res = CliRunner().invoke(app, [*args, "--out", str(out), "--as-of", "2026-06-30", "--no-concordance"])
    assert res.exit_code == 0, res.output
    assert not (out / "concordance_by_line.csv").exists()
    assert (out / "keep.txt").read_text() == "mine"
    assert "concordance_by_line.csv" in res.output and "keep.txt" in res.output


def test_cut_off_defaulted_to_today_is_a_loud_warning(tmp_path: Path) -> None:
    """The new user's generated data ran to 2044; the report cut at today and said so only in the header's
    cut-off line. Now a warning names the latest date, on stderr (before and after the work) and at the top of
    the page."""
    import datetime as dt

    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from tests.analytics.cohort import small_cohort

    _exposures, index, lines = small_cohort(8_000, 3)
    far = dt.date(2044, 3, 1)
    ends = pc.if_else(pc.equal(pa.array(range(lines.num_rows)), 0), pa.scalar(far), lines.column("end_date"))
    lines = lines.set_column(lines.column_names.index("end_date"), "end_date", ends.cast(pa.date32()))
    pq.write_table(lines, tmp_path / "lines.parquet")
    pq.write_table(index, tmp_path / "index.parquet")
    args = ["cohort", "report", str(tmp_path / "lines.parquet"), "--index", str(tmp_path / "index.parquet")]
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "r"), "--no-concordance", "--no-sensitivity"])
    assert res.exit_code == 0, res.output
    assert res.stderr.count("Warning — data cut-off") == 2 and "2044-03-01" in res.stderr
    html = (tmp_path / "r" / "report.html").read_text()
    assert 'id="cut-off-warning"' in html and "2044-03-01" in html
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "s"), "--as-of", "2026-06-30", "--no-concordance"])
    assert res.exit_code == 0 and "Warning — data cut-off" not in res.output
    assert 'id="cut-off-warning"' not in (tmp_path / "s" / "report.html").read_text()


def test_engine_spark_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    """--engine spark reads a Parquet lines table only; the exposure table and a CDM are refused with the fix,
    before Spark starts."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from tests.analytics.cohort import small_cohort

    exposures, index, lines = small_cohort(8_000, 3)
    pq.write_table(lines, tmp_path / "lines.parquet")
    pq.write_table(index, tmp_path / "index.parquet")
    pq.write_table(exposures, tmp_path / "exposures.parquet")
    pacsv.write_csv(lines.drop(["drugs"]), tmp_path / "lines.csv")
    base = ["cohort", "report", "--index", str(tmp_path / "index.parquet"), "--out", str(tmp_path / "r")]
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            *base,
            str(tmp_path / "lines.parquet"),
            "--engine",
            "spark",
            "--exposures",
            str(tmp_path / "exposures.parquet"),
        ],
    )
    assert res.exit_code == 2 and "--engine duckdb" in res.output, res.output
    res = runner.invoke(app, [*base, str(tmp_path / "lines.csv"), "--engine", "spark"])
    assert res.exit_code == 1 and "Parquet" in res.output and "lines.csv" in res.output, res.output
    res = runner.invoke(
        app, ["cohort", "report", "--omop", "x.duckdb", "--out", str(tmp_path / "r"), "--engine", "spark"]
    )
    assert res.exit_code == 2 and "oncoline lines --omop" in res.output, res.output
    res = runner.invoke(app, [*base, str(tmp_path / "lines.parquet"), "--engine", "polars"])
    assert res.exit_code == 2 and "duckdb or spark" in res.output, res.output


def test_terminal_summary_does_not_call_a_suppressed_median_not_reached() -> None:
    """A 2L median hidden for resting on fewer than --min-cell events must not be printed as "not reached"."""
    import io
    from types import SimpleNamespace

    import pyarrow as pa
    from rich.console import Console

    from oncoline.cli.cohort import _summary

    km = pa.Table.from_pylist(
        [
            {"endpoint": "ttnt", "group_kind": "line", "group": "1", "median_months": 15.4, "n_shown": "90"}
            | {"median_months_shown": "15.4"},
            {"endpoint": "ttnt", "group_kind": "line", "group": "2", "median_months": None, "n_shown": "12"}
            | {"median_months_shown": "suppressed (<5 events)"},
        ]
    )
    attrition = pa.Table.from_pylist([{"description": "lines of therapy", "count_shown": "100"}])
    result = SimpleNamespace(
        tables={"attrition": attrition, "km_summary": km}, as_of="2026-06-30", as_of_note="t", states_judged=0, notes=()
    )
    out = io.StringIO()
    _summary(Console(file=out, width=200), result, [Path("r/report.html")])
    text = out.getvalue()
    assert "line 2 median time to next treatment: suppressed (<5 events)" in text
    assert "line 1 median time to next treatment: 15.4 months" in text


def test_the_progress_bar_runs_only_on_a_terminal() -> None:
    """A bar is never drawn to a file or a pipe (transient): its redraw thread would only take CPU from the report."""
    import io

    from rich.console import Console

    from oncoline.cli.cohort import _progress

    piped = _progress(Console(file=io.StringIO()))
    with piped as step:
        step("reading", 0, 1)
        assert not piped.progress.live.is_started
    shown = _progress(Console(file=io.StringIO(), force_terminal=True))
    with shown as step:
        step("reading", 0, 1)
        assert shown.progress.live.is_started
        assert shown.progress.tasks[0].description == "reading"
    assert not shown.progress.live.is_started


def test_the_summary_is_not_cut_at_80_columns_in_a_file(tmp_path: Path) -> None:
    """A new analyst's finding: the summary written to a file wrapped at 80 columns (the `lines` summary does not)."""
    runner = CliRunner()
    cdm = tmp_path / "cdm.duckdb"
    assert runner.invoke(app, ["omop", "init", str(cdm), "--demo"]).exit_code == 0
    out = tmp_path / "a-directory-name-long-enough-to-pass-eighty-columns" / "report"
    out.parent.mkdir()
    res = runner.invoke(app, ["cohort", "report", "--omop", str(cdm), "--out", str(out), "--min-cell", "1"])
    assert res.exit_code == 0, res.output
    first = next(line for line in res.stdout.splitlines() if line.startswith("cohort report →"))
    assert "data cut-off" in first, res.stdout  # one line, not wrapped
