"""A lines table records how it was made (parameters, lines.yaml version, cut-off and its rule, engine, oncoline
version) and the cohort report reads it (nu-analyst2 S2: a table made with ``--param gap_days=20`` was reported
under the default rules without a word). Also: ``--out`` is checked before any work, and the report's ``--out``
cleanup removes only files a report run recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from oncoline.cli.app import app
from oncoline.io.lines_metadata import METADATA_KEY

PARAM_NAMES = {
    "index_lookback_days",
    "regimen_window_days",
    "gap_days",
    "maintenance_ongoing_days",
    "toxicity_stop_ends_line",
    "maintenance_addition_classes",
    "maintenance_addition_drugs",
    "maintenance_base_classes",
    "substitution_classes",
}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.analytics.cohort import small_cohort

    exposures, index, _lines = small_cohort(3_000, 3)
    root = tmp_path_factory.mktemp("cohort")
    pq.write_table(exposures, root / "exposures.parquet")
    pq.write_table(index, root / "index.parquet")
    return root


def _lines(cohort: Path, out: Path, *extra: str) -> None:
    args = ["lines", str(cohort / "exposures.parquet"), "--index", str(cohort / "index.parquet"), "--out", str(out)]
    res = CliRunner().invoke(app, [*args, *extra])
    assert res.exit_code == 0, res.output


def _check(meta: dict[str, object], engine: str) -> None:
    params = meta["params"]
    assert isinstance(params, dict)
    assert set(params) == PARAM_NAMES  # every parameter, the partial-toxicity rule included
    assert params["gap_days"] == 60 and params["toxicity_stop_ends_line"] == "any_drug"
    assert meta["params_version"] and meta["oncoline_version"]
    assert meta["as_of"] == "2025-06-30" and meta["as_of_source"] == "option" and meta["as_of_note"]
    assert meta["engine"] == engine


@pytest.mark.parametrize(
    ("engine", "extra"),
    [("duckdb", ()), ("reference", ()), ("duckdb", ("--partitions", "2"))],
    ids=["duckdb", "reference", "partitioned"],
)
@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_lines_table_records_rules_cut_off_and_engine(
    cohort: Path, tmp_path: Path, engine: str, extra: tuple[str, ...], suffix: str
) -> None:
    from oncoline.app.lines import read_lines_provenance

    out = tmp_path / f"lines{suffix}"
    rules = ["--param", "gap_days=60", "--param", "toxicity_stop_ends_line=any_drug", "--as-of", "2025-06-30"]
    _lines(cohort, out, "--engine", engine, *rules, *extra)
    meta = read_lines_provenance(out)
    assert meta is not None
    _check(meta, engine)
    if suffix == ".parquet":  # where any Parquet reader sees it: the schema's key-value metadata
        raw = pq.read_schema(out).metadata[METADATA_KEY]
        assert json.loads(raw) == meta
    else:
        assert json.loads((tmp_path / "lines.csv.meta.json").read_text()) == meta


def test_spark_lines_table_records_rules(cohort: Path, tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    out = tmp_path / "lines.parquet"
    rules = ["--param", "gap_days=60", "--param", "toxicity_stop_ends_line=any_drug", "--as-of", "2025-06-30"]
    _lines(cohort, out, "--engine", "spark", *rules)
    from oncoline.app.lines import read_lines_provenance

    meta = read_lines_provenance(out)
    assert meta is not None
    _check(meta, "spark")


def _report(lines: Path, cohort: Path, out: Path, *extra: str) -> object:
    args = ["cohort", "report", str(lines), "--index", str(cohort / "index.parquet"), "--out", str(out)]
    return CliRunner().invoke(app, [*args, "--no-concordance", *extra])


def test_report_states_the_rules_the_lines_were_made_with(cohort: Path, tmp_path: Path) -> None:
    lines = tmp_path / "lines.parquet"
    _lines(cohort, lines, "--param", "gap_days=60")
    res = _report(lines, cohort, tmp_path / "r", "--exposures", str(cohort / "exposures.parquet"))
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    assert "line rules unknown" not in res.output  # type: ignore[attr-defined]
    assert "derive" not in res.output or "give the same --param" not in res.output  # type: ignore[attr-defined]
    html = (tmp_path / "r" / "report.html").read_text()
    assert "gap_days 60" in html and "recorded in the lines table" in html
    grid = pq.read_table(tmp_path / "r" / "sensitivity.parquet").to_pylist()
    default = [r for r in grid if r["is_default"]]
    assert [(r["gap_days"], r["toxicity_stop_ends_line"]) for r in default] == [(60, "all_drugs")]
    # the grid's default cell reproduces the table: no mismatch note
    assert not any("were made with other parameters" in n for n in res.output.splitlines())  # type: ignore[attr-defined]


def test_report_of_a_table_without_rules_says_unknown(cohort: Path, tmp_path: Path) -> None:
    lines = tmp_path / "lines.parquet"
    _lines(cohort, lines, "--param", "gap_days=60")
    bare = tmp_path / "bare.parquet"
    pq.write_table(pq.read_table(lines).replace_schema_metadata(None), bare)  # a table made elsewhere
    res = _report(bare, cohort, tmp_path / "r", "--as-of", "2025-06-30")
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    assert "line rules unknown" in res.output.replace("\n", " ").lower()  # type: ignore[attr-defined]
    html = (tmp_path / "r" / "report.html").read_text()
    assert "line rules unknown" in html


def test_report_refuses_a_param_the_table_contradicts(cohort: Path, tmp_path: Path) -> None:
    lines = tmp_path / "lines.csv"
    _lines(cohort, lines, "--param", "gap_days=60")
    res = _report(lines, cohort, tmp_path / "r", "--param", "gap_days=90")
    assert res.exit_code != 0
    text = " ".join(res.output.split())  # type: ignore[attr-defined]
    assert "--param" in text and "gap_days=90" in text and "records 60" in text


def test_report_python_api_exposes_the_recorded_rules(cohort: Path, tmp_path: Path) -> None:
    from oncoline.app.cohort_report import report_inputs_from_files
    from oncoline.app.lines import derive_cohort_lines

    lines = tmp_path / "lines.parquet"
    run = derive_cohort_lines(
        cohort / "exposures.parquet", cohort / "index.parquet", out=lines, params={"gap_days": 60}, engine="duckdb"
    )
    inputs = report_inputs_from_files(lines, cohort / "index.parquet")
    assert inputs.rules_known and inputs.params.gap_days == 60
    assert inputs.provenance is not None and inputs.provenance["as_of"] == run.cut.as_of.isoformat()
    assert inputs.as_of == run.cut.as_of  # the recorded cut-off, not the latest line end


@pytest.mark.parametrize("bad", ["nodir/x.parquet", "adir.parquet"])
def test_lines_out_is_checked_before_reading(tmp_path: Path, bad: str) -> None:
    (tmp_path / "adir.parquet").mkdir()
    missing = tmp_path / "not-there.parquet"  # reading it first would fail on the input, not on --out
    args = ["lines", str(missing), "--index", str(missing), "--out", str(tmp_path / bad)]
    res = CliRunner().invoke(app, args)
    text = " ".join(res.output.split())
    assert res.exit_code != 0 and "--out" in text, text
    assert "not-there" not in text
    assert ("mkdir" in text) if bad.startswith("nodir") else ("is a directory" in text)


def test_report_out_cleanup_removes_only_recorded_files(cohort: Path, tmp_path: Path) -> None:
    lines = tmp_path / "lines.parquet"
    _lines(cohort, lines)
    out = tmp_path / "r"
    out.mkdir()
    (out / "sensitivity.csv").write_text("my own")  # a user's file of a report table's name
    (out / "attrition.csv").write_text("my own too")
    res = _report(lines, cohort, out)
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    text = " ".join(res.output.split())  # type: ignore[attr-defined]
    assert (out / "sensitivity.csv").read_text() == "my own"  # not written by any report run: kept
    assert "overwriting 1 file" in text and "attrition.csv" in text  # said before it is overwritten
    assert "stale" not in text
    # a run with the grid, then one without it: the grid's files of the first run are now stale and removed
    (out / "sensitivity.csv").unlink()
    res = _report(lines, cohort, out, "--exposures", str(cohort / "exposures.parquet"))
    assert res.exit_code == 0 and (out / "sensitivity.csv").is_file()  # type: ignore[attr-defined]
    res = _report(lines, cohort, out)
    text = " ".join(res.output.split())  # type: ignore[attr-defined]
    assert not (out / "sensitivity.csv").exists() and "removed 4 stale files" in text, text
    assert "overwriting" not in text


@pytest.mark.parametrize("extra", [(), ("--partitions", "2")], ids=["in-memory", "partitioned"])
def test_person_id_keeps_the_input_type(cohort: Path, tmp_path: Path, extra: tuple[str, ...]) -> None:
    """nu-analyst2: int64 person_id in, string out (a join back to the index needed a cast). Integer ids in both
    inputs stay int64 in the lines and assignments tables; text ids (a CSV input) stay text."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    out, asg = tmp_path / "lines.parquet", tmp_path / "rows.parquet"
    _lines(cohort, out, "--assignments", str(asg), *extra)
    index = pq.read_table(cohort / "index.parquet")
    assert index.schema.field("person_id").type == pa.int64()
    for table in (pq.read_table(out), pq.read_table(asg)):
        assert table.schema.field("person_id").type == pa.int64()
        assert set(table.column("person_id").to_pylist()) <= set(index.column("person_id").to_pylist())
    pacsv.write_csv(pq.read_table(cohort / "exposures.parquet"), tmp_path / "e.csv")
    args = ["lines", str(tmp_path / "e.csv"), "--index", str(cohort / "index.parquet"), "--out", str(out), *extra]
    assert CliRunner().invoke(app, args).exit_code == 0
    assert pq.read_table(out).schema.field("person_id").type == pa.string()  # text in (CSV): text out


