"""Tumour markers from TumorMarkerTest observations: HER2 raw results (IHC score, ISH ratio, HER2 copies,
qualitative ISH; the lab's final call only when no raw value exists), ER and PR (percent or positive/negative).

Free text and numbers are read only when unambiguous and with their unit (issue 12 item 1): an ambiguous text or a
foreign unit is a problem naming the observation, and the marker stays missing — never guessed.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from oncoline.io.fhir.datatypes import (
    Context,
    Dated,
    answer,
    as_list,
    as_text,
    latest,
    number,
    texts,
    unreadable,
    wrong_unit,
)
from oncoline.io.fhir.dates import PartialDate, sort_key

__all__ = ["MarkerReader"]


class Her2Value(BaseModel):
    """One HER2 result: ``field`` is ihc, ish_ratio, her2_copies, ish_result or status."""

    field: str
    value: Any
    date: PartialDate | None
    resource: str


class MarkerReader:
    """Collects HER2, ER and PR results from observation values, then assembles the ``tumor`` block."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.her2: list[Her2Value] = []
        self.her2_status: list[Her2Value] = []
        self.er: list[Dated] = []
        self.pr: list[Dated] = []

    def handlers(self) -> dict[str, Any]:
        """Observation meaning → value handler ``(meaning, key, value, date, label, res)``."""
        return {
            "her2_ihc": self.her2_ihc,
            "her2_ish": self.her2_ish,
            "her2_ish_ratio": self.her2_number,
            "her2_copies": self.her2_number,
            "her2_status": self.her2_lab_call,
            "er": self.receptor,
            "pr": self.receptor,
        }

    def interpretation(self, meaning: str, res: dict[str, Any], date: PartialDate | None, label: str) -> None:
        """``Observation.interpretation`` on a HER2 observation: the lab's call."""
        if not meaning.startswith("her2"):
            return
        for cc in as_list(res.get("interpretation")):
            ans = answer(self.ctx, cc, label)
            if ans and ans[0] == "result" and ans[1] in ("positive", "negative", "equivocal"):
                self.her2_status.append(Her2Value(field="status", value=ans[1], date=date, resource=label))

    def her2_ihc(self, meaning: str, key: str, value: Any, date: PartialDate | None, label: str, _res: Any) -> None:
        codes = self.ctx.codes
        score: str | None = None
        status: str | None = None
        num, units = number(key, value)
        if num is not None:
            if key == "valueRatio" or not codes.unit_accepted("her2_ihc", units):
                wrong_unit(self.ctx, "HER2 IHC", num, units or ["ratio"], "an IHC score (0-3, no unit)", label)
                return
            if num in (0, 1, 2, 3):
                score = "0" if num == 0 else f"{int(num)}+"
                self.ctx.report.note(label, "ihc_number", f"IHC value {num:g} read as score {score}")
        elif key == "valueCodeableConcept":
            ans = answer(self.ctx, value, label)
            if ans and ans[0] == "ihc":
                score = ans[1]
            elif ans and ans[0] == "result":
                status = ans[1]
            if score is None:
                for t in texts(codes, value):
                    reading = codes.ihc_text(t)
                    if reading.unreadable:
                        self.ambiguous(meaning, t, reading.unreadable, label)
                        return
                    if reading.score is not None and score not in (None, reading.score):
                        self.ambiguous(meaning, t, f"its texts give two scores ({score}, {reading.score})", label)
                        return
                    score = score or reading.score
            if score is not None and status is not None and status != codes.ihc_score_result(score):
                self.ambiguous(meaning, texts(codes, value)[0], f"the coded result {status} contradicts it", label)
                return
        elif key == "valueString":
            reading = codes.ihc_text(as_text(value))
            if reading.unreadable:
                self.ambiguous(meaning, as_text(value), reading.unreadable, label)
                return
            score = reading.score
            if score is None:
                status = codes.text_result(as_text(value))
        if score is not None:
            self.her2.append(Her2Value(field="ihc", value=score, date=date, resource=label))
        elif status in ("positive", "negative", "equivocal"):
            self.her2_status.append(Her2Value(field="status", value=status, date=date, resource=label))
            self.ctx.report.note(
                label, "qualitative", f"IHC reported as {status} (no score in this value); kept as the lab's call"
            )
        else:
            unreadable(self.ctx, meaning, key, value, label)

    def ambiguous(self, meaning: str, text: str, why: str, label: str) -> None:
        self.ctx.report.problem(
            label,
            "ambiguous_text",
            f'{meaning} text "{text[:80]}" is ambiguous: {why}; not read (HER2 left missing unless another result '
            "gives it; never guessed)",
        )

    def her2_ish(self, meaning: str, key: str, value: Any, date: PartialDate | None, label: str, _res: Any) -> None:
        codes = self.ctx.codes
        result: str | None = None
        if key == "valueCodeableConcept":
            ans = answer(self.ctx, value, label)
            if ans and ans[0] == "result":
                result = ans[1]
            for t in texts(codes, value):
                result = result or codes.text_result(t)
        elif key == "valueString":
            text = as_text(value)
            result = codes.ish_text_call(text)
            if result:
                self.ctx.report.note(
                    label,
                    "ish_text",
                    f'ISH result text "{text}" read as the lab\'s call: {result} (no ratio value is taken from it)',
                )
            else:
                result = codes.text_result(text)
        if result in ("positive", "negative", "equivocal"):
            self.her2.append(Her2Value(field="ish_result", value=result, date=date, resource=label))
        else:
            unreadable(self.ctx, meaning, key, value, label)

    def her2_number(self, meaning: str, key: str, value: Any, date: PartialDate | None, label: str, _res: Any) -> None:
        field = "ish_ratio" if meaning == "her2_ish_ratio" else "her2_copies"
        num, units = number(key, value)
        if num is not None and not self.ctx.codes.unit_accepted(meaning, units):
            expected = "a ratio (no unit)" if field == "ish_ratio" else "copies per cell"
            wrong_unit(self.ctx, f"HER2 {field.replace('_', ' ')}", num, units, expected, label)
            return
        if num is not None and num >= 0:
            self.her2.append(Her2Value(field=field, value=num, date=date, resource=label))
            return
        text = as_text(value) if key == "valueString" else ""
        call = self.ctx.codes.ish_text_call(text) if text else None
        if call:
            self.ctx.report.note(
                label, "ish_text", f'"{text}" read as the lab\'s ISH call: {call} (no number is made up)'
            )
            self.her2.append(Her2Value(field="ish_result", value=call, date=date, resource=label))
            return
        unreadable(self.ctx, meaning, key, value, label)

    def her2_lab_call(
        self, meaning: str, key: str, value: Any, date: PartialDate | None, label: str, _res: Any
    ) -> None:
        codes = self.ctx.codes
        status = None
        if key == "valueCodeableConcept":
            ans = answer(self.ctx, value, label)
            status = ans[1] if ans and ans[0] == "result" else None
            if ans and ans[0] == "ihc":
                self.her2.append(Her2Value(field="ihc", value=ans[1], date=date, resource=label))
                return
            for t in texts(codes, value):
                status = status or codes.text_result(t)
        elif key == "valueString":
            status = codes.text_result(as_text(value))
        if status in ("positive", "negative", "equivocal"):
            self.her2_status.append(Her2Value(field="status", value=status, date=date, resource=label))
        else:
            unreadable(self.ctx, meaning, key, value, label)

    def receptor(self, meaning: str, key: str, value: Any, date: PartialDate | None, label: str, _res: Any) -> None:
        codes, report = self.ctx.codes, self.ctx.report
        target = self.er if meaning == "er" else self.pr
        num, units = number(key, value)
        if num is not None:
            if not units:
                report.problem(label, "no_unit", f"{meaning.upper()} value {num:g} has no % unit; not used")
                return
            if not codes.unit_accepted("receptor_percent", units):
                wrong_unit(self.ctx, meaning.upper(), num, units, "a percent of cells (%)", label)
                return
            if 0 <= num <= 100:
                target.append(Dated(value=("percent", num), date=date, resource=label))
                return
        status = None
        if key == "valueCodeableConcept":
            ans = answer(self.ctx, value, label)
            status = ans[1] if ans and ans[0] == "result" else None
            for t in texts(codes, value):
                status = status or codes.text_result(t)
        elif key == "valueString":
            status = codes.text_result(as_text(value))
        if status in ("positive", "negative"):
            target.append(Dated(value=("status", status), date=date, resource=label))
        elif status:
            report.note(label, "indeterminate", f"{meaning.upper()} result {status}; not used")
        else:
            unreadable(self.ctx, meaning, key, value, label)

    def assemble(self) -> dict[str, Any]:
        """The ``tumor`` fields read (her2, er/pr percent or status): the latest value of each field wins (the
        others named in a note); the lab's call is used only without raw HER2 values (a disagreement reported)."""
        report = self.ctx.report
        tumor: dict[str, Any] = {}
        her2: dict[str, Any] = {}
        by_field: dict[str, list[Her2Value]] = {}
        for v in self.her2:
            by_field.setdefault(v.field, []).append(v)
        for field, found in by_field.items():
            ordered = sorted(found, key=lambda v: sort_key(v.date))
            chosen = ordered[-1]
            her2[field] = chosen.value
            others = {str(v.value) for v in ordered if v.value != chosen.value}
            if others:
                report.note(
                    chosen.resource,
                    "latest_wins",
                    f"HER2 {field}: the latest result {chosen.value} is used; earlier {', '.join(sorted(others))} "
                    "not used",
                )
        if self.her2_status:
            last = sorted(self.her2_status, key=lambda v: sort_key(v.date))[-1]
            if her2:
                conflicting = status_conflict(last.value, her2)
                if conflicting:
                    report.problem(
                        last.resource,
                        "conflicting_values",
                        f"the lab's call {last.value} disagrees with the raw value(s) {conflicting}; the raw "
                        "values are kept and the HER2 engine classifies them",
                    )
                else:
                    report.note(last.resource, "status_not_used", f"lab call {last.value} not used: raw values present")
            else:
                her2["status"] = last.value
        if her2:
            tumor["her2"] = her2
        for name, vals in (("er", self.er), ("pr", self.pr)):
            if not vals:
                continue
            percents = [v for v in vals if v.value[0] == "percent"]
            picked = latest(percents) if percents else latest(vals)
            kind, val = picked.value
            tumor[f"{name}_{'percent' if kind == 'percent' else 'status'}"] = val
        return tumor


def status_conflict(status: str, her2: dict[str, Any]) -> str:
    """The raw HER2 values that contradict the lab's call ``status`` ("IHC 3+", "ISH negative"), or ``""``.

    >>> status_conflict("negative", {"ihc": "3+"})
    'IHC 3+'
    """
    ihc = her2.get("ihc")
    ish = her2.get("ish_result")
    bad = []
    if status == "positive" and ihc in ("0", "ultralow", "1+") and ish != "positive":
        bad.append(f"IHC {ihc}")
    if status == "negative" and ihc == "3+":
        bad.append("IHC 3+")
    if ish in ("positive", "negative") and status in ("positive", "negative") and ish != status and ihc != "3+":
        bad.append(f"ISH {ish}")
    return ", ".join(bad)
