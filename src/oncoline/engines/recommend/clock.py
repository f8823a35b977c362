"""What the knowledge held on ``as_of``: sources dated later are left out of every text, and traced once.

Every comparison of a knowledge date with ``as_of`` in the recommender goes through :class:`Clock`, which notes the
dates it compared (:meth:`Clock.unchanged_between`): the answer is then known to hold, as far as the knowledge goes,
for every decision date that falls on the same side of each of them. Guideline concordance of a cohort uses it to
ask the recommender once per patient state for a whole stretch of start dates.

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
    _after: frozenset[str] = field(init=False, repr=False)
    """Sources dated after ``as_of`` (the knowledge base's own reference included)."""
    _late: frozenset[str] = field(init=False, repr=False)
    """Sources dated after ``as_of`` that date knowledge (the knowledge base's own reference never does)."""
    _asked: set[str] = field(default_factory=set, repr=False)
    """Sources whose date was compared with ``as_of`` (:meth:`citable`)."""
    _asked_late: set[str] = field(default_factory=set, repr=False)
    """Sources asked whether they are late (their date compared only when it dates knowledge)."""
    _asked_dates: set[dt.date] = field(default_factory=set, repr=False)
    """Other knowledge dates compared with ``as_of`` (statements' ``effective``, rules' ``expires``)."""

    def __post_init__(self) -> None:
        # every source asked about once per decision, then set look-ups (a recommender call asks ~100 times;
        # citations resolve at loading, so every id asked about is a key of kb.sources)
        key = (id(self.kb), self.as_of)
        hit = _LATER.get(key)
        if hit is None or hit[0] is not self.kb:
            after = [s for s in self.kb.sources.values() if s.date > self.as_of]
            if len(_LATER) >= 4096:  # decision dates of a long-running service: kept bounded
                _LATER.clear()
            hit = _LATER[key] = (
                self.kb,
                frozenset(s.id for s in after),
                frozenset(s.id for s in after if s.dates_knowledge),
            )
        self._after, self._late = hit[1], hit[2]

    def unchanged_between(self) -> tuple[dt.date | None, dt.date | None]:
        """``(first, end)``: every knowledge date compared so far is on the same side of any decision date ``d``
        with ``first <= d < end`` as of ``as_of`` (None: unbounded), so the steps run so far would have taken the
        same course on ``d`` — given the same patient facts (a patient's own dates are not knowledge dates: the
        caller keeps them where they were relative to the decision date).

        Every comparison is of the form ``as_of >= date`` (a source dated after ``as_of`` is late, a statement
        whose ``effective`` date is after it is not yet in effect, a rule ``expires`` on a date ``<= as_of``), so
        the bounds are the latest compared date on or before ``as_of`` and the earliest after it.
        """
        sources = self.kb.sources
        dates = self._asked_dates | {sources[i].date for i in self._asked}
        dates |= {sources[i].date for i in self._asked_late if sources[i].dates_knowledge}
        first = max((d for d in dates if d <= self.as_of), default=None)
        end = min((d for d in dates if d > self.as_of), default=None)
        return first, end

    def before(self, day: dt.date, /) -> bool:
        """True when ``as_of`` is before ``day`` (a knowledge date such as ``coverage_start``)."""
        self._asked_dates.add(day)
        return self.as_of < day

    def not_yet(self, effective: dt.date, /) -> bool:
        """True when ``effective`` (a statement's date) is after ``as_of``."""
        self._asked_dates.add(effective)
        return effective > self.as_of

    def late(self, source_id: str, /) -> bool:
        """True when the source is dated after ``as_of`` (the knowledge base's own reference never is)."""
        self._asked_late.add(source_id)
        return source_id in self._late

    def keep(self, ids: Iterable[str], /, *, where: str) -> list[str]:
        """``ids`` as they may be cited on ``as_of``: without the sources dated after it — the knowledge base's own
        reference too (its conventions still apply, but it is not listed as a source before it was compiled); each
        one left out is traced under ``where``."""
        kept: list[str] = []
        for i in ids:  # what is cited, never what is chosen: not noted for unchanged_between
            if i not in self._after:
                kept.append(i)
            elif (where, i) not in self._told:
                self._told.add((where, i))
                src = self.kb.sources[i]
                self.trace.append(
                    TraceEntry(rule=where, effect=f"source {i} ({src.date}) postdates as_of {self.as_of}: left out")
                )
        return kept

    def all_in_effect(self, ids: Sequence[str], /, *, where: str, what: str, wording: bool = False) -> bool:
        """True when every source of ``ids`` exists on ``as_of``; otherwise traces ``what`` as left out.

        ``wording=True``: the answer decides only what an option says or cites (a flag, evidence, a note), not
        whether it is offered or in which category — not noted for :meth:`unchanged_between`.
        """
        if not wording:
            self._asked_late.update(ids)
        late = [i for i in ids if i in self._late]
        if late:
            dates = ", ".join(f"{i} {self.kb.sources[i].date}" for i in late)
            self.trace.append(TraceEntry(rule=where, effect=f"{what} left out: rests on {dates}, after {self.as_of}"))
        return not late

    def expired(self, expires: dt.date | None, /) -> bool:
        """True when a rule's ``expires`` date is reached on ``as_of`` (newer wording replaces it; not traced, as the
        newer rule is what the answer shows)."""
        if expires is None:
            return False
        self._asked_dates.add(expires)
        return self.as_of >= expires

    def worded_later(self, text_sources: Sequence[str], /) -> bool:
        """True when a rule's wording names a source dated after ``as_of`` (its earlier wording applies instead; not
        traced, so an earlier answer never names the later source even in its trace)."""
        self._asked_late.update(text_sources)
        return any(i in self._late for i in text_sources)

    def citable(self, ids: Sequence[str], /) -> bool:
        """True when at least one of ``ids`` may be cited on ``as_of`` (dated on or before it; see :meth:`keep`)."""
        self._asked.update(ids)
        return any(i not in self._after for i in ids)

    def any_in_effect(self, ids: Sequence[str], /) -> bool:
        """True when the rule has a source on ``as_of`` (or cites none)."""
        self._asked_late.update(ids)
        return not ids or any(i not in self._late for i in ids)


_LATER: dict[tuple[int, dt.date], tuple[KnowledgeBase, frozenset[str], frozenset[str]]] = {}
"""(knowledge base, as_of) → (sources dated after as_of, those of them that date knowledge)."""


def citations_for(kb: KnowledgeBase, ids: Iterable[str]) -> tuple[Citation, ...]:
    """The resolved sources of ``ids`` (first occurrence kept, order kept)."""
    resolved = _resolved(kb)
    return tuple(resolved[i] for i in dict.fromkeys(ids))


_RESOLVED: dict[int, tuple[KnowledgeBase, dict[str, Citation]]] = {}
"""Knowledge base (by identity) → source id → its :class:`Citation` (frozen, so one instance serves every answer)."""


def _resolved(kb: KnowledgeBase) -> dict[str, Citation]:
    hit = _RESOLVED.get(id(kb))
    if hit is not None and hit[0] is kb:
        return hit[1]
    resolved = {
        s.id: Citation(
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
        for s in kb.sources.values()
    }
    _RESOLVED[id(kb)] = (kb, resolved)
    return resolved