def test_lines_unwritable_assignments_dir_is_refused_before_reading(tmp_path: Path) -> None:
    import os

    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    target = locked if os.geteuid() != 0 else Path("/proc")  # root writes anywhere but /proc
    if not target.is_dir():
        pytest.skip("no directory this user cannot write to")
    missing = tmp_path / "not-there.parquet"
    args = ["lines", str(missing), "--index", str(missing), "--out", str(tmp_path / "l.parquet")]
    res = CliRunner().invoke(app, [*args, "--assignments", str(target / "rows.csv")])
    text = " ".join(res.output.split())
    locked.chmod(0o700)
    assert res.exit_code != 0 and "--assignments" in text and "not writable" in text, text


def test_report_at_another_cut_off_than_the_lines_is_a_loud_warning(cohort: Path, tmp_path: Path) -> None:
    lines = tmp_path / "lines.parquet"
    _lines(cohort, lines, "--as-of", "2025-06-30")
    res = _report(lines, cohort, tmp_path / "r", "--as-of", "2025-03-31")
    text = " ".join(res.output.split())  # type: ignore[attr-defined]
    assert res.exit_code == 0, text  # type: ignore[attr-defined]
    assert "derived with the data cut-off 2025-06-30" in text and "--as-of 2025-06-30" in text
    res = _report(lines, cohort, tmp_path / "s", "--as-of", "2025-06-30")
    assert "derived with the data cut-off" not in " ".join(res.output.split())  # type: ignore[attr-defined]
