"""Schemas of the knowledge files (house style S3): sources, evidence, regimens, statements, safety, site actions.

Each file under ``knowledge/data`` opens with a header (``schema``, ``version``, ``effective``) and holds one
list of entries. The models here validate shape and closed vocabularies; cross-references (a citation to an
unknown source, a regimen naming an unknown drug, a statement placing an unknown regimen) are checked by
:mod:`oncoline.knowledge.lint` and on loading.

A :class:`Condition` is the small, closed language the rules use to describe a population ("HR-positive,
second-line algorithm, LVEF below 40 %"). Every key is a predicate over patient facts; the keys of one
condition are AND-ed; ``any_of``, ``all_of`` and ``not_`` nest. An unknown fact never satisfies a predicate
(an LVEF that was not measured is not "below 40 %"); the engine reports unknown facts separately.
"""

import datetime as dt
import string
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "SCHEMAS",
    "ActionRule",
    "Adjunct",
    "Condition",
    "DecisionText",
    "DecisionTextFile",
    "EarlyEndocrineResistance",
    "Evidence",
    "EvidenceFile",
    "FileHeader",
    "Flag",
    "ForbiddenCombination",
    "MissingRule",
    "MonitoringRule",
    "Outcome",
    "Prerequisite",
    "ProgressionPolicy",
    "Regimen",
    "RegimenFile",
    "RegimenNote",
    "SafetyFile",
    "SafetyRule",
    "SiteActionFile",
    "Slot",
    "Source",
    "SourceFile",
    "Statement",
    "StatementFile",
    "StatementParameters",
    "WarningRule",
]

CategoryName = Literal["preferred", "other", "certain_circumstances"]
AlgorithmName = Literal["first_line", "maintenance", "continue", "second_line", "later_line"]
Her2Scope = Literal["positive", "low_ultralow", "negative", "any"]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class FileHeader(_Strict):
    """Provenance every knowledge file carries (house style S2)."""

    schema_: str = Field(alias="schema", description="'oncoline.kb.<name>/<major>'.")
    version: str = Field(description="Knowledge version, e.g. '2026.11.29'.")
    effective: dt.date = Field(description="Date this version of the file took effect.")
    status_date: dt.date | None = Field(default=None, description="Date the content was last checked.")
    note: str = ""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, defer_build=True)


# --------------------------------------------------------------------------------------------- sources
class Source(_Strict):
    """One citable source."""

    id: str = Field(description="Stable key, e.g. 'ASCO-HER2-2022', 'DESTINY-Breast03', 'LBL-ENHERTU'.")
    kind: Literal["guideline", "trial", "label", "review", "reference", "secondary", "consensus"]
    short: str = Field(description="Short label for people.")
    title: str = Field(description="Full citation.")
    doi: str | None = None
    pmid: str | None = None
    url: str | None = None
    version: str | None = Field(default=None, description="Guideline version, when it has one.")
    published: dt.date | None = Field(default=None, description="Publication / release date.")
    approval_date: dt.date | None = Field(default=None, description="Labels: the breast-cancer approval date(s).")
    status: Literal["verified", "probable", "unconfirmed"] = Field(
        default="verified", description="verified | probable (a † fact) | unconfirmed (needs review)."
    )
    note: str = ""

    @model_validator(mode="after")
    def _dated(self) -> Self:
        if self.published is None and self.approval_date is None:
            raise ValueError(
                f"source {self.id!r}: give `published` (or `approval_date` for a label) - every source needs the "
                "date from which it exists, so answers `as of` an earlier date leave it out"
            )
        return self

    @property
    def date(self) -> dt.date:
        """The date the source exists from: a label's approval date, else its publication/release date."""
        date = self.approval_date or self.published
        assert date is not None  # checked by the validator
        return date

    @property
    def dates_knowledge(self) -> bool:
        """False for ``kind: reference`` - this knowledge base's own compiled reference and conventions.

        Its date records when the compilation was made, not when a clinical fact became known, so it never
        dates what cites it; every other source does (a statement citing it takes effect no earlier).
        """
        return self.kind != "reference"


class SourceFile(FileHeader):
    """``sources.yaml``."""

    sources: tuple[Source, ...]


