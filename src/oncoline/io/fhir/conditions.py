"""Cardiac and other patient conditions from observations: ECOG performance status, LVEF (latest and baseline),
pregnancy status — and the concomitant medications still active (``conditions.medications``).

The LVEF baseline is set only from an LVEF marked as the baseline or dated wholly before the current anti-HER2
therapy; otherwise it is left unset. Either way the choice is reported as a note. ILD and hepatic function are not
read from FHIR (a patient file gives them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from oncoline.io.fhir.datatypes import (
    Context,
    Dated,
    answer,
    as_dict,
    as_list,
    as_text,
    latest,
    number,
    texts,
    unreadable,
    wrong_unit,
)
from oncoline.io.fhir.dates import PartialDate
from oncoline.io.fhir.report import ExposureRecord

__all__ = ["ConditionReader", "current_her2_course"]


class ConditionReader:
    """Collects ECOG, LVEF and pregnancy observations, then assembles ``ecog`` and the ``conditions`` block."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.ecog: list[Dated] = []
        self.lvef: list[Dated] = []
        self.pregnant: list[Dated] = []

    def handlers(self) -> dict[str, Any]:
        """Observation meaning → value handler ``(meaning, key, value, date, label, res)``."""
        return {"ecog": self.read_ecog, "lvef": self.read_lvef, "pregnancy": self.read_pregnancy}

    def read_ecog(self, meaning: str, key: str, value: Any, date: PartialDate | None, label: str, _res: Any) -> None:
        num, units = number(key, value)
        if num is not None and not self.ctx.codes.unit_accepted("ecog", units):
            wrong_unit(self.ctx, "ECOG", num, units, "a score (no unit)", label)
            return
        if num is None and key == "valueCodeableConcept":
            ans = answer(self.ctx, value, label)
            num = float(ans[1]) if ans and ans[0] == "ecog" else None
        if num is not None and num in (0, 1, 2, 3, 4):
            self.ecog.append(Dated(value=int(num), date=date, resource=label))
        elif num == 5:
            self.ctx.report.problem(label, "bad_value", "ECOG 5 (dead); not used as a performance status")
        else:
            unreadable(self.ctx, meaning, key, value, label)

    def read_lvef(
        self, meaning: str, key: str, value: Any, date: PartialDate | None, label: str, res: dict[str, Any]
    ) -> None:
        num, units = number(key, value)
        if num is not None and not self.ctx.codes.unit_accepted("lvef", units):
            wrong_unit(self.ctx, "LVEF", num, units, "%", label)
            return
        if num is not None and 0 <= num <= 100:
            if not units:
                self.ctx.report.note(label, "no_unit", f"LVEF {num:g} has no unit; read as %")
            marked = self.marked_baseline(res)
            self.lvef.append(Dated(value=num, date=date, resource=label, marked_baseline=marked))
        else:
            unreadable(self.ctx, meaning, key, value, label)

    def marked_baseline(self, res: dict[str, Any]) -> bool:
        """True when an Observation says it is a baseline (code text/display, category, method or note)."""
        codes = self.ctx.codes
        found = [*texts(codes, res.get("code")), *texts(codes, res.get("method"))]
        for cat in as_list(res.get("category")):
            found += texts(codes, cat)
        found += [as_text(as_dict(n).get("text")) for n in as_list(res.get("note"))]
        return any(codes.marks_lvef_baseline(t) for t in found if t)

    def read_pregnancy(
        self, meaning: str, key: str, value: Any, date: PartialDate | None, label: str, _res: Any
    ) -> None:
        ans = answer(self.ctx, value, label) if key == "valueCodeableConcept" else None
        if ans and ans[0] == "pregnancy":
            if ans[1] == "unknown":
                self.ctx.report.note(label, "unknown", "pregnancy status unknown; left unknown")
                return
            self.pregnant.append(Dated(value=ans[1] == "pregnant", date=date, resource=label))
        elif key == "valueBoolean" and isinstance(value, bool):
            self.pregnant.append(Dated(value=value, date=date, resource=label))
        else:
            unreadable(self.ctx, meaning, key, value, label)

    def latest_ecog(self) -> int | None:
        """The latest ECOG (0-4), or None."""
        return latest(self.ecog).value if self.ecog else None

    def lvef_baseline(self, exposures: list[dict[str, Any]], last: Dated) -> float | None:
        """The LVEF baseline: an LVEF marked as baseline, else the last LVEF dated (even partially) wholly before
        the current anti-HER2 therapy started; None otherwise. Each choice is reported as a note."""
        report, vocab = self.ctx.report, self.ctx.vocab
        marked = [v for v in self.lvef if v.marked_baseline]
        if marked:
            chosen = latest(marked)
            report.note(
                chosen.resource,
                "lvef_baseline",
                f"LVEF baseline {chosen.value:g} %: the observation ({chosen.date or 'undated'}) is marked as "
                "the baseline",
            )
            return float(chosen.value)
        from oncoline.engines.lines.params import load_line_params

        params = load_line_params()
        start, drugs = current_her2_course(
            exposures,
            lambda drug: vocab.in_class(drug, "her2_directed"),
            params.gap_days,
            params.regimen_window_days,
        )
        if start is None:
            report.note(
                last.resource,
                "lvef_baseline",
                "LVEF baseline unknown: no anti-HER2 therapy is recorded to date an LVEF before, and no LVEF is "
                "marked as baseline; lvef_baseline_percent left unset",
            )
            return None
        before = [v for v in self.lvef if v.date is not None and v.date.latest is not None and v.date.latest < start]
        if not before:
            report.note(
                last.resource,
                "lvef_baseline",
                f"LVEF baseline unknown: no LVEF is dated before the current anti-HER2 therapy ({drugs}, started "
                f"{start}) or marked as baseline; lvef_baseline_percent left unset",
            )
            return None
        chosen = latest(before)
        also = (
            "; it is also the latest LVEF: none is recorded since that therapy started"
            if chosen.resource == last.resource
            else ""
        )
        report.note(
            chosen.resource,
            "lvef_baseline",
            f"LVEF baseline {chosen.value:g} %: the last LVEF ({chosen.date}) before the current anti-HER2 therapy "
            f"({drugs}) started on {start}{also}",
        )
        return float(chosen.value)

    def assemble(self, exposures: list[dict[str, Any]], records: list[ExposureRecord]) -> dict[str, Any]:
        """The ``conditions`` block: latest LVEF and its baseline, latest pregnancy status, and the concomitant
        drugs still active among the medication ``records``."""
        cond: dict[str, Any] = {}
        if self.lvef:
            last = latest(self.lvef)
            cond["lvef_percent"] = last.value
            baseline = self.lvef_baseline(exposures, last)
            if baseline is not None:
                cond["lvef_baseline_percent"] = baseline
        if self.pregnant:
            cond["pregnant"] = latest(self.pregnant).value
        current = {"active", "in-progress", "on-hold"}
        vocab = self.ctx.vocab
        concomitant = sorted(
            {r.drug for r in records if r.status in current and vocab.drug(r.drug).role.value == "concomitant"}
        )
        if concomitant:
            cond["medications"] = concomitant
        return cond


