"""The recommendation: what the recommender returns for one patient at one decision point.

Frozen pydantic models (house style S6). :meth:`Recommendation.to_contract` gives the JSON output contract
of ``shared/cases/FORMAT.md`` (``line``, ``options``, ``excluded``, ``actions``, ``missing``, ``kb_version``)
plus the richer fields people read: ``line_rationale``, ``algorithm``, ``monitoring``, ``warnings``, ``trace``.
"""

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from oncoline.model.dates import CalendarDate

__all__ = [
    "Action",
    "Algorithm",
    "Category",
    "Citation",
    "Excluded",
    "Missing",
    "Monitoring",
    "Option",
    "Recommendation",
    "TraceEntry",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Category(StrEnum):
    """Guideline category of an option (NCCN-style wording)."""

    PREFERRED = "preferred"
    OTHER = "other"
    CERTAIN_CIRCUMSTANCES = "certain_circumstances"


CATEGORY_RANK = {Category.PREFERRED: 0, Category.OTHER: 1, Category.CERTAIN_CIRCUMSTANCES: 2}
"""Sort order of categories: preferred first."""


class Algorithm(StrEnum):
    """Which part of the treatment algorithm applies at this decision."""

    FIRST_LINE = "first_line"
    MAINTENANCE = "maintenance"
    CONTINUE = "continue"
    SECOND_LINE = "second_line"
    LATER_LINE = "later_line"


class Citation(_Frozen):
    """One resolved source: guideline (with version/section), trial (DOI/PMID) or label (approval date)."""

    id: str = Field(description="Source id in knowledge/data/sources.yaml, e.g. 'ASCO-HER2-2022'.")
    short: str = Field(description="Short label for people, e.g. 'ASCO 2022 Rec 2.1'.")
    title: str = Field(default="", description="Full citation text.")
    kind: str = Field(default="", description="guideline | trial | label | review | reference | secondary")
    doi: str | None = None
    pmid: str | None = None
    url: str | None = None
    section: str | None = Field(default=None, description="Guideline section / recommendation number.")
    date: CalendarDate | None = Field(default=None, description="Publication or approval date.")
    status: str = Field(default="verified", description="verified | probable (†) | unconfirmed")


class Option(_Frozen):
    """One regimen the patient could receive now."""

    drugs: tuple[str, ...] = Field(description="Canonical INN names, as given together.")
    regimen: str = Field(description="Regimen id in knowledge/data/regimens.yaml.")
    name: str = Field(description="Regimen name for people, e.g. 'T-DXd'.")
    category: Category
    statement: str = Field(description="Id of the guideline statement that placed the option.")
    rationale: str = Field(default="", description="Why the statement applies to this patient.")
    evidence: tuple[str, ...] = Field(default=(), description="Evidence one-liners (PFS/OS, HR).")
    citations: tuple[Citation, ...] = Field(min_length=1)
    flags: tuple[str, ...] = Field(
        default=(),
        description="Review flags: 'UNCONFIRMED: …', 'guideline_status: …', 'off-label: …', 'caution: …'.",
    )
    notes: tuple[str, ...] = Field(default=(), description="Partner-drug alternatives, adjuncts, dosing hints.")
    guideline_status: str | None = Field(default=None, description="Set when no retrieved guideline ranks it.")
    effective: CalendarDate = Field(description="Date the statement took effect (approval or guideline release).")


class Excluded(_Frozen):
    """A regimen the knowledge would otherwise place, withheld for this patient."""

    drugs: tuple[str, ...]
    regimen: str
    name: str
    reason_code: str = Field(
        description="progressed_on | stopped_for_toxicity | contraindicated_* | interaction | label_prerequisite | "
        "not_labelled | not_her2_positive | her2_status_missing | her2_equivocal | patient_declines | "
        "forbidden_combination | line_unknown"
    )
    reason: str
    rule: str = Field(description="Id of the rule that excluded it.")
    citations: tuple[Citation, ...] = ()
    also: tuple[str, ...] = Field(default=(), description="Further reasons that apply.")


class Action(_Frozen):
    """A site-specific or safety action beside the systemic choice."""

    code: str = Field(description="FORMAT.md action code, e.g. 'brain_local_therapy'.")
    text: str
    rule: str
    citations: tuple[Citation, ...] = ()


class Monitoring(_Frozen):
    """Safety monitoring for drugs among the options."""

    drugs: tuple[str, ...]
    text: str
    rule: str
    citations: tuple[Citation, ...] = ()


class Missing(_Frozen):
    """A fact the product asks for instead of guessing."""

    code: str = Field(description="her2_status | reflex_ish | hr_status | …")
    text: str


class TraceEntry(_Frozen):
    """One rule that fired (or was skipped) and what it did."""

    rule: str
    effect: str


class Recommendation(_Frozen):
    """The answer for one patient at one decision point.

    The engine fills it; :meth:`to_contract` gives the JSON of ``shared/cases/FORMAT.md``.
    """

    patient_id: str
    as_of: CalendarDate
    kb_version: str
    line: int = Field(ge=1, description="Ordinal of the metastatic line now being chosen (or continued).")
    line_rationale: str
    algorithm: Algorithm
    algorithm_rationale: str = ""
    her2_status: str
    her2_category: str
    hr_status: str = Field(description="positive | negative | unknown")
    options: tuple[Option, ...] = ()
    excluded: tuple[Excluded, ...] = ()
    actions: tuple[Action, ...] = ()
    monitoring: tuple[Monitoring, ...] = ()
    missing: tuple[Missing, ...] = ()
    warnings: tuple[str, ...] = ()
    trace: tuple[TraceEntry, ...] = ()
    disclaimer: str = "Decision support for clinicians, not a prescription; review with the multidisciplinary team."

    def to_contract(self) -> dict[str, Any]:
        """The FORMAT.md JSON (a superset): plain types, dates as ISO strings."""
        return self.model_dump(mode="json")
