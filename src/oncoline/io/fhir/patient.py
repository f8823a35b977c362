"""The patient and demographics: the Patient resource (or, without one, the subject the resources refer to) → id,
sex and age (at the as-of date, only from a full birth date); one patient per bundle.
"""

from __future__ import annotations

from typing import Any

from oncoline.errors import InputError
from oncoline.io.fhir.bundle import Entry, validate
from oncoline.io.fhir.datatypes import Context, as_dict, as_text, read_date

__all__ = ["PatientReader"]


class PatientReader:
    """Finds the bundle's one patient, reads its demographics and knows which references point to it."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.resource: dict[str, Any] | None = None
        self.refs: set[str] = set()

    def read(self, entries: list[Entry], source: str | None) -> None:
        """Read the Patient resource(s) of ``entries``.

        Raises
        ------
        InputError
            When the bundle holds several patients, or no Patient and resources about several subjects.
        """
        patients = [(where, res, url) for where, res, url in entries if res["resourceType"] == "Patient"]
        ids = sorted({as_text(res.get("id")) for _, res, _ in patients})
        if len(ids) > 1:
            raise InputError(
                f"the bundle holds {len(ids)} different patients ({', '.join(ids)}); give one patient per bundle",
                source=source,
            )
        for where, res, url in patients:
            validate(res, where, self.ctx.report)
            self.read_patient(res, where)
            pid = as_text(res.get("id"))
            self.refs |= {f"Patient/{pid}", pid, url} - {"", "Patient/"}
        if not patients:
            self.from_subjects(entries, source)

    def from_subjects(self, entries: list[Entry], source: str | None) -> None:
        """Without a Patient resource: the id from the one subject the resources refer to (reported)."""
        subjects = sorted(
            {
                as_text(as_dict(res.get("subject") or res.get("patient")).get("reference"))
                for _, res, _ in entries
                if as_text(as_dict(res.get("subject") or res.get("patient")).get("reference"))
            }
        )
        if len(subjects) > 1:
            raise InputError(
                f"no Patient resource, and the resources refer to {len(subjects)} different subjects "
                f"({', '.join(subjects[:4])}); give one patient's resources with its Patient resource",
                source=source,
            )
        if subjects:
            self.resource = {"id": subjects[0].split("/")[-1].removeprefix("urn:uuid:")}
        self.ctx.report.problem(
            "Bundle",
            "no_patient",
            "no Patient resource; "
            + (
                f"the patient id is taken from the subject reference {subjects[0]}"
                if subjects
                else "the patient id is left as 'patient'"
            )
            + "; sex and age are unknown",
        )

    def read_patient(self, res: dict[str, Any], where: str) -> None:
        self.resource = res
        gender = as_text(res.get("gender")).lower()
        if gender and gender not in ("female", "male", "other", "unknown"):
            self.ctx.report.problem(where, "bad_value", f"gender {gender!r} is not a FHIR gender; not used")
        if res.get("birthDate") is not None:
            self.ctx.report.birth_date = read_date(self.ctx, res.get("birthDate"), where, "birthDate")

    def assemble(self) -> dict[str, Any]:
        """``id``, ``sex`` and ``age`` (whole years at the as-of date; unset and noted without a full birth date or
        an as-of date)."""
        data: dict[str, Any] = {}
        report, as_of = self.ctx.report, self.ctx.as_of
        if self.resource is not None:
            data["id"] = as_text(self.resource.get("id")) or "patient"
            gender = as_text(self.resource.get("gender")).lower()
            if gender in ("female", "male", "other"):
                data["sex"] = gender
        bd = report.birth_date
        if bd is not None and bd.date is not None and as_of is not None:
            born = bd.date
            years = as_of.year - born.year - ((as_of.month, as_of.day) < (born.month, born.day))
            if 0 <= years <= 120:
                data["age"] = years
        elif bd is not None and bd.date is None:
            report.note("Patient", "age", f"age not computed: birth date {bd} is known to the {bd.precision} only")
        elif bd is not None and as_of is None:
            report.note("Patient", "age", f"age not computed: no as-of date given (birth date {bd})")
        return data
