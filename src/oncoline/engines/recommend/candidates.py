"""Step 3 of the recommender — candidate regimens: every guideline statement in effect whose population holds.

A statement places its regimen when its own date is reached, it has not expired and every source it cites is
published or approved by ``as_of``; HER2 scope gates HER2-directed drugs (a missing or equivocal HER2 result never
yields one), and without a metastatic diagnosis date no line-specific regimen is placed.

References
----------
shared/reference/her2-mbc.md §a.1-§a.6 (algorithm by line), §g.6 (T-DXd by HER2 category), §d.8 (HER2 missing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from oncoline.engines.her2 import Her2Classification
from oncoline.engines.recommend.checks import Block, Checker, excluded_entry, her2_gate, regimen_drugs
from oncoline.engines.recommend.clock import Clock
from oncoline.engines.recommend.conditions import Facts, Predicate, compiled_whens
from oncoline.engines.recommend.line_decision import LineDecision
from oncoline.knowledge.loader import KnowledgeBase
from oncoline.knowledge.schema import Regimen, Slot, Statement
from oncoline.model.recommendation import CATEGORY_RANK, Category, Excluded, TraceEntry

__all__ = ["Candidate", "candidate_regimens", "first_choice"]


_RANK: dict[str, int] = {c.value: rank for c, rank in CATEGORY_RANK.items()}
""":data:`CATEGORY_RANK` by the categories' names (statements hold names: one enum built per candidate)."""


@dataclass
class Candidate:
    """A regimen placed by one or more statements in effect (its category is the best of theirs)."""

    regimen: Regimen
    statements: list[Statement] = field(default_factory=list)
    _best: tuple[int, Statement] | None = field(default=None, init=False, repr=False, compare=False)
    """(number of statements, primary) when last worked out (sorting asks for it many times)."""

    @property
    def category(self) -> Category:
        return Category(self.primary.category)

    @property
    def primary(self) -> Statement:
        """The first statement of the best category."""
        n = len(self.statements)
        if self._best is None or self._best[0] != n:
            rank = min(_RANK[s.category] for s in self.statements)
            self._best = (n, next(s for s in self.statements if _RANK[s.category] == rank))
        return self._best[1]


