"""A new analyst's severe findings (round 4): `oncoline lines` overwrote its own input when --out named it, and
`oncoline cohort report` made a report, exit 0, from another cohort's lines. Each case fails on the code before."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from benchmarks.generate import generate_cohort, write_cohort
from typer.testing import CliRunner

from oncoline.cli.app import app

runner = CliRunner()


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two generated cohorts (other seeds, the same data cut-off), each with its lines derived."""
    made = []
    for seed in (1, 2):
        directory = tmp_path_factory.mktemp(f"cohort{seed}")
        write_cohort(generate_cohort(20_000, seed=seed), directory)
        done = runner.invoke(
            app,
            ["lines", str(directory / "exposures.parquet"), "--index", str(directory / "index.parquet"),
             "--out", str(directory / "lines.parquet")],
        )  # fmt: skip
        assert done.exit_code == 0, done.output
        made.append(directory)
    return made[0], made[1]


def test_lines_refuses_to_write_over_its_own_input(cohorts: tuple[Path, Path], tmp_path: Path) -> None:
    one, _ = cohorts
    exposures, index = tmp_path / "exposures.parquet", tmp_path / "index.parquet"
    shutil.copy(one / "exposures.parquet", exposures)
    shutil.copy(one / "index.parquet", index)
    before = exposures.read_bytes(), index.read_bytes()
    for target in (exposures, index):
        result = runner.invoke(app, ["lines", str(exposures), "--index", str(index), "--out", str(target)])
        assert result.exit_code == 1, result.output
        assert "this command reads" in result.output and "give another file name" in result.output
    assert (exposures.read_bytes(), index.read_bytes()) == before
    out = tmp_path / "lines.parquet"  # not there yet: the same path for both outputs is still refused
    both = runner.invoke(
        app, ["lines", str(exposures), "--index", str(index), "--out", str(out), "--assignments", str(out)]
    )
    assert both.exit_code == 1 and "--assignments" in both.output and not out.exists()


def test_report_refuses_the_lines_of_another_cohort(cohorts: tuple[Path, Path], tmp_path: Path) -> None:
    one, two = cohorts
    result = runner.invoke(
        app,
        ["cohort", "report", str(two / "lines.parquet"), "--index", str(one / "index.parquet"),
         "--exposures", str(one / "exposures.parquet"), "--out", str(tmp_path / "report")],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "does not come from this exposure table" in result.output
    assert not (tmp_path / "report" / "report.html").exists()
    # its own lines: a report, exit 0
    fine = runner.invoke(
        app,
        ["cohort", "report", str(one / "lines.parquet"), "--index", str(one / "index.parquet"),
         "--exposures", str(one / "exposures.parquet"), "--out", str(tmp_path / "own")],
    )  # fmt: skip
    assert fine.exit_code == 0, fine.output
    assert (tmp_path / "own" / "report.html").exists()


def test_report_refuses_lines_with_no_person_in_the_index(cohorts: tuple[Path, Path], tmp_path: Path) -> None:
    one, _ = cohorts
    lines = pq.read_table(one / "lines.parquet")
    at = lines.column_names.index("person_id")
    shifted = pa.array([v + 10**9 for v in lines.column("person_id").to_pylist()], lines.schema.field(at).type)
    other = tmp_path / "lines.parquet"
    pq.write_table(lines.set_column(at, "person_id", shifted), other)
    result = runner.invoke(
        app, ["cohort", "report", str(other), "--index", str(one / "index.parquet"), "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 1, result.output
    assert "none of the" in result.output and "different cohorts" in result.output
