"""Classify HER2 per ASCO/CAP 2018 (affirmed 2023) from a document or a mapping."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from oncoline.app.documents import DocumentSource, read_document
from oncoline.errors import InputError

if TYPE_CHECKING:
    from oncoline.engines.her2 import Her2Classification

__all__ = ["classify_her2_document", "classify_her2_mapping"]


def classify_her2_mapping(doc: Any, /, *, source: str | None = None) -> Her2Classification:
    """Classify the HER2 results in a parsed mapping.

    Parameters
    ----------
    doc
        HER2 results (``ihc``, ``ish_ratio``, ``her2_copies``, ``ish_result``, ``status``), a ``kind: her2`` case
        (its ``input``), a patient block or case file (its ``tumor.her2``).
    source
        Name of the document in messages.

    Returns
    -------
    Her2Classification
        Status, ISH group 1–5, category (HER2-positive / low / ultralow / 0), further test needed, citations.

    Raises
    ------
    InputError
        Not a mapping of HER2 results, or a malformed value (field named, with the fix).
    """
    from pydantic import ValidationError

    from oncoline.engines.her2 import classify_her2
    from oncoline.io.document import validation_to_input_error
    from oncoline.model import Her2Raw

    if isinstance(doc, dict) and isinstance(doc.get("input"), dict):
        doc = doc["input"]
    if isinstance(doc, dict) and isinstance(doc.get("patient"), dict):
        doc = doc["patient"]
    if isinstance(doc, dict) and isinstance(doc.get("tumor"), dict):
        doc = doc["tumor"].get("her2") or {}
    if not isinstance(doc, dict):
        raise InputError("expected a mapping of HER2 results (ihc, ish_ratio, her2_copies)", source=source)
    try:
        raw = Her2Raw.model_validate(doc)
    except ValidationError as exc:
        raise validation_to_input_error(exc, source=source) from exc
    return classify_her2(raw)


def classify_her2_document(
    source: DocumentSource, /, *, media_type: str | None = None, name: str | None = None
) -> Her2Classification:
    """Classify the HER2 results in a YAML/JSON document (path or content; see :func:`classify_her2_mapping`).

    Raises
    ------
    InputError
        An unreadable document (see :func:`oncoline.app.documents.read_document`) or bad HER2 values.
    """
    doc = read_document(source, media_type=media_type, name=name)
    return classify_her2_mapping(doc.data, source=doc.source)