# -------------------------------------------------------------------------------------------- evidence
class Outcome(_Strict):
    """A median (months) with hazard ratio, or a rate."""

    arm: float | None = Field(default=None, description="Experimental arm median, months (or % when rate).")
    control: float | None = Field(default=None, description="Control arm median, months.")
    hr: float | None = Field(default=None, description="Hazard ratio, experimental vs control.")
    unit: Literal["months", "weeks", "percent"] = "months"
    note: str = ""


class Evidence(_Strict):
    """One trial result."""

    id: str
    source: str = Field(description="Source id of the trial.")
    comparison: str = Field(description="'T-DXd vs T-DM1'.")
    setting: str
    n: int | None = None
    pfs: Outcome | None = None
    os: Outcome | None = None
    orr: str | None = None
    cns: str | None = Field(default=None, description="CNS outcome, when reported.")
    safety: str | None = None
    one_liner: str = Field(description="What people read beside the option.")
    status: Literal["verified", "probable", "unconfirmed"] = "verified"


class EvidenceFile(FileHeader):
    """``evidence.yaml``."""

    evidence: tuple[Evidence, ...]


# -------------------------------------------------------------------------------------------- conditions
class Condition(_Strict):
    """A population predicate; set keys are AND-ed. Drug lists take canonical drugs or vocabulary classes."""

    algorithm: tuple[AlgorithmName, ...] | None = None
    her2_category: tuple[str, ...] | None = None
    hr: Literal["positive", "negative"] | None = None
    menopausal: tuple[Literal["pre", "peri", "post"], ...] | None = None
    brain: tuple[Literal["stable", "active", "progressing"], ...] | None = Field(
        default=None, description="Any brain site with one of these statuses."
    )
    brain_symptomatic: bool | None = None
    brain_mass_effect: bool | None = None
    brain_largest_mm_min: float | None = None
    brain_details_unknown: bool | None = Field(
        default=None,
        description="A parenchymal brain site lacks status, or (untreated/progressing) symptoms or lesion size.",
    )
    leptomeningeal: bool | None = None
    sites_any: tuple[str, ...] | None = None
    site_symptomatic: tuple[str, ...] | None = None
    site_oligometastatic: tuple[str, ...] | None = None
    primary_symptomatic: bool | None = None
    line_min: int | None = None
    line_max: int | None = None
    prior_metastatic_lines_max: int | None = None
    early_relapse_months_max: float | None = Field(
        default=None, description="Months from the last (neo)adjuvant HER2-directed dose to recurrence, ≤."
    )
    early_relapse_months_gt: float | None = None
    early_chemo_relapse_months_max: float | None = Field(
        default=None, description="Months from the last (neo)adjuvant chemotherapy dose to recurrence, ≤."
    )
    prior_her2_metastatic_min: int | None = Field(
        default=None, description="Completed metastatic lines containing a HER2-directed drug, ≥."
    )
    prior_her2_any_min: int | None = Field(
        default=None, description="HER2-directed regimens in any setting (early + metastatic), ≥."
    )
    prior_et_metastatic_min: int | None = None
    prior_chemo_metastatic_min: int | None = None
    received_any: tuple[str, ...] | None = Field(default=None, description="Ever received (early or metastatic).")
    received_all: tuple[str, ...] | None = Field(default=None, description="Ever received each token.")
    not_received: tuple[str, ...] | None = Field(default=None, description="Never received any of these.")
    received_early_any: tuple[str, ...] | None = None
    received_metastatic_any: tuple[str, ...] | None = None
    current_line_any: tuple[str, ...] | None = Field(default=None, description="The ongoing line holds one.")
    lvef_below: float | None = Field(default=None, description="Latest LVEF known and < value (%).")
    lvef_at_least: float | None = None
    lvef_unknown: bool | None = None
    her2_therapy_within_days: int | None = Field(
        default=None,
        description="On HER2-directed therapy (ongoing line) or its last dose ≤ this many days before as_of.",
    )
    lvef_drop_min: float | None = Field(
        default=None, description="Fall from the pre-treatment baseline LVEF, percentage points, ≥ (both known)."
    )
    platelets_below: float | None = Field(default=None, description="Platelets known and < value (/mm³).")
    alt_x_uln_above: float | None = Field(default=None, description="ALT/AST known and > value × ULN.")
    nyha_min: int | None = None
    pregnant: bool | None = None
    breastfeeding: bool | None = None
    neuropathy_min: int | None = Field(default=None, description="CTCAE grade ≥.")
    crcl_below: float | None = Field(default=None, description="Creatinine clearance known and < value (mL/min).")
    crcl_at_least: float | None = None
    bilirubin_x_uln_above: float | None = None
    hepatic: tuple[Literal["none", "mild", "moderate", "severe"], ...] | None = None
    ild_grade_min: int | None = Field(default=None, description="Any past ILD/pneumonitis of grade ≥.")
    ild_on_any: tuple[str, ...] | None = Field(default=None, description="Past ILD occurred on one of these.")
    ild_steroids: bool | None = Field(default=None, description="A past ILD/pneumonitis required steroids (§d.2).")
    medication_any: tuple[str, ...] | None = Field(default=None, description="Concomitant drugs or classes.")
    gestational_weeks_below: float | None = Field(
        default=None, description="Gestational age known and < value (completed weeks)."
    )
    gestational_age_unknown: bool | None = Field(default=None, description="Gestational age not given.")
    declines_chemotherapy: bool | None = None
    declines_brain_local_therapy: bool | None = None
    ecog_min: int | None = None
    receptor_discordance: bool | None = Field(
        default=None, description="HR or HER2 status differs between `tumor.earlier` and `tumor` (both known)."
    )
    option_any: tuple[str, ...] | None = Field(
        default=None, description="Actions/monitoring only: some option holds one of these drugs/classes."
    )
    convention: tuple[str, ...] | None = Field(
        default=None,
        description="A factor of one of these named conventions holds (statements.yaml parameters.conventions).",
    )
    age_min: float | None = Field(default=None, description="Age known and ≥ value (years).")
    g8_max: float | None = Field(default=None, description="G8 geriatric screen known and ≤ value (abnormal ≤ 14).")
    lung_disease: bool | None = Field(default=None, description="Known significant lung disease (reference §d.2).")
    any_of: "tuple[Condition, ...] | None" = None
    all_of: "tuple[Condition, ...] | None" = None
    not_: "Condition | None" = Field(default=None, alias="not")

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, defer_build=True)

    def drug_tokens(self) -> list[str]:
        """Every drug/class token this condition names (for lint)."""
        out: list[str] = []
        for key in (
            "received_any",
            "received_all",
            "not_received",
            "received_early_any",
            "received_metastatic_any",
            "current_line_any",
            "ild_on_any",
            "medication_any",
            "option_any",
        ):
            out.extend(getattr(self, key) or ())
        for sub in (*(self.any_of or ()), *(self.all_of or ()), *((self.not_,) if self.not_ else ())):
            out.extend(sub.drug_tokens())
        return out

    def items(self) -> dict[str, object]:
        """The set predicates as ``{key: value}`` (nested conditions excluded)."""
        skip = {"any_of", "all_of", "not_"}
        return {k: getattr(self, k) for k in self.model_fields_set if k not in skip}


