"""``oncoline lines``: one patient (JSON contract of FORMAT.md, readable table), cohorts, errors."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from oncoline.app.lines import CutOff, parse_params
from oncoline.cli.app import app
from oncoline.errors import InputError

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]

EVENTS = {
    "metastatic_diagnosis": "2024-01-05",
    "exposures": [
        {"drug": "Phesgo", "start": "2024-01-15"},
        {"drug": "docetaxel", "start": "2024-01-15", "stopped": "progression"},
        {"drug": "Zometa", "start": "2024-01-15"},
        {"drug": "Enhertu", "start": "2024-03-01"},
    ],
}


def write(tmp_path: Path, doc: Any, name: str = "events.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_single_patient_json(tmp_path: Path) -> None:
    result = runner.invoke(app, ["lines", str(write(tmp_path, EVENTS)), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert [(ln["line"], ln["drugs"], ln["start"], ln["end"]) for ln in out["lines"]] == [
        (1, ["docetaxel", "pertuzumab", "trastuzumab"], "2024-01-15", "2024-01-15"),
        (2, ["trastuzumab deruxtecan"], "2024-03-01", "2024-03-01"),
    ]
    first = out["lines"][0]
    assert (first["close_rule"], first["end_reason"], first["time_to_next_treatment_days"]) == (
        "documented_progression",
        "progression",
        46,
    )
    assert out["excluded"] == {"supportive": 1}
    assert out["assignments"] == {"0": 1, "1": 1, "3": 2}


def test_single_patient_table_and_overrides(tmp_path: Path) -> None:
    doc = {
        "metastatic_diagnosis": "2024-01-01",
        "exposures": [{"drug": "eribulin", "start": "2024-01-10"}, {"drug": "eribulin", "start": "2024-05-01"}],
    }
    path = write(tmp_path, doc)
    result = runner.invoke(app, ["lines", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "eribulin" in result.stdout and "first_exposure" in result.stdout
    one = json.loads(runner.invoke(app, ["lines", str(path), "--json"]).stdout)
    two = json.loads(runner.invoke(app, ["lines", str(path), "--json", "--param", "gap_days=90"]).stdout)
    assert (len(one["lines"]), len(two["lines"])) == (1, 2)
    cut = json.loads(runner.invoke(app, ["lines", str(path), "--json", "--as-of", "2024-02-01"]).stdout)
    assert cut["excluded"] == {"after_cutoff": 1} and cut["as_of"] == "2024-02-01"


@pytest.mark.parametrize(
    ("doc", "args", "code", "text"),
    [
        ({**EVENTS, "exposures": [{"drug": "Enhertuu", "start": "2024-03-01"}]}, [], 1, "Did you mean"),
        (
            {**EVENTS, "exposures": [{"drug": "eribulin", "start": "2024-03-01", "end": "2024-02-01"}]},
            [],
            1,
            "exposures[0]",
        ),
        (EVENTS, ["--param", "gap=3"], 2, "unknown line-of-therapy parameter"),  # a bad option value: usage
        (EVENTS, ["--param", "gap_days"], 2, "NAME=VALUE"),
        (EVENTS, ["--as-of", "soon"], 2, "YYYY-MM-DD"),
        (EVENTS, ["--out", "x.parquet"], 2, "cohorts"),
        (EVENTS, ["--engine", "duckdb"], 2, "add --json"),
    ],
)
def test_single_patient_errors(tmp_path: Path, doc: Any, args: list[str], code: int, text: str) -> None:
    result = runner.invoke(app, ["lines", str(write(tmp_path, doc)), *args])
    assert result.exit_code == code
    assert text in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_single_patient_gives_the_same_output_on_every_engine(tmp_path: Path, case_path: Any) -> None:
    cases = [d for d in yaml.safe_load_all(case_path("lines/her2-lines.yaml").read_text()) if d]
    for case in cases:
        path = write(tmp_path, case["events"])
        reference = json.loads(runner.invoke(app, ["lines", str(path), "--json"]).stdout)
        on_duckdb = json.loads(runner.invoke(app, ["lines", str(path), "--json", "--engine", "duckdb"]).stdout)
        assert reference["lines"], case["id"]
        # identical, but for the wording of the examples (the cohort engine also names the person)
        assert on_duckdb.pop("examples").keys() == reference.pop("examples").keys(), case["id"]
        assert on_duckdb == reference, case["id"]


def test_partitions_apply_to_cohorts_only(tmp_path: Path) -> None:
    result = runner.invoke(app, ["lines", str(write(tmp_path, EVENTS)), "--partitions", "2"])
    assert result.exit_code == 2 and "apply to cohorts" in " ".join(result.output.split())


def test_parse_params() -> None:
    assert parse_params(["gap_days=90", "regimen_window_days=21"]) == {"gap_days": 90, "regimen_window_days": 21}
    for bad in ("=3", "version=x", "gap_days=abc"):
        with pytest.raises(InputError) as info:
            parse_params([bad])
        assert info.value.field == "--param"


def _cohort_files(tmp_path: Path) -> tuple[Path, Path]:
    exposures = tmp_path / "exposures.csv"
    exposures.write_text(
        "person_id,drug,start_date,end_date,exposure_id\n"
        "A,pertuzumab,2024-01-10,,a1\n"
        "A,trastuzumab,2024-01-10,,a2\n"
        "A,docetaxel,2024-01-10,,a3\n"
        "A,Enhertu,2024-09-01,,a4\n"
        "A,foo-mab,2024-09-01,,a5\n"
        "B,capecitabine,2024-02-01,2024-05-01,b1\n"
        "B,lapatinib,2024-02-10,2024-05-01,b2\n"
        "B,ondansetron,2024-02-01,,b3\n"
        "C,letrozole,2024-02-01,,c1\n",
        encoding="utf-8",
    )
    index = tmp_path / "index.csv"
    index.write_text("person_id,metastatic_diagnosis\nA,2024-01-01\nB,2024-01-20\n", encoding="utf-8")
    return exposures, index


@pytest.mark.parametrize("engine", ["reference", "duckdb"])
def test_cohort_to_parquet_with_summary(tmp_path: Path, engine: str) -> None:
    if engine == "duckdb":
        pytest.importorskip("oncoline.engines.lines.duckdb_engine")
    exposures, index = _cohort_files(tmp_path)
    out, rows = tmp_path / "lines.parquet", tmp_path / "rows.csv"
    args = ["lines", str(exposures), "--index", str(index), "--out", str(out), "--assignments", str(rows)]
    result = runner.invoke(app, [*args, "--engine", engine, "--as-of", "2025-01-01", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["persons"] == 3 and summary["lines"] == 3 and summary["persons_with_lines"] == 2
    assert summary["lines_per_person"] == {"0": 1, "1": 1, "2": 1}
    assert summary["excluded"] == {"unknown_drug": 1, "supportive": 1, "no_index_date": 1}
    assert summary["unknown_drugs"] == {"foo-mab": 1} and summary["persons_without_index"] == 1
    lines = pq.read_table(out).to_pylist()
    assert [(r["person_id"], r["line"], r["regimen"]) for r in lines] == [
        ("A", 1, "docetaxel + pertuzumab + trastuzumab"),
        ("A", 2, "trastuzumab deruxtecan"),
        ("B", 1, "capecitabine + lapatinib"),
    ]
    assert rows.read_text(encoding="utf-8").splitlines()[0] == '"person_id","exposure_id","line"'
    table = runner.invoke(app, [*args, "--engine", engine], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "rows ignored and why" in table.stdout and "foo-mab" in table.stdout


def test_cohort_engines_write_identical_tables(tmp_path: Path) -> None:
    pytest.importorskip("oncoline.engines.lines.duckdb_engine")
    exposures, index = _cohort_files(tmp_path)
    outs = {}
    for engine in ("reference", "duckdb"):
        outs[engine] = tmp_path / f"{engine}.parquet"
        args = ["lines", str(exposures), "--index", str(index), "--out", str(outs[engine]), "--engine", engine]
        assert runner.invoke(app, args).exit_code == 0
    assert pq.read_table(outs["reference"]).equals(pq.read_table(outs["duckdb"]))


@pytest.mark.parametrize("engine", ["reference", "duckdb"])
def test_cohort_in_partitions_writes_the_same_tables(tmp_path: Path, engine: str) -> None:
    exposures, index = _cohort_files(tmp_path)
    outs: dict[str, dict[str, Any]] = {}
    for mode, extra in (("whole", []), ("parts", ["--partitions", "3"])):
        out, rows = tmp_path / f"{mode}.parquet", tmp_path / f"{mode}-rows.csv"
        args = ["lines", str(exposures), "--index", str(index), "--out", str(out), "--assignments", str(rows)]
        result = runner.invoke(app, [*args, "--engine", engine, "--as-of", "2025-01-01", "--json", *extra])
        assert result.exit_code == 0, result.output
        outs[mode] = {"summary": json.loads(result.stdout), "lines": pq.read_table(out), "rows": rows.read_text()}
    assert outs["parts"]["summary"].pop("partitions") == 3
    for key in ("out", "assignments"):
        outs["parts"]["summary"].pop(key), outs["whole"]["summary"].pop(key)
    assert outs["parts"]["summary"] == outs["whole"]["summary"]
    assert outs["parts"]["lines"].equals(outs["whole"]["lines"]) and outs["parts"]["rows"] == outs["whole"]["rows"]
    table = runner.invoke(
        app,
        ["lines", str(exposures), "--index", str(index), "--out", str(tmp_path / "t.csv"), "--partitions", "2"],
        env={"COLUMNS": "200"},
    )
    assert table.exit_code == 0 and "2 person partitions" in table.stdout


@pytest.mark.parametrize(
    ("args", "text", "code"),
    [
        (["{e}", "--index", "{i}", "--out", "{t}/x.csv", "--partitions", "0"], "--partitions", 2),
        (["--omop", "x.duckdb", "--out", "{t}/x.csv", "--partitions", "2"], "not --omop", 2),
        (["--index", "{i}"], "exposure table before --index", 2),
        (["{e}", "--index", "{i}"], "--out", 2),  # a missing/bad option value is a usage error (exit 2)
        (["{e}"], "--index", 2),
        (["{e}", "--index", "{i}", "--out", "{t}/x.xlsx"], ".parquet or .csv", 1),
        (["{e}", "--index", "{i}", "--out", "{t}/x.csv", "--engine", "pandas"], "choose one of", 2),
        (["{e}", "--index", "{t}/none.csv", "--out", "{t}/x.csv"], "not found", 1),
        (["--omop", "postgresql://x", "--index", "{i}", "--out", "{t}/x.csv"], "not both", 2),
        ([], "give an events file", 2),
    ],
)
def test_cohort_usage_errors(tmp_path: Path, args: list[str], text: str, code: int) -> None:
    exposures, index = _cohort_files(tmp_path)
    filled = [a.format(e=exposures, i=index, t=tmp_path) for a in args]
    result = runner.invoke(app, ["lines", *filled])
    assert result.exit_code == code, result.output
    assert text in " ".join(result.output.split())


def test_omop_reader_missing_is_backend_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "oncoline.io.omop", types.ModuleType("oncoline.io.omop"))
    result = runner.invoke(app, ["lines", "--omop", "postgresql://x/y", "--out", str(tmp_path / "l.csv")])
    assert result.exit_code == 4 and "OMOP input is not available" in result.output


def test_omop_reader_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("oncoline.io.omop")
    seen: list[str] = []

    def read_cohort(url: str) -> tuple[pa.Table, pa.Table, dict[str, int]]:
        seen.append(url)
        exposures = pa.table({"person_id": ["1"], "drug": ["224905"], "start_date": ["2024-01-10"]})
        index = pa.table({"person_id": ["1"], "metastatic_diagnosis": ["2024-01-01"]})
        return exposures, index, {"drug_exposure_rows": 1}

    fake.read_cohort = read_cohort  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "oncoline.io.omop", fake)
    monkeypatch.setattr(
        "oncoline.app.cutoff.omop_cut_off", lambda url, **_: CutOff(dt.date(2024, 6, 30), "latest_drug_exposure")
    )
    out = tmp_path / "l.csv"
    result = runner.invoke(
        app, ["lines", "--omop", "duckdb:///x.db", "--out", str(out), "--engine", "reference", "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert seen == ["duckdb:///x.db"] and summary["source_report"] == {"drug_exposure_rows": 1}
    assert (summary["as_of"], summary["as_of_source"]) == ("2024-06-30", "latest_drug_exposure")
    assert "trastuzumab" in out.read_text(encoding="utf-8")


def test_shared_line_cases_pass_through_the_installed_command(shared_dir: Path) -> None:
    """The team's acceptance check: check_cases.py on the 13 shared line cases via .venv/bin/oncoline."""
    bindir = Path(sys.executable).parent
    if not (bindir / "oncoline").exists():
        pytest.skip("the oncoline console script is not installed beside this interpreter")
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(
        [sys.executable, str(shared_dir / "cases" / "check_cases.py"), str(shared_dir / "cases" / "lines")],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "13 passed, 0 failed" in proc.stdout


def test_help_says_cohorts_need_out_and_shows_the_engine_default() -> None:
    result = runner.invoke(app, ["lines", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "required in cohort mode" in text and "--out is required" in text
    assert "[default: (duckdb for a cohort, reference for one patient)]" in text


# ------------------------------------------------------------------------------------- data cut-off defaults
STOPPED_LONG_AGO = {
    "metastatic_diagnosis": "2021-01-10",
    "exposures": [{"drug": "Kadcyla", "start": "2021-02-01", "end": "2023-06-01"}],
}


def test_one_patient_defaults_to_today_so_a_line_stopped_years_ago_is_closed(tmp_path: Path) -> None:
    out = json.loads(runner.invoke(app, ["lines", str(write(tmp_path, STOPPED_LONG_AGO)), "--json"]).stdout)
    assert (out["as_of"], out["as_of_source"]) == (dt.date.today().isoformat(), "today")
    assert [(ln["close_rule"], ln["end_reason"], ln["end"]) for ln in out["lines"]] == [("gap", "gap", "2023-06-01")]
    table = runner.invoke(app, ["lines", str(write(tmp_path, STOPPED_LONG_AGO))], env={"COLUMNS": "200"})
    assert f"data cut-off {dt.date.today()}: today; give --as-of to set it" in table.stdout


def test_one_patient_cut_off_from_the_file_then_the_option(tmp_path: Path) -> None:
    path = write(tmp_path, {**STOPPED_LONG_AGO, "as_of": "2023-07-01"})
    out = json.loads(runner.invoke(app, ["lines", str(path), "--json"]).stdout)
    assert (out["as_of"], out["as_of_source"], out["lines"][0]["close_rule"]) == ("2023-07-01", "file", "ongoing")
    opt = json.loads(runner.invoke(app, ["lines", str(path), "--json", "--as-of", "2025-01-01"]).stdout)
    assert (opt["as_of"], opt["as_of_source"], opt["lines"][0]["close_rule"]) == ("2025-01-01", "option", "gap")


def test_one_patient_refuses_a_date_after_today_unless_a_cut_off_is_given(tmp_path: Path) -> None:
    later = (dt.date.today() + dt.timedelta(days=40)).isoformat()
    doc = {**STOPPED_LONG_AGO, "exposures": [*STOPPED_LONG_AGO["exposures"], {"drug": "Enhertu", "start": later}]}
    result = runner.invoke(app, ["lines", str(write(tmp_path, doc)), "--json"])
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert f"{later} is in the future" in text and "exposures[1].start" in text
    # a cut-off after today is refused too (usage error): data cannot come from a date that has not come
    assert runner.invoke(app, ["lines", str(write(tmp_path, doc)), "--json", "--as-of", later]).exit_code == 2
    # an earlier cut-off leaves the future row out, counted
    ok = runner.invoke(app, ["lines", str(write(tmp_path, doc)), "--json", "--as-of", dt.date.today().isoformat()])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["excluded"].get("after_cutoff") == 1


def test_a_patient_file_is_accepted_and_its_other_fields_named_on_stderr(tmp_path: Path) -> None:
    doc = {"id": "P9", "age": 61, "ecog": 1, "tumor": {"her2": "positive"}, **STOPPED_LONG_AGO, "as_of": "2024-01-01"}
    result = runner.invoke(app, ["lines", str(write(tmp_path, doc)), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["person_id"] == "P9" and out["as_of_source"] == "file" and len(out["lines"]) == 1
    assert "ignore age, ecog, tumor" in " ".join(result.stderr.split())
    case = {"kind": "patient", "id": "c", "as_of": "2024-01-01", "patient": doc, "expected": {}}
    assert runner.invoke(app, ["lines", str(write(tmp_path, case, "case.yaml")), "--json"]).exit_code == 0


@pytest.mark.parametrize("extra", [[], ["--partitions", "2"]])
def test_cohort_cut_off_is_the_latest_date_in_the_table_for_everyone(tmp_path: Path, extra: list[str]) -> None:
    exposures, index = _cohort_files(tmp_path)
    args = ["lines", str(exposures), "--index", str(index), "--out", str(tmp_path / "l.parquet"), *extra]
    result = runner.invoke(app, [*args, "--engine", "reference", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["as_of"], summary["as_of_source"]) == ("2024-09-01", "latest_in_data")
    rows = {(r["person_id"], r["line"]): r["close_rule"] for r in pq.read_table(tmp_path / "l.parquet").to_pylist()}
    # B stopped 2024-05-01, 123 days before A's last date (gap_days 120): closed, not ongoing at its own last row
    assert rows == {("A", 1): "gap", ("A", 2): "ongoing", ("B", 1): "gap"}
    table = runner.invoke(app, [*args, "--engine", "reference"], env={"COLUMNS": "200"})
    assert "data cut-off 2024-09-01 (latest date in the data; give --as-of to set it)" in table.stdout


def test_cohort_cut_off_from_the_data_is_never_after_today(tmp_path: Path) -> None:
    exposures, index = _cohort_files(tmp_path)
    with exposures.open("a", encoding="utf-8") as fh:
        fh.write("B,capecitabine,2024-06-01,2099-12-31,b9\n")  # a planned end date, not data
    args = ["lines", str(exposures), "--index", str(index), "--out", str(tmp_path / "l.csv"), "--json"]
    summary = json.loads(runner.invoke(app, args).stdout)
    assert (summary["as_of"], summary["as_of_source"]) == (dt.date.today().isoformat(), "latest_in_data")
    assert "2099-12-31, is in the future" in summary["as_of_note"]


def test_help_documents_the_cut_off_defaults() -> None:
    text = " ".join(runner.invoke(app, ["lines", "--help"], env={"COLUMNS": "200"}).output.split())
    assert "the file's as_of, else today" in text
    assert "the latest date anywhere in the exposure table" in text and "observation_period_end_date" in text
