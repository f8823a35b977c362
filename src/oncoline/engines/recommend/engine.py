"""The recommender: a pure function of patient, knowledge and ``as_of`` date (house style S10).

Steps (each leaves a :class:`~oncoline.model.recommendation.TraceEntry`):

1. **History.** Metastatic lines as given, oldest first (input order does not matter); lines starting after
   ``as_of`` are ignored and counted; when only raw ``exposures`` are given, lines are derived from them
   (:func:`oncoline.engines.lines.reference.derive_lines`) and the answer says so.
2. **Line and algorithm.** The line now being chosen is the ordinal of the metastatic regimen about to start, or
   of the current one when the decision is to continue it: maintenance after a response to induction, or
   isolated brain progression with controlled extracranial disease. A line stopped for toxicity counts.
   Relapse ≤12 months after (neo)adjuvant HER2 therapy keeps the ordinal at 1 but applies the second-line
   algorithm (ASCO-HER2-2022 Rec 5.0) and says so.
3. **Candidates.** Every guideline statement in effect on ``as_of`` (its own date reached, not expired, every
   source it cites published or approved by then) whose population condition holds places its regimen; HER2
   scope gates HER2-directed drugs (a missing or equivocal HER2 result never yields one). Flags, notes, evidence
   and citations resting on a source dated after ``as_of`` are left out and traced; a safety, action or
   monitoring rule stands while one of its sources exists and shows only those.
4. **Partners.** Slots pick the first partner the patient can receive; adjuncts (a GnRH agonist beside an
   aromatase inhibitor for a premenopausal patient) are added.
5. **Exclusions.** Progression on a drug (except trastuzumab beyond progression), a toxicity stop, safety
   contraindications, forbidden combinations and label prerequisites remove options, each with a reason code,
   text and sources; cautions and off-label prerequisites flag them.
6. **Actions, monitoring, warnings, missing facts** — always the clinical-trial action.

References
----------
shared/reference/her2-mbc.md §a (algorithm by line), §b (brain), §c (sites), §d (safety), §g.6 (T-DXd by HER2
category); the knowledge files under ``knowledge/data`` cite the primary sources.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from oncoline.engines.her2 import Her2Classification, classify_her2
from oncoline.engines.recommend.conditions import Facts, compile_condition
from oncoline.errors import InputError
from oncoline.knowledge.loader import KnowledgeBase
from oncoline.knowledge.schema import Flag, Prerequisite, Regimen, Slot, Statement
from oncoline.model.patient import HistoryLine, MetastaticSite, Patient, SiteKind, StopReason
from oncoline.model.recommendation import (
    CATEGORY_RANK,
    Action,
    Algorithm,
    Category,
    Citation,
    Excluded,
    Missing,
    Monitoring,
    Option,
    Recommendation,
    TraceEntry,
)

__all__ = ["TEXTS_USED", "LineDecision", "decide_line", "recommend"]

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


# ------------------------------------------------------------------------------------------- history
@dataclass(frozen=True)
class _Line:
    """One metastatic line as the engine sees it."""

    ordinal: int
    drugs: tuple[str, ...]
    start: dt.date | None
    end: dt.date | None
    stopped: str  # progression | toxicity | completed | ongoing | unknown
    toxicity_event: str | None = None
    toxicity_grade: int | None = None
    best_response: str | None = None

    def label(self) -> str:
        drugs = " + ".join(self.drugs)
        reason = {"ongoing": "ongoing", "unknown": "stop reason not recorded"}.get(self.stopped, self.stopped)
        when = f"{self.start or '?'} → {self.end or 'now'}"
        return f"line {self.ordinal}: {drugs} ({when}, {reason})"


def _history(
    patient: Patient, as_of: dt.date, kb: KnowledgeBase, warnings: list[str], trace: list[TraceEntry]
) -> list[_Line]:
    entries: Sequence[HistoryLine] = patient.history
    if not entries and patient.exposures:
        entries = _derive_from_exposures(patient, as_of, warnings, trace)
    elif entries and patient.exposures:
        warnings.append(f"history is given: {len(patient.exposures)} raw exposure(s) not used to derive lines")
    for i, et in enumerate(patient.early_therapy):
        if et.end is not None and et.end > as_of:
            warnings.append(f"early_therapy[{i}] ends {et.end}, after as_of {as_of}; check the date")
    dropped = [h for h in entries if h.start is not None and h.start > as_of]
    if dropped:
        warnings.append(
            f"{len(dropped)} history line(s) starting after as_of {as_of} ignored "
            f"({', '.join(' + '.join(h.drugs) for h in dropped)})"
        )
    kept = [h for h in entries if h.start is None or h.start <= as_of]
    out: list[_Line] = []
    for i, h in enumerate(kept, start=1):
        stopped = h.stopped.value if h.stopped is not None else None
        end = h.end
        if end is not None and end > as_of:
            warnings.append(f"history line {i} ends {end}, after as_of {as_of}: taken as ongoing at {as_of}")
            end, stopped = None, "ongoing"
        if stopped is None:
            if end is None and i == len(kept):
                warnings.append(f"history line {i} has no end and no stop reason: taken as ongoing")
                stopped = "ongoing"
            else:
                warnings.append(
                    f"history line {i} ({' + '.join(h.drugs)}) has no stop reason: its drugs are not re-proposed "
                    "(treated like progression); give `stopped`"
                )
                stopped = "unknown"
        if stopped == "ongoing" and i != len(kept):
            warnings.append(f"history line {i} is marked ongoing but a later line exists: taken as stopped")
            stopped = "unknown"
        anticancer = tuple(d for d in h.drugs if kb.vocab.drug(d).role.value == "anticancer")
        if len(anticancer) != len(h.drugs):
            skipped = sorted(set(h.drugs) - set(anticancer))
            warnings.append(f"history line {i}: supportive/concomitant drugs {skipped} do not form a line; ignored")
        out.append(
            _Line(
                ordinal=i,
                drugs=anticancer or tuple(h.drugs),
                start=h.start,
                end=end,
                stopped=stopped,
                toxicity_event=h.toxicity.event if h.toxicity else None,
                toxicity_grade=h.toxicity.grade if h.toxicity else None,
                best_response=(h.best_response or "").strip().upper() or None,
            )
        )
    return out


def _derive_from_exposures(
    patient: Patient, as_of: dt.date, warnings: list[str], trace: list[TraceEntry]
) -> list[HistoryLine]:
    """Lines from raw exposures via the reference line-of-therapy engine."""
    from oncoline.engines.lines.params import load_line_params
    from oncoline.engines.lines.reference import derive_lines

    result = derive_lines(
        patient.exposures,
        metastatic_diagnosis=patient.metastatic_diagnosis,
        params=load_line_params(),
        as_of=as_of,
        person_id=patient.id,
    )
    n_rows = len(patient.exposures)
    text = f"lines derived from {n_rows} raw exposures: {len(result.lines)} metastatic line(s)"
    if result.excluded:
        left = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in sorted(result.excluded.items()))
        text += f"; rows left out: {left}"
    warnings.append(text)
    trace.append(TraceEntry(rule="derive_lines", effect=text))
    mapping = {
        "progression": StopReason.PROGRESSION,
        "toxicity": StopReason.TOXICITY,
        "ongoing": StopReason.ONGOING,
        # "gap" and "switched" say that a line ended, not why: left unknown, so its drugs are treated like
        # progression (not re-proposed) and a warning asks for the reason — never guessed as "completed".
    }
    return [
        HistoryLine(
            line=ln.line,
            drugs=list(ln.drugs),
            start=ln.start,
            end=None if ln.end_reason.value == "ongoing" else ln.end,
            stopped=mapping.get(ln.end_reason.value),
        )
        for ln in result.lines
    ]


# -------------------------------------------------------------------------------------- line decision
@dataclass(frozen=True)
class LineDecision:
    """The line now being chosen and the algorithm that applies."""

    line: int
    algorithm: Algorithm
    line_rationale: str
    algorithm_rationale: str
    current: _Line | None
    early_relapse_months: float | None
    early_chemo_relapse_months: float | None


def _months_since(patient: Patient, kb: KnowledgeBase, cls: str, warnings: list[str]) -> float | None:
    relapse = patient.recurrence_date or patient.metastatic_diagnosis
    ends: list[dt.date] = []
    for i, et in enumerate(patient.early_therapy):
        if not any(kb.in_class(d, cls) for d in et.drugs):
            continue
        if et.end is None:
            warnings.append(
                f"early_therapy[{i}] ({' + '.join(et.drugs)}) has no end date: the relapse interval after "
                f"{cls.replace('_', ' ')} therapy is unknown; give early_therapy[{i}].end"
            )
            continue
        ends.append(et.end)
    if not ends or relapse is None:
        return None
    days = (relapse - max(ends)).days
    return round(days / kb.params.days_per_month, 1)


def _relapse_text(kb: KnowledgeBase, months: float) -> str:
    if months < 0:
        return " " + kb.text("RELAPSE-DURING")
    return " " + kb.text("RELAPSE-AFTER", months=months)


def decide_line(
    patient: Patient, lines: Sequence[_Line], kb: KnowledgeBase, as_of: dt.date, warnings: list[str]
) -> LineDecision:
    """Determine the line now being chosen and the algorithm (see the module docstring, step 2).

    Parameters
    ----------
    patient
        The patient (early therapy and recurrence date for the relapse interval).
    lines
        Metastatic lines, oldest first, as prepared by the engine (the last may be ``ongoing``).
    kb
        Knowledge: ``statements.yaml`` parameters (relapse thresholds in months, ``induction_min_days``,
        ``induction_classes``).
    as_of
        Decision date (the length of an ongoing induction, in days, is counted to it).
    warnings
        Appended to (e.g. an early therapy without an end date: relapse interval unknown).

    Returns
    -------
    LineDecision
        Ordinal, algorithm (first_line | maintenance | continue | second_line | later_line), both rationales,
        the ongoing line if any, and the relapse intervals in months (None when unknown).

    References
    ----------
    ASCO-HER2-2022 Rec 4.0 (maintenance), Rec 5.0/5.1 (relapse ≤12 / >12 months); ASCO-BM-2022 Rec 8.1;
    shared/reference/her2-mbc.md §0.1 (a change for progression or intolerance starts a new line).
    """
    p = kb.params
    relapse = _months_since(patient, kb, "her2_directed", warnings)
    chemo_relapse = _months_since(patient, kb, "chemotherapy", warnings)
    done = [ln for ln in lines if ln.stopped != "ongoing"]
    current = lines[-1] if lines and lines[-1].stopped == "ongoing" else None
    given = "; ".join(ln.label() for ln in done) or "none"
    if current is not None:
        line = current.ordinal
        days = (as_of - current.start).days if current.start else None
        # Parenchymal sites with a status, status-less sites and leptomeningeal disease are told apart: only the
        # first get SRS/resection wording (reference §b.1-b.3 cover parenchymal metastases only).
        brain = [s for s in patient.sites if s.site == SiteKind.BRAIN]
        statuses = {s.status.value for s in brain if s.status is not None}
        brain_progressing = "progressing" in statuses
        brain_untreated = "active" in statuses
        brain_status_unknown = any(s.status is None for s in brain)
        leptomeningeal = patient.has_site(SiteKind.LEPTOMENINGEAL)
        induction = all(any(kb.in_class(d, c) for d in current.drugs) for c in p.induction_classes)
        rationale = kb.text("LINE-ONGOING", line=line, current=current.label())
        cns = _ongoing_cns_text(
            kb,
            progressing=brain_progressing,
            untreated=brain_untreated,
            status_unknown=brain_status_unknown,
            leptomeningeal=leptomeningeal,
        )
        if cns:
            return LineDecision(line, Algorithm.CONTINUE, rationale, cns, current, relapse, chemo_relapse)
        responded = current.best_response not in {"PD"}
        if induction and days is not None and days >= p.induction_min_days and responded:
            return LineDecision(
                line, Algorithm.MAINTENANCE, rationale,
                kb.text("ALGO-MAINTENANCE", days=days, min_days=p.induction_min_days),
                current, relapse, chemo_relapse,
            )  # fmt: skip
        why = (
            kb.text("ALGO-INDUCTION-TOO-SHORT", days=days, min_days=p.induction_min_days)
            if induction and days is not None
            else kb.text("ALGO-CONTINUE")
        )
        return LineDecision(line, Algorithm.CONTINUE, rationale, why, current, relapse, chemo_relapse)
    line = len(done) + 1
    rationale = kb.text("LINE-STARTING", line=line, done=len(done), given=given) + (
        " " + kb.text("LINE-TOXICITY-COUNTS") if any(ln.stopped == "toxicity" for ln in done) else ""
    )
    if line == 1:
        if relapse is not None and relapse <= p.second_line_if_relapse_within_months:
            window = kb.text(
                "RELAPSE-WINDOW-LABEL" if relapse <= p.label_relapse_window_months else "RELAPSE-WINDOW-LATE"
            )
            return LineDecision(
                1, Algorithm.SECOND_LINE,
                rationale + _relapse_text(kb, relapse),
                kb.text("ALGO-EARLY-RELAPSE", window=window),
                None, relapse, chemo_relapse,
            )  # fmt: skip
        extra = "" if relapse is None else _relapse_text(kb, relapse)
        return LineDecision(
            1, Algorithm.FIRST_LINE, rationale + extra, kb.text("ALGO-FIRST-LINE"), None, relapse, chemo_relapse
        )
    if line == 2:
        return LineDecision(
            2, Algorithm.SECOND_LINE, rationale, kb.text("ALGO-SECOND-LINE"), None, relapse, chemo_relapse
        )
    return LineDecision(
        line, Algorithm.LATER_LINE, rationale,
        kb.text("ALGO-LATER-LINE"),
        None, relapse, chemo_relapse,
    )  # fmt: skip


def _ongoing_cns_text(
    kb: KnowledgeBase, /, *, progressing: bool, untreated: bool, status_unknown: bool, leptomeningeal: bool
) -> str:
    """Why an ongoing line is continued, not de-escalated, when CNS disease is recorded ('' when none).

    Parameters
    ----------
    kb
        Knowledge: the ``CNS-*`` texts of ``decision_texts.yaml``.
    progressing, untreated
        A parenchymal brain site with status ``progressing`` / ``active`` is recorded.
    status_unknown
        A parenchymal brain site without a status is recorded (never read as "untreated"; the ``brain_status``
        missing item asks for the details).
    leptomeningeal
        Leptomeningeal disease is recorded (not parenchymal: no SRS/resection wording).

    Returns
    -------
    str
        One sentence per kind of CNS disease present, joined by spaces; empty when none is present.

    References
    ----------
    ASCO-BM-2022 Rec 1.0, 2.1-2.3, 8.1, 8.2; shared/reference/her2-mbc.md §b.1, §b.3. Leptomeningeal treatment is
    not covered by the reference (UNCONFIRMED).
    """
    parts: list[str] = []
    if progressing:
        parts.append(kb.text("CNS-ISOLATED-PROGRESSION"))
    elif untreated:
        parts.append(kb.text("CNS-UNTREATED"))
    if status_unknown:
        parts.append(kb.text("CNS-STATUS-UNKNOWN"))
    if leptomeningeal:
        parts.append(kb.text("CNS-LEPTOMENINGEAL"))
    return " ".join(parts)


# ------------------------------------------------------------------------------------------- facts
def _facts(
    patient: Patient,
    lines: Sequence[_Line],
    decision: LineDecision,
    her2: Her2Classification,
    hr: str | None,
    kb: KnowledgeBase,
    warnings: list[str],
    as_of: dt.date,
) -> Facts:
    c = patient.conditions
    done = [ln for ln in lines if ln.stopped != "ongoing"]

    def any_class(drugs: Iterable[str], cls: str) -> bool:
        return any(kb.in_class(d, cls) for d in drugs)

    early = frozenset(d for et in patient.early_therapy for d in et.drugs)
    metastatic = frozenset(d for ln in lines for d in ln.drugs)
    # Parenchymal brain metastases only: leptomeningeal disease is its own fact (no resection/SRS rules apply).
    brain = [s for s in patient.sites if s.site == SiteKind.BRAIN]
    ild_grade = c.ild_history.grade if c.ild_history else None
    ild_drugs: set[str] = {c.ild_history.drug} if c.ild_history and c.ild_history.drug else set()
    terms = kb.safety.progression.ild_terms
    for ln in lines:
        event = " ".join((ln.toxicity_event or "").lower().replace("-", " ").split())
        if ln.stopped == "toxicity" and any(re.search(rf"\b{re.escape(t)}\b", event) for t in terms):
            grade = ln.toxicity_grade
            if grade is None:
                warnings.append(
                    f"line {ln.ordinal} stopped for ILD/pneumonitis without a grade: taken as grade 2; give the grade"
                )
                grade = 2
            ild_grade = max(ild_grade or 0, grade)
            adcs = [d for d in ln.drugs if kb.in_class(d, "anti_her2_adc")]
            ild_drugs.update(adcs or ln.drugs)
    symptomatic = frozenset(s.site.value for s in patient.sites if s.symptomatic)
    primary = patient.primary_tumor
    menopausal = patient.menopausal_status
    return Facts(
        her2_status=her2.status,
        her2_category=her2.category,
        hr=hr,
        menopausal=menopausal,
        line=decision.line,
        algorithm=decision.algorithm.value,
        brain_statuses=frozenset(s.status.value for s in brain if s.status is not None)
        | (frozenset({"active"}) if any(s.status is None for s in brain) else frozenset()),
        brain_symptomatic=any(bool(s.symptomatic) for s in brain),
        brain_mass_effect=any(bool(s.mass_effect) for s in brain),
        brain_largest_mm=max((s.largest_mm for s in brain if s.largest_mm is not None), default=None),
        brain_details_unknown=any(_brain_details_unknown(s) for s in brain),
        brain_missing=_brain_missing(brain),
        leptomeningeal=patient.has_site(SiteKind.LEPTOMENINGEAL),
        sites=frozenset(s.site.value for s in patient.sites),
        symptomatic_sites=symptomatic,
        oligometastatic_sites=frozenset(s.site.value for s in patient.sites if s.oligometastatic),
        primary_symptomatic=bool(primary and primary.in_place and primary.symptoms),
        prior_lines=len(done),
        prior_her2_metastatic=sum(1 for ln in done if any_class(ln.drugs, "her2_directed")),
        prior_her2_any=sum(1 for ln in done if any_class(ln.drugs, "her2_directed"))
        + (1 if any_class(early, "her2_directed") else 0),
        prior_et_metastatic=sum(1 for ln in done if any_class(ln.drugs, "endocrine_therapy")),
        prior_chemo_metastatic=sum(1 for ln in done if any_class(ln.drugs, "chemotherapy")),
        received=early | metastatic,
        received_early=early,
        received_metastatic=metastatic,
        current_line=frozenset(decision.current.drugs) if decision.current else frozenset(),
        early_relapse_months=decision.early_relapse_months,
        early_chemo_relapse_months=decision.early_chemo_relapse_months,
        lvef_percent=c.lvef_percent,
        lvef_drop_points=(
            c.lvef_baseline_percent - c.lvef_percent
            if c.lvef_baseline_percent is not None and c.lvef_percent is not None
            else None
        ),
        days_since_her2_directed=_days_since_her2(patient, lines, kb, as_of),
        platelets_per_mm3=c.platelets_per_mm3,
        alt_x_uln=c.alt_x_uln,
        nyha=c.heart_failure_nyha,
        pregnant=c.pregnant,
        gestational_age_weeks=c.gestational_age_weeks,
        breastfeeding=c.breastfeeding,
        neuropathy_grade=c.neuropathy_grade,
        crcl_ml_min=c.crcl_ml_min,
        bilirubin_x_uln=c.bilirubin_x_uln,
        hepatic=c.hepatic_impairment,
        ild_grade=ild_grade,
        ild_drugs=frozenset(ild_drugs),
        medications=frozenset(c.medications),
        declines_chemotherapy=patient.preferences.declines_chemotherapy,
        declines_brain_local_therapy=patient.preferences.declines_brain_local_therapy,
        ecog=patient.ecog,
        receptor_discordance=_discordant(patient, her2, hr),
    )


def _days_since_her2(patient: Patient, lines: Sequence[_Line], kb: KnowledgeBase, as_of: dt.date) -> int | None:
    """Days from the last HER2-directed dose to ``as_of``: 0 while an ongoing line holds one; None if never/unknown.

    The label hold rules (an LVEF fall from the baseline "before the current anti-HER2 therapy", FORMAT.md) apply
    only on or shortly after that therapy; their conditions bound this (safety.yaml ``her2_therapy_within_days``).
    """
    ends: list[dt.date] = []
    for ln in lines:
        if not any(kb.in_class(d, "her2_directed") for d in ln.drugs):
            continue
        if ln.stopped == "ongoing":
            return 0
        if ln.end is not None:
            ends.append(ln.end)
    ends += [
        et.end
        for et in patient.early_therapy
        if et.end is not None and any(kb.in_class(d, "her2_directed") for d in et.drugs)
    ]
    return max(0, (as_of - max(ends)).days) if ends else None


def _brain_details_unknown(site: MetastaticSite) -> bool:
    """True when local-therapy advice for this brain site would rest on a guess (reference §b.1, §b.3).

    Status is always needed; an untreated or progressing site also needs its symptoms and its largest size
    (mass effect and the 2 cm / 3-4 cm thresholds of ASCO-BM Rec 2.1-2.3 depend on them).
    """
    if site.status is None:
        return True
    if site.status.value in ("active", "progressing"):
        return site.symptomatic is None or (site.largest_mm is None and not site.mass_effect)
    return False


def _brain_missing(brain: Sequence[MetastaticSite]) -> tuple[str, ...]:
    """The details still to give for the brain sites whose local-therapy advice would rest on a guess.

    Only sites for which :func:`_brain_details_unknown` holds count; a detail is named once, in a fixed order
    (status, symptoms, mass effect, lesion count, largest size), and only when it is absent from such a site.
    Mass effect is not asked for a site recorded as asymptomatic (no symptomatic mass effect then; reference §b.1
    Rec 2.1-2.2).
    """
    names = {
        "status": "status (stable / active / progressing)",
        "symptomatic": "symptoms",
        "mass_effect": "mass effect",
        "lesions": "lesion count",
        "largest_mm": "largest size (mm)",
    }
    absent: set[str] = set()
    for s in (s for s in brain if _brain_details_unknown(s)):
        absent.update(k for k in ("status", "symptomatic", "lesions", "largest_mm") if getattr(s, k) is None)
        if s.mass_effect is None and s.symptomatic is None:
            absent.add("mass_effect")
    return tuple(text for key, text in names.items() if key in absent)


def _render(text: str, facts: Facts) -> str:
    """``text`` with its fact placeholders filled (``{brain_missing}``: the brain details still to give).

    Knowledge texts may name what is missing without Python knowing the wording around it; a text without a
    placeholder is returned unchanged.
    """
    if "{brain_missing}" in text:
        items = list(facts.brain_missing) or ["details"]
        listed = items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
        text = text.replace("{brain_missing}", listed)
    return text


def _early_endocrine_resistance(patient: Patient, kb: KnowledgeBase, warnings: list[str]) -> dict[str, str]:
    """Drug → reason, for endocrine drugs the patient is resistant to after (neo)adjuvant endocrine therapy.

    Relapse during or within ``relapse_within_months`` of the last dose of an adjuvant endocrine drug counts as
    progression on it and on every member of its resistant class (safety.yaml ``early_endocrine_resistance``;
    reference §a.3). An early endocrine therapy without an end date that started before the relapse is taken as
    given up to the relapse (like a line without a stop reason, its drugs are not re-proposed) and a warning asks
    for the date.
    """
    policy = kb.safety.progression.early_endocrine_resistance
    relapse = patient.recurrence_date or patient.metastatic_diagnosis
    if policy is None or relapse is None:
        return {}
    out: dict[str, str] = {}
    for i, et in enumerate(patient.early_therapy):
        for drug in (d for d in et.drugs if kb.in_class(d, "endocrine_therapy")):
            if et.end is None:
                if et.start is None or et.start > relapse:
                    continue
                warnings.append(
                    f"early_therapy[{i}] ({drug}) has no end date: taken as given up to the relapse (endocrine "
                    f"resistance, not re-proposed); give early_therapy[{i}].end"
                )
                months = 0.0
            else:
                months = (relapse - et.end).days / kb.params.days_per_month
            if months > policy.relapse_within_months:
                continue
            when = "during" if months <= 0 else f"{months:.1f} months after"
            classes = [c for c in policy.resistant_classes if kb.in_class(drug, c)]
            members = kb.expand(tuple(classes)) | {drug}
            for other in sorted(members):
                group = f" ({classes[0].replace('_', ' ')} class)" if classes and other != drug else ""
                out.setdefault(
                    other,
                    f"endocrine resistance: relapse {when} (neo)adjuvant {drug} "
                    f"(≤{policy.relapse_within_months:g} months){group}; {other} is not re-proposed",
                )
    return out


def _discordant(patient: Patient, her2: Her2Classification, hr: str | None) -> bool:
    """True when HR or HER2 status (both known) differs between ``tumor.earlier`` and ``tumor`` (§a.7)."""
    earlier = patient.tumor.earlier
    if earlier is None:
        return False
    known = ("positive", "negative")
    before_hr = earlier.hr_positive
    hr_changed = before_hr is not None and hr is not None and before_hr != (hr == "positive")
    before_her2 = classify_her2(earlier.her2).status
    her2_changed = before_her2 in known and her2.status in known and before_her2 != her2.status
    return hr_changed or her2_changed


# ---------------------------------------------------------------------------------------------- as of
@dataclass
class _Clock:
    """What the knowledge held on ``as_of``: sources dated later are left out, and each is traced once."""

    kb: KnowledgeBase
    as_of: dt.date
    trace: list[TraceEntry]
    _told: set[tuple[str, str]] = field(default_factory=set)

    def late(self, source_id: str, /) -> bool:
        """True when the source is dated after ``as_of`` (the knowledge base's own reference never is)."""
        src = self.kb.sources[source_id]
        return src.dates_knowledge and src.date > self.as_of

    def keep(self, ids: Iterable[str], /, *, where: str) -> list[str]:
        """``ids`` without the sources dated after ``as_of``; each one left out is traced under ``where``."""
        kept: list[str] = []
        for i in ids:
            if not self.late(i):
                kept.append(i)
            elif (where, i) not in self._told:
                self._told.add((where, i))
                src = self.kb.sources[i]
                self.trace.append(
                    TraceEntry(rule=where, effect=f"source {i} ({src.date}) postdates as_of {self.as_of}: left out")
                )
        return kept

    def all_in_effect(self, ids: Sequence[str], /, *, where: str, what: str) -> bool:
        """True when every source of ``ids`` exists on ``as_of``; otherwise traces ``what`` as left out."""
        late = [i for i in ids if self.late(i)]
        if late:
            dates = ", ".join(f"{i} {self.kb.sources[i].date}" for i in late)
            self.trace.append(TraceEntry(rule=where, effect=f"{what} left out: rests on {dates}, after {self.as_of}"))
        return not late

    def any_in_effect(self, ids: Sequence[str], /) -> bool:
        """True when the rule has a source on ``as_of`` (or cites none)."""
        return not ids or any(not self.late(i) for i in ids)


# ------------------------------------------------------------------------------------------ options
@dataclass
class _Block:
    code: str
    reason: str
    rule: str
    citations: tuple[str, ...]


@dataclass
class _Candidate:
    regimen: Regimen
    statements: list[Statement] = field(default_factory=list)

    @property
    def category(self) -> Category:
        return min((Category(s.category) for s in self.statements), key=CATEGORY_RANK.__getitem__)

    @property
    def primary(self) -> Statement:
        best = self.category
        return next(s for s in self.statements if Category(s.category) is best)


def _names(kb: KnowledgeBase, drug: str) -> tuple[str, ...]:
    entry = kb.vocab.drug(drug)
    return (entry.name, *entry.aliases)


def _naming(kb: KnowledgeBase, reason: str, drugs: Sequence[str]) -> str:
    """``reason`` as it reads for an option: prefixed with the option's drugs it concerns unless it names each.

    A rule may cover several drugs with one text; the reason shown for a regimen must name the regimen's own
    drug(s) (by INN, brand or abbreviation, whole words), never only other drugs of the rule.
    """
    text = reason.lower()

    def named(drug: str) -> bool:
        return any(re.search(rf"(?<![\w-]){re.escape(n.lower())}(?![\w-])", text) for n in _names(kb, drug))

    hit = list(dict.fromkeys(drugs))
    return reason if all(named(d) for d in hit) else f"{' + '.join(hit)}: {reason}"


def _prerequisite_block(prq: Prerequisite) -> _Block:
    text = prq.text if prq.reason_code == "not_labelled" else f"prerequisite not met — {prq.text}"
    return _Block(prq.reason_code, text, prq.id, prq.citations)


class _Checker:
    """Exclusion and caution checks for one patient."""

    def __init__(
        self,
        kb: KnowledgeBase,
        facts: Facts,
        lines: Sequence[_Line],
        clock: _Clock,
        early_resistant: dict[str, str] | None = None,
    ) -> None:
        self.kb = kb
        self.early_resistant = early_resistant or {}
        self.facts = facts
        self.clock = clock
        pol = kb.safety.progression
        allowed = kb.expand(pol.beyond_progression_allowed)
        progressed: dict[str, tuple[int, str, str | None]] = {}  # drug -> (line, drug progressed on, group)
        self.progressed_sets: list[tuple[frozenset[str], int]] = []
        self.toxic_drugs: dict[str, _Line] = {}
        self.toxic_sets: list[tuple[frozenset[str], _Line]] = []
        for ln in lines:
            if ln.stopped in ("progression", "unknown"):
                self.progressed_sets.append((frozenset(ln.drugs), ln.ordinal))
                for d in ln.drugs:
                    progressed.setdefault(d, (ln.ordinal, d, None))
            elif ln.stopped == "toxicity":
                if len(ln.drugs) == 1:
                    self.toxic_drugs[ln.drugs[0]] = ln
                else:
                    self.toxic_sets.append((frozenset(ln.drugs), ln))
        for group, members in pol.cross_resistance.items():
            hit = [progressed[d] for d in members if d in progressed]
            if hit:
                first = min(hit)
                for d in members:
                    progressed.setdefault(d, (first[0], first[1], group))
        self.progressed = {d: n for d, n in progressed.items() if d not in allowed}
        rules = [r for r in kb.safety.rules if clock.any_in_effect(r.citations)]
        self.contra = [
            (r, kb.expand(r.drugs))
            for r in rules
            if r.severity == "contraindicated" and compile_condition(r.when, kb)(facts)
        ]
        self.cautions = [
            (r, kb.expand(r.drugs)) for r in rules if r.severity == "caution" and compile_condition(r.when, kb)(facts)
        ]

    def drug_blocks(self, drug: str) -> list[_Block]:
        """Why ``drug`` cannot be given: contraindications, then progression and toxicity stops."""
        return self._contra_blocks((drug,)) + self._history_blocks(drug)

    def _contra_blocks(self, drugs: Sequence[str]) -> list[_Block]:
        """One block per contraindication rule that holds, naming the drugs of ``drugs`` it hits."""
        out: list[_Block] = []
        for rule, rdrugs in self.contra:
            hit = [d for d in drugs if d in rdrugs]
            if hit:
                out.append(_Block(rule.reason_code, _naming(self.kb, rule.reason, hit), rule.id, rule.citations))
        return out

    def _history_blocks(self, drug: str) -> list[_Block]:
        out: list[_Block] = []
        policy = self.kb.safety.progression.early_endocrine_resistance
        if drug in self.early_resistant and policy is not None:
            out.append(_Block("progressed_on", self.early_resistant[drug], "EARLY-ET-RESISTANCE", policy.citations))
        if drug in self.progressed:
            n, source, group = self.progressed[drug]
            text = (
                f"progressed on {drug} (line {n}); not re-proposed"
                if group is None
                else f"progressed on {source} (line {n}); {drug} is not re-proposed "
                f"({group.replace('_', ' ')} cross-resistance)"
            )
            out.append(_Block("progressed_on", text, "PROGRESSION", self.kb.safety.progression.citations))
        if drug in self.toxic_drugs:
            ln = self.toxic_drugs[drug]
            event = ln.toxicity_event or "toxicity"
            out.append(
                _Block(
                    "stopped_for_toxicity",
                    f"{drug} stopped for toxicity in line {ln.ordinal} ({event}); no rechallenge without specialist "
                    "review of the label's toxicity rule",
                    "TOXICITY",
                    self.kb.safety.progression.citations,
                )
            )
        return out

    def option_blocks(self, drugs: Sequence[str], regimen: Regimen) -> list[_Block]:
        """Every reason the option cannot be given: safety first (one per rule), then history, combinations,
        label prerequisites."""
        out: list[_Block] = self._contra_blocks(drugs)
        for d in drugs:
            out.extend(self._history_blocks(d))
        dset = frozenset(drugs)
        for pset, n in self.progressed_sets:
            if pset == dset and not any(b.code == "progressed_on" for b in out):
                out.append(
                    _Block("progressed_on", f"progressed on this regimen (line {n})", "PROGRESSION", ("ONC-REF",))
                )
        for tset, ln in self.toxic_sets:
            if tset == dset:
                out.append(
                    _Block(
                        "stopped_for_toxicity",
                        f"this regimen was stopped for toxicity in line {ln.ordinal} "
                        f"({ln.toxicity_event or 'toxicity'})",
                        "TOXICITY",
                        ("ONC-REF",),
                    )
                )
        for fc in self.kb.safety.forbidden_combinations:
            if all(not self.kb.expand((t,)).isdisjoint(dset) for t in fc.together):
                out.append(_Block("forbidden_combination", fc.reason, fc.id, fc.citations))
        for prq in regimen.prerequisites:
            if (
                prq.on_fail == "exclude"
                and self.clock.any_in_effect(prq.citations)
                and not compile_condition(prq.when, self.kb)(self.facts)
            ):
                out.append(_prerequisite_block(prq))
        return out

    def failed_prerequisite(self, regimen: Regimen) -> _Block | None:
        """The first ``exclude`` prerequisite of ``regimen`` the patient does not meet (the most specific)."""
        for prq in regimen.prerequisites:
            if (
                prq.on_fail == "exclude"
                and self.clock.any_in_effect(prq.citations)
                and not compile_condition(prq.when, self.kb)(self.facts)
            ):
                return _prerequisite_block(prq)
        return None

    def category_cap(self, drugs: Sequence[str]) -> Category | None:
        """The lowest ``category_cap`` of the cautions that hit ``drugs`` (None when none caps)."""
        caps = [
            Category(rule.category_cap)
            for rule, rdrugs in self.cautions
            if rule.category_cap is not None and not rdrugs.isdisjoint(drugs)
        ]
        return max(caps, key=CATEGORY_RANK.__getitem__) if caps else None

    def flags(self, drugs: Sequence[str], regimen: Regimen) -> tuple[list[str], list[str]]:
        """(flags, citation ids) from cautions and off-label prerequisites."""
        flags: list[str] = []
        cites: list[str] = []
        dset = frozenset(drugs)
        for rule, rdrugs in self.cautions:
            if not rdrugs.isdisjoint(dset):
                flags.append(f"caution: {_naming(self.kb, rule.reason, [d for d in drugs if d in rdrugs])}")
                cites.extend(rule.citations)
        for prq in regimen.prerequisites:
            if not self.clock.any_in_effect(prq.citations):
                continue
            if prq.on_fail == "flag" and not compile_condition(prq.when, self.kb)(self.facts):
                flags.append(prq.text if prq.text.startswith(("off-label", "UNCONFIRMED")) else f"note: {prq.text}")
                cites.extend(prq.citations)
        return flags, cites


def _her2_gate(
    stmt: Statement,
    regimen_drugs: frozenset[str],
    her2: Her2Classification,
    kb: KnowledgeBase,
    checker: _Checker,
) -> tuple[bool, _Block | None]:
    """(is a candidate, exclusion) for the statement's HER2 scope and the patient's HER2 result.

    For a HER2-negative result a HER2-directed regimen is withheld with the most specific reason: when the
    knowledge places the same drugs for HER2-low/ultralow (T-DXd), the first unmet prerequisite of that
    HER2-low/ultralow regimen says why (HER2-0 not labelled, HR-negative ultralow not labelled, prior endocrine
    therapy or chemotherapy missing); when the patient meets them, that regimen is offered instead and nothing is
    withheld here. Otherwise the reason names the drugs that are for HER2-positive disease only.
    """
    her2_directed = any(kb.in_class(d, "her2_directed") for d in regimen_drugs)
    status = her2.status
    cites = her2.citations or ("ASCOCAP-2018",)
    if status in ("missing", "equivocal"):
        if stmt.her2_scope == "any" and not her2_directed:
            return True, None
        code = "her2_status_missing" if status == "missing" else "her2_equivocal"
        text = (
            "HER2 status missing: never inferred — no systemic regimen until HER2 is tested"
            if status == "missing"
            else f"HER2 equivocal ({her2.rule}): complete the HER2 work-up "
            f"({(her2.next_test or 'further testing').replace('_', ' ')}) before any systemic decision"
        )
        return True, _Block(code, text, "HER2-GATE", cites)
    if stmt.her2_scope in ("low_ultralow", "negative"):
        return status == "negative", None
    if status == "positive" or not her2_directed:
        return stmt.her2_scope == "any" or status == "positive", None
    # HER2-negative result, HER2-directed regimen from a "positive" or "any" statement
    allowed = _low_ultralow_drugs(kb).get(her2.category, frozenset())
    if stmt.her2_scope == "any" and regimen_drugs <= allowed:
        return True, None  # e.g. continuing T-DXd in HER2-low disease
    if stmt.her2_scope == "positive":
        for low in _low_ultralow_regimens(kb):
            if _regimen_drugs(low, None) == regimen_drugs:
                block = checker.failed_prerequisite(low)
                return (block is not None), block
    positive_only = sorted(d for d in regimen_drugs if kb.in_class(d, "her2_directed") and d not in allowed)
    result = "HER2-negative" if her2.category == "HER2-negative" else f"{her2.category}, HER2-negative"
    return True, _Block(
        "not_her2_positive",
        f"{' + '.join(positive_only)}: for HER2-positive disease only (IHC 3+ or ISH-positive, ASCO/CAP); "
        f"this tumour is {result}",
        "HER2-GATE",
        cites,
    )


_LOW_REGIMENS: dict[int, tuple[Regimen, ...]] = {}


def _low_ultralow_regimens(kb: KnowledgeBase) -> tuple[Regimen, ...]:
    """Regimens that low/ultralow-scope statements place (from the data), in statement order."""
    hit = _LOW_REGIMENS.get(id(kb))
    if hit is None:
        ids = dict.fromkeys(s.regimen for s in kb.statements if s.her2_scope == "low_ultralow")
        hit = tuple(kb.regimens[i] for i in ids)
        _LOW_REGIMENS[id(kb)] = hit
    return hit


_GENERIC_REASONS = {"not_her2_positive": 1}
"""Reason codes that say less about the patient than any other (the lower the more specific)."""

_LOW_DRUGS: dict[int, dict[str, frozenset[str]]] = {}


def _low_ultralow_drugs(kb: KnowledgeBase) -> dict[str, frozenset[str]]:
    """HER2 category → drugs of the regimens that low/ultralow-scope statements place for it (from the data)."""
    hit = _LOW_DRUGS.get(id(kb))
    if hit is None:
        acc: dict[str, set[str]] = {}
        for stmt in kb.statements:
            if stmt.her2_scope != "low_ultralow":
                continue
            drugs = _regimen_drugs(kb.regimens[stmt.regimen], None)
            for category in stmt.when.her2_category or ("HER2-low", "HER2-ultralow"):
                acc.setdefault(category, set()).update(drugs)
        hit = {k: frozenset(v) for k, v in acc.items()}
        _LOW_DRUGS[id(kb)] = hit
    return hit


def _citations(kb: KnowledgeBase, ids: Iterable[str]) -> tuple[Citation, ...]:
    out: list[Citation] = []
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            continue
        seen.add(i)
        s = kb.sources[i]
        out.append(
            Citation(
                id=s.id,
                short=s.short,
                title=s.title,
                kind=s.kind,
                doi=s.doi,
                pmid=s.pmid,
                url=s.url,
                section=s.version,
                date=s.published or s.approval_date,
                status=s.status,
            )
        )
    return tuple(out)


def _hr_missing_text(patient: Patient, kb: KnowledgeBase) -> str:
    """Why HR status is unknown, naming the receptor result(s) still to give (reference §0.1: ER and/or PR ≥ 1 %)."""
    t = patient.tumor
    absent = t.hr_missing_results
    known = [
        f"{name} {f'{pct:g} %' if pct is not None else status}"
        for name, pct, status in (("ER", t.er_percent, t.er_status), ("PR", t.pr_percent, t.pr_status))
        if name not in absent
    ]
    return kb.text(
        "HR-MISSING",
        absent=" and ".join(absent),
        known=f" ({', '.join(known)})" if known else "",
        fields=" and ".join(f"{n.lower()}_percent (or {n.lower()}_status)" for n in absent),
    )


def _hr_status(patient: Patient) -> str | None:
    hr = patient.tumor.hr_positive
    return None if hr is None else ("positive" if hr else "negative")


# ------------------------------------------------------------------------------------------ recommend
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
    warnings: list[str] = []
    trace: list[TraceEntry] = []
    missing: list[Missing] = []
    if patient.metastatic_diagnosis is not None and patient.metastatic_diagnosis > as_of:
        raise InputError(
            f"metastatic_diagnosis {patient.metastatic_diagnosis} is after as_of {as_of}; correct the date or "
            "pass an `as_of` argument on or after it",
            field="metastatic_diagnosis",
        )
    if as_of < kb.params.coverage_start:
        warnings.append(f"as_of {as_of} is before {kb.params.coverage_start}, the earliest date this knowledge encodes")

    lines = _history(patient, as_of, kb, warnings, trace)
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
    hr = _hr_status(patient)
    if hr is None:
        missing.append(Missing(code="hr_status", text=_hr_missing_text(patient, kb)))
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
    decision = decide_line(patient, lines, kb, as_of, warnings)
    if unanchored:
        decision = dataclasses.replace(
            decision,
            line_rationale="Line unknown: the exposures cannot be anchored without the metastatic diagnosis date; "
            f"shown as {decision.line} only as a lower bound. No systemic regimen is proposed until it is given.",
        )
    trace.append(TraceEntry(rule="LINE", effect=decision.line_rationale))
    trace.append(TraceEntry(rule=f"ALGORITHM:{decision.algorithm.value}", effect=decision.algorithm_rationale))
    facts = _facts(patient, lines, decision, her2, hr, kb, warnings, as_of)
    clock = _Clock(kb, as_of, trace)
    checker = _Checker(kb, facts, lines, clock, _early_endocrine_resistance(patient, kb, warnings))
    for ask in kb.safety.asks:
        if clock.any_in_effect(ask.citations) and compile_condition(ask.when, kb)(facts):
            missing.append(Missing(code=ask.code, text=_render(ask.text, facts)))
            trace.append(TraceEntry(rule=ask.id, effect=f"asks for {ask.code}"))

    # --- candidates from statements in effect
    candidates: dict[str, _Candidate] = {}
    gated: dict[str, _Block] = {}
    for stmt in kb.statements:
        if not compile_condition(stmt.when, kb)(facts):
            continue
        if stmt.effective > as_of:
            trace.append(TraceEntry(rule=stmt.id, effect=f"takes effect on {stmt.effective}, after {as_of}: left out"))
            continue
        if stmt.expires is not None and as_of >= stmt.expires:
            trace.append(TraceEntry(rule=stmt.id, effect=_expired_text(kb, stmt)))
            continue
        if not clock.all_in_effect(stmt.citations, where=stmt.id, what="statement"):
            continue
        regimen = kb.regimens[stmt.regimen]
        fixed = _regimen_drugs(regimen, decision)
        ok, block = _her2_gate(stmt, fixed, her2, kb, checker)
        if not ok:
            continue
        if block is None and unanchored:
            block = _Block(
                "line_unknown",
                "metastatic diagnosis date missing: prior metastatic lines cannot be counted, so no regimen of a "
                "line-specific algorithm is proposed",
                "LINE-GATE",
                stmt.citations[:1],
            )
        if block is not None:
            gated.setdefault(regimen.id, block)
            trace.append(TraceEntry(rule=stmt.id, effect=f"{regimen.id} withheld: {block.code}"))
            continue
        candidates.setdefault(regimen.id, _Candidate(regimen)).statements.append(stmt)
        trace.append(TraceEntry(rule=stmt.id, effect=f"places {regimen.id} ({stmt.category})"))

    options: list[Option] = []
    excluded: list[Excluded] = []
    for rid, block in gated.items():
        regimen = kb.regimens[rid]
        excluded.append(_excluded(clock, regimen, _first_choice(regimen, decision), [block]))

    order = {s.id: i for i, s in enumerate(kb.statements)}
    ranked = sorted(candidates.values(), key=lambda c: (CATEGORY_RANK[c.category], order[c.primary.id]))
    for cand in ranked:
        regimen = cand.regimen
        drugs, notes = _resolve(regimen, decision, checker)
        blocks = checker.option_blocks(drugs, regimen)
        if blocks:
            excluded.append(_excluded(clock, regimen, drugs, blocks))
            trace.append(TraceEntry(rule=blocks[0].rule, effect=f"excludes {regimen.id}: {blocks[0].code}"))
            continue
        drugs, adj_notes, adj_cites = _adjuncts(drugs, kb, facts)
        notes.extend(adj_notes)
        flags, flag_cites = checker.flags(drugs, regimen)
        stmts = cand.statements
        primary = cand.primary
        for s in stmts:
            for f in s.flags:
                if isinstance(f, Flag):
                    if not clock.all_in_effect(f.citations, where=s.id, what=f"flag {f.text!r}"):
                        continue
                    flag_cites.extend(f.citations)
                text = f if isinstance(f, str) else f.text
                if text not in flags:
                    flags.append(text)
        status = next((s.guideline_status for s in stmts if s.guideline_status), None)
        evidence_ids = [
            e
            for s in stmts
            for e in s.evidence
            if clock.all_in_effect((kb.evidence[e].source,), where=s.id, what=f"evidence {e}")
        ]
        cite_ids = [c for s in stmts for c in s.citations]
        cite_ids += [kb.evidence[e].source for e in evidence_ids] + flag_cites + adj_cites
        cite_ids = clock.keep(cite_ids, where=regimen.id)
        own = [regimen.note] if regimen.note else []
        for n in regimen.conditional_notes:
            if compile_condition(n.when, kb)(facts) and clock.all_in_effect(
                n.citations, where=regimen.id, what=f"note {n.text!r}"
            ):
                own.append(n.text)
                cite_ids.extend(c for c in n.citations if c not in cite_ids)
        notes[:0] = own
        category = cand.category
        cap = checker.category_cap(drugs)
        if cap is not None and CATEGORY_RANK[cap] > CATEGORY_RANK[category]:
            trace.append(TraceEntry(rule="CATEGORY-CAP", effect=f"{regimen.id}: {category} → {cap} (caution)"))
            category = cap
        options.append(
            Option(
                drugs=tuple(drugs),
                regimen=regimen.id,
                name=regimen.name,
                category=category,
                statement=primary.id,
                rationale=" ".join(dict.fromkeys(s.rationale for s in stmts)),
                evidence=tuple(dict.fromkeys(kb.evidence[e].one_liner for e in evidence_ids)),
                citations=_citations(kb, cite_ids),
                flags=tuple(flags),
                notes=tuple(dict.fromkeys(notes)),
                guideline_status=status,
                effective=min(s.effective for s in stmts),
            )
        )

    options.sort(key=lambda o: CATEGORY_RANK[o.category])  # stable: a capped option drops below the rest
    # de-duplicate: one option per drug set (best first); exclusions of a drug set that is offered go
    seen: set[frozenset[str]] = set()
    unique: list[Option] = []
    for o in options:
        key = frozenset(o.drugs)
        if key not in seen:
            seen.add(key)
            unique.append(o)
    # one exclusion per drug set (and per regimen): a patient-specific reason beats the generic HER2 gate
    by_set: dict[frozenset[str], Excluded] = {}
    ex_seen: set[str] = set()
    for e in excluded:
        key = frozenset(e.drugs)
        if key in seen or e.regimen in ex_seen:
            continue
        ex_seen.add(e.regimen)
        prev = by_set.get(key)
        if prev is None or _GENERIC_REASONS.get(e.reason_code, 0) < _GENERIC_REASONS.get(prev.reason_code, 0):
            by_set[key] = e
    unique_ex = list(by_set.values())

    facts.option_drugs = frozenset(d for o in unique for d in o.drugs)
    actions = _actions(clock, facts)
    monitoring = _monitoring(clock, facts, unique)
    for w in kb.safety.warnings:
        if clock.any_in_effect(w.citations) and compile_condition(w.when, kb)(facts):
            warnings.append(w.text)
            trace.append(TraceEntry(rule=w.id, effect="warning"))
    if not unique and not missing:
        warnings.append("no systemic option remains after exclusions: MDT review, clinical trial or supportive care")

    return Recommendation(
        patient_id=patient.id,
        as_of=as_of,
        kb_version=kb.version,
        line=decision.line,
        line_rationale=decision.line_rationale,
        algorithm=decision.algorithm,
        algorithm_rationale=decision.algorithm_rationale,
        her2_status=her2.status,
        her2_category=her2.category,
        hr_status=hr or "unknown",
        options=tuple(unique),
        excluded=tuple(unique_ex),
        actions=actions,
        monitoring=monitoring,
        missing=tuple(missing),
        warnings=tuple(dict.fromkeys(warnings)),
        trace=tuple(trace),
    )


def _expired_text(kb: KnowledgeBase, stmt: Statement) -> str:
    """Trace text of an expired statement: when it expired and which statements placing its regimen replaced it."""
    assert stmt.expires is not None
    algorithms = set(stmt.when.algorithm or ())
    later = [
        s
        for s in kb.statements
        if s.regimen == stmt.regimen
        and s.her2_scope == stmt.her2_scope
        and s.effective >= stmt.expires
        and (not algorithms or not s.when.algorithm or algorithms & set(s.when.algorithm))
    ]
    first = min((s.effective for s in later), default=None)
    after = [s.id for s in later if s.effective == first]
    by = f", superseded by {', '.join(after)}" if after else ""
    return f"expired on {stmt.expires} (in effect from {stmt.effective}){by}: left out"


def _regimen_drugs(regimen: Regimen, decision: LineDecision | None) -> frozenset[str]:
    if regimen.drugs_from == "current_line":
        return frozenset(decision.current.drugs) if decision and decision.current else frozenset()
    out: set[str] = set()
    for d in regimen.drugs:
        out.update(d.choices if isinstance(d, Slot) else (d,))
    return frozenset(out)


def _first_choice(regimen: Regimen, decision: LineDecision) -> tuple[str, ...]:
    if regimen.drugs_from == "current_line":
        return decision.current.drugs if decision.current else ()
    return tuple(d.choices[0] if isinstance(d, Slot) else d for d in regimen.drugs)


def _resolve(regimen: Regimen, decision: LineDecision, checker: _Checker) -> tuple[list[str], list[str]]:
    """Concrete drugs for a regimen: each slot takes its first choice the patient can receive."""
    if regimen.drugs_from == "current_line":
        return list(decision.current.drugs if decision.current else ()), []
    drugs: list[str] = []
    notes: list[str] = []
    for d in regimen.drugs:
        if not isinstance(d, Slot):
            drugs.append(d)
            continue
        usable = [c for c in d.choices if not checker.drug_blocks(c)]
        pick = usable[0] if usable else d.choices[0]
        drugs.append(pick)
        others = [c for c in usable if c != pick]
        if others:
            notes.append(f"{d.slot}: {pick} (or {', '.join(others)})")
    return drugs, notes


def _adjuncts(drugs: list[str], kb: KnowledgeBase, facts: Facts) -> tuple[list[str], list[str], list[str]]:
    out = list(drugs)
    notes: list[str] = []
    cites: list[str] = []
    for adj in kb.safety.adjuncts:
        dset = frozenset(out)
        if (
            compile_condition(adj.when, kb)(facts)
            and not kb.expand(adj.if_option_has).isdisjoint(dset)
            and kb.expand(adj.unless_option_has).isdisjoint(dset)
        ):
            out.append(adj.add)
            notes.append(adj.note)
            cites.extend(adj.citations)
    return out, notes, cites


def _excluded(clock: _Clock, regimen: Regimen, drugs: Sequence[str], blocks: list[_Block]) -> Excluded:
    kb = clock.kb
    first = blocks[0]
    return Excluded(
        drugs=tuple(drugs),
        regimen=regimen.id,
        name=regimen.name,
        reason_code=first.code,
        reason=first.reason,
        rule=first.rule,
        citations=_citations(kb, clock.keep((c for b in blocks for c in b.citations), where=regimen.id)),
        also=tuple(dict.fromkeys(b.reason for b in blocks[1:] if b.reason != first.reason)),
    )


def _actions(clock: _Clock, facts: Facts) -> tuple[Action, ...]:
    """The first matching action rule per code, among the rules with a source on ``as_of``."""
    kb = clock.kb
    done: set[str] = set()
    out: list[Action] = []
    for rule in kb.actions:
        if rule.code in done or not compile_condition(rule.when, kb)(facts):
            continue
        cites = clock.keep(rule.citations, where=rule.id)
        if not cites:
            clock.trace.append(TraceEntry(rule=rule.id, effect=f"action {rule.code} left out: no source yet"))
            continue
        done.add(rule.code)
        out.append(
            Action(code=rule.code, text=_render(rule.text, facts), rule=rule.id, citations=_citations(kb, cites))
        )
        clock.trace.append(TraceEntry(rule=rule.id, effect=f"action {rule.code}"))
    return tuple(out)


def _monitoring(clock: _Clock, facts: Facts, options: Sequence[Option]) -> tuple[Monitoring, ...]:
    """Monitoring rules for drugs among the options; ``together_with`` rules only for options that hold a drug
    of the rule together with a partner (e.g. taxane de-escalation only beside HER2 therapy)."""
    kb = clock.kb
    out: list[Monitoring] = []
    for rule in kb.safety.monitoring:
        cites = clock.keep(rule.citations, where=rule.id)
        if not cites:
            continue
        wanted = kb.expand(rule.drugs)
        partners = kb.expand(rule.together_with)
        hit = frozenset(
            d for o in options if not partners or not partners.isdisjoint(o.drugs) for d in o.drugs if d in wanted
        )
        if hit and compile_condition(rule.when, kb)(facts):
            out.append(
                Monitoring(drugs=tuple(sorted(hit)), text=rule.text, rule=rule.id, citations=_citations(kb, cites))
            )
    return tuple(out)