# -------------------------------------------------------------------------------------------- regimens
class Slot(_Strict):
    """A partner drug chosen at recommendation time: the first choice the patient can receive."""

    slot: str = Field(description="Slot name shown to people: 'taxane', 'endocrine partner', 'chemotherapy'.")
    choices: tuple[str, ...] = Field(min_length=1, description="Canonical drugs in order of preference.")


class Prerequisite(_Strict):
    """A label (or trial-population) prerequisite of a regimen."""

    id: str
    when: Condition = Field(description="The prerequisite holds when this condition holds.")
    on_fail: Literal["exclude", "flag"] = Field(description="exclude: not a valid option; flag: off-label note.")
    reason_code: Literal["label_prerequisite", "not_labelled"] = Field(
        default="label_prerequisite",
        description="Exclusion code: label_prerequisite (a labelled use whose prerequisite is not met) or "
        "not_labelled (no labelled use for this population at all).",
    )
    text: str = Field(description="What the label requires, for the exclusion reason or flag.")
    citations: tuple[str, ...] = Field(min_length=1)


class RegimenNote(_Strict):
    """A note on a regimen shown only when its condition holds (e.g. a pregnancy-only instruction) and its
    sources exist on the decision date (a note resting on a later trial or label is left out before it)."""

    when: Condition = Field(default_factory=lambda: Condition(), description="Empty: always.")
    text: str
    citations: tuple[str, ...] = Field(default=(), description="Sources the note rests on (they date it).")


