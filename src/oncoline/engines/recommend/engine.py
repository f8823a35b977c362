"""The recommender: a pure function of patient, knowledge and ``as_of`` date (house style S10).

:func:`recommend` runs the steps below in order; each lives in its own module, leaves
:class:`~oncoline.model.recommendation.TraceEntry` records and names the reference section it implements.
:func:`decide` is steps 1-6 alone (what a cohort's guideline concordance needs); :func:`recommend` calls it and
adds steps 7-8, so the two never disagree.

1. **History** (:mod:`.history`) — the metastatic lines given, oldest first (derived from raw exposures when no
   history is given).
2. **Tumour status** (here) — HER2 (ASCO/CAP, §g) and hormone receptors (§0.1); a missing or equivocal result is
   asked for, never guessed.
3. **Line decision** (:mod:`.line_decision`) — the line now being chosen and the algorithm (§0.1, §a.3, §a.5, §b.3).
4. **Candidate regimens** (:mod:`.candidates`) — statements in effect on ``as_of`` whose population holds (§a).
5. **Checks and exclusions** (:mod:`.checks`, :func:`.options.check_candidates`) — progression, toxicity,
   contraindications, forbidden combinations, label prerequisites; cautions (§a.6 rules, §d, §g.6).
6. **Ranking** (:func:`.options.rank_options`) — categories after cautions, one option per drug set (§a.1, §a.2).
7. **Site actions** (:func:`.care.site_actions`) — brain, bone, liver, primary, trial (§a.6, §a.7, §b, §c).
8. **Monitoring** (:func:`.care.monitoring_for`) — safety monitoring for the drugs offered (§d).

References
----------
shared/reference/her2-mbc.md §a (algorithm by line), §b (brain), §c (sites), §d (safety), §g.6 (T-DXd by HER2
category); the knowledge files under ``knowledge/data`` cite the primary sources.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from oncoline.engines.her2 import Her2Classification, classify_her2
from oncoline.engines.recommend.candidates import candidate_regimens, holding_statements
from oncoline.engines.recommend.care import monitoring_for, safety_warnings, site_actions
from oncoline.engines.recommend.checks import Checker, holding_rules
from oncoline.engines.recommend.clock import Clock
from oncoline.engines.recommend.conditions import Facts, compile_condition
from oncoline.engines.recommend.facts import (
    early_endocrine_resistance,
    early_relapse_resistance,
    gather_facts,
    hr_missing_text,
    hr_status_of,
    render_text,
)
from oncoline.engines.recommend.history import PastLine, read_history
from oncoline.engines.recommend.line_decision import LineDecision, decide_line
from oncoline.engines.recommend.options import check_candidates, rank_options
from oncoline.errors import InputError
from oncoline.knowledge.loader import KnowledgeBase
from oncoline.knowledge.schema import SafetyRule, Statement
from oncoline.model.patient import Patient
from oncoline.model.recommendation import Excluded, Missing, Option, Recommendation, TraceEntry

__all__ = ["TEXTS_USED", "Decision", "LineDecision", "Prepared", "decide", "decide_line", "prepare", "recommend"]

TEXTS_USED: dict[str, frozenset[str]] = {
    "LINE-ONGOING": frozenset({"line", "current"}),
    "LINE-STARTING": frozenset({"line", "done", "given"}),
    "LINE-TOXICITY-COUNTS": frozenset(),
    "RELAPSE-DURING": frozenset(),
    "RELAPSE-AFTER": frozenset({"months"}),
    "ALGO-FIRST-LINE": frozenset(),
    "ALGO-SECOND-LINE": frozenset(),
    "ALGO-LATER-LINE": frozenset(),
    "ALGO-EARLY-RELAPSE": frozenset({"window"}),
    "RELAPSE-WINDOW-LABEL": frozenset(),
    "RELAPSE-WINDOW-LATE": frozenset(),
    "ALGO-MAINTENANCE": frozenset({"days", "min_days"}),
    "ALGO-INDUCTION-TOO-SHORT": frozenset({"days", "min_days"}),
    "ALGO-CONTINUE": frozenset(),
    "CNS-ISOLATED-PROGRESSION": frozenset(),
    "CNS-UNTREATED": frozenset(),
    "CNS-STATUS-UNKNOWN": frozenset(),
    "CNS-LEPTOMENINGEAL": frozenset(),
    "HER2-MISSING": frozenset(),
    "HER2-REFLEX-ISH": frozenset(),
    "HER2-WORKUP-INCOMPLETE": frozenset({"rule", "test", "comment"}),
    "HR-MISSING": frozenset({"absent", "known", "fields"}),
}
"""Every ``decision_texts.yaml`` id the engine reads → the placeholder names it supplies (``oncoline kb lint``
checks each id exists and uses no other placeholder; tests check the engine calls no other id)."""

_HER2_MISSING_TEXT = {"her2_status": "HER2-MISSING", "reflex_ish": "HER2-REFLEX-ISH"}
"""HER2 missing-item code → its ``decision_texts.yaml`` id (other codes use ``HER2-WORKUP-INCOMPLETE``)."""


@dataclasses.dataclass(frozen=True)
class Decision:
    """Steps 1-6 of :func:`recommend` for one patient at one decision point: what a line's concordance is judged on.

    Attributes
    ----------
    decision
        The line now being chosen and the algorithm (step 3).
    her2, hr
        The HER2 classification and the hormone-receptor status (``positive`` | ``negative`` | None = unknown).
    options, excluded, missing
        As in :class:`~oncoline.model.recommendation.Recommendation` (ranked options, one exclusion per drug set,
        the facts asked for so far — step 7 and 8 add none).
    facts, clock, warnings, trace
        The patient's facts, the knowledge as of the decision date and what the steps said (steps 7-8 read and
        extend them).
    unchanged_between
        ``(first, end)``: on every decision date ``first <= d < end`` (None: unbounded) steps 1-6 read the knowledge
        alike for this patient — same options, categories, exclusions with their reason codes, missing facts —
        when the patient's own dates move with ``d`` (:meth:`~oncoline.engines.recommend.clock.Clock.unchanged_between`
        after step 6; citations and wording may differ).
    """

    decision: LineDecision
    her2: Her2Classification
    hr: str | None
    options: tuple[Option, ...]
    excluded: tuple[Excluded, ...]
    missing: tuple[Missing, ...]
    facts: Facts
    clock: Clock
    warnings: list[str]
    trace: list[TraceEntry]
    unchanged_between: tuple[dt.date | None, dt.date | None]

    @property
    def hr_status(self) -> str:
        """``positive`` | ``negative`` | ``unknown`` (as :attr:`Recommendation.hr_status`)."""
        return self.hr or "unknown"


@dataclasses.dataclass(frozen=True)
class Prepared:
    """Steps 1-3 of :func:`decide` and the patient's facts for one patient at one decision date: what does not
    depend on the knowledge dates (:func:`prepare`). Only read, never changed: :func:`decide` copies the facts
    and lists it extends.

    Attributes
    ----------
    lines, her2, hr, unanchored, decision, facts, resistant, relapse
        The history (step 1), HER2 and HR status (step 2), whether exposures cannot be anchored, the line decision
        (step 3), the facts, early endocrine and early relapse resistance.
    warnings, trace, missing
        What these steps said.
    statements, rules
        The statements and the contraindication/caution rules whose population holds for the facts (whether each
        is in effect is asked on each decision date).
    """

    lines: tuple[PastLine, ...]
    her2: Her2Classification
    hr: str | None
    unanchored: bool
    decision: LineDecision
    facts: Facts
    resistant: dict[str, str]
    relapse: dict[str, str]
    warnings: tuple[str, ...]
    trace: tuple[TraceEntry, ...]
    missing: tuple[Missing, ...]
    statements: tuple[Statement, ...]
    rules: tuple[SafetyRule, ...]


def prepare(patient: Patient, /, *, knowledge: KnowledgeBase, as_of: dt.date) -> Prepared:
    """Steps 1-3 of :func:`decide` and the patient's facts — the part that compares no knowledge date with
    ``as_of`` (no :class:`~oncoline.engines.recommend.clock.Clock`), computed once to serve several calls.

    ``decide(patient, knowledge=kb, as_of=d, prepared=prepare(patient, knowledge=kb, as_of=d))`` is
    ``decide(patient, knowledge=kb, as_of=d)``. A caller that moves every date of the patient with the decision
    date (guideline concordance: the patient's own dates are the decision date) may prepare on one date and decide
    on another: the steps read the patient's dates only relative to ``as_of`` (``tests/engines/
    test_recommend_fast_paths.py`` checks the answers are the same).

    Parameters
    ----------
    patient, knowledge, as_of
        As for :func:`decide`.

    Returns
    -------
    Prepared
    """
    kb = knowledge
    warnings: list[str] = []
    trace: list[TraceEntry] = []
    missing: list[Missing] = []
    lines = read_history(patient, as_of, kb, warnings, trace)
    her2, hr = _tumour_status(patient, kb, missing, trace)
    unanchored = _unanchored(patient, missing)
    decision = _line_decision(patient, lines, kb, as_of, warnings, trace, unanchored=unanchored)
    facts = gather_facts(patient, lines, decision, her2, hr, kb, warnings, as_of)
    resistant = early_endocrine_resistance(patient, kb, warnings)
    relapse = early_relapse_resistance(patient, kb)
    return Prepared(
        tuple(lines),
        her2,
        hr,
        unanchored,
        decision,
        facts,
        resistant,
        relapse,
        tuple(warnings),
        tuple(trace),
        tuple(missing),
        holding_statements(kb, facts),
        holding_rules(kb, facts),
    )


def decide(
    patient: Patient, /, *, knowledge: KnowledgeBase, as_of: dt.date, prepared: Prepared | None = None
) -> Decision:
    """Steps 1-6 of :func:`recommend` — history, tumour status, line, candidates, checks, ranking — without the site
    actions and monitoring (steps 7-8) or the assembled answer.

    The same functions in the same order as :func:`recommend`, which calls this: its options, exclusions, missing
    facts, line and HR status are exactly those of the recommendation (guideline concordance of a cohort's lines
    needs nothing more, at about half the cost).

    Parameters
    ----------
    patient, knowledge, as_of
        As for :func:`recommend`.
    prepared
        Steps 1-3 already done (:func:`prepare`, for this patient); None: done here.

    Returns
    -------
    Decision
        Ranked options, exclusions, missing facts and the line decision, with the facts and trace so far.

    Raises
    ------
    InputError
        As :func:`recommend`.
    """
    kb = knowledge
    warnings: list[str] = []
    trace: list[TraceEntry] = []
    missing: list[Missing] = []
    clock = Clock(kb, as_of, trace)
    _check_decision_date(patient, clock, warnings)
    ready = prepared if prepared is not None else prepare(patient, knowledge=kb, as_of=as_of)
    warnings.extend(ready.warnings)
    trace.extend(ready.trace)
    missing.extend(ready.missing)
    lines, her2, hr, unanchored, decision = ready.lines, ready.her2, ready.hr, ready.unanchored, ready.decision
    facts = dataclasses.replace(ready.facts)  # its own copy: option_drugs is set below
    checker = Checker(kb, facts, lines, clock, ready.resistant, ready.relapse, holding=ready.rules)
    _ask_for_safety_facts(clock, facts, missing)
    candidates, gated = candidate_regimens(
        kb, facts, decision, her2, checker, clock, unanchored=unanchored, holding=ready.statements
    )
    checked = check_candidates(candidates, kb, facts, decision, checker)
    options, excluded = rank_options(checked, gated, kb, facts, checker)
    facts.option_drugs = frozenset(d for o in options for d in o.drugs)
    return Decision(
        decision,
        her2,
        hr,
        tuple(options),
        tuple(excluded),
        tuple(missing),
        facts,
        clock,
        warnings,
        trace,
        clock.unchanged_between(),
    )


def recommend(patient: Patient, /, *, knowledge: KnowledgeBase, as_of: dt.date) -> Recommendation:
    """Recommend systemic options and actions for one patient at one decision point.

    Parameters
    ----------
    patient
        The patient (:class:`~oncoline.model.Patient`); history in any order.
    knowledge
        :func:`~oncoline.knowledge.loader.load_knowledge`.
    as_of
        The decision date: statements not yet in effect are left out, history after it is ignored.

    Returns
    -------
    Recommendation
        Line and algorithm with rationale; options (preferred first) each with ≥1 citation; excluded
        regimens with reason codes; actions (always ``clinical_trial``); monitoring; missing facts; warnings;
        the trace of rules that fired; the knowledge version.

    Raises
    ------
    InputError
        When the metastatic diagnosis lies after ``as_of`` or a line ends before it starts.

    References
    ----------
    shared/reference/her2-mbc.md §a-§d, §g.6; ASCO-HER2-2022; ASCO-BM-2022; FDA labels (knowledge/data).
    """
    kb = knowledge
    d = decide(patient, knowledge=kb, as_of=as_of)
    facts, clock, warnings, decision = d.facts, d.clock, d.warnings, d.decision
    actions = site_actions(clock, facts)
    monitoring = monitoring_for(clock, facts, d.options)
    safety_warnings(clock, facts, warnings)
    if not d.options and not d.missing:
        warnings.append("no systemic option remains after exclusions: MDT review, clinical trial or supportive care")
    return Recommendation(
        patient_id=patient.id,
        as_of=as_of,
        kb_version=kb.version,
        line=decision.line,
        line_rationale=decision.line_rationale,
        algorithm=decision.algorithm,
        algorithm_rationale=decision.algorithm_rationale,
        her2_status=d.her2.status,
        her2_category=d.her2.category,
        hr_status=d.hr_status,
        options=d.options,
        excluded=d.excluded,
        actions=actions,
        monitoring=monitoring,
        missing=d.missing,
        warnings=tuple(dict.fromkeys(warnings)),
        trace=tuple(d.trace),
    )


def _check_decision_date(patient: Patient, clock: Clock, warnings: list[str]) -> None:
    """Refuse a metastatic diagnosis after ``as_of``; warn when ``as_of`` precedes what the knowledge encodes."""
    kb, as_of = clock.kb, clock.as_of
    if patient.metastatic_diagnosis is not None and patient.metastatic_diagnosis > as_of:
        raise InputError(
            f"metastatic_diagnosis {patient.metastatic_diagnosis} is after as_of {as_of}; correct the date or "
            "pass an `as_of` argument on or after it",
            field="metastatic_diagnosis",
        )
    if clock.before(kb.params.coverage_start):
        warnings.append(f"as_of {as_of} is before {kb.params.coverage_start}, the earliest date this knowledge encodes")


def _tumour_status(
    patient: Patient, kb: KnowledgeBase, missing: list[Missing], trace: list[TraceEntry]
) -> tuple[Her2Classification, str | None]:
    """Step 2 — HER2 (ASCO/CAP 2018, reference §g) and HR status (§0.1); each missing or incomplete result is asked
    for (reference §d.8: ask, never infer)."""
    her2 = classify_her2(patient.tumor.her2)
    trace.append(TraceEntry(rule=f"HER2:{her2.rule}", effect=f"{her2.status} / {her2.category}"))
    if her2.status in ("missing", "equivocal") or her2.next_test:
        code = her2.next_test or ("her2_status" if her2.status == "missing" else "reflex_ish")
        text = (
            kb.text(_HER2_MISSING_TEXT[code])
            if code in _HER2_MISSING_TEXT
            else kb.text(
                "HER2-WORKUP-INCOMPLETE", rule=her2.rule, test=code.replace("_", " "), comment=her2.comment
            ).strip()
        )
        missing.append(Missing(code=code, text=text))
    hr = hr_status_of(patient)
    if hr is None:
        missing.append(Missing(code="hr_status", text=hr_missing_text(patient, kb)))
    return her2, hr


def _unanchored(patient: Patient, missing: list[Missing]) -> bool:
    """True (and the fact asked for) when exposures cannot be anchored: no metastatic diagnosis date."""
    unanchored = not patient.history and bool(patient.exposures) and patient.metastatic_diagnosis is None
    if unanchored:
        missing.append(
            Missing(
                code="metastatic_diagnosis",
                text=f"{len(patient.exposures)} drug exposure(s) are recorded but the date of the metastatic "
                "diagnosis is not: prior metastatic lines cannot be told from (neo)adjuvant therapy, so the line "
                "now being chosen is unknown — give metastatic_diagnosis (or the history of metastatic lines).",
            )
        )
    return unanchored


def _line_decision(
    patient: Patient,
    lines: Sequence[PastLine],
    kb: KnowledgeBase,
    as_of: dt.date,
    warnings: list[str],
    trace: list[TraceEntry],
    *,
    unanchored: bool,
) -> LineDecision:
    """Step 3 — :func:`~oncoline.engines.recommend.line_decision.decide_line`, said to be a lower bound when the
    exposures cannot be anchored, and traced (reference §0.1, §a.3, §a.5, §b.3)."""
    decision = decide_line(patient, lines, kb, as_of, warnings)
    if unanchored:
        decision = dataclasses.replace(
            decision,
            line_rationale="Line unknown: the exposures cannot be anchored without the metastatic diagnosis date; "
            f"shown as {decision.line} only as a lower bound. No systemic regimen is proposed until it is given.",
        )
    trace.append(TraceEntry(rule="LINE", effect=decision.line_rationale))
    trace.append(TraceEntry(rule=f"ALGORITHM:{decision.algorithm.value}", effect=decision.algorithm_rationale))
    return decision


def _ask_for_safety_facts(clock: Clock, facts: Facts, missing: list[Missing]) -> None:
    """The safety facts a rule needs before deciding (``safety.yaml`` ``asks``: e.g. gestational age, brain status)."""
    kb = clock.kb
    for ask in kb.safety.asks:
        if compile_condition(ask.when, kb)(facts) and clock.any_in_effect(ask.citations):
            missing.append(Missing(code=ask.code, text=render_text(ask.text, facts, kb)))
            clock.trace.append(TraceEntry(rule=ask.id, effect=f"asks for {ask.code}"))
