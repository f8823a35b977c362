"""The ingestion report every FHIR reading module appends to: findings (problems and notes), dates kept with their
precision, and every medication record as understood.

>>> report = IngestionReport(source="b.json")
>>> report.problem("Observation/h1", "bad_unit", "HER2 IHC value 3 has the unit '%'; not used")
>>> [(f.resource, f.code) for f in report.problems]
[('Observation/h1', 'bad_unit')]
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from oncoline.io.fhir.dates import PartialDate

__all__ = ["POLICIES", "DatedFact", "ExposureRecord", "Finding", "IngestionReport", "Policy"]

Policy = Literal["ignore", "warn", "raise"]
POLICIES = ("ignore", "warn", "raise")


class Finding(BaseModel):
    """One thing the reader noticed: a ``problem`` (a defect in the input) or a ``note`` (how a value was
    mapped). ``message`` says what was wrong and what was done."""

    model_config = ConfigDict(frozen=True)

    resource: str = Field(description='"ResourceType/id" (or the entry number when there is no id).')
    severity: Literal["problem", "note"]
    code: str = Field(description="A short machine-readable kind, e.g. two_values, partial_date.")
    message: str


class ExposureRecord(BaseModel):
    """A medication resource as understood: the drug, its dates with precision and where it came from."""

    model_config = ConfigDict(frozen=True)

    drug: str
    start: PartialDate | None
    end: PartialDate | None = None
    status: str | None = None
    stopped: str | None = None
    resources: list[str] = Field(default_factory=list)
    used: bool = Field(description="True when it became an Exposure row (a full start date is known).")


class DatedFact(BaseModel):
    """A dated finding kept with its precision (progression, stage IV, a metastatic site)."""

    model_config = ConfigDict(frozen=True)

    what: str
    date: PartialDate | None
    resource: str


class IngestionReport(BaseModel):
    """What was read from a FHIR document, what was done with each defect, and dates kept with precision."""

    source: str | None = None
    policy: str = "warn"
    resources: dict[str, int] = Field(default_factory=dict, description="Resource type → entries read.")
    findings: list[Finding] = Field(default_factory=list)
    birth_date: PartialDate | None = None
    metastatic_diagnosis: PartialDate | None = Field(
        default=None, description="With its precision; Patient.metastatic_diagnosis is set only at day precision."
    )
    metastatic_evidence: list[DatedFact] = Field(default_factory=list)
    progression: list[DatedFact] = Field(default_factory=list)
    exposures: list[ExposureRecord] = Field(default_factory=list)

    @property
    def problems(self) -> list[Finding]:
        """Findings that are defects in the input."""
        return [f for f in self.findings if f.severity == "problem"]

    @property
    def notes(self) -> list[Finding]:
        """Findings that explain a mapping."""
        return [f for f in self.findings if f.severity == "note"]

    def problem(self, resource: str, code: str, message: str) -> None:
        """Append a defect in the input: ``resource`` names it (``Observation/h1``), ``message`` says what was
        wrong and what was done."""
        self.findings.append(Finding(resource=resource, severity="problem", code=code, message=message))

    def note(self, resource: str, code: str, message: str) -> None:
        """Append a mapping choice (how a value was read, which value won)."""
        self.findings.append(Finding(resource=resource, severity="note", code=code, message=message))