class Flag(_Strict):
    """A statement flag that rests on sources of its own (shown only once every one of them exists)."""

    text: str
    citations: tuple[str, ...] = Field(min_length=1)


class Regimen(_Strict):
    """A regimen: fixed drugs and/or slots, or the patient's current regimen (``drugs_from: current_line``)."""

    id: str
    name: str
    drugs: tuple[str | Slot, ...] = ()
    drugs_from: Literal["current_line"] | None = None
    prerequisites: tuple[Prerequisite, ...] = ()
    note: str = Field(default="", description="Shown with every option of this regimen.")
    conditional_notes: tuple[RegimenNote, ...] = Field(
        default=(), description="Shown only when their condition holds for the patient."
    )

    @model_validator(mode="after")
    def _some_drugs(self) -> Self:
        if not self.drugs and self.drugs_from is None:
            raise ValueError(f"regimen {self.id!r}: give drugs or drugs_from")
        return self


class RegimenFile(FileHeader):
    """``regimens.yaml``."""

    regimens: tuple[Regimen, ...]


# ------------------------------------------------------------------------------------------ statements
class ConventionFactor(_Strict):
    """One factor of a convention: its label for people and the condition that makes it hold."""

    label: str = Field(description="How the factor is named in a caution (e.g. 'ECOG ≥2').")
    when: Condition


class Convention(_Strict):
    """A named population the knowledge base defines itself (e.g. who counts as chemotherapy-unsuitable).

    A condition ``convention: [name]`` holds when any factor holds; a text may name the factors that hold with the
    placeholder ``{factors:name}``.
    """

    description: str
    status: Literal["verified", "probable", "unconfirmed"] = Field(
        description="unconfirmed: a KB convention no retrieved source defines (shown as needing review)."
    )
    factors: tuple[ConventionFactor, ...] = Field(min_length=1)


class StatementParameters(_Strict):
    """Thresholds of the line/algorithm logic (with sources)."""

    second_line_if_relapse_within_months: float = Field(description="ASCO-HER2-2022 Rec 5.0: 12 months.")
    label_relapse_window_months: float = Field(description="T-DXd/T-DM1 labels: 6 months.")
    induction_min_days: int = Field(description="Induction given this long without progression → maintenance.")
    induction_classes: tuple[str, ...] = Field(
        description="An ongoing line is an induction when it holds a drug of each of these classes."
    )
    days_per_month: float = 30.4375
    coverage_start: dt.date = Field(description="Earliest date the encoded knowledge answers for.")
    history_before_diagnosis_days: int = Field(
        default=30,
        description="A metastatic line may start at most this many days before the metastatic diagnosis (the "
        "line-of-therapy index lookback); an earlier start is refused as (neo)adjuvant or a wrong date.",
    )
    conventions: dict[str, Convention] = Field(
        default_factory=dict, description="Named populations the knowledge base defines (reference §a.2)."
    )
    citations: tuple[str, ...] = ()


