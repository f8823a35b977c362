"""Steps 6 and 7 of the recommender — actions beside the systemic choice, safety monitoring and safety warnings.

References
----------
shared/reference/her2-mbc.md §b (brain), §c (site-specific care), §d (safety rules).
"""

from __future__ import annotations

from collections.abc import Sequence

from oncoline.engines.recommend.clock import Clock, citations_for
from oncoline.engines.recommend.conditions import Facts, compile_condition
from oncoline.engines.recommend.facts import render_text
from oncoline.model.recommendation import Action, Monitoring, Option, TraceEntry

__all__ = ["monitoring_for", "safety_warnings", "site_actions"]


def site_actions(clock: Clock, facts: Facts, /) -> tuple[Action, ...]:
    """Step 6 — site-specific and safety actions: the first matching action rule per code, among the rules with a
    source on ``as_of`` (``site_actions.yaml``; always the clinical-trial action).

    References
    ----------
    shared/reference/her2-mbc.md §a.6 (always offer a trial), §a.7 (biopsy, discordance), §b (brain), §c (bone,
    liver, primary tumour, radiation), §d.5 (pregnancy).
    """
    kb = clock.kb
    done: set[str] = set()
    out: list[Action] = []
    for rule in kb.actions:
        if rule.code in done or not compile_condition(rule.when, kb)(facts):
            continue
        if not clock.any_in_effect(rule.citations):
            clock.trace.append(TraceEntry(rule=rule.id, effect=f"action {rule.code} left out: no source yet"))
            continue
        if clock.expired(rule.expires):
            continue
        if clock.worded_later(rule.text_sources):
            continue
        cites = clock.keep(rule.citations, where=rule.id)
        done.add(rule.code)
        out.append(
            Action(
                code=rule.code, text=render_text(rule.text, facts, kb), rule=rule.id, citations=citations_for(kb, cites)
            )
        )
        clock.trace.append(TraceEntry(rule=rule.id, effect=f"action {rule.code}"))
    return tuple(out)


def monitoring_for(clock: Clock, facts: Facts, options: Sequence[Option], /) -> tuple[Monitoring, ...]:
    """Step 7 — safety monitoring for drugs among the options; ``together_with`` rules only for options that hold a
    drug of the rule together with a partner (e.g. taxane de-escalation only beside HER2 therapy).

    References
    ----------
    shared/reference/her2-mbc.md §d.1 (LVEF), §d.2 (ILD), §d.3 (liver, platelets), §d.4 (diarrhoea), §d.6
    (interactions); the drug labels (``safety.yaml``).
    """
    kb = clock.kb
    out: list[Monitoring] = []
    for rule in kb.safety.monitoring:
        if (
            not clock.any_in_effect(rule.citations)
            or clock.worded_later(rule.text_sources)
            or clock.expired(rule.expires)
        ):
            continue
        cites = clock.keep(rule.citations, where=rule.id)
        wanted = kb.expand(rule.drugs)
        partners = kb.expand(rule.together_with)
        hit = frozenset(
            d for o in options if not partners or not partners.isdisjoint(o.drugs) for d in o.drugs if d in wanted
        )
        if hit and compile_condition(rule.when, kb)(facts):
            out.append(
                Monitoring(drugs=tuple(sorted(hit)), text=rule.text, rule=rule.id, citations=citations_for(kb, cites))
            )
    return tuple(out)


def safety_warnings(clock: Clock, facts: Facts, warnings: list[str], /) -> None:
    """Append the text of every safety warning rule that holds (``safety.yaml`` ``warnings``) and trace it."""
    kb = clock.kb
    for w in kb.safety.warnings:
        if (
            clock.any_in_effect(w.citations)
            and compile_condition(w.when, kb)(facts)
            and not clock.expired(w.expires)
            and not clock.worded_later(w.text_sources)
        ):
            warnings.append(w.text)
            clock.trace.append(TraceEntry(rule=w.id, effect="warning"))
