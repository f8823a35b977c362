"""What the knowledge held on ``as_of``: sources dated later are left out of every text, and traced once.

References
----------
House style S2 (answers "as of" a date); issue 8 item 3 (no later source leaks into an earlier answer).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from oncoline.knowledge.loader import KnowledgeBase
from oncoline.model.recommendation import Citation, TraceEntry

__all__ = ["Clock", "citations_for"]


@dataclass
class Clock:
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
        """``ids`` as they may be cited on ``as_of``: without the sources dated after it — the knowledge base's own
        reference too (its conventions still apply, but it is not listed as a source before it was compiled); each
        one left out is traced under ``where``."""
        kept: list[str] = []
        for i in ids:
            src = self.kb.sources[i]
            if src.date <= self.as_of:
                kept.append(i)
            elif (where, i) not in self._told:
                self._told.add((where, i))
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

    def expired(self, expires: dt.date | None, /) -> bool:
        """True when a rule's ``expires`` date is reached on ``as_of`` (newer wording replaces it; not traced, as the
        newer rule is what the answer shows)."""
        return expires is not None and self.as_of >= expires

    def worded_later(self, text_sources: Sequence[str], /) -> bool:
        """True when a rule's wording names a source dated after ``as_of`` (its earlier wording applies instead; not
        traced, so an earlier answer never names the later source even in its trace)."""
        return any(self.late(i) for i in text_sources)

    def citable(self, ids: Sequence[str], /) -> bool:
        """True when at least one of ``ids`` may be cited on ``as_of`` (dated on or before it; see :meth:`keep`)."""
        return any(self.kb.sources[i].date <= self.as_of for i in ids)

    def any_in_effect(self, ids: Sequence[str], /) -> bool:
        """True when the rule has a source on ``as_of`` (or cites none)."""
        return not ids or any(not self.late(i) for i in ids)


def citations_for(kb: KnowledgeBase, ids: Iterable[str]) -> tuple[Citation, ...]:
    """The resolved sources of ``ids`` (first occurrence kept, order kept)."""
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
