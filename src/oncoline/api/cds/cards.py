"""Cards from an answer: the next-line card, a card per missing fact and per safety finding, order checks.

Only translation: every judgement comes from the recommendation (:func:`oncoline.app.recommend_document`) and
the order check (:func:`oncoline.app.orders.check_orders`). Summaries stay under 140 characters; details are
markdown with the evidence and sources; a withheld regimen gets ``overrideReasons`` and a suggestion.
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

from oncoline.api.cds.services import OVERRIDE_REASONS

if TYPE_CHECKING:
    from oncoline.api.state import ServiceState
    from oncoline.app.orders import OrderCheck
    from oncoline.app.recommend import RecommendOutcome
    from oncoline.model.recommendation import Citation, Excluded, Option, Recommendation

__all__ = ["data_quality_cards", "missing_cards", "next_line_card", "order_cards", "safety_cards"]

TOPIC_SYSTEM = "https://oncoline.readthedocs.io/cds/card"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
FHIR_REFERENCE = re.compile(r"[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}")
"""A relative FHIR reference ``Type/id`` (FHIR R4 id: 1-64 of ``[A-Za-z0-9-.]``)."""
SAFETY = ("contraindicated", "interaction", "stopped_for_toxicity", "caution")


def _short(text: str, limit: int = 139) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip(" ,;:") + "…"


def _cite(c: Citation) -> str:
    link = (
        c.url
        or (f"https://doi.org/{c.doi}" if c.doi else None)
        or (f"https://pubmed.ncbi.nlm.nih.gov/{c.pmid}/" if c.pmid else None)
    )
    return f"[{c.short}]({link})" if link else c.short


def _cites(citations: tuple[Citation, ...]) -> str:
    return ", ".join(_cite(c) for c in citations) or "—"


_KIND_RANK = {"guideline": 0, "label": 1, "trial": 2}


def _best(citations: tuple[Citation, ...]) -> Citation | None:
    """The citation a card names as its source: a guideline before a label before a trial before the rest."""
    return min(citations, key=lambda c: _KIND_RANK.get(c.kind, 3), default=None)


def _source(
    rec: Recommendation, state: ServiceState, citation: Citation | None, topic: str, display: str
) -> dict[str, Any]:
    label = f"oncoline · knowledge {rec.kb_version}"
    url = f"{state.config.public_url}/"
    if citation is not None:
        label = f"{citation.short} (oncoline · knowledge {rec.kb_version})"
        url = citation.url or (f"https://doi.org/{citation.doi}" if citation.doi else url)
    return {"label": label, "url": url, "topic": {"system": TOPIC_SYSTEM, "code": topic, "display": display}}


def card(state: ServiceState, service: str, kind: str, **fields: Any) -> dict[str, Any]:
    """A card dict with a fresh ``uuid`` (its kind remembered for feedback); empty fields left out."""
    card_id = str(uuid.uuid4())
    state.remember_card(card_id, service, kind)
    body = {"uuid": card_id, **fields}
    return {k: v for k, v in body.items() if v not in (None, [], {}, "")}


def _option_line(o: Option) -> str:
    ev = f" — {o.evidence[0]}" if o.evidence else ""
    return f"- **{o.name}**{ev} ({', '.join(_cite(c) for c in o.citations[:3])})"


def next_line_card(outcome: RecommendOutcome, state: ServiceState, service: str, link: str) -> dict[str, Any]:
    """The info card of the line now being chosen: preferred options in ``summary`` (< 140 characters), a
    markdown ``detail`` (why, missing facts, options with evidence one-liners and sources, withheld, knowledge
    version) and a link to this patient's page (``link``)."""
    rec = outcome.recommendation
    preferred = [o for o in rec.options if o.category.value == "preferred"]
    others = [o for o in rec.options if o.category.value != "preferred"]
    if preferred:
        summary = f"Line {rec.line}: preferred {'; '.join(o.name for o in preferred)}"
    elif rec.options:
        summary = f"Line {rec.line}: no preferred option; {len(rec.options)} other option(s)"
    else:
        summary = f"Line {rec.line}: no systemic option can be offered yet — see the missing facts"
    parts = [f"**Line {rec.line}** — {rec.line_rationale}", ""]
    if rec.missing:
        parts += ["**Missing first:** " + "; ".join(m.text for m in rec.missing), ""]
    if preferred:
        parts += ["**Preferred**", *(_option_line(o) for o in preferred), ""]
    if others:
        parts += ["**Other options**", *(_option_line(o) for o in others), ""]
    if rec.excluded:
        parts += ["**Withheld**", *(f"- {x.name}: {x.reason}" for x in rec.excluded), ""]
    parts += [
        f"Knowledge version {rec.kb_version}, as of {rec.as_of.isoformat()}. {rec.disclaimer}",
    ]
    return card(
        state,
        service,
        "next-line",
        summary=_short(summary),
        indicator="info",
        detail="\n".join(parts),
        source=_source(rec, state, None, "next-line", "Next-line options"),
        links=[{"label": "Open the tumour-board view in oncoline", "url": link, "type": "absolute"}],
    )


