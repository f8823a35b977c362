"""Lines of therapy: the derived lines of one person, with the rule that opened and closed each line.

The vocabulary of rules and reasons is closed (house style S6): :class:`OpenRule`, :class:`CloseRule`,
:class:`EndReason` and :class:`ExclusionReason`. The algorithm that produces these models is specified in
:mod:`oncoline.engines.lines.cohort` (shared by every engine) and implemented by
:func:`oncoline.engines.lines.reference.derive_lines`.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from oncoline.model.dates import CalendarDate

__all__ = [
    "CloseRule",
    "EndReason",
    "ExclusionReason",
    "Line",
    "LinesResult",
    "OpenRule",
    "RowRule",
]


class OpenRule(StrEnum):
    """Why a line was opened."""

    FIRST_EXPOSURE = "first_exposure"
    AFTER_GAP = "after_gap"
    AFTER_PROGRESSION = "after_progression"
    AFTER_TOXICITY = "after_toxicity"
    NEW_DRUG = "new_drug"


class CloseRule(StrEnum):
    """Why a line was closed (``ongoing`` = the last line, still given at the data cut-off).

    A line carrying a documented progression or toxicity stop is always closed as ``documented_progression`` /
    ``documented_toxicity``, whether another line follows or not (it is never ``ongoing``)."""

    GAP = "gap"
    DOCUMENTED_PROGRESSION = "documented_progression"
    DOCUMENTED_TOXICITY = "documented_toxicity"
    NEW_DRUG = "new_drug"
    ONGOING = "ongoing"


class EndReason(StrEnum):
    """The reason a line ended: ``progression`` / ``toxicity`` exactly when the close rule is the documented stop;
    otherwise ``switched`` (close rule ``new_drug``), ``gap`` or ``ongoing``."""

    PROGRESSION = "progression"
    TOXICITY = "toxicity"
    SWITCHED = "switched"
    GAP = "gap"
    ONGOING = "ongoing"


class RowRule(StrEnum):
    """Why a day's exposures joined an open line (for explanations; not part of the lines table)."""

    OPENED = "opened"
    REGIMEN_WINDOW = "regimen_window"
    SAME_DRUGS = "same_drugs"
    SUBSTITUTION = "substitution"
    MAINTENANCE_ADDITION = "maintenance_addition"


class ExclusionReason(StrEnum):
    """Why an input row takes no part in any line (each excluded row is counted under its first reason, in
    this order)."""

    MISSING_START = "missing_start"
    BAD_DATE = "bad_date"
    END_BEFORE_START = "end_before_start"
    UNKNOWN_DRUG = "unknown_drug"
    SUPPORTIVE = "supportive"
    NO_INDEX_DATE = "no_index_date"
    AFTER_CUTOFF = "after_cutoff"
    EARLY_SETTING = "early_setting"


class Line(BaseModel):
    """One metastatic line of therapy of one person."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    person_id: str = Field(description="The person the line belongs to.")
    line: int = Field(ge=1, description="Ordinal, 1..n without holes, in start order.")
    drugs: tuple[str, ...] = Field(description="Canonical (INN) drugs of the line's rows, sorted alphabetically.")
    regimen: str = Field(description='The drugs joined with " + ".')
    start: CalendarDate = Field(description="Earliest start of the line's rows.")
    end: CalendarDate = Field(
        description="Latest end of the line's rows (clipped to the data cut-off), and no later than the day "
        "before the next line starts (lines never overlap)."
    )
    n_exposures: int = Field(
        ge=1,
        description="Input rows (administrations or dispensings, by row id) assigned to the line: a Phesgo row "
        "counts once, an exact duplicate row counts too (it counts once for the line rules only).",
    )
    open_rule: OpenRule = Field(description="The rule that opened the line.")
    close_rule: CloseRule = Field(description="The rule that closed the line (``ongoing`` for a current line).")
    end_reason: EndReason = Field(
        description="Documented progression/toxicity when recorded, else from the close rule."
    )
    time_on_treatment_days: int = Field(ge=1, description="end - start + 1, in days (after the cut at the next line).")
    time_to_next_treatment_days: int | None = Field(
        description="Next line start - this line start, in days; None for the last line (censored)."
    )
    ttnt_censored: bool = Field(description="True for the last line: no next treatment by the data cut-off.")


class LinesResult(BaseModel):
    """The lines of one person, which line each input row went to, and what was left out and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    person_id: str = Field(description="The person.")
    as_of: CalendarDate | None = Field(
        description="The data cut-off used (the given one, else the latest exposure end; None without exposures)."
    )
    lines: tuple[Line, ...] = Field(description="Lines in order, numbered 1..n.")
    assignments: dict[str, int] = Field(description="Input row id → line number, for every row used.")
    excluded: dict[str, int] = Field(description="ExclusionReason value → number of input rows left out.")
    unknown_drugs: dict[str, int] = Field(description="Unknown drug name (as given) → number of rows.")
    examples: dict[str, tuple[str, ...]] = Field(
        default_factory=dict, description="ExclusionReason value → up to three example rows, as text."
    )

    @property
    def n_lines(self) -> int:
        """The number of lines."""
        return len(self.lines)
