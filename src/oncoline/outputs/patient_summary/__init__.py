"""A plain-language summary of a recommendation for the patient (issue 11).

:func:`build_patient_summary` (pure) turns the :class:`~oncoline.model.recommendation.Recommendation` and the
plain-language texts of ``knowledge/data/patient_texts`` into a :class:`PatientSummary`;
:func:`render_patient_summary` prints it, :func:`render_handout_html` / :func:`render_handout_pdf` make the
printable handout. :func:`summarize_for_patient` is the one call a door makes.

>>> import datetime as dt
>>> from oncoline import load_knowledge, load_patient, recommend
>>> kb = load_knowledge()
>>> patient = load_patient("examples/cureus-2025-de-novo-brain-mets.yaml")
>>> rec = recommend(patient, knowledge=kb, as_of=dt.date(2026, 11, 29))
>>> summary = summarize_for_patient(rec, knowledge=kb)
>>> [s.heading.text for s in summary.sections][:3]
['What does my team need to know first?', 'What is the aim of my treatment?', 'What are my options?']
>>> [o.drugs for o in summary.options] == [o.drugs for o in rec.options]
True
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from oncoline.knowledge.loader import KnowledgeBase
from oncoline.knowledge.patient_texts import load_patient_texts
from oncoline.model.patient import Patient
from oncoline.model.recommendation import Recommendation
from oncoline.outputs.patient_summary.builder import build_patient_summary
from oncoline.outputs.patient_summary.handout import render_handout_html, render_handout_pdf
from oncoline.outputs.patient_summary.model import Item, Line, PatientSummary, Section, SummaryOption
from oncoline.outputs.patient_summary.terminal import render_patient_summary

__all__ = [
    "Item",
    "Line",
    "PatientSummary",
    "Section",
    "SummaryOption",
    "build_patient_summary",
    "last_stop_reason",
    "render_handout_html",
    "render_handout_pdf",
    "render_patient_summary",
    "summarize_for_patient",
]


def last_stop_reason(patient: Patient | None, /) -> str | None:
    """Why the latest metastatic line of ``patient``'s history stopped (``progression`` | ``toxicity`` |
    ``completed``), or ``None`` when no history, no patient, or the reason is not recorded (``ongoing`` too)."""
    if patient is None or not patient.history:
        return None
    latest = max(
        enumerate(patient.history),
        key=lambda p: (p[1].start or dt.date.min, p[1].line or 0, p[0]),
    )[1]
    stopped = latest.stopped.value if latest.stopped is not None else None
    return stopped if stopped in ("progression", "toxicity", "completed") else None


def summarize_for_patient(
    recommendation: Recommendation,
    /,
    *,
    knowledge: KnowledgeBase,
    language: str = "en",
    data_dir: Path | None = None,
    patient: Patient | None = None,
) -> PatientSummary:
    """Load the texts of ``language`` (English beneath) and build the summary of ``recommendation``; ``patient``
    (the one it was made for) tells why the latest line stopped (:func:`last_stop_reason`).

    Raises
    ------
    KnowledgeBaseError
        A patient text file fails its schema, or its version differs from the recommendation's knowledge.
    """
    texts = load_patient_texts(language, data_dir)
    return build_patient_summary(recommendation, texts=texts, knowledge=knowledge, last_stop=last_stop_reason(patient))