def missing_cards(outcome: RecommendOutcome, state: ServiceState, service: str) -> list[dict[str, Any]]:
    """One warning card per missing critical fact (e.g. no HER2 result → test it), in the recommendation's order."""
    rec = outcome.recommendation
    return [
        card(
            state,
            service,
            f"missing:{m.code}",
            summary=_short(f"Needed before choosing line {rec.line}: {m.code.replace('_', ' ')} — {m.text}"),
            indicator="warning",
            detail=f"{m.text}\n\noncoline does not guess a missing critical fact (`{m.code}`).",
            source=_source(rec, state, None, f"missing:{m.code}", "Missing critical fact"),
        )
        for m in rec.missing
    ]


def data_quality_cards(
    outcome: RecommendOutcome, skipped: list[str], state: ServiceState, service: str, *, shown: int = 20
) -> list[dict[str, Any]]:
    """One warning card "N records could not be read" when the prefetch held entries that are no FHIR resource
    (``skipped``, one line each) or the FHIR reader reported problems (``outcome.findings``); none otherwise.

    The detail lists the first ``shown`` problems, each naming the prefetch key / entry number or ``Type/id``."""
    lines = [*skipped, *(f.split(": ", 1)[1] if ": " in f else f for f in outcome.findings)]
    if not lines:
        return []
    n = len(lines)
    listed = "\n".join(f"- {line}" for line in lines[:shown])
    more = f"\n- … and {n - shown} more" if n > shown else ""
    return [
        card(
            state,
            service,
            "data-quality",
            summary=_short(f"{n} record(s) could not be read as sent: the advice may not reflect them"),
            indicator="warning",
            detail=f"oncoline skipped or corrected these parts of the record; check them in the chart (if a HER2 "
            f'result is among them, a "test HER2" card may be wrong):\n\n{listed}{more}',
            source={"label": "oncoline data-quality check", "url": f"{state.config.public_url}/"},
        )
    ]


def safety_cards(outcome: RecommendOutcome, state: ServiceState, service: str) -> list[dict[str, Any]]:
    """One warning card per safety finding (one rule), naming every regimen it withholds; one per caution."""
    rec = outcome.recommendation
    groups: dict[str, list[Excluded]] = {}
    for x in rec.excluded:
        if x.reason_code.startswith(SAFETY):
            groups.setdefault(x.rule, []).append(x)
    cards = []
    for rule, items in groups.items():
        first = items[0]
        names = ", ".join(x.name for x in items)
        citations = tuple(dict.fromkeys(c for x in items for c in x.citations))
        cards.append(
            card(
                state,
                service,
                f"safety:{first.reason_code}",
                summary=_short(f"Safety ({first.reason_code.replace('_', ' ')}): withholds {names}"),
                indicator="warning",
                detail="\n".join(
                    [
                        *(f"- **{x.name}**: {x.reason}" for x in items),
                        "",
                        f"Rule `{rule}`; sources: {_cites(citations)}.",
                    ]
                ),
                source=_source(rec, state, _best(citations), f"safety:{first.reason_code}", "Safety"),
            )
        )
    cautions: dict[str, list[Option]] = {}
    for o in rec.options:
        for flag in o.flags:
            if flag.lower().startswith("caution"):
                cautions.setdefault(flag, []).append(o)
    for flag, options in cautions.items():
        cards.append(
            card(
                state,
                service,
                "caution",
                summary=_short(f"Caution: {flag.split(':', 1)[-1].strip()}"),
                indicator="warning",
                detail=f"{flag}\n\nApplies to: {', '.join(o.name for o in options)}. "
                f"Sources: {_cites(options[0].citations)}.",
                source=_source(rec, state, _best(options[0].citations), "caution", "Caution"),
            )
        )
    return cards


def _create_actions(o: Option, check: OrderCheck, subject: str | None) -> list[dict[str, Any]]:
    from oncoline.knowledge.loader import load_knowledge

    vocab = load_knowledge().vocab
    actions: list[dict[str, Any]] = [  # only a real reference: a draft without an id cannot be deleted by id
        {"type": "delete", "description": f"Remove the draft order {ref}", "resourceId": ref}
        for ref in sorted({r for d in check.drugs for r in check.resources.get(d, ())})
        if FHIR_REFERENCE.fullmatch(ref)
    ]
    for drug in o.drugs:
        code = vocab.rxnorm(drug)
        concept: dict[str, Any] = {"text": drug}
        if code:
            concept["coding"] = [{"system": RXNORM, "code": code, "display": drug}]
        resource: dict[str, Any] = {
            "resourceType": "MedicationRequest",
            "status": "draft",
            "intent": "proposal",
            "medicationCodeableConcept": concept,
        }
        if subject:
            resource["subject"] = {"reference": subject}
        actions.append({"type": "create", "description": f"Draft an order for {drug}", "resource": resource})
    return actions