def candidate_regimens(
    kb: KnowledgeBase,
    facts: Facts,
    decision: LineDecision,
    her2: Her2Classification,
    checker: Checker,
    clock: Clock,
    /,
    *,
    unanchored: bool,
    holding: Sequence[Statement] | None = None,
) -> tuple[list[Candidate], list[Excluded]]:
    """The regimens the statements in effect place for this patient, and those the HER2 or line gate withholds.

    Parameters
    ----------
    kb, facts, decision, her2
        Knowledge, the patient's facts, the line decision and the HER2 classification.
    checker
        The patient's checks (the HER2 gate asks it why a HER2-low/ultralow regimen is not met).
    clock
        ``as_of`` and the trace: statements not yet in effect, expired or resting on a later source are traced
        and left out.
    unanchored
        True when exposures cannot be anchored (no metastatic diagnosis date): every placed regimen is withheld
        (``line_unknown``).
    holding
        :func:`holding_statements` of ``facts`` when already known (one patient decided on several dates); None:
        worked out here.

    Returns
    -------
    tuple[list[Candidate], list[Excluded]]
        Candidates ordered by category (preferred first), then statement order in ``statements.yaml``; and one
        exclusion per gated regimen, in the order the statements met it.

    References
    ----------
    shared/reference/her2-mbc.md §a.1-§a.6, §g.6, §d.8.
    """
    as_of, trace = clock.as_of, clock.trace
    candidates: dict[str, Candidate] = {}
    gated: dict[str, Block] = {}
    stmt: Statement
    for stmt in holding if holding is not None else holding_statements(kb, facts):
        if clock.not_yet(stmt.effective):
            trace.append(TraceEntry(rule=stmt.id, effect=f"takes effect on {stmt.effective}, after {as_of}: left out"))
            continue
        if clock.expired(stmt.expires):
            trace.append(TraceEntry(rule=stmt.id, effect=_expired_text(kb, stmt)))
            continue
        if not clock.all_in_effect(stmt.citations, where=stmt.id, what="statement"):
            continue
        if not clock.citable(stmt.citations):
            trace.append(TraceEntry(rule=stmt.id, effect=f"no source of it is dated by {as_of}: left out"))
            continue
        regimen = kb.regimens[stmt.regimen]
        fixed = regimen_drugs(regimen, decision)
        ok, block = her2_gate(stmt, fixed, her2, kb, checker)
        if not ok:
            continue
        if block is None and unanchored:
            block = Block(
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
        candidates.setdefault(regimen.id, Candidate(regimen)).statements.append(stmt)
        trace.append(TraceEntry(rule=stmt.id, effect=f"places {regimen.id} ({stmt.category})"))

    excluded = [
        excluded_entry(clock, kb.regimens[rid], first_choice(kb.regimens[rid], decision), [block])
        for rid, block in gated.items()
    ]
    order = _statement_order(kb)
    ranked = sorted(candidates.values(), key=lambda c: (_RANK[(p := c.primary).category], order[p.id]))
    return ranked, excluded


def holding_statements(kb: KnowledgeBase, facts: Facts, /) -> tuple[Statement, ...]:
    """The statements whose population holds for ``facts``, in file order (whether each is in effect on a date is
    :func:`candidate_regimens`'s question: none is asked here)."""
    return tuple(stmt for stmt, holds in _statements_for(kb, facts.algorithm) if holds(facts))


_BY_ALGORITHM: dict[int, tuple[KnowledgeBase, dict[str, tuple[tuple[Statement, Predicate], ...]]]] = {}
"""Knowledge base (by identity) → algorithm → :func:`_statements_for` (built once per algorithm asked)."""


def _statements_for(kb: KnowledgeBase, algorithm: str, /) -> tuple[tuple[Statement, Predicate], ...]:
    """The statements (with their compiled populations, in file order) whose population may hold for a patient on
    ``algorithm``: those that name no algorithm or name this one. A statement naming other algorithms cannot hold
    (its ``algorithm`` key is one of the conditions its population AND-s), so leaving it out changes nothing —
    the evaluation is pure — and spares most of the ~80 population checks of a call."""
    hit = _BY_ALGORITHM.get(id(kb))
    if hit is None or hit[0] is not kb:
        hit = _BY_ALGORITHM[id(kb)] = (kb, {})
    found = hit[1].get(algorithm)
    if found is None:
        found = hit[1][algorithm] = tuple(
            (stmt, holds)
            for stmt, holds in compiled_whens(kb, kb.statements)
            if stmt.when.algorithm is None or algorithm in stmt.when.algorithm
        )
    return found


_ORDER: dict[int, tuple[KnowledgeBase, dict[str, int]]] = {}


def _statement_order(kb: KnowledgeBase, /) -> dict[str, int]:
    """Statement id → its position in ``statements.yaml`` (the ranking's tie-break), once per knowledge base."""
    hit = _ORDER.get(id(kb))
    if hit is None or hit[0] is not kb:
        hit = _ORDER[id(kb)] = (kb, {s.id: i for i, s in enumerate(kb.statements)})
    return hit[1]


_EXPIRED_TEXT: dict[tuple[int, int], tuple[KnowledgeBase, Statement, str]] = {}
"""(knowledge base, statement) by identity → :func:`_expired_text` (it reads nothing else)."""


def _expired_text(kb: KnowledgeBase, stmt: Statement) -> str:
    """Trace text of an expired statement: when it expired and which statements placing its regimen replaced it."""
    key = (id(kb), id(stmt))
    hit = _EXPIRED_TEXT.get(key)
    if hit is not None and hit[0] is kb and hit[1] is stmt:
        return hit[2]
    text = _expired_text_of(kb, stmt)
    _EXPIRED_TEXT[key] = (kb, stmt, text)
    return text


def _expired_text_of(kb: KnowledgeBase, stmt: Statement) -> str:
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


def first_choice(regimen: Regimen, decision: LineDecision) -> tuple[str, ...]:
    """The drugs a regimen shows when withheld before its slots are resolved: each slot's first choice."""
    if regimen.drugs_from == "current_line":
        return decision.current.drugs if decision.current else ()
    return tuple(d.choices[0] if isinstance(d, Slot) else d for d in regimen.drugs)
