"""Steps 4 and 5 of the recommender — each candidate checked (exclusions and cautions), then ranked.

:func:`check_candidates` resolves a candidate's slots to drugs the patient can receive and withholds it with every
reason that applies; :func:`rank_options` builds each remaining option (flags, evidence, notes and sources as of
the decision date; its category after the cautions that cap it), orders them by category and keeps one option per
drug set and one exclusion per drug set and regimen. The checks are a generator the ranking consumes, so the trace
reads candidate by candidate.

References
----------
shared/reference/her2-mbc.md §a.1 (KB rule: an option beyond a guideline shows its evidence and guideline status),
§a.2 (cautions that favour another regimen), §a.6 rules, §d (safety).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from oncoline.engines.recommend.candidates import Candidate
from oncoline.engines.recommend.checks import GENERIC_REASONS, Checker, excluded_entry
from oncoline.engines.recommend.clock import Clock, citations_for
from oncoline.engines.recommend.conditions import Facts, compile_condition
from oncoline.engines.recommend.line_decision import LineDecision
from oncoline.knowledge.loader import KnowledgeBase
from oncoline.knowledge.schema import Flag, Regimen, Slot
from oncoline.model.recommendation import CATEGORY_RANK, Category, Excluded, Option, TraceEntry

__all__ = ["Checked", "check_candidates", "rank_options"]


@dataclass
class Checked:
    """A candidate that passed every check: its concrete drugs, notes, and the cautions that flag it."""

    candidate: Candidate
    drugs: list[str]
    notes: list[str]
    flags: list[str]
    caution_citations: list[str]
    adjunct_citations: list[str]


def check_candidates(
    candidates: Iterable[Candidate], kb: KnowledgeBase, facts: Facts, decision: LineDecision, checker: Checker, /
) -> Iterator[Checked | Excluded]:
    """Check each candidate in turn: an :class:`Excluded` entry when anything withholds it, else :class:`Checked`.

    Parameters
    ----------
    candidates
        In ranking order (:func:`~oncoline.engines.recommend.candidates.candidate_regimens`).
    kb, facts, decision
        Knowledge, the patient's facts and the line decision (``drugs_from: current_line`` regimens).
    checker
        The patient's checks: contraindications, progression, toxicity stops, forbidden combinations, label
        prerequisites; cautions and off-label prerequisites become flags.

    Yields
    ------
    Checked | Excluded
        One item per candidate, in order; each exclusion is traced with its first reason.

    References
    ----------
    shared/reference/her2-mbc.md §a.6 rules, §d.1-§d.8, §g.6.
    """
    for cand in candidates:
        regimen = cand.regimen
        drugs, notes = _resolve(regimen, decision, checker)
        blocks = checker.option_blocks(drugs, regimen)
        if blocks:
            checker.clock.trace.append(
                TraceEntry(rule=blocks[0].rule, effect=f"excludes {regimen.id}: {blocks[0].code}")
            )
            yield excluded_entry(checker.clock, regimen, drugs, blocks)
            continue
        drugs, adj_notes, adj_cites = _adjuncts(drugs, kb, facts)
        notes.extend(adj_notes)
        flags, flag_cites = checker.flags(drugs, regimen)
        yield Checked(cand, drugs, notes, flags, flag_cites, adj_cites)


def rank_options(
    checked: Iterable[Checked | Excluded],
    gated: Sequence[Excluded],
    kb: KnowledgeBase,
    facts: Facts,
    checker: Checker,
    /,
) -> tuple[list[Option], list[Excluded]]:
    """The options in rank order and the exclusions, one per drug set.

    Parameters
    ----------
    checked
        :func:`check_candidates` output, in candidate order.
    gated
        Exclusions already made when placing candidates (HER2 or line gate).
    kb, facts
        Knowledge and the patient's facts (conditional regimen notes).
    checker
        Its clock keeps flags, evidence, notes and sources dated after ``as_of`` out (traced); its cautions cap
        categories.

    Returns
    -------
    tuple[list[Option], list[Excluded]]
        Options sorted by category (stable: a capped option drops below the others of its new category), one per
        drug set (the best); exclusions without the drug sets offered, one per regimen and drug set — a
        patient-specific reason beats the generic HER2 gate.

    References
    ----------
    shared/reference/her2-mbc.md §a.1 KB rule (guideline status), §a.2 (cautions), §d.
    """
    options: list[Option] = []
    excluded: list[Excluded] = list(gated)
    placed = {e.regimen for e in gated}
    for item in checked:
        if isinstance(item, Excluded):
            excluded.append(item)
            placed.add(item.regimen)
        else:
            options.append(_build_option(item, kb, facts, checker))
            placed.add(item.candidate.regimen.id)

    disfavoured = _apply_favours(options, placed, checker)
    # stable: a capped option drops below the rest; a disfavoured one below the others of its category
    options.sort(key=lambda o: (CATEGORY_RANK[o.category], o.regimen in disfavoured))
    # de-duplicate: one option per drug set (best first); exclusions of a drug set that is offered go
    seen: set[frozenset[str]] = set()
    unique: list[Option] = []
    for o in options:
        key = frozenset(o.drugs)
        if key not in seen:
            seen.add(key)
            unique.append(o)
    # one exclusion per drug set (and per regimen): a patient-specific reason beats the generic HER2 gate
    by_set: dict[frozenset[str], Excluded] = {}
    ex_seen: set[str] = set()
    for e in excluded:
        key = frozenset(e.drugs)
        if key in seen or e.regimen in ex_seen:
            continue
        ex_seen.add(e.regimen)
        prev = by_set.get(key)
        if prev is None or GENERIC_REASONS.get(e.reason_code, 0) < GENERIC_REASONS.get(prev.reason_code, 0):
            by_set[key] = e
    return unique, list(by_set.values())


def _apply_favours(options: list[Option], placed: set[str], checker: Checker) -> set[str]:
    """Apply the cautions that favour another regimen (reference §a.2): returns the disfavoured regimen ids.

    A caution with ``favours`` counts when one of its favoured regimens was placed for this patient (offered or
    withheld). An option it hits is never ranked above an offered favoured regimen (its category becomes no better
    than theirs and it sorts after them), and is never left alone as preferred: when every preferred option is
    disfavoured, they become ``other``. Each change is traced. ``options`` is updated in place.
    """
    trace = checker.clock.trace
    disfavoured: set[str] = set()
    for i, o in enumerate(options):
        for rule_id, favoured in checker.favoured_over(o.drugs):
            if favoured.isdisjoint(placed) or o.regimen in favoured:
                continue
            disfavoured.add(o.regimen)
            offered = [x.category for x in options if x.regimen in favoured]
            best = min(offered, key=CATEGORY_RANK.__getitem__, default=None)
            if best is not None and CATEGORY_RANK[best] > CATEGORY_RANK[options[i].category]:
                trace.append(
                    TraceEntry(
                        rule=rule_id,
                        effect=f"{o.regimen}: {options[i].category} → {best} (favours "
                        f"{', '.join(sorted(favoured & placed))})",
                    )
                )
                options[i] = options[i].model_copy(update={"category": best})
    preferred = [i for i, o in enumerate(options) if o.category == Category.PREFERRED]
    if preferred and all(options[i].regimen in disfavoured for i in preferred):
        for i in preferred:
            trace.append(
                TraceEntry(
                    rule="FAVOUR",
                    effect=f"{options[i].regimen}: preferred → other (not alone as preferred "
                    "when a caution favours another regimen)",
                )
            )
            options[i] = options[i].model_copy(update={"category": Category.OTHER})
    return disfavoured


def _build_option(item: Checked, kb: KnowledgeBase, facts: Facts, checker: Checker) -> Option:
    """One option with its statement flags, evidence, notes and sources in effect, and its capped category."""
    clock: Clock = checker.clock
    cand, drugs, notes, flags = item.candidate, item.drugs, item.notes, item.flags
    regimen, stmts, primary = cand.regimen, cand.statements, cand.primary
    flag_cites = list(item.caution_citations)
    for s in stmts:
        for f in s.flags:
            if isinstance(f, Flag):
                if not clock.all_in_effect(f.citations, where=s.id, what=f"flag {f.text!r}", wording=True):
                    continue
                flag_cites.extend(f.citations)
            text = f if isinstance(f, str) else f.text
            if text not in flags:
                flags.append(text)
    status = next((s.guideline_status for s in stmts if s.guideline_status), None)
    evidence_ids = [
        e
        for s in stmts
        for e in s.evidence
        if clock.all_in_effect((kb.evidence[e].source,), where=s.id, what=f"evidence {e}", wording=True)
    ]
    cite_ids = [c for s in stmts for c in s.citations]
    cite_ids += [kb.evidence[e].source for e in evidence_ids] + flag_cites + item.adjunct_citations
    cite_ids = clock.keep(cite_ids, where=regimen.id)
    own = [regimen.note] if regimen.note else []
    for n in regimen.conditional_notes:
        if compile_condition(n.when, kb)(facts) and clock.all_in_effect(
            n.citations, where=regimen.id, what=f"note {n.text!r}", wording=True
        ):
            own.append(n.text)
            cite_ids.extend(c for c in n.citations if c not in cite_ids)
    notes[:0] = own
    category = cand.category
    cap = checker.category_cap(drugs)
    if cap is not None and CATEGORY_RANK[cap] > CATEGORY_RANK[category]:
        clock.trace.append(TraceEntry(rule="CATEGORY-CAP", effect=f"{regimen.id}: {category} → {cap} (caution)"))
        category = cap
    return Option(
        drugs=tuple(drugs),
        regimen=regimen.id,
        name=regimen.name,
        category=category,
        statement=primary.id,
        rationale=" ".join(dict.fromkeys(s.rationale for s in stmts)),
        evidence=tuple(dict.fromkeys(kb.evidence[e].one_liner for e in evidence_ids)),
        citations=citations_for(kb, cite_ids),
        flags=tuple(flags),
        notes=tuple(dict.fromkeys(notes)),
        guideline_status=status,
        effective=min(s.effective for s in stmts),
    )


def _resolve(regimen: Regimen, decision: LineDecision, checker: Checker) -> tuple[list[str], list[str]]:
    """Concrete drugs for a regimen: each slot takes its first choice the patient can receive."""
    if regimen.drugs_from == "current_line":
        return list(decision.current.drugs if decision.current else ()), []
    drugs: list[str] = []
    notes: list[str] = []
    for d in regimen.drugs:
        if not isinstance(d, Slot):
            drugs.append(d)
            continue
        usable = [c for c in d.choices if not checker.drug_blocks(c)]
        pick = usable[0] if usable else d.choices[0]
        drugs.append(pick)
        others = [c for c in usable if c != pick]
        if others:
            notes.append(f"{d.slot}: {pick} (or {', '.join(others)})")
    return drugs, notes


def _adjuncts(drugs: list[str], kb: KnowledgeBase, facts: Facts) -> tuple[list[str], list[str], list[str]]:
    """``drugs`` with the adjuncts the safety rules add (e.g. a GnRH agonist beside an AI before menopause)."""
    out = list(drugs)
    notes: list[str] = []
    cites: list[str] = []
    for adj in kb.safety.adjuncts:
        dset = frozenset(out)
        if (
            compile_condition(adj.when, kb)(facts)
            and not kb.expand(adj.if_option_has).isdisjoint(dset)
            and kb.expand(adj.unless_option_has).isdisjoint(dset)
        ):
            out.append(adj.add)
            notes.append(adj.note)
            cites.extend(adj.citations)
    return out, notes, cites
