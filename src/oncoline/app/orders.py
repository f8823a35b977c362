"""Check draft medication orders against a patient's recommendation: which regimen, withheld or not, and why.

The doors that see orders being written (CDS Hooks ``order-select`` / ``order-sign``) call this with the draft
``MedicationRequest`` resources; the drugs are read by the same FHIR medication mapping as a patient's record
(codes, text, brands, contained or referenced ``Medication``), then compared with the recommendation's options
and exclusions — the same exclusions and cautions the patient view shows, never a second rule set.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oncoline.app.recommend import RecommendOutcome
    from oncoline.knowledge.loader import KnowledgeBase
    from oncoline.model.recommendation import Excluded, Monitoring, Option

__all__ = ["OrderCheck", "check_orders"]


@dataclass(frozen=True)
class OrderCheck:
    """What the draft orders amount to, measured against the recommendation.

    Attributes
    ----------
    drugs
        Canonical anticancer drugs ordered (sorted).
    other_drugs
        Ordered drugs that form no line (supportive, concomitant), sorted.
    unknown
        One message per draft order whose drug is not in the vocabulary (nothing is guessed).
    resources
        Drug → the draft resource references (``MedicationRequest/<id>``) that order it.
    withheld
        Exclusions whose regimen the ordered drugs fill (each fixed drug ordered, each slot — a taxane, a
        chemotherapy partner — filled by any of its choices).
    withheld_drugs
        Ordered drugs that belong to no option but to withheld regimens: drug → those exclusions (e.g.
        trastuzumab with no HER2 result).
    matches
        Options whose regimen the ordered drugs fill, with nothing ordered beyond it.
    partial
        Options whose regimen holds every ordered drug but is not yet filled (an order written one drug at a time).
    preferred
        The recommendation's preferred options (what to suggest instead).
    monitoring
        Monitoring statements about the ordered drugs.
    cautions
        Caution flags of the matched or partly matched options.
    """

    drugs: tuple[str, ...]
    other_drugs: tuple[str, ...]
    unknown: tuple[str, ...]
    resources: Mapping[str, tuple[str, ...]]
    withheld: tuple[Excluded, ...]
    withheld_drugs: Mapping[str, tuple[Excluded, ...]]
    matches: tuple[Option, ...]
    partial: tuple[Option, ...]
    preferred: tuple[Option, ...]
    monitoring: tuple[Monitoring, ...] = field(default=())
    cautions: tuple[str, ...] = field(default=())

    @property
    def off_list(self) -> bool:
        """True when anticancer drugs are ordered that neither match an option nor are withheld."""
        return bool(self.drugs) and not (self.withheld or self.withheld_drugs or self.matches or self.partial)


def _components(kb: KnowledgeBase, regimen: str, drugs: tuple[str, ...]) -> list[frozenset[str]]:
    """What each place of a regimen may hold: a fixed drug (a class token expands to its members) or a slot's
    choices (a taxane, a chemotherapy partner …); the drugs as given when the regimen is the current line's."""
    spec = kb.regimens.get(regimen)
    if spec is None or not spec.drugs:
        return [frozenset({d}) for d in drugs]
    out = []
    for part in spec.drugs:
        if isinstance(part, str):
            out.append(kb.expand((part,)))
        else:
            out.append(frozenset(part.choices))
    return out


def _fills(parts: list[frozenset[str]], ordered: frozenset[str]) -> bool:
    """True when the ordered drugs fill every place of the regimen."""
    return bool(parts) and all(part & ordered for part in parts)


def _as_orders(draft_orders: Sequence[Mapping[str, Any]], when: str) -> list[dict[str, Any]]:
    out = []
    for res in draft_orders:
        item = copy.deepcopy(dict(res))
        if item.get("resourceType") == "MedicationRequest":
            # a draft is "not given" to the record reader; read it as the order it is about to become
            item["status"] = "active"
            item["intent"] = "order"
            item.setdefault("authoredOn", when)
            item.pop("dosageInstruction", None)  # the start is the decision date, not a planned period
        out.append(item)
    return out


def check_orders(
    outcome: RecommendOutcome,
    draft_orders: Sequence[Mapping[str, Any]],
    /,
    *,
    knowledge: KnowledgeBase | None = None,
) -> OrderCheck:
    """Map draft medication orders to a regimen and check it against the patient's recommendation.

    Parameters
    ----------
    outcome
        The patient's recommendation (:func:`oncoline.app.recommend_document`).
    draft_orders
        FHIR R4 resources of the draft orders: ``MedicationRequest`` (any status) and the ``Medication``
        resources they reference; other resources are ignored.
    knowledge
        The knowledge base (default: the packaged one).

    Returns
    -------
    OrderCheck

    Raises
    ------
    InputError
        When a draft is not a FHIR resource.
    """
    from oncoline.io import fhir
    from oncoline.knowledge.loader import load_knowledge

    kb = knowledge or load_knowledge()
    rec = outcome.recommendation
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in _as_orders(draft_orders, outcome.as_of.isoformat())],
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, report = fhir.patient_from_fhir(bundle, source="draft orders", policy="ignore", as_of=outcome.as_of)
    resources: dict[str, tuple[str, ...]] = {}
    for record in report.exposures:
        resources[record.drug] = tuple(sorted({*resources.get(record.drug, ()), *record.resources}))
    unknown = tuple(f"{f.resource}: {f.message}" for f in report.problems if f.code == "unknown_drug")
    anticancer = tuple(sorted(d for d in resources if kb.vocab.drug(d).role.value == "anticancer"))
    other = tuple(sorted(set(resources) - set(anticancer)))
    ordered = frozenset(anticancer)
    withheld = tuple(x for x in rec.excluded if ordered and _fills(_components(kb, x.regimen, x.drugs), ordered))
    matches: list[Option] = []
    partial: list[Option] = []
    for o in rec.options if ordered else ():
        parts = _components(kb, o.regimen, o.drugs)
        if ordered <= frozenset().union(*parts):
            (matches if _fills(parts, ordered) else partial).append(o)
    in_options = frozenset().union(*(frozenset().union(*_components(kb, o.regimen, o.drugs)) for o in rec.options))
    flagged = frozenset().union(*(frozenset().union(*_components(kb, x.regimen, x.drugs)) for x in withheld))
    only_withheld = {
        d: tuple(
            x
            for x in rec.excluded
            if x not in withheld and d in frozenset().union(*_components(kb, x.regimen, x.drugs))
        )
        for d in sorted(ordered - in_options - flagged)
    }
    preferred = tuple(o for o in rec.options if o.category.value == "preferred")
    monitoring = tuple(m for m in rec.monitoring if ordered & set(m.drugs))
    cautions = tuple(dict.fromkeys(f for o in (*matches, *partial) for f in o.flags if f.lower().startswith("caution")))
    return OrderCheck(
        drugs=anticancer,
        other_drugs=other,
        unknown=unknown,
        resources=resources,
        withheld=withheld,
        withheld_drugs={d: xs for d, xs in only_withheld.items() if xs},
        matches=tuple(matches),
        partial=tuple(partial),
        preferred=preferred,
        monitoring=monitoring,
        cautions=cautions,
    )
