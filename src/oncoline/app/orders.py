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
        Exclusions whose whole regimen is ordered (a drug the recommender withholds for this patient).
    matches
        Options whose drugs are exactly the ordered anticancer drugs.
    partial
        Options that contain every ordered anticancer drug and more (an order written one drug at a time).
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
    matches: tuple[Option, ...]
    partial: tuple[Option, ...]
    preferred: tuple[Option, ...]
    monitoring: tuple[Monitoring, ...] = field(default=())
    cautions: tuple[str, ...] = field(default=())

    @property
    def off_list(self) -> bool:
        """True when anticancer drugs are ordered that neither match an option nor are withheld."""
        return bool(self.drugs) and not (self.withheld or self.matches or self.partial)


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
    ordered = set(anticancer)
    withheld = tuple(x for x in rec.excluded if ordered and set(x.drugs) <= ordered)
    matches = tuple(o for o in rec.options if ordered and set(o.drugs) == ordered)
    partial = tuple(o for o in rec.options if ordered and ordered < set(o.drugs))
    preferred = tuple(o for o in rec.options if o.category.value == "preferred")
    monitoring = tuple(m for m in rec.monitoring if ordered & set(m.drugs))
    cautions = tuple(dict.fromkeys(f for o in (*matches, *partial) for f in o.flags if f.lower().startswith("caution")))
    return OrderCheck(
        drugs=anticancer,
        other_drugs=other,
        unknown=unknown,
        resources=resources,
        withheld=withheld,
        matches=matches,
        partial=partial,
        preferred=preferred,
        monitoring=monitoring,
        cautions=cautions,
    )
