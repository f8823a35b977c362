"""OMOP input: a line's ``n_exposures`` is its EPISODE_EVENT rows; reader and engine count duplicates alike."""

from __future__ import annotations

from collections import Counter

import pytest

from oncoline.engines.lines.duckdb_engine import derive_lines_cohort
from oncoline.engines.lines.params import load_line_params
from oncoline.engines.lines.reference import derive_lines_reference_cohort
from oncoline.io.omop import episodes_from_lines, init_cdm, read_cohort
from oncoline.io.omop.db import connect
from oncoline.io.omop.demo import DEMO_AS_OF, load_demo


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = str(tmp_path_factory.mktemp("cdm") / "demo.duckdb")
    init_cdm(url)
    with connect(url) as db:
        load_demo(db)
    return url


@pytest.mark.parametrize("engine", [derive_lines_cohort, derive_lines_reference_cohort])
def test_n_exposures_equals_episode_events(demo_url: str, engine: object) -> None:
    exposures, index, read_report = read_cohort(demo_url)
    result = engine(exposures, index, params=load_line_params(), as_of=DEMO_AS_OF)  # type: ignore[operator]
    episode, event, _ = episodes_from_lines(result)
    per_episode = Counter(event.column("episode_id").to_pylist())
    got = {
        (str(p), n): per_episode[e]
        for e, p, n in zip(
            episode.column("episode_id").to_pylist(),
            episode.column("person_id").to_pylist(),
            episode.column("episode_number").to_pylist(),
            strict=True,
        )
    }
    want = {(r["person_id"], r["line"]): r["n_exposures"] for r in result.lines.to_pylist()}
    assert got == want and sum(want.values()) == result.report.rows_used
    # the demo's one duplicated DRUG_EXPOSURE is counted once by the reader and once by the engine
    assert read_report.n_duplicate_exposures == result.report.repaired["duplicate_rows"] == 1
