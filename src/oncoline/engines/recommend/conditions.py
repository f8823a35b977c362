"""Patient facts and the evaluation of knowledge :class:`~oncoline.knowledge.schema.Condition` predicates.

:class:`Facts` is everything the rules may ask about one patient at one decision, computed once. A condition
compiles to a plain function ``Facts -> bool`` (cached per condition object), so evaluating the ~150 rules of
the knowledge base costs microseconds. An unknown fact never satisfies a predicate (an LVEF that was not
measured is not "below 40 %").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from oncoline.errors import KnowledgeBaseError
from oncoline.knowledge.loader import KnowledgeBase
from oncoline.knowledge.schema import Condition, Convention

__all__ = ["Facts", "Predicate", "compile_condition", "compiled_whens", "convention_factors"]

Predicate = Callable[["Facts"], bool]


@dataclass
class Facts:
    """What the rules know about the patient at this decision (units in names; None = unknown)."""

    her2_status: str
    her2_category: str
    hr: str | None
    menopausal: str | None
    line: int
    algorithm: str
    brain_statuses: frozenset[str] = frozenset()
    brain_symptomatic: bool = False
    brain_mass_effect: bool = False
    brain_largest_mm: float | None = None
    brain_details_unknown: bool = False
    brain_missing: tuple[str, ...] = ()
    leptomeningeal: bool = False
    sites: frozenset[str] = frozenset()
    symptomatic_sites: frozenset[str] = frozenset()
    oligometastatic_sites: frozenset[str] = frozenset()
    primary_symptomatic: bool = False
    prior_lines: int = 0
    prior_her2_metastatic: int = 0
    prior_her2_any: int = 0
    prior_et_metastatic: int = 0
    prior_chemo_metastatic: int = 0
    received: frozenset[str] = frozenset()
    received_early: frozenset[str] = frozenset()
    received_metastatic: frozenset[str] = frozenset()
    current_line: frozenset[str] = frozenset()
    early_relapse_months: float | None = None
    early_chemo_relapse_months: float | None = None
    lvef_percent: float | None = None
    lvef_drop_points: float | None = None
    days_since_her2_directed: int | None = None
    platelets_per_mm3: float | None = None
    alt_x_uln: float | None = None
    nyha: int | None = None
    pregnant: bool | None = None
    gestational_age_weeks: float | None = None
    breastfeeding: bool | None = None
    neuropathy_grade: int | None = None
    crcl_ml_min: float | None = None
    bilirubin_x_uln: float | None = None
    hepatic: str | None = None
    ild_grade: int | None = None
    ild_drugs: frozenset[str] = frozenset()
    medications: frozenset[str] = frozenset()
    declines_chemotherapy: bool = False
    declines_brain_local_therapy: bool = False
    ecog: int | None = None
    age: float | None = None
    g8_score: float | None = None
    lung_disease: bool = False
    ild_steroids: bool = False
    receptor_discordance: bool = False
    option_drugs: frozenset[str] = field(default_factory=frozenset)


def _ge(attr: str) -> Callable[[Any], Predicate]:
    def make(value: Any) -> Predicate:
        return lambda f: (v := getattr(f, attr)) is not None and v >= value

    return make


def _lt(attr: str) -> Callable[[Any], Predicate]:
    def make(value: Any) -> Predicate:
        return lambda f: (v := getattr(f, attr)) is not None and v < value

    return make


def _gt(attr: str) -> Callable[[Any], Predicate]:
    def make(value: Any) -> Predicate:
        return lambda f: (v := getattr(f, attr)) is not None and v > value

    return make


def _le(attr: str) -> Callable[[Any], Predicate]:
    def make(value: Any) -> Predicate:
        return lambda f: (v := getattr(f, attr)) is not None and v <= value

    return make


def _in(attr: str) -> Callable[[Any], Predicate]:
    def make(value: Any) -> Predicate:
        allowed = frozenset(value)
        return lambda f: getattr(f, attr) in allowed

    return make


def _eq(attr: str) -> Callable[[Any], Predicate]:
    def make(value: Any) -> Predicate:
        return lambda f: getattr(f, attr) == value

    return make


def _intersects(attr: str, kb: KnowledgeBase) -> Callable[[Any], Predicate]:
    def make(value: Any) -> Predicate:
        drugs = kb.expand(tuple(value))
        return lambda f: not drugs.isdisjoint(getattr(f, attr))

    return make


_BUILDERS: dict[int, tuple[KnowledgeBase, dict[str, Callable[[Any], Predicate]]]] = {}


def _builders(kb: KnowledgeBase) -> dict[str, Callable[[Any], Predicate]]:
    """The evaluator builders for ``kb``, made once per knowledge base object (a few hundred conditions use them)."""
    hit = _BUILDERS.get(id(kb))
    if hit is not None and hit[0] is kb:
        return hit[1]
    made = _make_builders(kb)
    _BUILDERS[id(kb)] = (kb, made)
    return made


def _make_builders(kb: KnowledgeBase) -> dict[str, Callable[[Any], Predicate]]:
    def received_all(value: Any) -> Predicate:
        groups = [kb.expand((token,)) for token in value]
        return lambda f: all(not g.isdisjoint(f.received) for g in groups)

    def not_received(value: Any) -> Predicate:
        drugs = kb.expand(tuple(value))
        return lambda f: drugs.isdisjoint(f.received)

    def brain(value: Any) -> Predicate:
        wanted = frozenset(value)
        return lambda f: not wanted.isdisjoint(f.brain_statuses)

    def members(attr: str) -> Callable[[Any], Predicate]:
        def make(value: Any) -> Predicate:
            wanted = frozenset(value)
            return lambda f: not wanted.isdisjoint(getattr(f, attr))

        return make

    def lvef_unknown(value: Any) -> Predicate:
        return lambda f: (f.lvef_percent is None) is bool(value)

    def gestational_age_unknown(value: Any) -> Predicate:
        return lambda f: (f.gestational_age_weeks is None) is bool(value)

    def convention(value: Any) -> Predicate:
        subs = [compile_condition(f.when, kb) for name in value for f in _convention(kb, name).factors]
        return lambda f: any(p(f) for p in subs)

    return {
        "convention": convention,
        "age_min": _ge("age"),
        "g8_max": _le("g8_score"),
        "lung_disease": _eq("lung_disease"),
        "ild_steroids": _eq("ild_steroids"),
        "algorithm": _in("algorithm"),
        "her2_category": _in("her2_category"),
        "hr": _eq("hr"),
        "menopausal": _in("menopausal"),
        "brain": brain,
        "brain_symptomatic": _eq("brain_symptomatic"),
        "brain_mass_effect": _eq("brain_mass_effect"),
        "brain_largest_mm_min": _ge("brain_largest_mm"),
        "brain_details_unknown": _eq("brain_details_unknown"),
        "leptomeningeal": _eq("leptomeningeal"),
        "sites_any": members("sites"),
        "site_symptomatic": members("symptomatic_sites"),
        "site_oligometastatic": members("oligometastatic_sites"),
        "primary_symptomatic": _eq("primary_symptomatic"),
        "line_min": _ge("line"),
        "line_max": _le("line"),
        "prior_metastatic_lines_max": _le("prior_lines"),
        "early_relapse_months_max": _le("early_relapse_months"),
        "early_relapse_months_gt": _gt("early_relapse_months"),
        "early_chemo_relapse_months_max": _le("early_chemo_relapse_months"),
        "prior_her2_metastatic_min": _ge("prior_her2_metastatic"),
        "prior_her2_any_min": _ge("prior_her2_any"),
        "prior_et_metastatic_min": _ge("prior_et_metastatic"),
        "prior_chemo_metastatic_min": _ge("prior_chemo_metastatic"),
        "received_any": _intersects("received", kb),
        "received_all": received_all,
        "not_received": not_received,
        "received_early_any": _intersects("received_early", kb),
        "received_metastatic_any": _intersects("received_metastatic", kb),
        "current_line_any": _intersects("current_line", kb),
        "lvef_below": _lt("lvef_percent"),
        "lvef_at_least": _ge("lvef_percent"),
        "lvef_unknown": lvef_unknown,
        "lvef_drop_min": _ge("lvef_drop_points"),
        "her2_therapy_within_days": _le("days_since_her2_directed"),
        "platelets_below": _lt("platelets_per_mm3"),
        "alt_x_uln_above": _gt("alt_x_uln"),
        "nyha_min": _ge("nyha"),
        "pregnant": _eq("pregnant"),
        "breastfeeding": _eq("breastfeeding"),
        "neuropathy_min": _ge("neuropathy_grade"),
        "crcl_below": _lt("crcl_ml_min"),
        "crcl_at_least": _ge("crcl_ml_min"),
        "bilirubin_x_uln_above": _gt("bilirubin_x_uln"),
        "hepatic": _in("hepatic"),
        "ild_grade_min": _ge("ild_grade"),
        "ild_on_any": _intersects("ild_drugs", kb),
        "medication_any": _intersects("medications", kb),
        "gestational_weeks_below": _lt("gestational_age_weeks"),
        "gestational_age_unknown": gestational_age_unknown,
        "declines_chemotherapy": _eq("declines_chemotherapy"),
        "declines_brain_local_therapy": _eq("declines_brain_local_therapy"),
        "ecog_min": _ge("ecog"),
        "receptor_discordance": _eq("receptor_discordance"),
        "option_any": _intersects("option_drugs", kb),
    }


def _convention(kb: KnowledgeBase, name: str) -> Convention:
    found = kb.params.conventions.get(name)
    if found is None:
        raise KnowledgeBaseError(
            f"statements.yaml parameters.conventions: no convention {name!r} (a condition names it); define it"
        )
    return found


def convention_factors(kb: KnowledgeBase, name: str, facts: Facts, /) -> list[str]:
    """The labels of the factors of convention ``name`` that hold for ``facts``, in file order.

    Raises
    ------
    KnowledgeBaseError
        When no convention of that name is defined.
    """
    return [f.label for f in _convention(kb, name).factors if compile_condition(f.when, kb)(facts)]


_COMPILED: dict[tuple[int, int], tuple[Condition, Predicate]] = {}


def compile_condition(cond: Condition, kb: KnowledgeBase, /) -> Predicate:
    """A function ``Facts -> bool`` for ``cond`` (all set keys AND-ed; ``any_of``/``all_of``/``not`` nest).

    Compiled functions are cached per (condition, knowledge base) object pair.

    Raises
    ------
    KeyError
        For a condition key without an evaluator (a schema/engine mismatch: a bug).
    """
    key = (id(cond), id(kb))
    hit = _COMPILED.get(key)
    if hit is not None and hit[0] is cond:
        return hit[1]
    builders = _builders(kb)
    preds: list[Predicate] = [builders[name](value) for name, value in sorted(cond.items().items())]
    if cond.any_of:
        preds.append(_disjunction(tuple(compile_condition(c, kb) for c in cond.any_of)))
    if cond.all_of:
        preds.append(_conjunction(tuple(compile_condition(c, kb) for c in cond.all_of)))
    if cond.not_ is not None:
        inner = compile_condition(cond.not_, kb)
        preds.append(lambda f: not inner(f))
    if not preds:
        fn: Predicate = _always
    elif len(preds) == 1:
        fn = preds[0]
    else:
        fn = _conjunction(tuple(preds))
    _COMPILED[key] = (cond, fn)
    return fn


_WHENS: dict[tuple[int, int], tuple[KnowledgeBase, tuple[Any, ...], tuple[tuple[Any, Predicate], ...]]] = {}


def compiled_whens(kb: KnowledgeBase, items: tuple[Any, ...], /) -> tuple[tuple[Any, Predicate], ...]:
    """``(item, compile_condition(item.when, kb))`` for each of ``items`` (statements, safety rules…), in order,
    compiled once per (knowledge base, tuple of items) — a recommender call walks them all."""
    key = (id(kb), id(items))
    hit = _WHENS.get(key)
    if hit is not None and hit[0] is kb and hit[1] is items:
        return hit[2]
    out = tuple((item, compile_condition(item.when, kb)) for item in items)
    _WHENS[key] = (kb, items, out)
    return out


def _always(_: Facts) -> bool:
    return True


def _conjunction(preds: tuple[Predicate, ...]) -> Predicate:
    """True when every predicate holds, asked in order until one fails (as ``all``, without a generator per call:
    a recommender call evaluates a few hundred conditions)."""

    def holds(f: Facts) -> bool:
        for p in preds:  # noqa: SIM110 - all() would build a generator per call (~7 % of a recommender call)
            if not p(f):
                return False
        return True

    return holds


def _disjunction(preds: tuple[Predicate, ...]) -> Predicate:
    """True when a predicate holds, asked in order until one does (as ``any``)."""

    def holds(f: Facts) -> bool:
        for p in preds:  # noqa: SIM110 - as in _conjunction
            if p(f):
                return True
        return False

    return holds
