"""The facts the rules ask about (:class:`~oncoline.engines.recommend.conditions.Facts`), computed once per decision.

Also the tumour's hormone-receptor status (reference §0.1: ER and/or PR ≥ 1 %; unknown when a result is missing),
endocrine resistance after (neo)adjuvant endocrine therapy (§a.3) and receptor discordance (§a.7).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence

from oncoline.engines.her2 import Her2Classification, classify_her2
from oncoline.engines.recommend.conditions import Facts, convention_factors
from oncoline.engines.recommend.history import PastLine
from oncoline.engines.recommend.line_decision import LineDecision
from oncoline.knowledge.loader import KnowledgeBase
from oncoline.model.patient import MetastaticSite, Patient, SiteKind

__all__ = [
    "early_endocrine_resistance",
    "early_relapse_resistance",
    "gather_facts",
    "hr_missing_text",
    "hr_status_of",
    "render_text",
]


def gather_facts(
    patient: Patient,
    lines: Sequence[PastLine],
    decision: LineDecision,
    her2: Her2Classification,
    hr: str | None,
    kb: KnowledgeBase,
    warnings: list[str],
    as_of: dt.date,
) -> Facts:
    """Everything the knowledge conditions may ask about this patient at this decision (None = unknown).

    An ILD/pneumonitis toxicity stop counts as ILD history (grade 2 when not given, with a warning); drug sets
    received are split into early (neo)adjuvant and metastatic; ``option_drugs`` is filled later, once options
    are known.
    """
    c = patient.conditions
    done = [ln for ln in lines if ln.stopped != "ongoing"]

    def any_class(drugs: Iterable[str], cls: str) -> bool:
        return any(kb.in_class(d, cls) for d in drugs)

    early = frozenset(d for et in patient.early_therapy for d in et.drugs)
    metastatic = frozenset(d for ln in lines for d in ln.drugs)
    # Parenchymal brain metastases only: leptomeningeal disease is its own fact (no resection/SRS rules apply).
    brain = [s for s in patient.sites if s.site == SiteKind.BRAIN]
    ild_grade = c.ild_history.grade if c.ild_history else None
    ild_drugs: set[str] = {c.ild_history.drug} if c.ild_history and c.ild_history.drug else set()
    terms = kb.safety.progression.ild_terms
    for ln in lines:
        event = " ".join((ln.toxicity_event or "").lower().replace("-", " ").split())
        if ln.stopped == "toxicity" and any(re.search(rf"\b{re.escape(t)}\b", event) for t in terms):
            grade = ln.toxicity_grade
            if grade is None:
                warnings.append(
                    f"line {ln.ordinal} stopped for ILD/pneumonitis without a grade: taken as grade 2; give the grade"
                )
                grade = 2
            ild_grade = max(ild_grade or 0, grade)
            adcs = [d for d in ln.drugs if kb.in_class(d, "anti_her2_adc")]
            ild_drugs.update(adcs or ln.drugs)
    # Brain progression on a continuing line: the switch options' labels count the ongoing line as a HER2 regimen
    # the disease progressed on (ASCO-BM-2022 Rec 7.1: "progressed on ≥1 prior HER2-directed therapy for MBC").
    cns_progression = any(s.status is not None and s.status.value in ("active", "progressing") for s in brain)
    her2_lines = list(done)
    if decision.current is not None and decision.algorithm.value == "continue" and cns_progression:
        her2_lines.append(decision.current)
    her2_metastatic = sum(1 for ln in her2_lines if any_class(ln.drugs, "her2_directed"))
    symptomatic = frozenset(s.site.value for s in patient.sites if s.symptomatic)
    primary = patient.primary_tumor
    menopausal = patient.menopausal_status
    return Facts(
        her2_status=her2.status,
        her2_category=her2.category,
        hr=hr,
        menopausal=menopausal,
        line=decision.line,
        algorithm=decision.algorithm.value,
        brain_statuses=frozenset(s.status.value for s in brain if s.status is not None)
        | (frozenset({"active"}) if any(s.status is None for s in brain) else frozenset()),
        brain_symptomatic=any(bool(s.symptomatic) for s in brain),
        brain_mass_effect=any(bool(s.mass_effect) for s in brain),
        brain_largest_mm=max((s.largest_mm for s in brain if s.largest_mm is not None), default=None),
        brain_details_unknown=any(_brain_details_unknown(s) for s in brain),
        brain_missing=_brain_missing(brain),
        leptomeningeal=patient.has_site(SiteKind.LEPTOMENINGEAL),
        sites=frozenset(s.site.value for s in patient.sites),
        symptomatic_sites=symptomatic,
        oligometastatic_sites=frozenset(s.site.value for s in patient.sites if s.oligometastatic),
        primary_symptomatic=bool(primary and primary.in_place and primary.symptoms),
        prior_lines=len(done),
        prior_her2_metastatic=her2_metastatic,
        prior_her2_any=her2_metastatic + (1 if any_class(early, "her2_directed") else 0),
        prior_et_metastatic=sum(1 for ln in done if any_class(ln.drugs, "endocrine_therapy")),
        prior_chemo_metastatic=sum(1 for ln in done if any_class(ln.drugs, "chemotherapy")),
        received=early | metastatic,
        received_early=early,
        received_metastatic=metastatic,
        current_line=frozenset(decision.current.drugs) if decision.current else frozenset(),
        early_relapse_months=decision.early_relapse_months,
        early_chemo_relapse_months=decision.early_chemo_relapse_months,
        lvef_percent=c.lvef_percent,
        lvef_drop_points=(
            c.lvef_baseline_percent - c.lvef_percent
            if c.lvef_baseline_percent is not None and c.lvef_percent is not None
            else None
        ),
        days_since_her2_directed=_days_since_her2(patient, lines, kb, as_of),
        platelets_per_mm3=c.platelets_per_mm3,
        alt_x_uln=c.alt_x_uln,
        nyha=c.heart_failure_nyha,
        pregnant=c.pregnant,
        gestational_age_weeks=c.gestational_age_weeks,
        breastfeeding=c.breastfeeding,
        neuropathy_grade=c.neuropathy_grade,
        crcl_ml_min=c.crcl_ml_min,
        bilirubin_x_uln=c.bilirubin_x_uln,
        hepatic=c.hepatic_impairment,
        ild_grade=ild_grade,
        ild_drugs=frozenset(ild_drugs),
        medications=frozenset(c.medications),
        declines_chemotherapy=patient.preferences.declines_chemotherapy,
        declines_brain_local_therapy=patient.preferences.declines_brain_local_therapy,
        ecog=patient.ecog,
        age=patient.age,
        g8_score=c.g8_score,
        lung_disease=bool(c.lung_disease),
        ild_steroids=bool(c.ild_history and c.ild_history.steroids),
        receptor_discordance=_discordant(patient, her2, hr),
    )


def _days_since_her2(patient: Patient, lines: Sequence[PastLine], kb: KnowledgeBase, as_of: dt.date) -> int | None:
    """Days from the last HER2-directed dose to ``as_of``: 0 while an ongoing line holds one; None if never/unknown.

    The label hold rules (an LVEF fall from the baseline "before the current anti-HER2 therapy", FORMAT.md) apply
    only on or shortly after that therapy; their conditions bound this (safety.yaml ``her2_therapy_within_days``).
    """
    ends: list[dt.date] = []
    for ln in lines:
        if not any(kb.in_class(d, "her2_directed") for d in ln.drugs):
            continue
        if ln.stopped == "ongoing":
            return 0
        if ln.end is not None:
            ends.append(ln.end)
    ends += [
        et.end
        for et in patient.early_therapy
        if et.end is not None and any(kb.in_class(d, "her2_directed") for d in et.drugs)
    ]
    return max(0, (as_of - max(ends)).days) if ends else None


def _brain_details_unknown(site: MetastaticSite) -> bool:
    """True when local-therapy advice for this brain site would rest on a guess (reference §b.1, §b.3).

    Status is always needed; an untreated or progressing site also needs its symptoms and its largest size
    (mass effect and the 2 cm / 3-4 cm thresholds of ASCO-BM Rec 2.1-2.3 depend on them).
    """
    if site.status is None:
        return True
    if site.status.value in ("active", "progressing"):
        return site.symptomatic is None or (site.largest_mm is None and not site.mass_effect)
    return False


def _brain_missing(brain: Sequence[MetastaticSite]) -> tuple[str, ...]:
    """The details still to give for the brain sites whose local-therapy advice would rest on a guess.

    Only sites for which :func:`_brain_details_unknown` holds count; a detail is named once, in a fixed order
    (status, symptoms, mass effect, lesion count, largest size), and only when it is absent from such a site.
    Mass effect is not asked for a site recorded as asymptomatic (no symptomatic mass effect then; reference §b.1
    Rec 2.1-2.2).
    """
    names = {
        "status": "status (stable / active / progressing)",
        "symptomatic": "symptoms",
        "mass_effect": "mass effect",
        "lesions": "lesion count",
        "largest_mm": "largest size (mm)",
    }
    absent: set[str] = set()
    for s in (s for s in brain if _brain_details_unknown(s)):
        absent.update(k for k in ("status", "symptomatic", "lesions", "largest_mm") if getattr(s, k) is None)
        if s.mass_effect is None and s.symptomatic is None:
            absent.add("mass_effect")
    return tuple(text for key, text in names.items() if key in absent)


def render_text(text: str, facts: Facts, kb: KnowledgeBase) -> str:
    """``text`` with its fact placeholders filled: ``{brain_missing}`` (the brain details still to give) and
    ``{factors:NAME}`` (the factors of convention NAME that hold, e.g. "ECOG ≥2; CrCl <30 mL/min").

    Knowledge texts may name what is missing or what applies without Python knowing the wording around it; a text
    without a placeholder is returned unchanged.
    """
    if "{brain_missing}" in text:
        items = list(facts.brain_missing) or ["details"]
        listed = items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
        text = text.replace("{brain_missing}", listed)
    for name in _FACTORS.findall(text):
        text = text.replace(f"{{factors:{name}}}", "; ".join(convention_factors(kb, name, facts)))
    return text


_FACTORS = re.compile(r"\{factors:([\w-]+)\}")


def early_relapse_resistance(patient: Patient, kb: KnowledgeBase) -> dict[str, str]:
    """Drug → reason, for drugs the patient relapsed during or soon after in the (neo)adjuvant setting.

    Relapse during or within ``relapse_within_months`` of the last (neo)adjuvant dose of a drug of the policy's
    classes counts as progression on it and on its cross-resistance group (safety.yaml ``early_relapse_resistance``;
    reference §a.5: after adjuvant T-DM1, T-DM1 is not re-offered as new). Drugs allowed beyond progression
    (trastuzumab) stay allowed; an early therapy without an end date is left to the relapse-interval warning.
    """
    policy = kb.safety.progression.early_relapse_resistance
    relapse = patient.recurrence_date or patient.metastatic_diagnosis
    if policy is None or relapse is None:
        return {}
    allowed = kb.expand(kb.safety.progression.beyond_progression_allowed)
    wanted = kb.expand(policy.classes)
    out: dict[str, str] = {}
    for et in patient.early_therapy:
        if et.end is None:
            continue
        months = (relapse - et.end).days / kb.params.days_per_month
        if months > policy.relapse_within_months:
            continue
        when = "during" if months <= 0 else f"{months:.1f} months after"
        for drug in (d for d in et.drugs if d in wanted and d not in allowed):
            groups = [m for m in kb.safety.progression.cross_resistance.values() if drug in m]
            for other in sorted({drug, *(d for g in groups for d in g)} - allowed):
                group = " (cross-resistance)" if other != drug else ""
                out.setdefault(
                    other,
                    f"resistance: relapse {when} (neo)adjuvant {drug} (≤{policy.relapse_within_months:g} months)"
                    f"{group}; {other} is not re-offered as if new",
                )
    return out


def early_endocrine_resistance(patient: Patient, kb: KnowledgeBase, warnings: list[str]) -> dict[str, str]:
    """Drug → reason, for endocrine drugs the patient is resistant to after (neo)adjuvant endocrine therapy.

    Relapse during or within ``relapse_within_months`` of the last dose of an adjuvant endocrine drug counts as
    progression on it and on every member of its resistant class (safety.yaml ``early_endocrine_resistance``;
    reference §a.3). An early endocrine therapy without an end date that started before the relapse is taken as
    given up to the relapse (like a line without a stop reason, its drugs are not re-proposed) and a warning asks
    for the date.
    """
    policy = kb.safety.progression.early_endocrine_resistance
    relapse = patient.recurrence_date or patient.metastatic_diagnosis
    if policy is None or relapse is None:
        return {}
    out: dict[str, str] = {}
    for i, et in enumerate(patient.early_therapy):
        for drug in (d for d in et.drugs if kb.in_class(d, "endocrine_therapy")):
            if et.end is None:
                if et.start is None or et.start > relapse:
                    continue
                warnings.append(
                    f"early_therapy[{i}] ({drug}) has no end date: taken as given up to the relapse (endocrine "
                    f"resistance, not re-proposed); give early_therapy[{i}].end"
                )
                months = 0.0
            else:
                months = (relapse - et.end).days / kb.params.days_per_month
            if months > policy.relapse_within_months:
                continue
            when = "during" if months <= 0 else f"{months:.1f} months after"
            classes = [c for c in policy.resistant_classes if kb.in_class(drug, c)]
            members = kb.expand(tuple(classes)) | {drug}
            for other in sorted(members):
                group = f" ({classes[0].replace('_', ' ')} class)" if classes and other != drug else ""
                out.setdefault(
                    other,
                    f"endocrine resistance: relapse {when} (neo)adjuvant {drug} "
                    f"(≤{policy.relapse_within_months:g} months){group}; {other} is not re-proposed",
                )
    return out


def _discordant(patient: Patient, her2: Her2Classification, hr: str | None) -> bool:
    """True when HR or HER2 status (both known) differs between ``tumor.earlier`` and ``tumor`` (§a.7)."""
    earlier = patient.tumor.earlier
    if earlier is None:
        return False
    known = ("positive", "negative")
    before_hr = earlier.hr_positive
    hr_changed = before_hr is not None and hr is not None and before_hr != (hr == "positive")
    before_her2 = classify_her2(earlier.her2).status
    her2_changed = before_her2 in known and her2.status in known and before_her2 != her2.status
    return hr_changed or her2_changed


def hr_missing_text(patient: Patient, kb: KnowledgeBase) -> str:
    """Why HR status is unknown, naming the receptor result(s) still to give (reference §0.1: ER and/or PR ≥ 1 %)."""
    t = patient.tumor
    absent = t.hr_missing_results
    known = [
        f"{name} {f'{pct:g} %' if pct is not None else status}"
        for name, pct, status in (("ER", t.er_percent, t.er_status), ("PR", t.pr_percent, t.pr_status))
        if name not in absent
    ]
    return kb.text(
        "HR-MISSING",
        absent=" and ".join(absent),
        known=f" ({', '.join(known)})" if known else "",
        fields=" and ".join(f"{n.lower()}_percent (or {n.lower()}_status)" for n in absent),
    )


def hr_status_of(patient: Patient) -> str | None:
    hr = patient.tumor.hr_positive
    return None if hr is None else ("positive" if hr else "negative")
