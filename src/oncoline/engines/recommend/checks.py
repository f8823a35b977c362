"""Step 4 of the recommender — checks and exclusions for one patient: why a drug or regimen cannot be given
(safety contraindications, progression and toxicity stops, forbidden combinations, label prerequisites, the HER2
gate) and the cautions that flag it.

References
----------
shared/reference/her2-mbc.md §a.6 rules (never re-propose a regimen the patient progressed on; toxicity stops),
§d (safety rules), §g.6 (T-DXd eligibility by HER2 category), §d.8 (missing or equivocal HER2: ask, never infer).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from oncoline.engines.her2 import Her2Classification
from oncoline.engines.recommend.clock import Clock, citations_for
from oncoline.engines.recommend.conditions import Facts, compile_condition, compiled_whens
from oncoline.engines.recommend.facts import render_text
from oncoline.engines.recommend.history import PastLine
from oncoline.engines.recommend.line_decision import LineDecision
from oncoline.knowledge.loader import KnowledgeBase
from oncoline.knowledge.schema import ForbiddenCombination, Prerequisite, Regimen, SafetyRule, Slot, Statement
from oncoline.model.recommendation import CATEGORY_RANK, Category, Excluded

__all__ = ["GENERIC_REASONS", "Block", "Checker", "excluded_entry", "her2_gate", "prerequisite_block", "regimen_drugs"]


@dataclass
class Block:
    """One reason an option is withheld: reason code, text, rule id and sources."""

    code: str
    reason: str
    rule: str
    citations: tuple[str, ...]


def _names(kb: KnowledgeBase, drug: str) -> tuple[str, ...]:
    entry = kb.vocab.drug(drug)
    return (entry.name, *entry.aliases)


def _naming(kb: KnowledgeBase, reason: str, drugs: Sequence[str]) -> str:
    """``reason`` as it reads for an option: prefixed with the option's drugs it concerns unless it names each.

    A rule may cover several drugs with one text; the reason shown for a regimen must name the regimen's own
    drug(s) (by INN, brand or abbreviation, whole words), never only other drugs of the rule.
    """
    text = reason.lower()

    def named(drug: str) -> bool:
        return any(re.search(rf"(?<![\w-]){re.escape(n.lower())}(?![\w-])", text) for n in _names(kb, drug))

    hit = list(dict.fromkeys(drugs))
    return reason if all(named(d) for d in hit) else f"{' + '.join(hit)}: {reason}"


def holding_rules(kb: KnowledgeBase, facts: Facts, /) -> tuple[SafetyRule, ...]:
    """The contraindication and caution rules whose population holds for ``facts``, in file order (whether each
    is in effect on a date is :class:`Checker`'s question)."""
    return tuple(
        r
        for r, holds in compiled_whens(kb, kb.safety.rules)
        if r.severity in ("contraindicated", "caution") and holds(facts)
    )


def prerequisite_block(prq: Prerequisite) -> Block:
    """The exclusion for an unmet label prerequisite."""
    text = prq.text if prq.reason_code == "not_labelled" else f"prerequisite not met — {prq.text}"
    return Block(prq.reason_code, text, prq.id, prq.citations)


class Checker:
    """Exclusion and caution checks for one patient (``holding``: :func:`holding_rules` of ``facts`` when already
    known; None: worked out here)."""

    def __init__(
        self,
        kb: KnowledgeBase,
        facts: Facts,
        lines: Sequence[PastLine],
        clock: Clock,
        early_resistant: dict[str, str] | None = None,
        early_relapse: dict[str, str] | None = None,
        holding: Sequence[SafetyRule] | None = None,
    ) -> None:
        self.kb = kb
        self.early_resistant = early_resistant or {}
        self.early_relapse = early_relapse or {}
        self.facts = facts
        self.clock = clock
        pol = kb.safety.progression
        allowed = kb.expand(pol.beyond_progression_allowed)
        progressed: dict[str, tuple[int, str, str | None]] = {}  # drug -> (line, drug progressed on, group)
        self.progressed_sets: list[tuple[frozenset[str], int]] = []
        self.toxic_drugs: dict[str, PastLine] = {}
        self.toxic_sets: list[tuple[frozenset[str], PastLine]] = []
        for ln in lines:
            if ln.stopped in ("progression", "unknown"):
                self.progressed_sets.append((frozenset(ln.drugs), ln.ordinal))
                for d in ln.drugs:
                    progressed.setdefault(d, (ln.ordinal, d, None))
            elif ln.stopped == "toxicity":
                if len(ln.drugs) == 1:
                    self.toxic_drugs[ln.drugs[0]] = ln
                else:
                    self.toxic_sets.append((frozenset(ln.drugs), ln))
        for group, members in pol.cross_resistance.items():
            hit = [progressed[d] for d in members if d in progressed]
            if hit:
                first = min(hit)
                for d in members:
                    progressed.setdefault(d, (first[0], first[1], group))
        self.progressed = {d: n for d, n in progressed.items() if d not in allowed}
        # the population first, then whether the rule is in effect: a rule that cannot apply to this patient does
        # not tie the answer to its sources' dates (Clock.unchanged_between)
        rules = [
            r
            for r in (holding if holding is not None else holding_rules(kb, facts))
            if clock.any_in_effect(r.citations)
        ]
        self.contra = [(r, kb.expand(r.drugs)) for r in rules if r.severity == "contraindicated"]
        self.cautions = [(r, kb.expand(r.drugs)) for r in rules if r.severity == "caution"]

    def drug_blocks(self, drug: str) -> list[Block]:
        """Why ``drug`` cannot be given: contraindications, then progression and toxicity stops."""
        return self._contra_blocks((drug,)) + self._history_blocks(drug)

    def _contra_blocks(self, drugs: Sequence[str]) -> list[Block]:
        """One block per contraindication rule that holds, naming the drugs of ``drugs`` it hits."""
        out: list[Block] = []
        for rule, rdrugs in self.contra:
            hit = [d for d in drugs if d in rdrugs]
            if hit:
                out.append(Block(rule.reason_code, _naming(self.kb, rule.reason, hit), rule.id, rule.citations))
        return out

    def _history_blocks(self, drug: str) -> list[Block]:
        out: list[Block] = []
        policy = self.kb.safety.progression.early_endocrine_resistance
        if drug in self.early_resistant and policy is not None:
            out.append(Block("progressed_on", self.early_resistant[drug], "EARLY-ET-RESISTANCE", policy.citations))
        relapse_policy = self.kb.safety.progression.early_relapse_resistance
        if drug in self.early_relapse and relapse_policy is not None:
            out.append(
                Block("progressed_on", self.early_relapse[drug], "EARLY-RELAPSE-RESISTANCE", relapse_policy.citations)
            )
        if drug in self.progressed:
            n, source, group = self.progressed[drug]
            text = (
                f"progressed on {drug} (line {n}); not re-proposed"
                if group is None
                else f"progressed on {source} (line {n}); {drug} is not re-proposed "
                f"({group.replace('_', ' ')} cross-resistance)"
            )
            out.append(Block("progressed_on", text, "PROGRESSION", self.kb.safety.progression.citations))
        if drug in self.toxic_drugs:
            ln = self.toxic_drugs[drug]
            event = ln.toxicity_event or "toxicity"
            out.append(
                Block(
                    "stopped_for_toxicity",
                    f"{drug} stopped for toxicity in line {ln.ordinal} ({event}); no rechallenge without specialist "
                    "review of the label's toxicity rule",
                    "TOXICITY",
                    self.kb.safety.progression.citations,
                )
            )
        return out

    def option_blocks(self, drugs: Sequence[str], regimen: Regimen) -> list[Block]:
        """Every reason the option cannot be given: safety first (one per rule), then history, combinations,
        label prerequisites."""
        out: list[Block] = self._contra_blocks(drugs)
        for d in drugs:
            out.extend(self._history_blocks(d))
        dset = frozenset(drugs)
        for pset, n in self.progressed_sets:
            if pset == dset and not any(b.code == "progressed_on" for b in out):
                out.append(
                    Block("progressed_on", f"progressed on this regimen (line {n})", "PROGRESSION", ("ONC-REF",))
                )
        for tset, ln in self.toxic_sets:
            if tset == dset:
                out.append(
                    Block(
                        "stopped_for_toxicity",
                        f"this regimen was stopped for toxicity in line {ln.ordinal} "
                        f"({ln.toxicity_event or 'toxicity'})",
                        "TOXICITY",
                        ("ONC-REF",),
                    )
                )
        for fc, groups in _forbidden(self.kb):
            for group in groups:  # every group of the combination has a drug of the option
                if group.isdisjoint(dset):
                    break
            else:
                out.append(Block("forbidden_combination", fc.reason, fc.id, fc.citations))
        for prq in regimen.prerequisites:
            if (
                prq.on_fail == "exclude"
                and not compile_condition(prq.when, self.kb)(self.facts)
                and self.clock.any_in_effect(prq.citations)
            ):
                out.append(prerequisite_block(prq))
        return out

    def failed_prerequisite(self, regimen: Regimen) -> Block | None:
        """The first ``exclude`` prerequisite of ``regimen`` the patient does not meet (the most specific)."""
        for prq in regimen.prerequisites:
            if (
                prq.on_fail == "exclude"
                and not compile_condition(prq.when, self.kb)(self.facts)
                and self.clock.any_in_effect(prq.citations)
            ):
                return prerequisite_block(prq)
        return None

    def category_cap(self, drugs: Sequence[str]) -> Category | None:
        """The lowest ``category_cap`` of the cautions that hit ``drugs`` (None when none caps)."""
        caps = [
            Category(rule.category_cap)
            for rule, rdrugs in self.cautions
            if rule.category_cap is not None and not rdrugs.isdisjoint(drugs)
        ]
        return max(caps, key=CATEGORY_RANK.__getitem__) if caps else None

    def favoured_over(self, drugs: Sequence[str], /) -> list[tuple[str, frozenset[str]]]:
        """(rule id, regimen ids it favours) for each caution with ``favours`` that hits ``drugs`` (reference §a.2:
        a caution saying "favour another regimen")."""
        return [
            (rule.id, frozenset(rule.favours))
            for rule, rdrugs in self.cautions
            if rule.favours and not rdrugs.isdisjoint(drugs)
        ]

    def flags(self, drugs: Sequence[str], regimen: Regimen) -> tuple[list[str], list[str]]:
        """(flags, citation ids) from cautions and off-label prerequisites."""
        flags: list[str] = []
        cites: list[str] = []
        dset = frozenset(drugs)
        for rule, rdrugs in self.cautions:
            if not rdrugs.isdisjoint(dset):
                reason = render_text(rule.reason, self.facts, self.kb)
                flags.append(f"caution: {_naming(self.kb, reason, [d for d in drugs if d in rdrugs])}")
                cites.extend(rule.citations)
        for prq in regimen.prerequisites:
            if (
                prq.on_fail == "flag"
                and not compile_condition(prq.when, self.kb)(self.facts)
                and self.clock.any_in_effect(prq.citations)
            ):
                flags.append(prq.text if prq.text.startswith(("off-label", "UNCONFIRMED")) else f"note: {prq.text}")
                cites.extend(prq.citations)
        return flags, cites


def her2_gate(
    stmt: Statement,
    placed: frozenset[str],
    her2: Her2Classification,
    kb: KnowledgeBase,
    checker: Checker,
) -> tuple[bool, Block | None]:
    """(is a candidate, exclusion) for the statement's HER2 scope and the patient's HER2 result.

    For a HER2-negative result a HER2-directed regimen is withheld with the most specific reason: when the
    knowledge places the same drugs for HER2-low/ultralow (T-DXd), the first unmet prerequisite of that
    HER2-low/ultralow regimen says why (HER2-0 not labelled, HR-negative ultralow not labelled, prior endocrine
    therapy or chemotherapy missing); when the patient meets them, that regimen is offered instead and nothing is
    withheld here. Otherwise the reason names the drugs that are for HER2-positive disease only.
    """
    key = (id(kb), placed)
    hit = _HER2_DIRECTED.get(key)
    if hit is None or hit[0] is not kb:
        if len(_HER2_DIRECTED) >= 65536:  # ongoing lines' drug sets of a long-running service: kept bounded
            _HER2_DIRECTED.clear()
        hit = _HER2_DIRECTED[key] = (kb, any(kb.in_class(d, "her2_directed") for d in placed))
    her2_directed = hit[1]
    status = her2.status
    cites = her2.citations or ("ASCOCAP-2018",)
    if status in ("missing", "equivocal"):
        if stmt.her2_scope == "any" and not her2_directed:
            return True, None
        code = "her2_status_missing" if status == "missing" else "her2_equivocal"
        text = (
            "HER2 status missing: never inferred — no systemic regimen until HER2 is tested"
            if status == "missing"
            else f"HER2 equivocal ({her2.rule}): complete the HER2 work-up "
            f"({(her2.next_test or 'further testing').replace('_', ' ')}) before any systemic decision"
        )
        return True, Block(code, text, "HER2-GATE", cites)
    if stmt.her2_scope in ("low_ultralow", "negative"):
        return status == "negative", None
    if status == "positive" or not her2_directed:
        return stmt.her2_scope == "any" or status == "positive", None
    # HER2-negative result, HER2-directed regimen from a "positive" or "any" statement
    allowed = _low_ultralow_drugs(kb).get(her2.category, frozenset())
    if stmt.her2_scope == "any" and placed <= allowed:
        return True, None  # e.g. continuing T-DXd in HER2-low disease
    if stmt.her2_scope == "positive":
        for low in _low_ultralow_regimens(kb):
            if regimen_drugs(low, None) == placed:
                block = checker.failed_prerequisite(low)
                return (block is not None), block
    positive_only = sorted(d for d in placed if kb.in_class(d, "her2_directed") and d not in allowed)
    result = "HER2-negative" if her2.category == "HER2-negative" else f"{her2.category}, HER2-negative"
    return True, Block(
        "not_her2_positive",
        f"{' + '.join(positive_only)}: for HER2-positive disease only (IHC 3+ or ISH-positive, ASCO/CAP); "
        f"this tumour is {result}",
        "HER2-GATE",
        cites,
    )


_FORBIDDEN: dict[int, tuple[KnowledgeBase, tuple[tuple[ForbiddenCombination, tuple[frozenset[str], ...]], ...]]] = {}


def _forbidden(kb: KnowledgeBase) -> tuple[tuple[ForbiddenCombination, tuple[frozenset[str], ...]], ...]:
    """Each forbidden combination with the drugs of each of its ``together`` tokens (expanded once per knowledge
    base: every checked option asks)."""
    hit = _FORBIDDEN.get(id(kb))
    if hit is None or hit[0] is not kb:
        combos = tuple((fc, tuple(kb.expand((t,)) for t in fc.together)) for fc in kb.safety.forbidden_combinations)
        hit = _FORBIDDEN[id(kb)] = (kb, combos)
    return hit[1]


_HER2_DIRECTED: dict[tuple[int, frozenset[str]], tuple[KnowledgeBase, bool]] = {}
"""(knowledge base, drug set) → whether a drug of the set is HER2-directed (asked for every statement placed)."""

_LOW_REGIMENS: dict[int, tuple[Regimen, ...]] = {}


def _low_ultralow_regimens(kb: KnowledgeBase) -> tuple[Regimen, ...]:
    """Regimens that low/ultralow-scope statements place (from the data), in statement order."""
    hit = _LOW_REGIMENS.get(id(kb))
    if hit is None:
        ids = dict.fromkeys(s.regimen for s in kb.statements if s.her2_scope == "low_ultralow")
        hit = tuple(kb.regimens[i] for i in ids)
        _LOW_REGIMENS[id(kb)] = hit
    return hit


GENERIC_REASONS = {"not_her2_positive": 1}
"""Reason codes that say less about the patient than any other (the lower the more specific)."""

_LOW_DRUGS: dict[int, dict[str, frozenset[str]]] = {}


def _low_ultralow_drugs(kb: KnowledgeBase) -> dict[str, frozenset[str]]:
    """HER2 category → drugs of the regimens that low/ultralow-scope statements place for it (from the data)."""
    hit = _LOW_DRUGS.get(id(kb))
    if hit is None:
        acc: dict[str, set[str]] = {}
        for stmt in kb.statements:
            if stmt.her2_scope != "low_ultralow":
                continue
            drugs = regimen_drugs(kb.regimens[stmt.regimen], None)
            for category in stmt.when.her2_category or ("HER2-low", "HER2-ultralow"):
                acc.setdefault(category, set()).update(drugs)
        hit = {k: frozenset(v) for k, v in acc.items()}
        _LOW_DRUGS[id(kb)] = hit
    return hit


def regimen_drugs(regimen: Regimen, decision: LineDecision | None) -> frozenset[str]:
    """Every drug a regimen may hold (all slot choices; the current line's drugs for ``drugs_from: current_line``)."""
    if regimen.drugs_from == "current_line":
        return frozenset(decision.current.drugs) if decision and decision.current else frozenset()
    hit = _REGIMEN_DRUGS.get(id(regimen))
    if hit is not None and hit[0] is regimen:
        return hit[1]
    out: set[str] = set()
    for d in regimen.drugs:
        out.update(d.choices if isinstance(d, Slot) else (d,))
    _REGIMEN_DRUGS[id(regimen)] = (regimen, frozenset(out))
    return frozenset(out)


_REGIMEN_DRUGS: dict[int, tuple[Regimen, frozenset[str]]] = {}
"""Regimen (by identity; frozen) → every drug it may hold (:func:`regimen_drugs` walks it on every statement)."""


def excluded_entry(clock: Clock, regimen: Regimen, drugs: Sequence[str], blocks: list[Block]) -> Excluded:
    """The exclusion entry of ``regimen``: the first block is its reason, the others its ``also`` reasons."""
    kb = clock.kb
    first = blocks[0]
    return Excluded(
        drugs=tuple(drugs),
        regimen=regimen.id,
        name=regimen.name,
        reason_code=first.code,
        reason=first.reason,
        rule=first.rule,
        citations=citations_for(kb, clock.keep((c for b in blocks for c in b.citations), where=regimen.id)),
        also=tuple(dict.fromkeys(b.reason for b in blocks[1:] if b.reason != first.reason)),
    )
