"""Step 1 of the recommender — the metastatic history: the lines already given, oldest first.

Lines as given (input order does not matter); lines starting after ``as_of`` are ignored and counted; when only raw
``exposures`` are given, lines are derived from them (:func:`oncoline.engines.lines.reference.derive_lines`) and
the answer says so. A line without a stop reason is treated like progression (its drugs are not re-proposed).

References
----------
shared/reference/her2-mbc.md §0.1 (metastatic line), §a.6 (never re-propose a regimen the patient progressed on).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from oncoline.knowledge.loader import KnowledgeBase
from oncoline.model.patient import HistoryLine, Patient, StopReason
from oncoline.model.recommendation import TraceEntry

__all__ = ["PastLine", "read_history"]


@dataclass(frozen=True)
class PastLine:
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


def read_history(
    patient: Patient, as_of: dt.date, kb: KnowledgeBase, warnings: list[str], trace: list[TraceEntry]
) -> list[PastLine]:
    """The metastatic lines given before ``as_of``, oldest first, numbered 1..n (reference §0.1).

    Parameters
    ----------
    patient
        ``history`` (preferred) or raw ``exposures`` (lines derived from them when no history is given).
    as_of
        Decision date: lines starting later are ignored (and counted in ``warnings``); a line ending later is
        taken as ongoing.
    kb
        Knowledge: the drug vocabulary (only anticancer drugs form a line).
    warnings, trace
        Appended to: every assumption made (no stop reason, supportive drugs dropped, lines derived).

    Returns
    -------
    list[PastLine]
        One entry per metastatic line; ``stopped`` is progression | toxicity | completed | ongoing | unknown.
    """
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
    _say_lines_before_diagnosis(patient, kept, kb, warnings, trace)
    out: list[PastLine] = []
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
        anticancer = tuple(d for d in h.drugs if _anticancer(kb, d))
        if len(anticancer) != len(h.drugs):
            skipped = sorted(set(h.drugs) - set(anticancer))
            warnings.append(f"history line {i}: supportive/concomitant drugs {skipped} do not form a line; ignored")
        out.append(
            PastLine(
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


_ANTICANCER: dict[int, tuple[KnowledgeBase, dict[str, bool]]] = {}


def _anticancer(kb: KnowledgeBase, drug: str) -> bool:
    """True when the vocabulary gives ``drug`` the anticancer role (answers kept per knowledge base)."""
    hit = _ANTICANCER.get(id(kb))
    if hit is None or hit[0] is not kb:
        hit = _ANTICANCER[id(kb)] = (kb, {})
    known = hit[1].get(drug)
    if known is None:
        known = hit[1][drug] = kb.vocab.drug(drug).role.value == "anticancer"
    return known


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


def _say_lines_before_diagnosis(
    patient: Patient, lines: Sequence[HistoryLine], kb: KnowledgeBase, warnings: list[str], trace: list[TraceEntry]
) -> None:
    """Say what is assumed when a metastatic line starts well before the metastatic diagnosis (issue 8 item 3).

    A line may open up to ``history_before_diagnosis_days`` (statements.yaml; the line-of-therapy index lookback)
    before the diagnosis date. An earlier one is still counted - ``history`` lists metastatic lines - but the answer
    says so, with both dates and the two fixes, in ``warnings`` and the trace (rule ``HISTORY-BEFORE-DIAGNOSIS``).
    """
    dx = patient.metastatic_diagnosis
    if dx is None:
        return
    limit = kb.params.history_before_diagnosis_days
    for h in lines:
        if h.start is not None and (dx - h.start).days > limit:
            text = (
                f"history line {' + '.join(h.drugs)} starts {h.start}, {(dx - h.start).days} days before the "
                f"metastatic diagnosis ({dx}; more than {limit}): assumed to be a metastatic line as recorded and "
                "counted - if it was (neo)adjuvant therapy move it to early_therapy, otherwise correct "
                "metastatic_diagnosis"
            )
            warnings.append(text)
            trace.append(TraceEntry(rule="HISTORY-BEFORE-DIAGNOSIS", effect=text))
