"""`oncoline omop …` and `oncoline lines --omop` on a DuckDB CDM made by `oncoline omop init --demo`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from oncoline.app.omop import omop_cut_off
from oncoline.cli import omop
from oncoline.cli.app import app as main_app


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """test root"""

    omop.register(app)
    return app


@pytest.fixture()
def demo(tmp_path: Path) -> str:
    url = str(tmp_path / "cdm.duckdb")
    res = CliRunner().invoke(_app(), ["omop", "init", url, "--demo", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert "episode" in out["created_tables"] and out["loaded_rows"]["person"] == 3
    return url


def test_omop_lines_writes_table_and_episodes(demo: str, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "lines.parquet"
    res = runner.invoke(
        _app(), ["omop", "lines", demo, "--as-of", "2024-06-30", "--out", str(out), "--write-episodes", "--json"]
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["lines"] == 5 and summary["episodes"]["n_episodes"] == 5
    assert summary["read"]["unmapped"] == {"XYZ-123 investigational": 1}
    assert pq.read_table(out).num_rows == 5
    res = runner.invoke(_app(), ["omop", "episodes", demo, "--json"])
    assert res.exit_code == 0, res.output
    back = json.loads(res.output)
    assert [(r["person_id"], r["line"]) for r in back["rows"]] == [
        ("1001", 1),
        ("1001", 2),
        ("1001", 3),
        ("1002", 1),
        ("1002", 2),
    ]
    assert back["events"] == sum(r["n_events"] for r in back["rows"])


def test_omop_read_reports_and_writes_tables(demo: str, tmp_path: Path) -> None:
    exp, idx = tmp_path / "exposures.csv", tmp_path / "index.parquet"
    res = CliRunner().invoke(_app(), ["omop", "read", demo, "--exposures", str(exp), "--index", str(idx), "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert report["n_end_before_start"] == 1 and report["n_duplicate_exposures"] == 1
    header = exp.read_text().splitlines()[0].replace('"', "")
    assert header == "person_id,exposure_id,drug,start_date,end_date,stopped"
    assert pq.read_table(idx).num_rows == 3


def test_omop_errors_exit_with_documented_codes(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(_app(), ["omop", "lines", str(tmp_path / "absent.duckdb")])
    assert res.exit_code == 1 and "oncoline omop init" in res.output
    res = runner.invoke(_app(), ["omop", "lines", "postgresql://u@127.0.0.1:1/x"])
    assert res.exit_code == 4


def test_lines_command_reads_omop(demo: str, tmp_path: Path) -> None:
    out = tmp_path / "lines.csv"
    res = CliRunner().invoke(main_app, ["lines", "--omop", demo, "--out", str(out), "--as-of", "2024-06-30", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["lines"] == 5


def test_omop_commands_print_a_readable_summary_by_default(demo: str) -> None:
    res = CliRunner().invoke(_app(), ["omop", "read", demo])
    assert res.exit_code == 0, res.output
    assert "OMOP cohort read from" in res.output and "unmapped" in res.output
    assert not res.output.lstrip().startswith("{")


def test_omop_lines_cut_off_is_the_latest_observation_period_end(demo: str) -> None:
    res = CliRunner().invoke(_app(), ["omop", "lines", demo, "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert (summary["as_of"], summary["as_of_source"]) == ("2024-06-30", "observation_period_end")
    given = json.loads(CliRunner().invoke(_app(), ["omop", "lines", demo, "--as-of", "2024-06-30", "--json"]).output)
    assert given["line_rows"] == summary["line_rows"] and given["as_of_source"] == "option"
    readable = " ".join(CliRunner().invoke(_app(), ["omop", "lines", demo], env={"COLUMNS": "200"}).output.split())
    assert "data cut-off: 2024-06-30 (latest observation_period_end_date in the data; give --as-of to set it)" in (
        readable
    )


def test_omop_cut_off_falls_back_to_drug_exposure_dates_and_is_not_per_person(demo: str, tmp_path: Path) -> None:
    import duckdb

    with duckdb.connect(demo) as con:
        con.execute("DELETE FROM observation_period")
        # person 1003 (no metastatic diagnosis) holds the latest drug_exposure date of the CDM
        con.execute(
            "UPDATE drug_exposure SET drug_exposure_start_date = DATE '2026-01-05', "
            "drug_exposure_end_date = DATE '2026-01-05' WHERE person_id = 1003"
        )
    cut = omop_cut_off(demo, today=dt.date(2026, 6, 1))
    assert (cut.as_of, cut.source) == (dt.date(2026, 1, 5), "latest_drug_exposure")
    assert omop_cut_off(demo, today=dt.date(2025, 1, 1)).as_of == dt.date(2025, 1, 1)  # never after today
    summary = json.loads(CliRunner().invoke(_app(), ["omop", "lines", demo, "--json"]).output)
    assert (summary["as_of"], summary["as_of_source"]) == ("2026-01-05", "latest_drug_exposure")
    # the other persons' lines, stopped by mid-2024, are closed at the cohort cut-off: no episode is ongoing
    assert {r["close_rule"] for r in summary["line_rows"]} & {"ongoing"} == set()
    res = CliRunner().invoke(main_app, ["lines", "--omop", demo, "--out", str(tmp_path / "l.csv"), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["as_of"] == "2026-01-05"