def order_cards(
    outcome: RecommendOutcome, check: OrderCheck, state: ServiceState, service: str, subject: str | None
) -> list[dict[str, Any]]:
    """Cards for draft orders checked by :func:`oncoline.app.orders.check_orders`: a critical card per withheld
    regimen (reason, source, ``overrideReasons``, a suggestion to order a preferred regimen instead), a warning when
    the drugs match no option, an info card for the matching option, warnings for its cautions, an info card per
    draft whose drug is unknown. ``subject`` is the patient reference put on suggested drafts."""
    rec = outcome.recommendation
    cards: list[dict[str, Any]] = []
    suggestions = [
        {
            "label": f"Order {o.name} instead (preferred, line {rec.line})",
            "uuid": str(uuid.uuid4()),
            "isRecommended": True,
            "actions": _create_actions(o, check, subject),
        }
        for o in check.preferred
        if not (set(o.drugs) & {d for x in check.withheld for d in x.drugs})
    ]
    for x in check.withheld:
        cards.append(
            card(
                state,
                service,
                f"withheld:{x.regimen}",
                summary=_short(f"{x.name} is withheld for this patient: {x.reason}"),
                indicator="critical",
                detail="\n".join(
                    [
                        f"**{x.name}** is withheld: {x.reason}" + (f" (also: {'; '.join(x.also)})" if x.also else ""),
                        "",
                        f"Rule `{x.rule}` ({x.reason_code}); sources: {_cites(x.citations)}.",
                        "",
                        f"Preferred at line {rec.line}: {', '.join(o.name for o in check.preferred) or 'none'}.",
                        f"Knowledge version {rec.kb_version}. {rec.disclaimer}",
                    ]
                ),
                source=_source(rec, state, _best(x.citations), f"withheld:{x.reason_code}", "Withheld regimen"),
                suggestions=suggestions,
                selectionBehavior="at-most-one" if suggestions else None,
                overrideReasons=OVERRIDE_REASONS,
            )
        )
    for drug, exclusions in check.withheld_drugs.items():
        first = exclusions[0]
        citations = tuple(dict.fromkeys(c for x in exclusions for c in x.citations))
        cards.append(
            card(
                state,
                service,
                f"withheld-drug:{drug}",
                summary=_short(f"{drug} is only in regimens withheld for this patient: {first.reason}"),
                indicator="critical",
                detail="\n".join(
                    [
                        f"No option at line {rec.line} contains **{drug}**; the regimens that do are withheld:",
                        *(f"- **{x.name}**: {x.reason} (`{x.reason_code}`)" for x in exclusions),
                        "",
                        f"Sources: {_cites(citations)}. Knowledge version {rec.kb_version}. {rec.disclaimer}",
                    ]
                ),
                source=_source(rec, state, _best(citations), f"withheld:{first.reason_code}", "Withheld drug"),
                suggestions=suggestions,
                selectionBehavior="at-most-one" if suggestions else None,
                overrideReasons=OVERRIDE_REASONS,
            )
        )
    if check.off_list:
        cards.append(
            card(
                state,
                service,
                "off-list",
                summary=_short(f"{' + '.join(check.drugs)} is not among the line-{rec.line} options"),
                indicator="warning",
                detail=f"The ordered drugs ({', '.join(check.drugs)}) match no option oncoline places at line "
                f"{rec.line}.\n\n" + "\n".join(_option_line(o) for o in rec.options[:6]),
                source=_source(rec, state, None, "off-list", "Not among the options"),
                suggestions=suggestions,
                selectionBehavior="at-most-one" if suggestions else None,
                overrideReasons=OVERRIDE_REASONS,
            )
        )
    for o in (*check.matches, *check.partial):
        exact = o in check.matches
        rest = sorted(set(o.drugs) - set(check.drugs))
        kind = {"preferred": "a preferred", "other": "an", "certain_circumstances": "a certain-circumstances"}
        text = f"{o.name} is {kind.get(o.category.value, 'an')} option at line {rec.line}"
        if not exact:
            text += f"; the regimen also needs {', '.join(rest)}"
        cards.append(
            card(
                state,
                service,
                f"option:{o.regimen}",
                summary=_short(text),
                indicator="info",
                detail="\n".join(
                    [
                        _option_line(o),
                        "",
                        *(f"- {f}" for f in o.flags),
                        *(f"- Monitoring: {m.text}" for m in check.monitoring),
                    ]
                ),
                source=_source(rec, state, _best(o.citations), f"option:{o.category.value}", "Option"),
            )
        )
        if exact:
            break
    for flag in check.cautions:
        cards.append(
            card(
                state,
                service,
                "caution",
                summary=_short(f"Caution: {flag.split(':', 1)[-1].strip()}"),
                indicator="warning",
                detail=flag,
                source=_source(rec, state, None, "caution", "Caution"),
            )
        )
    for message in check.unknown:
        cards.append(
            card(
                state,
                service,
                "unknown-drug",
                summary=_short("oncoline cannot check an order: its drug is not in the vocabulary"),
                indicator="info",
                detail=message,
                source=_source(rec, state, None, "unknown-drug", "Unknown drug"),
            )
        )
    return cards
