"""Medications → exposures: MedicationAdministration / MedicationStatement / MedicationRequest (+ contained or
referenced Medication) become :class:`~oncoline.io.fhir.report.ExposureRecord` rows (drug resolved through the drug
vocabulary by RxNorm code, then by text; statusReason stops; not-given statuses excluded), and a documented
progression (CancerDiseaseStatus) marks the exposures in force as ``stopped: progression``.

Lines are derived later from the exposures; a start known only to the month or year is kept in the report and never
becomes an exposure row (no day is invented).
"""

from __future__ import annotations

import json
import re
from typing import Any

from oncoline.io.fhir.codes import norm_text
from oncoline.io.fhir.datatypes import Context, answer, as_dict, as_list, as_text, codings, read_date, texts, unreadable
from oncoline.io.fhir.dates import PartialDate, sort_key
from oncoline.io.fhir.report import DatedFact, ExposureRecord

__all__ = ["MEDICATION_TYPES", "MedicationReader"]

MEDICATION_TYPES = ("MedicationAdministration", "MedicationStatement", "MedicationRequest")
_KNOWN_STATUS = {  # FHIR R4 value sets: medication-admin-status, medication-statement-status, medicationrequest-status
    "MedicationAdministration": {
        "in-progress", "not-done", "on-hold", "completed", "entered-in-error", "stopped", "unknown",
    },
    "MedicationStatement": {
        "active", "completed", "entered-in-error", "intended", "stopped", "on-hold", "unknown", "not-taken",
    },
    "MedicationRequest": {
        "active", "on-hold", "cancelled", "completed", "entered-in-error", "stopped", "draft", "unknown",
    },
}  # fmt: skip


