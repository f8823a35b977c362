"""The patient summary: frozen pydantic models of what the patient reads (house style S6)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Item", "Line", "PatientSummary", "Section", "SectionId", "SummaryOption"]

SectionId = Literal[
    "missing",
    "aim",
    "options",
    "why",
    "watch",
    "sites",
    "breast",
    "other",
    "excluded",
    "trial",
    "questions",
    "glossary",
]
"""Sections in the order they are shown."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Line(_Frozen):
    """One text as shown, with the id of the patient text it comes from."""

    text: str
    text_id: str = Field(description="Id in patient_texts/<language>.yaml.")
    fallback: bool = Field(default=False, description="English standing in for a missing translation.")


class Item(_Frozen):
    """One entry of a section: an option, a side effect to watch, a glossary word, …"""

    title: Line | None = Field(default=None, description="E.g. 'Option 1', a glossary term.")
    label: str | None = Field(default=None, description="Drug names from the recommendation, e.g. 'T-DXd + P'.")
    lines: tuple[Line, ...] = ()
    names: tuple[str, ...] = Field(
        default=(), description="Regimens from the recommendation the lines speak of, one bullet each."
    )


class Section(_Frozen):
    """A section headed by a question."""

    id: SectionId
    heading: Line
    intro: tuple[Line, ...] = ()
    items: tuple[Item, ...] = ()


class SummaryOption(_Frozen):
    """An option as the clinician view holds it (checked against it)."""

    regimen: str
    drugs: tuple[str, ...]
    category: str


class PatientSummary(_Frozen):
    """A plain-language summary of one recommendation, for discussion with the care team.

    Every ``Line`` comes from the patient texts (``knowledge/data/patient_texts``); drug names in ``label`` come
    from the recommendation itself.
    """

    language: str = Field(description="Language asked for.")
    as_of: dt.date = Field(description="Decision date of the recommendation.")
    kb_version: str
    title: Line
    discuss: Line = Field(description="'For discussion with your care team' - shown on every page.")
    made: Line = Field(description="Date and knowledge version.")
    fallback_note: Line | None = Field(default=None, description="Set when some texts fell back to English.")
    sections: tuple[Section, ...]
    options: tuple[SummaryOption, ...] = Field(description="The options shown, as in the clinician view.")
    missing: tuple[str, ...] = Field(default=(), description="Missing-fact codes shown.")
    gaps: tuple[str, ...] = Field(
        default=(), description="'kind:id' entries shown with the generic 'ask your care team' text (no text yet)."
    )

    def section(self, section_id: SectionId, /) -> Section | None:
        """The section ``section_id``, if shown."""
        return next((s for s in self.sections if s.id == section_id), None)

    def blocks(self) -> tuple[str, ...]:
        """Every piece of text in reading order (headings, labels, items): what the reading level is measured on."""
        out: list[str] = [self.title.text, self.discuss.text]
        if self.fallback_note is not None:
            out.append(self.fallback_note.text)
        for section in self.sections:
            out.append(section.heading.text)
            out.extend(line.text for line in section.intro)
            for item in section.items:
                if item.title is not None:
                    out.append(item.title.text)
                if item.label:
                    out.append(item.label)
                out.extend(line.text for line in item.lines)
        out.append(self.made.text)
        return tuple(out)

    def text_ids(self) -> tuple[str, ...]:
        """Ids of every patient text used."""
        lines = [self.title, self.discuss, self.made, *([self.fallback_note] if self.fallback_note else [])]
        for s in self.sections:
            lines += [s.heading, *s.intro]
            for item in s.items:
                lines += [*([item.title] if item.title else []), *item.lines]
        return tuple(line.text_id for line in lines)
