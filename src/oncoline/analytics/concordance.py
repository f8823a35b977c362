"""Guideline concordance of real-world lines: the point-of-care recommender, as of each line's start date.

For every line the patient's state at that line's start is rebuilt from the index and the lines before it — HER2
and HR status (index columns, or OMOP measurements), the earlier metastatic lines with the drugs
and why they stopped (``progression`` or ``toxicity`` when documented; otherwise the stop is unknown and the
recommender does not re-propose those drugs) — and :func:`oncoline.engines.recommend.recommend` is asked, as the
knowledge stood on that date, what it would offer. The line's drugs are then matched against its answer:

* ``concordant_preferred`` — an option with category *preferred* has the line's drugs;
* ``concordant_other`` — an option of another category (other, certain circumstances) has them;
* ``not_concordant`` — no option has them; the reason is the ``reason_code`` of the excluded regimen with those
  drugs (``progressed_on``, ``not_her2_positive``, ``label_prerequisite``, …) or ``not_an_option`` when the
  knowledge names the regimen nowhere at that line and state;
* ``not_assessable`` — a fact the judgement needs is missing (its code: ``her2_status``, ``reflex_ish``,
  ``hr_status`` for a line with endocrine therapy, …).

Matching: drugs are canonical (INN) names; the drugs of a substitution class of the line rules (taxanes) stand
for each other; ovarian suppression is an adjunct and left out; when the tumour is HR-positive, maintenance
additions of the line rules (endocrine therapy, CDK4/6 inhibitor) added to an option's drugs still match it
(HP + endocrine maintenance after induction is one line, reference §0.1).

Not concordant is not the same as worse care: a trial, a patient's choice, a toxicity not recorded in the data
or a newer regimen explain many such lines. The report shows the reasons, not only a rate.

Presentation (de novo vs recurrent) is a stratum of the report but not a fact the recommender reads, so it is
not part of the state (a test fails if the recommender starts to read it). Early (neo)adjuvant therapy is not in
the lines table and not in the state: a relapse within 12 months of adjuvant HER2 therapy, which the reference
treats as second line, is judged as a first line here.

Cost: the answer depends only on the state and on the knowledge in effect. The state is made canonical first
(:func:`canonical_state`: the earlier lines as a sorted multiset, progression and an undocumented stop alike —
what the recommender reads of them) and placed in its knowledge period (between two consecutive dates of the
knowledge base, :func:`knowledge_dates`). Each canonical state is then judged by
:func:`oncoline.engines.recommend.engine.decide` — the recommender's steps 1-6 (history, tumour status, line,
candidates, checks, ranking), the same functions :func:`~oncoline.engines.recommend.recommend` runs before it adds
site actions and monitoring — and its answer is reused for the same patient in every other knowledge period of
``Decision.unchanged_between``: the stretch over which every knowledge date the recommender compared with the
decision date (statements in effect, rules and prerequisites that apply to this patient, questions it asks)
stays on the same side. The generated benchmark cohort of 10^7 exposure rows (52,351 persons, 181,468 lines)
holds 36,314 full states, 26,648 canonical (period, state) pairs and about 11,000 such stretches: 11,000 calls of
steps 1-6 instead of 26,648 whole recommender calls, spread over worker processes from
:data:`PARALLEL_MIN_STATES` states on. ``Judge(fast=False, canonical=False)`` keeps the whole recommender per full
state and period; ``tests/analytics/test_concordance_fast.py`` checks both give every line the same judgement.
(The current benchmark cohort, 10^7 rows: 261,943 lines, 17,035 (period, state) pairs, 2,166 patient states,
~5,800 calls.) Each patient state's patient is validated and its steps 1-3 prepared once
(:func:`oncoline.engines.recommend.engine.prepare`), then moved to each decision date; the lines are keyed in
arrays (:func:`_key_lines`) and each line takes its judgement by task index.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from oncoline.engines.lines.params import LineParams
    from oncoline.engines.recommend.engine import Decision, Prepared
    from oncoline.knowledge.loader import KnowledgeBase
    from oncoline.model import Patient
    from oncoline.model.recommendation import Recommendation

__all__ = [
    "ConcordanceCategory",
    "Judge",
    "Judgement",
    "LineState",
    "PendingConcordance",
    "canonical_state",
    "concordance",
    "knowledge_dates",
    "start_concordance",
]

BEFORE_ALL = dt.date(1900, 1, 1)
"""First day of the knowledge period before every knowledge date."""

_BLOCKING_MISSING = ("her2_status", "reflex_ish", "metastatic_diagnosis", "line_unknown")
"""Missing facts that leave no line assessable (others block only the lines that need them)."""


class ConcordanceCategory(StrEnum):
    """Concordance of one real-world line with the recommendation as of its start."""

    CONCORDANT_PREFERRED = "concordant_preferred"
    CONCORDANT_OTHER = "concordant_other"
    NOT_CONCORDANT = "not_concordant"
    NOT_ASSESSABLE = "not_assessable"


@dataclass(frozen=True)
class LineState:
    """The patient state at a line's start that the judgement depends on (hashable: the memo key).

    Attributes
    ----------
    period_start
        First day of the knowledge period holding the line's start date (see :func:`knowledge_dates`).
    her2_status, hr_status
        ``positive`` | ``negative`` | ``equivocal`` (HER2) | None when not given.
    prior
        Earlier lines, oldest first: (canonical drugs, ``progression`` | ``toxicity`` | None).
    """

    period_start: dt.date
    her2_status: str | None
    hr_status: str | None
    prior: tuple[tuple[tuple[str, ...], str | None], ...]


@dataclass(frozen=True)
class Judgement:
    """The category of one line and its reason (an exclusion ``reason_code``, ``not_an_option`` or a missing
    fact code; empty for concordant lines), with the option or exclusion that decided it."""

    category: ConcordanceCategory
    reason: str
    matched: str


@dataclass(frozen=True, slots=True)
class _Verdicts:
    """What a line's judgement reads of one recommender answer (:meth:`Judge.recommendation`), kept in the memo
    instead of the whole answer: a cohort's memo holds thousands of answers, and each whole answer (facts, trace,
    clock, pydantic options) is hundreds of objects the garbage collector walks again and again.

    ``options``: (drugs as :meth:`Judge._norm` matches them, category is *preferred*, name), in rank order;
    ``excluded``: (matched drugs, reason code, name), in the answer's order; ``missing``: the missing-fact codes.
    """

    hr_positive: bool
    missing: tuple[str, ...]
    options: tuple[tuple[frozenset[str], bool, str], ...]
    excluded: tuple[tuple[frozenset[str], str, str], ...]


def canonical_state(state: LineState, /) -> LineState:
    """The state reduced to what the recommender reads of it: the same judgement, fewer distinct states.

    The recommender (:mod:`oncoline.engines.recommend`) reads earlier metastatic lines only through sets and counts
    — the number of lines, the lines with a HER2-directed / endocrine / chemotherapy drug, the drugs and regimens
    progressed on, the drugs and regimens stopped for toxicity, the drugs received (``facts.gather_facts``,
    ``checks.Checker``, ``line_decision.decide_line``) — and treats a line without a stop reason like progression
    (``history.read_history``: ``unknown``; ``Checker``: ``progression`` or ``unknown``). Line order and the order
    of drugs within a line reach only the wording (line numbers in texts), never an option, a category or a
    reason code. So the prior lines become a sorted multiset of (sorted drugs, ``toxicity`` | None): progression
    and not documented both map to None. ``tests/analytics/test_concordance_canonical.py`` checks that full and
    canonical states get the same answers (options, exclusions with their reason codes, missing facts) on a
    generated cohort and on random histories.

    Parameters
    ----------
    state
        A :class:`LineState`.

    Returns
    -------
    LineState
        Same knowledge period, HER2 and HR status; ``prior`` canonical as above.
    """
    prior = sorted(
        ((tuple(sorted(drugs)), "toxicity" if stop == "toxicity" else None) for drugs, stop in state.prior),
        key=lambda item: (item[0], item[1] or ""),
    )
    return LineState(state.period_start, state.her2_status, state.hr_status, tuple(prior))


def knowledge_dates(kb: KnowledgeBase, /) -> list[dt.date]:
    """Every date found in the knowledge base (statements, regimens, sources…), sorted and distinct.

    Between two consecutive dates nothing in the knowledge changes, so one recommender answer serves the whole
    period. The walk is deliberately broad (any :class:`datetime.date` anywhere): a superset of the dates that
    matter costs a few more periods, never a wrong answer.
    """
    from pydantic import BaseModel

    found: set[dt.date] = set()
    seen: set[int] = set()

    def walk(obj: Any, depth: int) -> None:
        if depth > 12 or id(obj) in seen:
            return
        if isinstance(obj, dt.date):
            found.add(obj if not isinstance(obj, dt.datetime) else obj.date())
            return
        if isinstance(obj, str | bytes | int | float | bool) or obj is None:
            return
        seen.add(id(obj))
        if isinstance(obj, BaseModel):
            for name in type(obj).model_fields:
                walk(getattr(obj, name), depth + 1)
        elif isinstance(obj, dict):
            for v in obj.values():
                walk(v, depth + 1)
        elif isinstance(obj, list | tuple | set | frozenset):
            for v in obj:
                walk(v, depth + 1)
        elif hasattr(obj, "__dict__"):
            for v in vars(obj).values():
                walk(v, depth + 1)

    walk(kb, 0)
    return sorted(found)


class Judge:
    """Judges lines against the recommender, memoised by state (one recommender call per distinct state).

    Parameters
    ----------
    knowledge
        :func:`~oncoline.knowledge.loader.load_knowledge`.
    params
        Line-of-therapy parameters (their substitution and maintenance-addition classes are used for matching).
    canonical
        Memoise by :func:`canonical_state` (default) — the same answers from fewer recommender calls; False asks
        the recommender for each full state (the equivalence tests compare the two).
    fast
        True (default): each state is judged by :func:`~oncoline.engines.recommend.engine.decide` (the
        recommender's steps 1-6: no site actions, monitoring or assembled answer), and its answer serves every
        knowledge period over which the knowledge it read stays the same (``Decision.unchanged_between``: a
        history of HP lines is not judged again when a HER2-low statement takes effect). False: the whole
        :func:`~oncoline.engines.recommend.recommend` for every knowledge period — the reference the fast path is
        tested against (same categories, reasons and matches).
    """

    def __init__(
        self, knowledge: KnowledgeBase, params: LineParams, *, canonical: bool = True, fast: bool = True
    ) -> None:
        self.canonical = canonical
        self.fast = fast
        self.kb = knowledge
        self.vocab = knowledge.vocab
        self.dates = knowledge_dates(knowledge)
        self.substitution = tuple(params.substitution_classes)
        self.additions = tuple(c for c in params.maintenance_addition_classes if c != "ovarian_suppression")
        self._answers: dict[LineState, _Verdicts] = {}
        self._spans: dict[tuple[object, ...], list[tuple[dt.date | None, dt.date | None, _Verdicts]]] = {}
        self._judged: dict[tuple[LineState, tuple[str, ...]], Judgement] = {}
        self._classes: dict[tuple[str, str], bool] = {}
        self._norms: dict[tuple[str, ...], frozenset[str]] = {}
        self._patients: dict[tuple[object, ...], Patient] = {}
        self._prepared: dict[tuple[object, ...], Prepared] = {}
        self._matched: dict[tuple[int, tuple[str, ...]], Judgement] = {}
        self.calls = 0

    def period_start(self, day: dt.date) -> dt.date:
        """The first day of the knowledge period holding ``day`` (the latest knowledge date on or before it)."""
        import bisect

        i = bisect.bisect_right(self.dates, day)
        return self.dates[i - 1] if i else BEFORE_ALL

    def _norm(self, drugs: Iterable[str]) -> frozenset[str]:
        key = tuple(drugs)
        hit = self._norms.get(key)
        if hit is None:
            hit = self._norms[key] = self._norm_of(key)
        return hit

    def _norm_of(self, drugs: tuple[str, ...]) -> frozenset[str]:
        out = set()
        for d in drugs:
            if self._is(d, "ovarian_suppression"):
                continue
            cls = next((c for c in self.substitution if self._is(d, c)), None)
            out.add(f"class:{cls}" if cls else d)
        return frozenset(out)

    def _is(self, drug: str, cls: str) -> bool:
        key = (drug, cls)
        hit = self._classes.get(key)
        if hit is None:
            try:
                hit = bool(self.vocab.in_class(drug, cls))
            except Exception:  # an unknown name belongs to no class
                hit = False
            self._classes[key] = hit
        return hit

    def recommendation(self, state: LineState) -> Recommendation | Decision:
        """The recommender's answer for ``state``, asked anew (not memoised; :meth:`judge` memoises only what a
        line's judgement reads of it): a :class:`~oncoline.engines.recommend.engine.Decision` on the fast path,
        else the whole :class:`~oncoline.model.recommendation.Recommendation` (both give ``options``,
        ``excluded``, ``missing``, ``hr_status``)."""
        if self.canonical:
            state = canonical_state(state)
        return self._decide(state) if self.fast else self._ask(state)

    def _verdicts(self, state: LineState) -> _Verdicts:
        """What the judgement of a line started in (canonical, when so asked) ``state`` reads of the recommender's
        answer, computed once per state — and on the fast path once per stretch of unchanged knowledge."""
        answer = self._answers.get(state)
        if answer is not None:
            return answer
        if not self.fast:
            answer = self._answers[state] = self._verdicts_of(self._ask(state))
            return answer
        # the same patient at another knowledge period: asked again only where the knowledge it read differs
        day = state.period_start
        spans = self._spans.setdefault((state.her2_status, state.hr_status, state.prior), [])
        for first, end, known in spans:
            if (first is None or first <= day) and (end is None or day < end):
                self._answers[state] = known
                return known
        decision = self._decide(state)
        answer = self._verdicts_of(decision)
        spans.append((*decision.unchanged_between, answer))
        self._answers[state] = answer
        return answer

    def _verdicts_of(self, rec: Recommendation | Decision) -> _Verdicts:
        return _Verdicts(
            hr_positive=rec.hr_status == "positive",
            missing=tuple(m.code for m in rec.missing),
            options=tuple((self._norm(o.drugs), o.category.value == "preferred", o.name) for o in rec.options),
            excluded=tuple((self._norm(e.drugs), e.reason_code, e.name) for e in rec.excluded),
        )

    def _ask(self, state: LineState) -> Recommendation:
        from oncoline.engines.recommend import recommend

        self.calls += 1
        return recommend(self._patient(state), knowledge=self.kb, as_of=state.period_start)

    def _decide(self, state: LineState) -> Decision:
        from oncoline.engines.recommend.engine import decide, prepare

        self.calls += 1
        patient, day = self._patient_on(state), state.period_start
        # steps 1-3 once per patient state: its dates move with the decision date (engine.prepare)
        key = (state.her2_status, state.hr_status, state.prior)
        ready = self._prepared.get(key)
        if ready is None:
            ready = self._prepared[key] = prepare(patient, knowledge=self.kb, as_of=day)
        return decide(patient, knowledge=self.kb, as_of=day, prepared=ready)

    def _patient_on(self, state: LineState) -> Patient:
        """:meth:`_patient` of ``state``, validated once per patient state: on another decision date the validated
        patient is copied with its dates moved (the decision date is its only date: the metastatic diagnosis and
        every earlier line's end), which the model's checks — orderings and comparisons of those equal dates —
        would pass alike (``tests/analytics/test_concordance_fast.py`` checks the copy equals a patient built anew).
        """
        key = (state.her2_status, state.hr_status, state.prior)
        known = self._patients.get(key)
        if known is None:
            known = self._patients[key] = self._patient(state)
        return self._moved(known, state.period_start)

    @staticmethod
    def _moved(patient: Patient, day: dt.date) -> Patient:
        """``patient`` of :meth:`_patient` with every date of it on ``day`` (copied, not validated again)."""
        if patient.metastatic_diagnosis == day:
            return patient
        history = [h.model_copy(update={"end": day}) for h in patient.history]
        return patient.model_copy(update={"metastatic_diagnosis": day, "history": history})

    @staticmethod
    def _patient(state: LineState) -> Patient:
        """The patient of ``state``, every date of it on ``state.period_start`` (the decision date): its own dates
        move with the decision date, as ``Decision.unchanged_between`` assumes."""
        from oncoline.model import Patient

        tumor: dict[str, Any] = {"her2": {"status": state.her2_status} if state.her2_status else {}}
        if state.hr_status == "positive":
            tumor["er_status"] = "positive"
        elif state.hr_status == "negative":
            tumor |= {"er_status": "negative", "pr_status": "negative"}
        day = state.period_start
        history = [
            {"line": i, "drugs": list(drugs), "end": day, **({"stopped": stop} if stop else {})}
            for i, (drugs, stop) in enumerate(state.prior, start=1)
        ]
        return Patient(id="cohort-state", tumor=tumor, metastatic_diagnosis=day, history=history)

    def judge(self, state: LineState, drugs: tuple[str, ...]) -> Judgement:
        """The concordance of a line with ``drugs`` started in ``state`` (memoised)."""
        if self.canonical:
            state = canonical_state(state)
        key = (state, drugs)
        done = self._judged.get(key)
        if done is None:
            done = self._judge(state, drugs)
            self._judged[key] = done
        return done

    def _judge(self, state: LineState, drugs: tuple[str, ...]) -> Judgement:
        rec = self._verdicts(state)
        # one answer serves many states (every knowledge period of its stretch): matched once per answer and drugs
        key = (id(rec), drugs)  # the answer is kept in the memo, so its id is not reused
        done = self._matched.get(key)
        if done is None:
            done = self._matched[key] = self._match(rec, drugs)
        return done

    def _match(self, rec: _Verdicts, drugs: tuple[str, ...]) -> Judgement:
        missing = rec.missing
        blocking = next((m for m in missing if m in _BLOCKING_MISSING), None)
        if blocking is not None:
            return Judgement(ConcordanceCategory.NOT_ASSESSABLE, blocking, "")
        line = self._norm(drugs)
        core = self._norm(d for d in drugs if not any(self._is(d, c) for c in self.additions))
        targets = {line} | ({core} if rec.hr_positive and core and core != line else set())
        # the first preferred option with the line's drugs, else the first other one (options are ranked)
        found = [(preferred, name) for norm, preferred, name in rec.options if norm in targets]
        if found:
            preferred, name = next((o for o in found if o[0]), found[0])
            cat = ConcordanceCategory.CONCORDANT_PREFERRED if preferred else ConcordanceCategory.CONCORDANT_OTHER
            return Judgement(cat, "", name)
        has_endocrine = any(self._is(d, "endocrine_therapy") for d in drugs)
        if "hr_status" in missing and has_endocrine:
            return Judgement(ConcordanceCategory.NOT_ASSESSABLE, "hr_status", "")
        excluded = next(((reason, name) for norm, reason, name in rec.excluded if norm in targets), None)
        if excluded is not None:
            return Judgement(ConcordanceCategory.NOT_CONCORDANT, excluded[0], excluded[1])
        return Judgement(ConcordanceCategory.NOT_CONCORDANT, "not_an_option", "")


_WORKER_JUDGE: Judge | None = None
"""The judge a forked worker process inherits (set just before the pool starts)."""
PARALLEL_MIN_STATES = 2000
"""Distinct states from which :func:`concordance` spreads the recommender calls over worker processes."""


def _worker_start() -> None:
    """In each forked worker, first: every object inherited from the parent (the knowledge, the tasks, and in the
    report the cohort's tables) goes to the collector's permanent generation. The worker only adds to them, so the
    collector walks its own young objects instead of the whole inherited heap on each full collection (about a
    third of a worker's time without this), and does not write to the inherited pages (copy on write)."""
    import gc

    gc.freeze()


def _worker_judge(chunk: list[tuple[LineState, tuple[str, ...]]]) -> tuple[list[Judgement], int]:
    judge = _WORKER_JUDGE
    assert judge is not None
    before = judge.calls
    return [judge.judge(state, drugs) for state, drugs in chunk], judge.calls - before


class _PendingJudgements:
    """Judgements under way: worked out in this process at once, or in worker processes started (forked) before
    this object is returned, so the caller can do other work while they run (:func:`start_concordance`)."""

    def __init__(
        self,
        judge: Judge,
        tasks: list[tuple[LineState, tuple[str, ...]]],
        *,
        workers: int | None,
        grouped: bool = False,
    ) -> None:
        import multiprocessing as mp
        import os

        self.judge = judge
        self.tasks = tasks
        self.results: list[Judgement] | None = None
        self._pool: Any = None
        n = len(tasks)
        wanted = workers if workers is not None else min(os.cpu_count() or 1, 4)
        if wanted <= 1 or n < PARALLEL_MIN_STATES or "fork" not in mp.get_all_start_methods():
            return  # judged in this process, when the results are asked for (progress reported then)
        from concurrent.futures import ProcessPoolExecutor

        global _WORKER_JUDGE
        self.size = size = max(50, n // (wanted * 8))
        # the periods of one patient state go to one chunk, so each worker's memo spans them (Judge._verdicts);
        # ``grouped``: the tasks come so already (:func:`_key_lines`)
        self.order = order = (
            list(range(n))
            if grouped
            else sorted(
                range(n),
                key=lambda i: (
                    repr(tasks[i][0].prior),
                    tasks[i][0].her2_status or "",
                    tasks[i][0].hr_status or "",
                    tasks[i][0].period_start,
                ),
            )
        )
        chunks = [[tasks[i] for i in order[k : k + size]] for k in range(0, n, size)]
        _WORKER_JUDGE = judge
        try:
            # with the fork start method every worker is forked at the first submit, here and now: before the
            # caller goes on (its DuckDB threads are not running while the workers are made)
            self._pool = ProcessPoolExecutor(
                max_workers=wanted, mp_context=mp.get_context("fork"), initializer=_worker_start
            )
            self._futures = [self._pool.submit(_worker_judge, chunk) for chunk in chunks]
        except BaseException:
            if self._pool is not None:
                self._pool.shutdown(cancel_futures=True)
            raise
        finally:
            _WORKER_JUDGE = None

    def cancel(self) -> None:
        """Stop the worker processes (the chunks not started are dropped); the result is not to be asked for."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def result(self, on_progress: Callable[[int, int], None] | None = None) -> list[Judgement]:
        """Every judgement, in the order of the tasks (waits for the worker processes)."""
        if self.results is not None:
            return self.results
        judge, tasks, n = self.judge, self.tasks, len(self.tasks)
        if self._pool is None:
            out = []
            for i, (state, drugs) in enumerate(tasks, start=1):
                out.append(judge.judge(state, drugs))
                if on_progress is not None and i % 500 == 0:
                    on_progress(i, n)
            self.results = out
            return out
        results: list[Judgement] = [None] * n  # type: ignore[list-item]
        size, order = self.size, self.order
        try:
            done = 0
            for k, future in enumerate(self._futures):
                judged, calls = future.result()
                for j, i in zip(judged, order[k * size : k * size + len(judged)], strict=True):
                    results[i] = j
                judge.calls += calls
                done += len(judged)
                if on_progress is not None:
                    on_progress(done, n)
        finally:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
        self.results = results
        return results


def _judge_all(
    judge: Judge,
    tasks: list[tuple[LineState, tuple[str, ...]]],
    *,
    workers: int | None,
    on_progress: Callable[[int, int], None] | None,
) -> list[Judgement]:
    """Judge every (state, drugs), in this process or — for many states, where ``fork`` exists — spread over
    worker processes that inherit the loaded knowledge (the recommender is pure, so the answers are the same)."""
    return _PendingJudgements(judge, tasks, workers=workers).result(on_progress)


def concordance(
    lines: pa.Table,
    index: pa.Table,
    /,
    *,
    judge: Judge,
    workers: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> pa.Table:
    """Judge every line of a cohort.

    Parameters
    ----------
    lines
        The lines table of ``oncoline lines`` (``person_id``, ``line``, ``drugs``, ``start_date``, ``end_reason``).
    index
        The cohort index; optional ``her2_status`` and ``hr_status`` (absent = not given; other columns are not read).
    judge
        A :class:`Judge` (it keeps its memo between calls made in this process).
    workers
        Processes for the recommender calls (default: the CPUs, at most 4; 1 = in this process). Used only from
        :data:`PARALLEL_MIN_STATES` distinct states on and where ``fork`` is available.
    on_progress
        Called with ``(states judged, distinct states)`` as the work advances.

    Returns
    -------
    pyarrow.Table
        One row per line, in the order of ``lines``: ``person_id``, ``line``, ``regimen``, ``start_date``,
        ``category`` (:class:`ConcordanceCategory`), ``reason``, ``matched`` (option or excluded regimen name),
        ``ttnt_days``/``ttnt_event`` are not here (see the report).

    References
    ----------
    shared/reference/her2-mbc.md (the algorithm the recommender encodes); ASCO-HER2-2022.
    """
    return start_concordance(lines, index, judge=judge, workers=workers).result(on_progress)


class PendingConcordance:
    """The concordance of a cohort under way (:func:`start_concordance`): :meth:`result` gives the table of
    :func:`concordance`, waiting for the worker processes if they still run."""

    def __init__(self, keyed: _Keyed, pending: _PendingJudgements) -> None:
        self._keyed = keyed
        self._pending = pending
        self._result: pa.Table | None = None

    def cancel(self) -> None:
        """Give up: the worker processes are stopped (when the caller's own work failed, so that its error is not
        held up by judgements nobody will read)."""
        self._pending.cancel()

    def states(self) -> int:
        """The distinct patient states of the cohort — knowledge period and :func:`canonical_state`, what the judge
        memoises on — as :func:`oncoline.analytics.concordance_tables.count_distinct_states` counts them (from the
        states this run keyed already, without a second pass over the lines)."""
        return self._keyed.states

    def result(self, on_progress: Callable[[int, int], None] | None = None) -> pa.Table:
        """One row per line, as :func:`concordance` returns it (``on_progress``: states judged, distinct states)."""
        if self._result is not None:
            return self._result
        import numpy as np
        import pyarrow as pa

        results = self._pending.result(on_progress)
        keyed = self._keyed
        # each line takes the judgement of its (state, drugs) task: three small dictionaries, one take per column
        take = pa.array(keyed.task_of_line)
        columns = {}
        for name, values in (
            ("category", [j.category.value for j in results]),
            ("reason", [j.reason for j in results]),
            ("matched", [j.matched for j in results]),
        ):
            codes: dict[str, int] = {}
            per_task = np.fromiter((codes.setdefault(v, len(codes)) for v in values), np.int32, len(values))
            columns[name] = pa.DictionaryArray.from_arrays(
                pa.array(per_task).take(take), pa.array(list(codes), pa.string())
            ).cast(pa.string())
        base = keyed.lines
        self._result = pa.table(
            {
                "person_id": base.column("person_id"),
                "line": base.column("line"),
                "regimen": base.column("regimen"),
                "start_date": base.column("start_date"),
                **columns,
            }
        )
        return self._result


@dataclass(frozen=True)
class _Keyed:
    """A lines table keyed for judging: ``tasks`` (one per distinct knowledge period, canonical state and drugs),
    ``task_of_line`` (each line's task, in the order of the lines), ``lines`` (the columns the result repeats:
    ``person_id`` as text, ``line`` int32, ``regimen`` text, ``start_date``) and ``states`` (distinct knowledge
    period and canonical state pairs)."""

    tasks: list[tuple[LineState, tuple[str, ...]]]
    task_of_line: Any
    lines: pa.Table
    states: int


def _row_ids(columns: Any) -> Any:
    """Dense ids (0, 1, …, in the order of the rows' values) of the rows of non-negative int64 ``columns`` (one
    array per column): equal rows, equal ids. Column by column — the id so far times the column's size plus the
    column, made dense again — so no product of the columns' ranges has to fit in 64 bits."""
    import numpy as np

    ids: Any = None
    for col in columns:
        if ids is None:
            ids = np.unique(col, return_inverse=True)[1].reshape(-1)
            continue
        _, ids = np.unique(ids * (int(col.max()) + 1) + col, return_inverse=True)
        ids = ids.reshape(-1)
    return ids


def _key_lines(lines: pa.Table, index: pa.Table, judge: Judge) -> _Keyed:
    """Key every line by its knowledge period, HER2 and HR status (the index row with the earliest metastatic
    diagnosis of the person), canonical earlier lines (:func:`canonical_state`) and sorted drugs — in arrays: the
    drug lists of a cohort are a few dozen distinct values, so the earlier lines of a person become a sorted row
    of small integers and the states are found by one ``numpy.unique``."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from oncoline.analytics._duckdb import connect_one_thread

    n = lines.num_rows
    cols = set(index.column_names)
    if n == 0:
        empty = pa.table(
            {
                "person_id": pa.array([], pa.string()),
                "line": pa.array([], pa.int32()),
                "regimen": pa.array([], pa.string()),
                "start_date": pa.array([], pa.date32()),
            }
        )
        return _Keyed([], np.zeros(0, np.int64), empty, 0)

    def text(name: str) -> Any:
        """A text column as plain strings (dictionary-encoded or large strings cast)."""
        column = lines.column(name)
        return column if column.type == pa.string() else column.cast(pa.string())

    def opt(name: str) -> str:
        return (
            f"arg_min(lower(CAST({name} AS VARCHAR)), "
            "coalesce(TRY_CAST(metastatic_diagnosis AS DATE), DATE '9999-12-31'))"
            if (name in cols)
            else "CAST(NULL AS VARCHAR)"
        )

    con = connect_one_thread()  # (a lines-sized table; no DuckDB threads left when the workers fork)
    try:
        con.register("idx", index)
        status = con.execute(
            f"""SELECT CAST(person_id AS VARCHAR) AS person_id, {opt("her2_status")} AS her2, {opt("hr_status")} AS hr
                FROM idx GROUP BY 1"""
        ).to_arrow_table()
    finally:
        con.close()
    # each line's person as text (the result's person_id) and that person's row of ``status`` (none: null)
    person_text = pc.cast(lines.column("person_id"), pa.string())
    at_status = pc.index_in(person_text, value_set=status.column("person_id").combine_chunks())
    base = status.select(["her2", "hr"]).take(at_status)

    def codes_of(values: Any) -> tuple[Any, list[Any]]:
        """(int64 code per row, the distinct values — None included — by code)."""
        encoded = pc.dictionary_encode(values, null_encoding="encode").combine_chunks()
        return (
            np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64),
            encoded.dictionary.to_pylist(),
        )

    # drugs: the distinct lists (as joined text), each sorted once; a canonical id per sorted tuple
    drugs = lines.column("drugs")
    if drugs.type != pa.list_(pa.string()):
        drugs = drugs.cast(pa.list_(pa.string()))
    joined, texts = codes_of(pc.binary_join(drugs, "|"))
    drug_sets: dict[tuple[str, ...], int] = {}
    canon = np.array(
        [drug_sets.setdefault(tuple(sorted(t.split("|"))) if t is not None else (), len(drug_sets)) for t in texts],
        dtype=np.int64,
    )
    drug_id = canon[joined] if n else np.zeros(0, np.int64)
    sets_by_id = list(drug_sets)
    toxic = np.asarray(
        pc.fill_null(pc.equal(text("end_reason"), "toxicity"), False).to_numpy(zero_copy_only=False),
        dtype=np.int64,
    )
    token = drug_id * 2 + toxic  # what an earlier line leaves in the state (canonical_state): drugs, toxicity or not
    person, _ = codes_of(lines.column("person_id"))
    line_no = np.asarray(lines.column("line").to_numpy(zero_copy_only=False), dtype=np.int64)
    order = np.lexsort((line_no, person))  # each person's lines in line order
    p_sorted = person[order]
    first = np.ones(n, dtype=bool)
    first[1:] = p_sorted[1:] != p_sorted[:-1]
    starts = np.flatnonzero(first)
    run_start = np.repeat(starts, np.diff(np.append(starts, n)))
    rank = np.arange(n) - run_start  # 0 for a person's first line
    width = int(rank.max()) if n else 0
    # the earlier lines of each line as a row of tokens, sorted (a multiset), padded with -1 at the front
    prior = np.full((n, max(width, 1)), -1, dtype=np.int64)
    t_sorted = token[order]
    for k in range(width):
        has = rank > k
        prior[has, k] = t_sorted[run_start[has] + k]
    prior.sort(axis=1)
    prior_id = np.empty(n, dtype=np.int64)
    prior_id[order] = _row_ids(prior.T + 1)
    # knowledge period of each start date
    epoch = dt.date(1970, 1, 1)
    bounds = np.array([(d - epoch).days for d in judge.dates], dtype=np.int64)
    start_days = np.asarray(lines.column("start_date").cast(pa.int32()).to_numpy(zero_copy_only=False), np.int64)
    period = np.searchsorted(bounds, start_days, side="right") - 1
    her2, her2_values = codes_of(base.column("her2"))
    hr, hr_values = codes_of(base.column("hr"))
    # ids in the order of (HER2, HR, earlier lines, period): the tasks of one patient state come together, its
    # knowledge periods in date order (how the worker processes want them: _PendingJudgements, grouped)
    state_of_line = _row_ids([her2, hr, prior_id, period + 1])
    task_of_line = _row_ids([state_of_line, drug_id])
    _, first_row = np.unique(task_of_line, return_index=True)
    states = int(state_of_line.max()) + 1 if n else 0
    distinct = np.stack([period, her2, hr, prior_id, drug_id], axis=1)[first_row]
    at = np.empty(n, dtype=np.int64)
    at[order] = np.arange(n)  # the row of each line in ``prior``
    priors: dict[int, tuple[tuple[tuple[str, ...], str | None], ...]] = {}
    tasks: list[tuple[LineState, tuple[str, ...]]] = []
    for (p, h2, h, pid, did), row in zip(distinct.tolist(), first_row.tolist(), strict=True):
        earlier = priors.get(pid)
        if earlier is None:
            earlier = priors[pid] = canonical_state(
                LineState(
                    BEFORE_ALL,
                    None,
                    None,
                    tuple(
                        (sets_by_id[t >> 1], "toxicity" if t & 1 else None) for t in prior[at[row]].tolist() if t >= 0
                    ),
                )
            ).prior
        state = LineState(judge.dates[p] if p >= 0 else BEFORE_ALL, her2_values[h2], hr_values[h], earlier)
        tasks.append((state, sets_by_id[did]))
    kept = pa.table(
        {
            "person_id": person_text,
            "line": lines.column("line").cast(pa.int32()),
            "regimen": text("regimen"),
            "start_date": lines.column("start_date"),
        }
    )
    return _Keyed(tasks, task_of_line, kept, states)


def start_concordance(
    lines: pa.Table, index: pa.Table, /, *, judge: Judge, workers: int | None = None
) -> PendingConcordance:
    """Start judging every line of a cohort and return at once when the recommender calls run in worker processes
    (from :data:`PARALLEL_MIN_STATES` distinct states on, where ``fork`` exists; the workers are forked before this
    returns), so the caller's own work (DuckDB, Arrow, Kaplan–Meier) runs on another core meanwhile. Below that the
    states are judged in this process when the result is asked for.

    Parameters
    ----------
    lines, index, judge, workers
        As for :func:`concordance`.

    Returns
    -------
    PendingConcordance
        ``.result(on_progress)`` gives the table :func:`concordance` returns (the same rows, in the same order).
    """
    keyed = _key_lines(lines, index, judge)
    return PendingConcordance(keyed, _PendingJudgements(judge, keyed.tasks, workers=workers, grouped=True))