def current_her2_course(
    exposures: list[dict[str, Any]], is_her2: Callable[[str], bool], gap_days: int, window_days: int
) -> tuple[dt.date | None, str]:
    """(start, drugs) of the current anti-HER2 therapy: the last run of HER2-directed exposures, a run ending at a
    pause longer than ``gap_days`` or at a HER2-directed drug new to the run started more than ``window_days``
    after the run began (a switch, e.g. THP then T-DXd); (None, "") without HER2-directed exposures.

    >>> d = dt.date
    >>> rows = [{"drug": "trastuzumab", "start": d(2024, 1, 1)}]
    >>> rows += [{"drug": "trastuzumab deruxtecan", "start": d(2024, 6, 1)}]
    >>> current_her2_course(rows, lambda drug: True, 120, 28)
    (datetime.date(2024, 6, 1), 'trastuzumab deruxtecan')
    """
    rows = sorted((e["start"], e.get("end") or e["start"], e["drug"]) for e in exposures if is_her2(e["drug"]))
    if not rows:
        return None, ""
    start, drugs, last_end = rows[0][0], {rows[0][2]}, rows[0][1]
    for row_start, row_end, drug in rows[1:]:
        if (row_start - last_end).days > gap_days or (drug not in drugs and (row_start - start).days > window_days):
            start, drugs = row_start, {drug}
        else:
            drugs.add(drug)
        last_end = max(last_end, row_end)
    return start, " + ".join(sorted(drugs))