class MedicationReader:
    """Collects medication records and progression, then assembles the ``exposures`` rows."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.records: list[ExposureRecord] = []
        self.medications: dict[str, dict[str, Any]] = {}

    def handlers(self) -> dict[str, Any]:
        """Observation meaning → value handler ``(meaning, key, value, date, label, res)``."""
        return {"disease_status": self.read_disease_status}

    def index_medication(self, res: dict[str, Any], label: str, full_url: str) -> None:
        """Remember a Medication resource under its label, id and fullUrl (for medicationReference)."""
        for key in (label, as_text(res.get("id")), full_url):
            if key:
                self.medications[key] = res

    def read_medication(self, res: dict[str, Any], label: str) -> None:
        """One MedicationAdministration / Statement / Request → one record per drug it names."""
        codes, report = self.ctx.codes, self.ctx.report
        rt = res["resourceType"]
        status = as_text(res.get("status")) or None
        if status in codes.not_given_statuses:
            report.note(label, "excluded", f"status {status}: not given; excluded")
            return
        if status and status not in _KNOWN_STATUS[rt]:
            report.problem(label, "bad_status", f"status {status!r} is not a {rt} status; read as given")
        cc = res.get("medicationCodeableConcept")
        if cc is None and res.get("medicationReference") is not None:
            cc = self.medication_ref(res, label)
        if cc is None:
            report.problem(label, "no_medication", "names no medication (medication[x] missing); skipped")
            return
        names = self.resolve_drug(cc, label)
        if names is None:
            return
        start, end = self.medication_dates(res, label)
        stopped = None
        for reason in as_list(res.get("statusReason")):
            for c in codings(codes, reason):
                hit = codes.stop_reason(c.system, c.code)
                if hit:
                    stopped = hit.stopped
            if stopped is None:
                shown = "; ".join(texts(codes, reason)) or json.dumps(reason)[:60]
                report.note(
                    label, "status_reason", f'statusReason "{shown}" is not a known stop reason; kept as text only'
                )
        if stopped:
            report.note(label, "stop_reason", f"statusReason documents a stop for {stopped}")
        for name in names:
            used = start is not None and start.date is not None
            self.records.append(
                ExposureRecord(
                    drug=name, start=start, end=end, status=status, stopped=stopped, resources=[label], used=used
                )
            )
            if not used:
                why = (
                    "no start date" if start is None else f'start "{start.text}" is known to the {start.precision} only'
                )
                report.problem(
                    label,
                    "undated_exposure",
                    f"{name}: {why}; kept in the report, not an exposure row (no day is invented)",
                )

    def medication_ref(self, res: dict[str, Any], label: str) -> Any:
        ref = as_text(as_dict(res.get("medicationReference")).get("reference"))
        if ref.startswith("#"):
            for c in as_list(res.get("contained")):
                if as_dict(c).get("resourceType") == "Medication" and f"#{as_dict(c).get('id')}" == ref:
                    return as_dict(c).get("code")
        med = self.medications.get(ref) or self.medications.get(ref.split("/")[-1])
        if med is not None:
            return med.get("code")
        display = as_text(as_dict(res.get("medicationReference")).get("display"))
        if display:
            self.ctx.report.note(
                label, "display_only", f"Medication {ref or '(no reference)'} not in the bundle; read its display"
            )
            return {"text": display}
        self.ctx.report.problem(label, "bad_reference", f"medicationReference {ref!r} is not in the bundle")
        return None

    def lookup_text(self, text: str) -> tuple[str, ...] | None:
        """Drug names for a medication text: as written, its [brand], or its words before a dose form or number."""
        vocab = self.ctx.vocab
        found = vocab.lookup(text)
        if found is not None:
            return found
        brand = re.search(r"\[([^\]]+)\]", text)
        if brand and (found := vocab.lookup(brand.group(1))):
            return found
        words: list[str] = []
        for w in norm_text(re.sub(r"\[[^\]]*\]", " ", text)).split():
            if w in self.ctx.codes.dose_form_words or any(ch.isdigit() for ch in w):
                break
            words.append(w)
        if words and not (len(words) == 1 and words[0].isdigit()):
            return vocab.lookup(" ".join(words))
        return None

    def resolve_drug(self, cc: Any, label: str) -> tuple[str, ...] | None:
        """The drug(s) a medication concept names: by RxNorm code, else by text; a code and a text that disagree,
        a placeholder or an unknown drug are reported and give None (never guessed)."""
        codes, report, vocab = self.ctx.codes, self.ctx.report, self.ctx.vocab
        by_code: tuple[str, ...] | None = None
        code_shown = ""
        unknown: list[str] = []
        for c in codings(codes, cc):
            if not c.code:
                continue
            if codes.is_placeholder_code(c.code):
                report.problem(
                    label,
                    "placeholder_code",
                    f'drug code "{c.code}" ({c.raw_system or "no system"}) is a placeholder; not used',
                )
                continue
            if c.system == "rxnorm":
                found = vocab.lookup(f"rxnorm:{c.code}")
                if found and by_code is None:
                    by_code, code_shown = found, f"RxNorm {c.code}"
                elif not found:
                    unknown.append(f"RxNorm {c.code}")
            else:
                unknown.append(f"{c.raw_system or 'no system'}#{c.code}")
        by_text: tuple[str, ...] | None = None
        text_shown = ""
        for t in texts(codes, cc):
            by_text = self.lookup_text(t)
            if by_text:
                text_shown = t
                break
        if by_code and by_text and set(by_code) != set(by_text):
            report.problem(
                label,
                "conflicting_drug",
                f'{code_shown} is {" + ".join(by_code)} but its text "{text_shown}" says {" + ".join(by_text)}; '
                "skipped (not guessed)",
            )
            return None
        if by_code:
            return by_code
        if by_text:
            if unknown:
                report.note(
                    label,
                    "drug_by_text",
                    f"{', '.join(unknown)} not in the drug vocabulary; drug read from its "
                    f'text "{text_shown}" as {" + ".join(by_text)}',
                )
            return by_text
        shown = "; ".join([*unknown, *(f'"{t}"' for t in texts(codes, cc))]) or "nothing"
        suggestions = []
        for t in texts(codes, cc):
            suggestions += vocab.suggest(t)
        hint = f" (closest known: {', '.join(suggestions[:3])})" if suggestions else ""
        report.problem(label, "unknown_drug", f"unknown drug ({shown}){hint}; skipped")
        return None

    def medication_dates(self, res: dict[str, Any], label: str) -> tuple[PartialDate | None, PartialDate | None]:
        """(start, end) with their precision: effective[x] for administrations and statements; for requests the
        first dosage boundsPeriod, else authoredOn (noted). An end before the start is dropped (a problem)."""
        start_v: Any = None
        end_v: Any = None
        if res["resourceType"] in ("MedicationAdministration", "MedicationStatement"):
            if res.get("effectiveDateTime") is not None:
                start_v = res.get("effectiveDateTime")
            else:
                period = as_dict(res.get("effectivePeriod"))
                start_v, end_v = period.get("start"), period.get("end")
        else:
            for di in as_list(res.get("dosageInstruction")):
                bounds = as_dict(as_dict(as_dict(as_dict(di).get("timing")).get("repeat")).get("boundsPeriod"))
                if bounds.get("start") is not None:
                    start_v, end_v = bounds.get("start"), bounds.get("end")
                    break
            if start_v is None and res.get("authoredOn") is not None:
                start_v = res.get("authoredOn")
                self.ctx.report.note(
                    label, "order_date", "no dosage period; the order date (authoredOn) is used as the start"
                )
        start = read_date(self.ctx, start_v, label, "start") if start_v is not None else None
        end = read_date(self.ctx, end_v, label, "end") if end_v is not None else None
        if start and end and start.date and end.date and end.date < start.date:
            self.ctx.report.problem(label, "end_before_start", f"end {end} is before start {start}; end not used")
            end = None
        return start, end

    def read_disease_status(
        self, meaning: str, key: str, value: Any, date: PartialDate | None, label: str, _res: Any
    ) -> None:
        """A CancerDiseaseStatus value: a progression (dated) is kept to stop the exposures in force."""
        report = self.ctx.report
        ans = answer(self.ctx, value, label) if key == "valueCodeableConcept" else None
        if ans and ans[0] == "disease":
            if ans[1] == "progression":
                report.progression.append(DatedFact(what="progression", date=date, resource=label))
                if date is None or date.date is None:
                    report.problem(label, "undated", "progression without a full date; not linked to any treatment")
            else:
                report.note(label, "disease_status", f"disease status {ans[1]}")
        else:
            unreadable(self.ctx, meaning, key, value, label)

    # -------------------------------------------------------------- assembly
    def assemble(self) -> list[dict[str, Any]]:
        """The ``exposures`` rows: identical records merged (noted), progression marked, only full start dates;
        every record (used or not) is kept in ``report.exposures``."""
        merged: dict[tuple[Any, ...], ExposureRecord] = {}
        for r in self.records:
            key = (r.drug, str(r.start), str(r.end), r.stopped)
            if key in merged:
                prev = merged[key]
                merged[key] = prev.model_copy(update={"resources": [*prev.resources, *r.resources]})
            else:
                merged[key] = r
        for r in merged.values():
            if len(r.resources) > 1:
                self.ctx.report.note(
                    r.resources[0],
                    "merged",
                    f"{len(r.resources)} medication entries give the same {r.drug} exposure on {r.start}; counted once",
                )
        records = sorted(merged.values(), key=lambda r: (sort_key(r.start), r.drug))
        records = self.mark_progression(records)
        self.ctx.report.exposures = records
        rows = []
        for r in records:
            if not r.used or r.start is None or r.start.date is None:
                continue
            row: dict[str, Any] = {"drug": r.drug, "start": r.start.date}
            if r.end is not None and r.end.date is not None:
                row["end"] = r.end.date
            if r.stopped:
                row["stopped"] = r.stopped
            rows.append(row)
        return rows

    def mark_progression(self, records: list[ExposureRecord]) -> list[ExposureRecord]:
        """Each dated progression marks, per drug, the last exposure started on or before it (and ended no more than
        ``gap_days`` before it) as stopped for progression (noted)."""
        from oncoline.engines.lines.params import load_line_params

        gap = load_line_params().gap_days
        out = list(records)
        for prog in self.ctx.report.progression:
            day = prog.date.date if prog.date else None
            if day is None:
                continue
            last_of: dict[str, int] = {}
            for i, r in enumerate(out):
                if r.used and r.start is not None and r.start.date is not None and r.start.date <= day:
                    last_of[r.drug] = i
            marked = []
            for drug, i in last_of.items():
                r = out[i]
                last = (r.end.date if r.end and r.end.date else None) or (r.start.date if r.start else None)
                if last is not None and (day - last).days <= gap and r.stopped is None:
                    out[i] = r.model_copy(update={"stopped": "progression"})
                    marked.append(drug)
            if marked:
                self.ctx.report.note(
                    prog.resource,
                    "progression",
                    f"progression on {day}: marks the last {', '.join(marked)} "
                    "exposure(s) before it as stopped for progression",
                )
            else:
                self.ctx.report.note(
                    prog.resource, "progression", f"progression on {day}: no treatment in force to link it to"
                )
        return out
