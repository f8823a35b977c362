"""Concordance of the shared line cases (shared/cases/lines) against expectations worked out by hand from the
reference (shared/reference/her2-mbc.md), for a HER2-positive patient of each HR status.

Hand-worked expectations (reference section in brackets):

- THP, whatever the taxane (docetaxel, paclitaxel, a switch between them, Phesgo or a biosimilar): first-line
  preferred [§a 1L: "THP" preferred, CLEOPATRA; PERUSE for paclitaxel]. With letrozole added during HP
  maintenance: still THP when HR-positive [§0.1: THP → HP ± ET is one line; 1L maintenance "HP + ET if ER+"],
  but not an option when HR-negative (no endocrine therapy without hormone receptors).
- T-DXd after THP: second-line preferred [§a 2L: "T-DXd preferred", ASCO Rec 2.1, in effect since May 2022].
- T-DM1 after THP (2023): concordant, not preferred [§a 2L: "T-DM1 if not T-DXd candidate"].
- TTC after THP and T-DXd (2023-12): third line, preferred [§a.6 table: TTC "Preferred 3L"].
- HP without a taxane as a first line, or again after a gap: no such option [§a 1L/2L tables].
- T-DXd alone as a first line (de novo, 2025): not concordant [§a 1L: T-DXd + pertuzumab (DESTINY-Breast09); T-DXd
  alone only for relapse ≤ 6 months after (neo)adjuvant therapy].
- Lapatinib + capecitabine as a first line: not concordant [§a.6: a 3L+ option].
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from oncoline.analytics.concordance import Judge, LineState, concordance
from oncoline.engines.lines.params import load_line_params
from oncoline.engines.lines.reference import derive_lines_reference_cohort
from oncoline.knowledge.loader import load_knowledge

P, OT, N = "concordant_preferred", "concordant_other", "not_concordant"
EXPECTED: dict[str, dict[str, list[str]]] = {  # case id → HR status → category per line
    "l-thp-then-hp-maintenance": {"positive": [P], "negative": [P]},
    "l-thp-then-tdxd": {"positive": [P, P], "negative": [P, P]},
    "l-tdm1-is-a-new-drug": {"positive": [P, OT], "negative": [P, OT]},
    "l-phesgo-substitution": {"positive": [P], "negative": [P]},
    "l-biosimilar-substitution": {"positive": [P], "negative": [P]},
    "l-taxane-switch": {"positive": [P], "negative": [P]},
    "l-gap-restart-new-line": {"positive": [N, N], "negative": [N, N]},
    "l-short-break-same-line": {"positive": [N], "negative": [N]},
    "l-supportive-not-a-line": {"positive": [N], "negative": [N]},
    "l-adjuvant-is-not-metastatic": {"positive": [P], "negative": [P]},
    "l-endocrine-added-to-maintenance": {"positive": [P], "negative": [N]},
    "l-three-lines": {"positive": [P, P, P], "negative": [P, P, P]},
    "l-window-joins-regimen": {"positive": [N], "negative": [N]},
}


@pytest.fixture(scope="module")
def judge() -> Judge:
    return Judge(load_knowledge(), load_line_params())


def _cases(path: Path) -> list[dict[str, object]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "lines"]


def _tables(case: dict, hr: str | None, her2: str | None = "positive") -> tuple[pa.Table, pa.Table]:
    events = case["events"]
    rows = events["exposures"]
    day = lambda v: None if v is None else dt.date.fromisoformat(str(v))  # noqa: E731
    exposures = pa.table(
        {
            "person_id": ["p"] * len(rows),
            "drug": [r["drug"] for r in rows],
            "start_date": pa.array([day(r["start"]) for r in rows], pa.date32()),
            "end_date": pa.array([day(r.get("end")) for r in rows], pa.date32()),
            "stopped": pa.array([r.get("stopped") for r in rows], pa.string()),
        }
    )
    index = pa.table(
        {
            "person_id": ["p"],
            "metastatic_diagnosis": pa.array([day(events["metastatic_diagnosis"])], pa.date32()),
            "her2_status": pa.array([her2], pa.string()),
            "hr_status": pa.array([hr], pa.string()),
        }
    )
    return exposures, index


def test_every_shared_line_case_has_a_hand_expectation(case_path: Callable[[str], Path]) -> None:
    assert {c["id"] for c in _cases(case_path("lines/her2-lines.yaml"))} == set(EXPECTED)


@pytest.mark.parametrize("hr", ["positive", "negative"])
def test_shared_line_cases_concordance(case_path: Callable[[str], Path], judge: Judge, hr: str) -> None:
    got: dict[str, list[str]] = {}
    for case in _cases(case_path("lines/her2-lines.yaml")):
        exposures, index = _tables(case, hr)
        lines = derive_lines_reference_cohort(
            exposures, index, params=load_line_params(case.get("params") or {}), as_of=None
        ).lines
        judged = concordance(lines, index, judge=judge)
        got[str(case["id"])] = judged.column("category").to_pylist()
        for row in judged.to_pylist():  # a not concordant line always names its reason; a concordant one its option
            assert (row["reason"] != "") == (row["category"] == N)
            assert (row["matched"] != "") == (row["category"] != N)
    assert got == {k: v[hr] for k, v in EXPECTED.items()}


def test_missing_her2_is_not_assessable_and_named(case_path: Callable[[str], Path], judge: Judge) -> None:
    case = next(c for c in _cases(case_path("lines/her2-lines.yaml")) if c["id"] == "l-three-lines")
    exposures, index = _tables(case, "negative", her2=None)
    lines = derive_lines_reference_cohort(exposures, index, params=load_line_params(), as_of=None).lines
    judged = concordance(lines, index, judge=judge).to_pylist()
    assert [(r["category"], r["reason"]) for r in judged] == [("not_assessable", "her2_status")] * 3


def test_knowledge_as_of_the_line_start(judge: Judge) -> None:
    """T-DXd after THP: not yet an option in 2021 (approved for 2L in May 2022), preferred in 2023."""
    thp = (("docetaxel", "pertuzumab", "trastuzumab"), "progression")
    early = LineState(judge.period_start(dt.date(2021, 3, 1)), "positive", "negative", (thp,))
    late = LineState(judge.period_start(dt.date(2023, 3, 1)), "positive", "negative", (thp,))
    assert judge.judge(early, ("trastuzumab deruxtecan",)).category == N
    assert judge.judge(late, ("trastuzumab deruxtecan",)).category == P


def test_each_state_judged_once(case_path: Callable[[str], Path]) -> None:
    """Many persons sharing one state cost one recommender call."""
    case = next(c for c in _cases(case_path("lines/her2-lines.yaml")) if c["id"] == "l-thp-then-tdxd")
    exposures, index = _tables(case, "negative")
    n = 40
    exposures = pa.concat_tables(
        [exposures.set_column(0, "person_id", pa.array([f"p{i:02d}"] * exposures.num_rows)) for i in range(n)]
    )
    index = pa.concat_tables([index.set_column(0, "person_id", pa.array([f"p{i:02d}"])) for i in range(n)])
    lines = derive_lines_reference_cohort(exposures, index, params=load_line_params(), as_of=None).lines
    judge = Judge(load_knowledge(), load_line_params())
    judged = concordance(lines, index, judge=judge)
    assert judged.num_rows == 2 * n
    assert judge.calls == 2


def test_recommender_ignores_presentation(judge: Judge) -> None:
    """Presentation is left out of the state because the recommender does not read it; if it starts to, this
    fails and the state must carry it again."""
    import datetime as dt

    from oncoline.engines.recommend import recommend
    from oncoline.model import Patient

    answers = set()
    for presentation in ("de_novo", "recurrent", None):
        patient = Patient(
            tumor={"her2": {"status": "positive"}, "er_status": "negative", "pr_status": "negative"},
            presentation=presentation,
            metastatic_diagnosis=dt.date(2024, 1, 1),
        )
        rec = recommend(patient, knowledge=judge.kb, as_of=dt.date(2024, 1, 2))
        answers.add(
            tuple((o.drugs, o.category.value) for o in rec.options)
            + tuple((e.drugs, e.reason_code) for e in rec.excluded)
        )
    assert len(answers) == 1


def test_worker_processes_give_the_same_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    import oncoline.analytics.concordance as conc
    from tests.analytics.cohort import small_cohort

    _exposures, index, lines = small_cohort(8_000, 2)
    one = conc.concordance(lines, index, judge=Judge(load_knowledge(), load_line_params()), workers=1)
    monkeypatch.setattr(conc, "PARALLEL_MIN_STATES", 1)
    judge = Judge(load_knowledge(), load_line_params())
    seen: list[tuple[int, int]] = []
    two = conc.concordance(lines, index, judge=judge, workers=2, on_progress=lambda k, n: seen.append((k, n)))
    assert two.equals(one)
    assert judge.calls > 0 and seen[-1][0] == seen[-1][1]


def test_started_concordance_runs_in_workers_while_the_caller_works(monkeypatch: pytest.MonkeyPatch) -> None:
    """start_concordance forks its worker processes before it returns (so the report's DuckDB work overlaps the
    recommender calls); its result, and the aggregates built from it, are those of the judging done in place."""
    import multiprocessing as mp

    import oncoline.analytics.concordance as conc
    from oncoline.analytics.aggregates import aggregate_lines, lines_in_index
    from tests.analytics.cohort import small_cohort

    _exposures, index, lines = small_cohort(8_000, 2)
    as_of = dt.date(2026, 1, 1)
    one = conc.concordance(lines, index, judge=Judge(load_knowledge(), load_line_params()), workers=1)
    in_place = aggregate_lines(
        lines, index, as_of=as_of, max_lines=5, top_regimens=12, judge=Judge(load_knowledge(), load_line_params())
    )
    monkeypatch.setattr(conc, "PARALLEL_MIN_STATES", 1)
    judge = Judge(load_knowledge(), load_line_params())
    before = {p.pid for p in mp.active_children()}
    started = conc.start_concordance(lines_in_index(lines, index)[0], index, judge=judge, workers=2)
    assert len({p.pid for p in mp.active_children()} - before) == 2  # forked already, before any result is asked
    overlapped = aggregate_lines(lines, index, as_of=as_of, max_lines=5, top_regimens=12, judge=judge, started=started)
    assert started.result().equals(one)
    assert not {p.pid for p in mp.active_children()} - before  # the pool is shut down once the result is in
    assert overlapped.concordance is not None and in_place.concordance is not None
    assert overlapped.concordance.equals(in_place.concordance)
    assert overlapped.durations.equals(in_place.durations)
    assert overlapped.states_judged == in_place.states_judged > 0


def test_started_concordance_can_be_given_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the report's own work fails, cancel() stops the worker processes instead of leaving them to run."""
    import multiprocessing as mp

    import oncoline.analytics.concordance as conc
    from oncoline.analytics.aggregates import lines_in_index
    from tests.analytics.cohort import small_cohort

    _exposures, index, lines = small_cohort(8_000, 2)
    monkeypatch.setattr(conc, "PARALLEL_MIN_STATES", 1)
    before = {p.pid for p in mp.active_children()}
    started = conc.start_concordance(
        lines_in_index(lines, index)[0], index, judge=Judge(load_knowledge(), load_line_params()), workers=2
    )
    assert {p.pid for p in mp.active_children()} - before
    started.cancel()
    assert not {p.pid for p in mp.active_children()} - before
