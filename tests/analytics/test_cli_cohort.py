"""``oncoline cohort report`` as a user runs it: the demo OMOP CDM and files; bad input exits 1 naming the fix."""

from __future__ import annotations

from pathlib import Path

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
    assert res.exit_code == 1 and "--omop" in res.output