class Statement(_Strict):
    """One guideline (or label/trial) statement placing a regimen for a population."""

    id: str
    regimen: str
    her2_scope: Her2Scope = Field(description="Which HER2 result the statement is written for.")
    when: Condition
    category: CategoryName
    citations: tuple[str, ...] = Field(min_length=1)
    evidence: tuple[str, ...] = ()
    effective: dt.date = Field(description="Date the statement took effect (approval or guideline release).")
    expires: dt.date | None = Field(default=None, description="Superseded on this date.")
    rationale: str
    guideline_status: str | None = Field(
        default=None, description="Set when no retrieved guideline ranks the option (house rule of §a.1)."
    )
    flags: tuple[str | Flag, ...] = Field(
        default=(),
        description="Plain text (rests on the statement's own citations) or a Flag with sources of its own.",
    )

    @field_validator("citations")
    @classmethod
    def _nonempty(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("a statement needs at least one citation")
        return v


class StatementFile(FileHeader):
    """``statements.yaml``."""

    parameters: StatementParameters
    statements: tuple[Statement, ...]


# -------------------------------------------------------------------------------------------- safety
class SafetyRule(_Strict):
    """Contraindication (excludes options) or caution (flags them) when ``when`` holds."""

    id: str
    when: Condition
    drugs: tuple[str, ...] = Field(min_length=1, description="Drugs or classes the rule applies to.")
    severity: Literal["contraindicated", "caution"]
    reason_code: str
    reason: str
    citations: tuple[str, ...] = Field(min_length=1)
    status: Literal["verified", "probable", "unconfirmed"] = "verified"
    category_cap: CategoryName | None = Field(
        default=None,
        description="Cautions only: the option is shown at best in this category (e.g. 'other' = to discuss).",
    )
    favours: tuple[str, ...] = Field(
        default=(),
        description="Cautions only: regimen ids this caution favours. When one of them is placed for the patient, "
        "a hit option is never ranked above it, nor left alone as preferred (reference §a.2).",
    )

    @model_validator(mode="after")
    def _cap_on_caution(self) -> Self:
        if (self.category_cap is not None or self.favours) and self.severity != "caution":
            raise ValueError(f"safety rule {self.id!r}: category_cap and favours apply to cautions only")
        return self


class ForbiddenCombination(_Strict):
    """Drugs never given together (each token a drug or class; one from each)."""

    id: str
    together: tuple[str, ...] = Field(min_length=2)
    reason: str
    citations: tuple[str, ...] = Field(min_length=1)


class EarlyEndocrineResistance(_Strict):
    """Relapse during or soon after (neo)adjuvant endocrine therapy counts as progression on it (reference §a.3)."""

    relapse_within_months: float = Field(
        description="Relapse during, or ≤ this many months after the last dose of, adjuvant endocrine therapy."
    )
    resistant_classes: tuple[str, ...] = Field(
        description="Classes the resistance extends to: relapse on one member excludes every member of its class."
    )
    note: str = ""
    citations: tuple[str, ...] = Field(min_length=1)


class EarlyRelapseResistance(_Strict):
    """Relapse during or soon after (neo)adjuvant exposure to a drug counts as resistance to it (reference §a.5)."""

    relapse_within_months: float = Field(
        description="Relapse during, or ≤ this many months after the last (neo)adjuvant dose of, the drug."
    )
    classes: tuple[str, ...] = Field(description="Drug classes (or drugs) the rule applies to.")
    note: str = ""
    citations: tuple[str, ...] = Field(min_length=1)


class ProgressionPolicy(_Strict):
    """How progression and toxicity on earlier lines exclude options (shared/reference §a.6)."""

    beyond_progression_allowed: tuple[str, ...] = Field(
        description="Drugs that may continue after progression (HER2 blockade beyond progression)."
    )
    cross_resistance: dict[str, tuple[str, ...]] = Field(
        default_factory=dict, description="Group name → drugs: progression on one counts for all."
    )
    early_endocrine_resistance: EarlyEndocrineResistance | None = Field(
        default=None, description="When (neo)adjuvant endocrine therapy counts as progressed on."
    )
    early_relapse_resistance: EarlyRelapseResistance | None = Field(
        default=None, description="When (neo)adjuvant exposure to a drug counts as progressed on (e.g. T-DM1)."
    )
    ild_terms: tuple[str, ...] = Field(description="Toxicity-event words that mean ILD/pneumonitis.")
    citations: tuple[str, ...] = Field(min_length=1)


class Adjunct(_Strict):
    """A drug added to an option when a condition holds (e.g. a GnRH agonist for a premenopausal patient)."""

    id: str
    when: Condition
    if_option_has: tuple[str, ...]
    unless_option_has: tuple[str, ...] = ()
    add: str
    note: str
    citations: tuple[str, ...] = Field(min_length=1)


class _DatedWording(_Strict):
    """A rule whose wording may name a source (``text_sources``) or give way to newer wording (``expires``), so
    that an answer as of an earlier date never shows a later source (issue 8, house style S2)."""

    id: str
    citations: tuple[str, ...] = Field(min_length=1)
    text_sources: tuple[str, ...] = Field(
        default=(),
        description="Sources the wording itself names (e.g. a trial): before any of them exists the rule is left "
        "out, so a later rule of the same code with earlier wording applies (no later source in an earlier answer).",
    )
    expires: dt.date | None = Field(
        default=None,
        description="Left out on and after this date: a newer rule with newer wording replaces it (answers as of an "
        "earlier date keep this one).",
    )

    @model_validator(mode="after")
    def _text_sources_cited(self) -> Self:
        extra = sorted(set(self.text_sources) - set(self.citations))
        if extra:
            raise ValueError(f"{self.id!r}: text_sources {extra} must also be listed in citations")
        return self


class MonitoringRule(_DatedWording):
    """Monitoring for drugs among the options."""

    id: str
    drugs: tuple[str, ...]
    together_with: tuple[str, ...] = Field(
        default=(),
        description="When set: applies only to options holding a drug of `drugs` together with one of these.",
    )
    when: Condition = Field(default_factory=Condition)
    text: str
    citations: tuple[str, ...] = Field(min_length=1)


class MissingRule(_Strict):
    """A fact the product asks for (a ``missing`` item) when ``when`` holds, instead of guessing."""

    id: str
    code: str = Field(description="Missing code, e.g. 'gestational_age'.")
    when: Condition
    text: str
    citations: tuple[str, ...] = Field(min_length=1)


class WarningRule(_Strict):
    """A warning shown when ``when`` holds."""

    id: str
    when: Condition
    text: str
    citations: tuple[str, ...] = ()
    text_sources: tuple[str, ...] = Field(
        default=(),
        description="Sources the wording itself names: before any of them exists the warning is left out (an "
        "earlier wording with `expires` may apply instead).",
    )
    expires: dt.date | None = Field(
        default=None,
        description="Left out on and after this date: a newer rule with newer wording replaces it (answers as of an "
        "earlier date keep this one).",
    )


class SafetyFile(FileHeader):
    """``safety.yaml``."""

    progression: ProgressionPolicy
    rules: tuple[SafetyRule, ...]
    forbidden_combinations: tuple[ForbiddenCombination, ...]
    adjuncts: tuple[Adjunct, ...]
    monitoring: tuple[MonitoringRule, ...]
    warnings: tuple[WarningRule, ...] = ()
    asks: tuple[MissingRule, ...] = Field(default=(), description="Facts to ask for (`missing` items).")


# ------------------------------------------------------------------------------------------- actions
class ActionRule(_DatedWording):
    """A site-specific action; for one code, the first matching rule in file order wins."""

    id: str
    code: str
    when: Condition
    text: str
    citations: tuple[str, ...] = Field(min_length=1)


class SiteActionFile(FileHeader):
    """``site_actions.yaml``."""

    actions: tuple[ActionRule, ...]


class DecisionText(_Strict):
    """One piece of decision wording the recommender shows (``decision_texts.yaml``).

    ``text`` may hold ``str.format`` placeholders (``{days}``, ``{months:g}``) that the engine fills; which ones it
    supplies per id is ``oncoline.engines.recommend.engine.TEXTS_USED`` (checked by ``oncoline kb lint``).
    """

    id: str
    text: str = Field(min_length=1)
    citations: tuple[str, ...] = Field(min_length=1)

    def placeholders(self) -> frozenset[str]:
        """Names of the ``str.format`` fields in ``text``.

        Raises
        ------
        ValueError
            ``text`` is not a valid format string (an unmatched brace).
        """
        return frozenset(name for _, name, _, _ in string.Formatter().parse(self.text) if name is not None)


class DecisionTextFile(FileHeader):
    """``decision_texts.yaml``."""

    texts: tuple[DecisionText, ...]


SCHEMAS: dict[str, type[FileHeader]] = {
    "sources": SourceFile,
    "evidence": EvidenceFile,
    "regimens": RegimenFile,
    "statements": StatementFile,
    "safety": SafetyFile,
    "site_actions": SiteActionFile,
    "decision_texts": DecisionTextFile,
}
"""File stem → schema; the header's ``schema`` must read ``oncoline.kb.<stem>/1``."""
