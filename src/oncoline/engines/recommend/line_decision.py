"""Step 2 of the recommender — the line decision: which line is being chosen and which algorithm applies.

The line now being chosen is the ordinal of the metastatic regimen about to start, or of the current one when the
decision is to continue it: maintenance after a response to induction, or isolated brain progression with
controlled extracranial disease. A line stopped for toxicity counts. Relapse ≤12 months after (neo)adjuvant HER2
therapy keeps the ordinal at 1 but applies the second-line algorithm (ASCO-HER2-2022 Rec 5.0) and says so.

References
----------
shared/reference/her2-mbc.md §0.1, §a.1, §a.3, §a.5, §b.3 rule 3; ASCO-HER2-2022 Rec 4.0, 5.0, 5.1; ASCO-BM-2022
Rec 8.1.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from oncoline.engines.recommend.history import PastLine
from oncoline.knowledge.loader import KnowledgeBase
from oncoline.model.patient import Patient, SiteKind
from oncoline.model.recommendation import Algorithm

__all__ = ["LineDecision", "decide_line", "ongoing_cns_text"]


@dataclass(frozen=True)
class LineDecision:
    """The line now being chosen and the algorithm that applies."""

    line: int
    algorithm: Algorithm
    line_rationale: str
    algorithm_rationale: str
    current: PastLine | None
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
    patient: Patient, lines: Sequence[PastLine], kb: KnowledgeBase, as_of: dt.date, warnings: list[str]
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
        cns = ongoing_cns_text(
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


def ongoing_cns_text(
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
