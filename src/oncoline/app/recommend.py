"""Recommend the next line for one patient document: read it, fix the as-of date, run the engine."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from oncoline.app.dates import refuse_future_dates, refuse_future_file_as_of, resolve_today
from oncoline.app.documents import DocumentSource
from oncoline.app.patient import read_patient
from oncoline.errors import InputError

if TYPE_CHECKING:
    from oncoline.io.fhir import IngestionReport
    from oncoline.knowledge.loader import KnowledgeBase
    from oncoline.model.patient import Patient
    from oncoline.model.recommendation import Recommendation

__all__ = ["RecommendOutcome", "recommend_document"]


@dataclass(frozen=True)
class RecommendOutcome:
    """A recommendation and what was found reading its input.

    Attributes
    ----------
    recommendation
        The engine's answer (line, options, exclusions, actions, missing facts, sources).
    patient
        The patient as read.
    as_of
        The date the answer was given as of (knowledge and data).
    source
        The document's name (path or upload name).
    findings
        Data-quality problems found reading a FHIR document, one line each (policy ``warn``; empty otherwise).
    report
        The FHIR ingestion report, or None for a YAML/JSON patient file.
    """

    recommendation: Recommendation
    patient: Patient
    as_of: dt.date
    source: str
    findings: tuple[str, ...] = ()
    report: IngestionReport | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON output contract (``oncoline recommend --json``): plain types, dates as ISO strings.

        When reading the document found data-quality problems, a ``data_quality`` member carries them
        (``{"count": N, "findings": ["<source>: <Type/id or entry N>: <what was wrong and done>", ...]}``), so no
        door drops them silently; it is absent for a clean document."""
        out = self.recommendation.to_contract()
        if self.findings:
            out["data_quality"] = {"count": len(self.findings), "findings": list(self.findings)}
        return out


def recommend_document(
    source: DocumentSource,
    /,
    *,
    media_type: str | None = None,
    name: str | None = None,
    as_of: dt.date | None = None,
    today: dt.date | None = None,
    policy: str = "warn",
    knowledge: KnowledgeBase | None = None,
) -> RecommendOutcome:
    """Recommend the next systemic options for the patient in a document.

    Parameters
    ----------
    source, media_type, name
        A YAML/JSON patient block, a ``kind: patient`` case file or a FHIR R4 / mCODE bundle: a path, or content
        with its media type (see :func:`oncoline.app.documents.read_document`).
    as_of
        Answer as the knowledge and the data stood on this date. Default: the document's own ``as_of``, else
        ``today`` (then no date in the document may lie after ``today``).
    today
        The clock's date, injected by the door (default: read now).
    policy
        FHIR data-quality policy: ``ignore``, ``warn`` (default; problems returned in ``findings``) or ``raise``.
    knowledge
        The knowledge base (default: the packaged one, :func:`oncoline.knowledge.loader.load_knowledge`).

    Returns
    -------
    RecommendOutcome

    Raises
    ------
    InputError
        An unreadable or malformed document (file, field and fix named), a date after ``today`` when no as-of
        date was given, a document ``as_of`` after ``today``, an unknown drug, an unknown policy.
    KnowledgeBaseError
        The knowledge files fail to load.
    """
    from oncoline.engines.recommend import recommend
    from oncoline.knowledge.loader import load_knowledge

    now = resolve_today(today)
    reading = read_patient(source, media_type=media_type, name=name, policy=policy, as_of=as_of, identify_foreign=False)
    patient = reading.patient
    when = as_of or patient.as_of
    if as_of is None and patient.as_of is not None:
        refuse_future_file_as_of(patient.as_of, today=now, source=reading.source)
    if when is None:  # the door owns the clock, not the engine; "today" admits no date from the future
        when = now
        refuse_future_dates(patient.dates_after(when), today=when, source=reading.source)
    try:
        result = recommend(patient, knowledge=knowledge or load_knowledge(), as_of=when)
    except InputError as exc:
        if exc.source is None:  # the engine knows fields and arguments, not files and options: name them here
            text = str(exc).split(": ", 1)[-1].replace("an `as_of` argument", "--as-of DATE")
            raise InputError(text, source=reading.source, field=exc.field) from exc
        raise
    return RecommendOutcome(result, patient, when, reading.source, reading.findings, reading.report)
