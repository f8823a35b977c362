"""What a door does with a patient summary: print it, print its JSON, or write the handout (HTML or PDF)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console

from oncoline.errors import InputError
from oncoline.knowledge.loader import KnowledgeBase
from oncoline.knowledge.patient_texts import resolve_language
from oncoline.model.patient import Patient
from oncoline.model.recommendation import Recommendation

__all__ = ["HANDOUT_SUFFIXES", "deliver_patient_summary"]

HANDOUT_SUFFIXES = {".html": "html", ".htm": "html", ".pdf": "pdf"}
"""Handout file suffix → format."""


def deliver_patient_summary(
    recommendation: Recommendation,
    /,
    *,
    knowledge: KnowledgeBase,
    language: str = "en",
    handout: Path | None = None,
    as_json: bool = False,
    console: Console | None = None,
    patient: Patient | None = None,
) -> Path | None:
    """Build the patient summary and print it (readable, or JSON with ``as_json``), or write it to ``handout``.

    Returns
    -------
    Path or None
        The handout written, if any.

    Raises
    ------
    InputError
        ``handout`` does not end in ``.html``, ``.htm`` or ``.pdf``, its folder does not exist (the folder is not
        created: a mistyped path should not scatter folders), it cannot be written, or the ``handout`` extra is
        not installed (field ``--handout``); ``language`` is not a shipped language (field ``--lang``); the summary
        cannot be written to the screen (a full disk: field ``output``).
    KnowledgeBaseError
        The patient texts fail to load or are of another knowledge version.
    """
    from oncoline.outputs.patient_summary import (
        render_handout_html,
        render_handout_pdf,
        render_patient_summary,
        summarize_for_patient,
    )

    kind = "html"
    if handout is not None:
        found = HANDOUT_SUFFIXES.get(handout.suffix.lower())
        if found is None:
            raise InputError(
                f"{handout}: the handout is written as HTML or PDF - end the file name in .html or .pdf",
                field="--handout",
            )
        kind = found
        folder = handout.parent
        if not folder.is_dir():
            raise InputError(
                f"{handout}: the folder {folder} does not exist - create it first (oncoline does not create folders)",
                field="--handout",
            )
    language = resolve_language(language)
    summary = summarize_for_patient(recommendation, knowledge=knowledge, language=language, patient=patient)
    if handout is None:
        try:
            if as_json:
                sys.stdout.write(json.dumps(summary.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n")
                sys.stdout.flush()
            else:
                render_patient_summary(summary, console=console)
            sys.stdout.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:  # a full disk, a closed terminal: not a bug, and not the patient's data
            raise InputError(
                f"cannot write the summary ({exc.strerror or exc}) - free space or write it elsewhere",
                field="output",
            ) from exc
        return None
    body: bytes | str = render_handout_pdf(summary) if kind == "pdf" else render_handout_html(summary)
    try:
        if isinstance(body, bytes):
            handout.write_bytes(body)
        else:
            handout.write_text(body, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{handout}: cannot write the handout ({exc.strerror})", field="--handout") from exc
    Console(stderr=True).print(f"wrote the patient handout {handout} ({kind.upper()})", highlight=False, markup=False)
    return handout
