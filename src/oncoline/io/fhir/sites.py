"""Metastatic sites and the diagnosis: Primary/SecondaryCancerCondition → sites (body site, then condition code,
then words), histology and stage at diagnosis; stage group IV / M1 observations; the metastatic diagnosis date
(earliest dated evidence, set only at day precision) and the presentation (de novo / recurrent, by
``presentation_rules`` in fhir_codes.yaml), each choice reported.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from oncoline.io.fhir.codes import norm_text
from oncoline.io.fhir.datatypes import (
    Coding,
    Context,
    answer,
    as_dict,
    as_list,
    as_text,
    codings,
    read_date,
    texts,
    unreadable,
)
from oncoline.io.fhir.dates import PartialDate, sort_key
from oncoline.io.fhir.report import DatedFact
from oncoline.model.patient import SiteKind

__all__ = ["SiteReader"]


class SiteReader:
    """Collects cancer conditions and stage observations, then assembles sites, the metastatic diagnosis date and
    the presentation."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.sites: dict[str, list[str]] = {}
        self.histology: str | None = None
        self.primary_onset: PartialDate | None = None
        self.primary_stage: str | None = None  # from the primary cancer condition's own stage
        self.primary_label: str | None = None
        self.stage_iv_observations: list[DatedFact] = []  # stage group IV / M1 observations

    def handlers(self) -> dict[str, Any]:
        """Observation meaning → value handler ``(meaning, key, value, date, label, res)``."""
        return {"stage_group": self.read_stage, "distant_metastasis": self.read_stage}

    # -------------------------------------------------------------- Condition
    def read_condition(self, res: dict[str, Any], label: str) -> None:
        """A Condition: a secondary cancer (a site), a primary breast cancer, or not used (noted)."""
        codes, report = self.ctx.codes, self.ctx.report
        ver = res.get("verificationStatus")
        ver_codes = {c.code for c in codings(codes, ver)} | ({as_text(ver)} if isinstance(ver, str) else set())
        if ver_codes & {"entered-in-error", "refuted"}:
            report.note(label, "excluded", f"verificationStatus {'/'.join(sorted(ver_codes))}; not used")
            return
        profiles = " ".join(as_text(p) for p in as_list(as_dict(res.get("meta")).get("profile")))
        found = codings(codes, res.get("code"))
        shown_texts = texts(codes, res.get("code"))
        secondary_hits = [(c, codes.secondary_site(c.system, c.code)) for c in found]
        secondary_hits = [(c, s) for c, s in secondary_hits if s is not None]
        primary_hits = [c for c in found if codes.is_primary_breast(c.system, c.code)]
        is_secondary = "secondary-cancer-condition" in profiles or bool(secondary_hits)
        is_primary = "primary-cancer-condition" in profiles or bool(primary_hits)
        if not is_secondary and any(
            "secondary malignant" in norm_text(t) or "metasta" in norm_text(t) for t in shown_texts
        ):
            is_secondary = True
            report.note(label, "text_only", f'read as a secondary cancer from its text "{shown_texts[0]}"')
        onset = self.condition_onset(res, label)
        if is_secondary and primary_hits and "secondary-cancer-condition" not in profiles:
            shown = ", ".join(f"{c.system}:{c.code}" for c in [*primary_hits, *(c for c, _ in secondary_hits)])
            report.problem(
                label,
                "conflicting_codes",
                f"codings disagree: primary breast cancer and secondary neoplasm ({shown}); not used as a "
                "metastatic site",
            )
            return
        if is_secondary:
            self.read_secondary(res, label, secondary_hits, onset)
        elif is_primary:
            self.read_primary(res, label, onset)
        else:
            report.note(label, "not_used", "not a cancer condition oncoline uses; ignored")

    def condition_onset(self, res: dict[str, Any], label: str) -> PartialDate | None:
        candidates = [
            ("onsetDateTime", res.get("onsetDateTime")),
            ("onsetPeriod.start", as_dict(res.get("onsetPeriod")).get("start")),
            ("onsetString", res.get("onsetString")),
        ]
        for ext in as_list(res.get("extension")):
            if as_text(as_dict(ext).get("url")).endswith("condition-assertedDate"):
                candidates.append(("assertedDate", as_dict(ext).get("valueDateTime")))
        candidates += [("recordedDate", res.get("recordedDate")), ("dateRecorded (DSTU2)", res.get("dateRecorded"))]
        for what, value in candidates:
            if value is not None:
                pd = read_date(self.ctx, value, label, what)
                if pd is not None:
                    return pd
        return None

    def read_secondary(
        self, res: dict[str, Any], label: str, hits: list[tuple[Coding, Any]], onset: PartialDate | None
    ) -> None:
        codes, report = self.ctx.codes, self.ctx.report
        site: str | None = None
        how = ""
        for bs in as_list(res.get("bodySite")):
            for c in codings(codes, bs):
                hit = codes.body_site(c.system, c.code)
                if hit and hit.site:
                    site, how = hit.site, f"body site {c.system}:{c.code}"
                    break
                if codes.is_placeholder_code(c.code):
                    report.problem(label, "placeholder_code", f'body site code "{c.code}" is a placeholder')
            if site is None:
                for t in texts(codes, bs):
                    found = codes.site_from_words(t)
                    if found:
                        site, how = found, f'body site text "{t}"'
                        report.note(label, "text_only", f"site {found} read from the {how}")
                        break
            if site:
                break
        if site is None:
            for _c, hit in hits:
                if hit.site:
                    site, how = hit.site, f"condition code {hit.system}:{hit.code}"
                    break
        if site is None:
            for t in texts(codes, res.get("code")):
                found = codes.site_from_words(t)
                if found:
                    site, how = found, f'condition text "{t}"'
                    report.note(label, "text_only", f"site {found} read from the {how}")
                    break
        if site is None:
            site = "other"
            report.problem(label, "no_site", "secondary cancer with no recognisable site; recorded as site 'other'")
        self.sites.setdefault(site, []).append(label)
        report.metastatic_evidence.append(DatedFact(what=f"secondary cancer: {site}", date=onset, resource=label))
        if onset is None:
            report.note(label, "undated", "secondary cancer without onset or recorded date; not used for the date")

    def read_primary(self, res: dict[str, Any], label: str, onset: PartialDate | None) -> None:
        codes = self.ctx.codes
        if self.primary_onset is None or (onset and sort_key(onset) < sort_key(self.primary_onset)):
            self.primary_onset = onset or self.primary_onset
            self.primary_label = label
        if self.histology is None:
            shown = texts(codes, res.get("code"))
            if shown and shown[0].upper() != "TEST":
                self.histology = shown[0]
        placeholders = 0
        for st in as_list(res.get("stage")):
            summary = as_dict(st).get("summary")
            values = [c.code for c in codings(codes, summary)] + [c.display for c in codings(codes, summary)]
            placeholders += sum(1 for v in values if v.upper() == "TEST")
            stage = self.stage_from(summary, label)
            if stage:
                self.primary_stage = stage if self.primary_stage != "IV" else "IV"
        if placeholders:
            self.ctx.report.problem(
                label, "placeholder_code", f'{placeholders} stage coding(s) hold the placeholder "TEST"; ignored'
            )
        if self.primary_stage == "IV":
            self.ctx.report.metastatic_evidence.append(
                DatedFact(what="stage IV at diagnosis", date=onset, resource=label)
            )

    def stage_from(self, cc: Any, label: str) -> str | None:
        """IV | I-III from a stage CodeableConcept (coded answer, AJCC code, or text), or None."""
        codes = self.ctx.codes
        ans = answer(self.ctx, cc, label)
        if ans and ans[0] == "stage":
            return ans[1]
        for c in codings(codes, cc):
            if c.system in ("ajcc", None) and c.code:
                if codes.is_stage_iv(c.code):
                    return "IV"
                if re.fullmatch(r"(c|p|yc|yp)?(0|1|2|3|i|ii|iii)[a-c]?", c.code.lower()):
                    return "I-III"
        for t in texts(codes, cc):
            if codes.is_stage_iv(t):
                return "IV"
            if re.search(r"stage\s*(iv|4)\b", norm_text(t)):
                return "IV"
            if re.search(r"stage\s*(0|1|2|3|i|ii|iii)[a-c]?\b", norm_text(t)):
                return "I-III"
        return None

    def read_stage(self, meaning: str, key: str, value: Any, date: PartialDate | None, label: str, _res: Any) -> None:
        codes = self.ctx.codes
        stage: str | None = None
        if key == "valueCodeableConcept":
            if meaning == "distant_metastasis":
                vals = [c.code for c in codings(codes, value)] + texts(codes, value)
                stage = "IV" if any(codes.is_m1(v) for v in vals) else "I-III"
            else:
                stage = self.stage_from(value, label)
        elif key == "valueString":
            stage = "IV" if codes.is_stage_iv(as_text(value)) or codes.is_m1(as_text(value)) else None
        if stage == "IV":
            what = "M1 (distant metastasis)" if meaning == "distant_metastasis" else "stage group IV"
            fact = DatedFact(what=what, date=date, resource=label)
            self.ctx.report.metastatic_evidence.append(fact)
            self.stage_iv_observations.append(fact)
        elif stage is None:
            unreadable(self.ctx, meaning, key, value, label)

    # -------------------------------------------------------------- assembly
    def metastatic_diagnosis(self) -> dt.date | None:
        """The earliest dated metastatic evidence, set only when known to the day and nothing partially dated could
        be earlier (else reported and None); ``report.metastatic_diagnosis`` keeps it with its precision."""
        report = self.ctx.report
        dated = [f for f in report.metastatic_evidence if f.date is not None]
        if dated:
            first = min(dated, key=lambda f: (sort_key(f.date), f.date.precision != "day" if f.date else True))
            report.metastatic_diagnosis = first.date
            full = [f for f in dated if f.date is not None and f.date.date is not None]
            partial = [f for f in dated if f.date is not None and f.date.date is None]
            best = min(full, key=lambda f: sort_key(f.date)) if full else None
            if (
                best is not None
                and best.date is not None
                and best.date.date is not None
                and all((p.date.earliest or dt.date.max) > best.date.date for p in partial if p.date is not None)
            ):
                report.metastatic_diagnosis = best.date
                return best.date.date
            report.problem(
                first.resource,
                "partial_date",
                f"metastatic diagnosis date is {first.date} ({first.what}), known to the "
                f"{first.date.precision if first.date else 'none'} only; left unset (no day is invented)",
            )
        elif report.metastatic_evidence or self.sites:
            report.problem(
                "Bundle",
                "undated",
                "metastatic disease is recorded but no dated SecondaryCancerCondition or stage IV; metastatic "
                "diagnosis date left unset (lines cannot be anchored to it)",
            )
        return None

    def presentation(self) -> str | None:
        """de_novo | recurrent where the bundle supports it, each choice reported; None (reported) otherwise."""
        report = self.ctx.report
        rules = self.ctx.codes.presentation_rules
        primary, meta = self.primary_onset, report.metastatic_diagnosis
        where = self.primary_label or "Bundle"
        if self.primary_stage == "IV":
            report.note(
                where, "presentation", "presentation de_novo: stage IV is recorded on the primary cancer condition"
            )
            return "de_novo"
        if rules is not None and primary is not None and meta is not None:
            p_first, p_last, m_first, m_last = primary.earliest, primary.latest, meta.earliest, meta.latest
            if p_first and p_last and m_first and m_last:
                shortest, longest = (m_first - p_last).days, (m_last - p_first).days
                if shortest >= rules.recurrent_after_days:
                    report.note(
                        where,
                        "presentation",
                        f"presentation recurrent: primary diagnosis {primary}, metastatic diagnosis {meta} "
                        f"(at least {shortest} days later; recurrent from {rules.recurrent_after_days})",
                    )
                    return "recurrent"
                if longest <= rules.de_novo_window_days:
                    report.note(
                        where,
                        "presentation",
                        f"presentation de_novo: metastatic diagnosis {meta} within {rules.de_novo_window_days} days "
                        f"of the primary diagnosis {primary} (stage IV at first diagnosis)",
                    )
                    return "de_novo"
                report.note(
                    where,
                    "presentation",
                    f"presentation unknown: metastatic diagnosis {meta} is {shortest}-{longest} days after the primary "
                    f"diagnosis {primary}, between the de novo window ({rules.de_novo_window_days} days) and "
                    f"recurrence ({rules.recurrent_after_days} days); give presentation in a patient file",
                )
                return None
        window = rules.de_novo_window_days if rules is not None else 0
        for fact in self.stage_iv_observations:
            p_first = primary.earliest if primary is not None else None
            f_last = fact.date.latest if fact.date is not None else None
            if p_first is None or (f_last is not None and (f_last - p_first).days <= window):
                report.note(
                    fact.resource,
                    "presentation",
                    f"presentation de_novo: {fact.what} ({fact.date or 'undated'})"
                    + ("" if primary is None else f" within {window} days of the primary diagnosis {primary}")
                    + ("; no primary diagnosis date to compare with" if primary is None else ""),
                )
                return "de_novo"
        if self.primary_stage == "I-III" and self.sites:
            report.note(
                where,
                "presentation",
                "presentation recurrent: stage I-III on the primary cancer condition, metastatic disease recorded",
            )
            return "recurrent"
        if self.sites or report.metastatic_evidence:
            missing = "primary diagnosis date" if primary is None else "metastatic diagnosis date (to the day)"
            report.note(
                where,
                "presentation",
                f"presentation unknown: no stage at diagnosis and no {missing} to tell de novo from recurrent; "
                "give presentation (de_novo | recurrent) in a patient file",
            )
        return None

    def site_list(self) -> list[dict[str, str]]:
        """The ``sites`` block in a fixed order (entry order must not change the patient); brain metastases are
        noted as lacking status and symptoms."""
        order = [k.value for k in SiteKind]
        out = [{"site": s} for s in sorted(self.sites, key=order.index)]
        if "brain" in self.sites:
            self.ctx.report.note(
                self.sites["brain"][0],
                "brain_status",
                "brain metastases: the bundle gives no status (stable | active | progressing), symptoms, lesion count "
                "or size; left unknown (the recommender asks for brain_status). Give them in a patient file: "
                "sites: [{site: brain, status: ..., symptomatic: ...}]",
            )
        return out
