"""FHIR R4 / mCODE STU4 bundles → the oncoline :class:`~oncoline.model.patient.Patient` (issue #4).

Reads a Bundle (or a single resource) leniently and honestly:

- **Patient** → id, sex, age (only with ``as_of`` and a full birth date).
- **Primary/SecondaryCancerCondition** → metastatic sites (body site, then condition code, then words; brain
  and leptomeningeal included), histology, stage IV; the metastatic diagnosis date is the earliest dated
  secondary condition or stage IV, kept with its precision.
- **TumorMarkerTest** observations → HER2 raw results (IHC score, ISH ratio, HER2 copies, qualitative ISH; the
  lab's final call only when no raw value exists), ER and PR (percent or positive/negative).
- **MedicationAdministration / MedicationStatement / MedicationRequest** → :class:`Exposure` rows (drug
  resolved through the drug vocabulary by RxNorm code, then by text; statusReason "not tolerated" = toxicity;
  entered-in-error and not-given excluded). Lines are derived later from the exposures; ``history`` stays empty.
- **CancerDiseaseStatus** (progression) → ``stopped: progression`` on the exposures in force at that date.
- **ECOG**, **LVEF**, **pregnancy status** → ``ecog``, ``conditions``; the LVEF baseline only from an LVEF marked
  as baseline or dated wholly before the current anti-HER2 therapy, else left unset (reported either way).
- **Presentation** de novo / recurrent from stage IV on the primary condition or the primary vs metastatic
  diagnosis dates (``presentation_rules`` in fhir_codes.yaml), else left unknown (reported).

Every defect is a :class:`Finding` naming the resource and what was done, collected in an
:class:`IngestionReport`; the validation ``policy`` decides whether problems are only reported
(``ignore``), also emitted as :class:`~oncoline.errors.DataQualityWarning` (``warn``, default) or raised as
:class:`~oncoline.errors.InputError` (``raise``). Nothing is invented: a partial date keeps its precision and
never becomes 1 January; an unknown or placeholder code is reported, not guessed.

``fhir.resources`` (R4B models, R4-compatible) is imported only when a FHIR document is read; it checks each
resource's structure, and a resource it rejects is still read field by field.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import warnings
from collections import Counter
from collections.abc import Iterable
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from oncoline.errors import DataQualityWarning, InputError
from oncoline.io.fhir_codes import LOINC_SHAPE, FhirCodes, load_fhir_codes, norm_text
from oncoline.io.fhir_dates import PartialDate, parse_fhir_date
from oncoline.knowledge.drugs import load_vocabulary
from oncoline.model.patient import Patient, SiteKind

__all__ = [
    "ExposureRecord",
    "Finding",
    "IngestionReport",
    "Policy",
    "not_a_patient_reason",
    "patient_from_fhir",
]

Policy = Literal["ignore", "warn", "raise"]
_POLICIES = ("ignore", "warn", "raise")


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


# --------------------------------------------------------------------------------------------- helpers
def _d(x: Any) -> dict[str, Any]:
    return x if isinstance(x, dict) else {}


def _l(x: Any) -> list[Any]:
    if isinstance(x, list):
        return x
    return [] if x is None else [x]


def _s(x: Any) -> str:
    return "" if x is None or isinstance(x, (dict, list)) else str(x).strip()


_PATIENT_KEYS = {"id", "age", "sex", "tumor", "sites", "history", "exposures", "conditions", "patient", "ecog"}


def not_a_patient_reason(doc: Any) -> str | None:
    """Why a parsed JSON/YAML document is clearly not a patient (a Synthea module, a test-vector file …), or
    None when it may be one. Used to give a specific error instead of a list of unknown fields."""
    if not isinstance(doc, dict):
        return None if doc is None else f"the top level is a {type(doc).__name__}, not a patient mapping"
    if "resourceType" in doc or _PATIENT_KEYS & set(doc):
        return None
    if "states" in doc and isinstance(doc["states"], dict):
        return (
            "this is a Synthea Generic Module Framework module (a state machine that generates synthetic "
            "patients), not a patient record; run Synthea with it to produce FHIR bundles, then give a bundle"
        )
    if "cases" in doc and isinstance(doc["cases"], list):
        return (
            "this is a file of test cases (a 'cases' list), not a patient record; give one patient "
            "(a FHIR Bundle or a patient YAML as in shared/cases/FORMAT.md)"
        )
    keys = ", ".join(sorted(map(str, doc))[:6])
    return (
        f"neither a FHIR resource (no 'resourceType') nor a patient block (top-level keys: {keys}); give a FHIR "
        "Bundle or a patient file as in shared/cases/FORMAT.md"
    )


class _Coding:
    __slots__ = ("code", "display", "raw_system", "system")

    def __init__(self, system: str | None, raw_system: str, code: str, display: str) -> None:
        self.system, self.raw_system, self.code, self.display = system, raw_system, code, display


class _Her2Value(BaseModel):
    field: str
    value: Any
    date: PartialDate | None
    resource: str


class _Dated(BaseModel):
    value: Any
    date: PartialDate | None
    resource: str
    marked_baseline: bool = False


def _sort_key(date: PartialDate | None) -> dt.date:
    return (date.earliest if date else None) or dt.date.min


# --------------------------------------------------------------------------------------------- the reader
class _Reader:
    def __init__(self, source: str | None, policy: Policy, as_of: dt.date | None) -> None:
        self.codes: FhirCodes = load_fhir_codes()
        self.vocab = load_vocabulary()
        self.report = IngestionReport(source=source, policy=policy)
        self.as_of = as_of
        self.her2: list[_Her2Value] = []
        self.her2_status: list[_Her2Value] = []
        self.er: list[_Dated] = []
        self.pr: list[_Dated] = []
        self.ecog: list[_Dated] = []
        self.lvef: list[_Dated] = []
        self.pregnant: list[_Dated] = []
        self.sites: dict[str, list[str]] = {}
        self.site_notes: dict[str, str] = {}
        self.histology: str | None = None
        self.primary_onset: PartialDate | None = None
        self.primary_stage: str | None = None  # from the primary cancer condition's own stage
        self.primary_label: str | None = None
        self.stage_iv_observations: list[DatedFact] = []  # stage group IV / M1 observations
        self.observation_res: dict[str, Any] = {}  # the Observation being read
        self.records: list[ExposureRecord] = []
        self.medications: dict[str, dict[str, Any]] = {}
        self.patient_res: dict[str, Any] | None = None
        self.patient_refs: set[str] = set()

    # -------------------------------------------------------------- findings
    def problem(self, resource: str, code: str, message: str) -> None:
        self.report.findings.append(Finding(resource=resource, severity="problem", code=code, message=message))

    def note(self, resource: str, code: str, message: str) -> None:
        self.report.findings.append(Finding(resource=resource, severity="note", code=code, message=message))

    # -------------------------------------------------------------- codings
    def codings(self, cc: Any) -> list[_Coding]:
        out = []
        for c in _l(_d(cc).get("coding")):
            c = _d(c)
            raw_system = _s(c.get("system"))
            code = c.get("code")
            code_text = "" if code is None else str(code).strip()
            out.append(_Coding(self.codes.system_key(raw_system), raw_system, code_text, _s(c.get("display"))))
        return out

    def texts(self, cc: Any) -> list[str]:
        texts = [_s(_d(cc).get("text"))] + [c.display for c in self.codings(cc)]
        return [t for t in texts if t]

    def date(self, value: Any, label: str, what: str) -> PartialDate | None:
        if value is None or isinstance(value, (dict, list)):
            return None
        text = str(value).strip()
        if self.codes.is_placeholder_date(text):
            self.problem(label, "placeholder_date", f'{what} is the placeholder "{text}"; not used')
            return None
        pd = parse_fhir_date(text)
        if pd.problem:
            self.problem(label, "bad_date", f"{what}: {pd.problem}")
        if pd.precision in ("year", "month"):
            self.note(
                label,
                "partial_date",
                f'{what} "{text}" is known to the {pd.precision} only; kept with that precision, no day is assumed',
            )
        return None if pd.precision == "none" else pd

    # -------------------------------------------------------------- observation codes
    def observation_meaning(self, cc: Any, label: str) -> str | None:
        codings = self.codings(cc)
        for c in codings:
            hit = self.codes.observation(c.system, c.code)
            if hit:
                return hit.meaning
        for c in codings:
            if c.system == "loinc" and c.code and not LOINC_SHAPE.match(c.code):
                other = self.codes.observation_any_system(c.code)
                if other:
                    self.problem(
                        label,
                        "wrong_system",
                        f'code "{c.code}" is labelled LOINC but is a {other.system} code ({other.display}); '
                        "read as that",
                    )
                    return other.meaning
                for t in self.texts(cc):
                    by_display = self.codes.observation_by_display(t)
                    if by_display:
                        self.problem(
                            label,
                            "bad_code",
                            f'"{c.code}" is not a LOINC code; read from its display "{t}" as '
                            f"LOINC {by_display.code} ({by_display.meaning})",
                        )
                        return by_display.meaning
        if not codings:
            for t in self.texts(cc):
                by_display = self.codes.observation_by_display(t)
                if by_display:
                    self.note(label, "display_only", f'no code; read from its text "{t}" as LOINC {by_display.code}')
                    return by_display.meaning
        return None

    def answer(self, cc: Any, label: str) -> tuple[str, str] | None:
        """(kind, value) of a coded answer, by code, wrong system, or display."""
        codings = self.codings(cc)
        for c in codings:
            a = self.codes.answer(c.system, c.code)
            if a:
                return a.kind, a.value
        for c in codings:
            a = self.codes.answer_any_system(c.code) if c.code else None
            if a:
                self.problem(
                    label,
                    "wrong_system",
                    f'answer "{c.code}" is labelled {c.raw_system or "no system"} but is '
                    f"a {a.system} code ({a.display}); read as that",
                )
                return a.kind, a.value
        for t in self.texts(cc):
            a = self.codes.answer_by_display(t)
            if a:
                if codings:
                    self.note(label, "display_only", f'answer read from its display "{t}"')
                return a.kind, a.value
        return None

    # -------------------------------------------------------------- entries
    def entries(self, doc: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
        top = doc["resourceType"]
        if top != "Bundle" and _clean_type(top).lower() == "bundle":
            self.problem("Bundle", "bad_resource_type", f"resourceType written {top!r}; read as a Bundle")
            top = "Bundle"
        if top != "Bundle":
            why = resource_type_problem(top)
            if why:
                self.problem(self.label(doc, 0, False), "unknown_type", f"{why}; skipped")
                return []
            return [(self.label(doc, 0, False), doc, "")]
        raw = doc.get("entry")
        if raw is None:
            self.problem("Bundle", "empty_bundle", "the bundle has no entries")
            return []
        out: list[tuple[str, dict[str, Any], str]] = []
        keyed: dict[tuple[str, str], list[int]] = {}
        items: list[tuple[int, dict[str, Any], str]] = []
        for i, e in enumerate(_l(raw), start=1):
            res = _d(e).get("resource")
            if not isinstance(res, dict) or not isinstance(res.get("resourceType"), str):
                self.problem(f"Bundle entry {i}", "no_resource", "entry holds no resource; skipped")
                continue
            why = resource_type_problem(res["resourceType"])
            if why:
                rid = _s(res.get("id"))
                shown = f"Bundle entry {i}" + (f" (id {rid})" if rid else " (no id)")
                self.problem(shown, "unknown_type", f"{why}; entry skipped, the rest of the bundle is read")
                continue
            items.append((i, res, _s(_d(e).get("fullUrl"))))
            if res.get("id"):
                keyed.setdefault((res["resourceType"], str(res["id"])), []).append(len(items) - 1)
        drop: set[int] = set()
        reused: set[int] = set()
        for (rt, rid), idx in keyed.items():
            if len(idx) < 2:
                continue
            texts = [json.dumps(items[j][1], sort_keys=True) for j in idx]
            distinct = len(set(texts))
            seen: set[str] = set()
            for j, t in zip(idx, texts, strict=True):
                if t in seen:
                    drop.add(j)
                seen.add(t)
            if distinct == 1:
                self.problem(f"{rt}/{rid}", "duplicate", f"{len(idx)} identical copies in the bundle; read once")
            else:
                reused.update(idx)
                self.problem(
                    f"{rt}/{rid}",
                    "reused_id",
                    f"the id is used by {len(idx)} entries with {distinct} different contents; each distinct "
                    "one is read on its own and identical results are merged",
                )
        for j, (i, res, full_url) in enumerate(items):
            if j in drop:
                continue
            out.append((self.label(res, i, j in reused), res, full_url))
        return out

    @staticmethod
    def label(res: dict[str, Any], entry: int, reused: bool) -> str:
        rt = res.get("resourceType", "resource")
        rid = res.get("id")
        if rid and not reused:
            return f"{rt}/{rid}"
        if rid:
            return f"{rt}/{rid} (entry {entry})"
        return f"{rt} (entry {entry})" if entry else str(rt)

    # -------------------------------------------------------------- structural validation
    def validate(self, res: dict[str, Any], label: str) -> bool:
        """Check the resource against the R4B model; report, never reject. False for an unknown type."""
        from fhir.resources.R4B import get_fhir_model_class  # lazy: keeps fhir.resources off the YAML path

        try:
            cls = get_fhir_model_class(res["resourceType"])
        except (KeyError, ValueError, AttributeError, TypeError):
            self.problem(label, "unknown_type", f"unknown FHIR resource type {res['resourceType']!r}; skipped")
            return False
        try:
            cls.model_validate(res)
        except ValidationError as exc:
            errs = exc.errors()
            first = errs[0]
            where = ".".join(str(p) for p in first["loc"]) or "(resource)"
            msg = str(first["msg"]).removeprefix("Value error, ")
            msg = re.sub(r"\s+", " ", re.sub(r"\[[^\]]*\]", "[...]", msg))[:200]
            more = f" (+{len(errs) - 1} more)" if len(errs) > 1 else ""
            self.problem(
                label, "not_fhir_r4", f"does not conform to FHIR R4 at {where}: {msg}{more}; read field by field"
            )
        except (TypeError, ValueError) as exc:
            self.problem(label, "not_fhir_r4", f"does not conform to FHIR R4 ({exc}); read field by field")
        return True

    # -------------------------------------------------------------- subject
    def subject_ok(self, res: dict[str, Any], label: str) -> bool:
        subj = res.get("subject")
        if subj is None and "patient" in res and res.get("resourceType") != "Patient":
            self.problem(label, "dstu2", "uses the DSTU2 field 'patient' instead of 'subject'; read as the subject")
            subj = res.get("patient")
        ref = _s(_d(subj).get("reference"))
        if not ref or not self.patient_refs:
            return True
        if ref in self.patient_refs or ref.split("/")[-1] in self.patient_refs:
            return True
        self.problem(label, "other_patient", f"refers to another patient ({ref}); skipped")
        return False

    # -------------------------------------------------------------- Patient
    def read_patient(self, res: dict[str, Any], label: str) -> None:
        self.patient_res = res
        gender = _s(res.get("gender")).lower()
        if gender and gender not in ("female", "male", "other", "unknown"):
            self.problem(label, "bad_value", f"gender {gender!r} is not a FHIR gender; not used")
        if res.get("birthDate") is not None:
            self.report.birth_date = self.date(res.get("birthDate"), label, "birthDate")

    # -------------------------------------------------------------- Condition
    def read_condition(self, res: dict[str, Any], label: str) -> None:
        ver = res.get("verificationStatus")
        ver_codes = {c.code for c in self.codings(ver)} | ({_s(ver)} if isinstance(ver, str) else set())
        if ver_codes & {"entered-in-error", "refuted"}:
            self.note(label, "excluded", f"verificationStatus {'/'.join(sorted(ver_codes))}; not used")
            return
        profiles = " ".join(_s(p) for p in _l(_d(res.get("meta")).get("profile")))
        codings = self.codings(res.get("code"))
        texts = self.texts(res.get("code"))
        secondary_hits = [(c, self.codes.secondary_site(c.system, c.code)) for c in codings]
        secondary_hits = [(c, s) for c, s in secondary_hits if s is not None]
        primary_hits = [c for c in codings if self.codes.is_primary_breast(c.system, c.code)]
        is_secondary = "secondary-cancer-condition" in profiles or bool(secondary_hits)
        is_primary = "primary-cancer-condition" in profiles or bool(primary_hits)
        if not is_secondary and any("secondary malignant" in norm_text(t) or "metasta" in norm_text(t) for t in texts):
            is_secondary = True
            self.note(label, "text_only", f'read as a secondary cancer from its text "{texts[0]}"')
        onset = self.condition_onset(res, label)
        if is_secondary and primary_hits and "secondary-cancer-condition" not in profiles:
            shown = ", ".join(f"{c.system}:{c.code}" for c in [*primary_hits, *(c for c, _ in secondary_hits)])
            self.problem(
                label,
                "conflicting_codes",
                f"codings disagree: primary breast cancer and secondary neoplasm ({shown}); not used as a "
                "metastatic site",
            )
            return
        if is_secondary:
            self.read_secondary(res, label, codings, secondary_hits, onset)
        elif is_primary:
            self.read_primary(res, label, onset)
        else:
            self.note(label, "not_used", "not a cancer condition oncoline uses; ignored")

    def condition_onset(self, res: dict[str, Any], label: str) -> PartialDate | None:
        candidates = [
            ("onsetDateTime", res.get("onsetDateTime")),
            ("onsetPeriod.start", _d(res.get("onsetPeriod")).get("start")),
            ("onsetString", res.get("onsetString")),
        ]
        for ext in _l(res.get("extension")):
            if _s(_d(ext).get("url")).endswith("condition-assertedDate"):
                candidates.append(("assertedDate", _d(ext).get("valueDateTime")))
        candidates += [("recordedDate", res.get("recordedDate")), ("dateRecorded (DSTU2)", res.get("dateRecorded"))]
        for what, value in candidates:
            if value is not None:
                pd = self.date(value, label, what)
                if pd is not None:
                    return pd
        return None

    def read_secondary(
        self,
        res: dict[str, Any],
        label: str,
        codings: list[_Coding],
        hits: list[tuple[_Coding, Any]],
        onset: PartialDate | None,
    ) -> None:
        site: str | None = None
        how = ""
        for bs in _l(res.get("bodySite")):
            for c in self.codings(bs):
                hit = self.codes.body_site(c.system, c.code)
                if hit and hit.site:
                    site, how = hit.site, f"body site {c.system}:{c.code}"
                    break
                if self.codes.is_placeholder_code(c.code):
                    self.problem(label, "placeholder_code", f'body site code "{c.code}" is a placeholder')
            if site is None:
                for t in self.texts(bs):
                    found = self.codes.site_from_words(t)
                    if found:
                        site, how = found, f'body site text "{t}"'
                        self.note(label, "text_only", f"site {found} read from the {how}")
                        break
            if site:
                break
        if site is None:
            for _c, hit in hits:
                if hit.site:
                    site, how = hit.site, f"condition code {hit.system}:{hit.code}"
                    break
        if site is None:
            for t in self.texts(res.get("code")):
                found = self.codes.site_from_words(t)
                if found:
                    site, how = found, f'condition text "{t}"'
                    self.note(label, "text_only", f"site {found} read from the {how}")
                    break
        if site is None:
            site = "other"
            self.problem(label, "no_site", "secondary cancer with no recognisable site; recorded as site 'other'")
        self.sites.setdefault(site, []).append(label)
        self.report.metastatic_evidence.append(DatedFact(what=f"secondary cancer: {site}", date=onset, resource=label))
        if onset is None:
            self.note(label, "undated", "secondary cancer without onset or recorded date; not used for the date")

    def read_primary(self, res: dict[str, Any], label: str, onset: PartialDate | None) -> None:
        if self.primary_onset is None or (onset and _sort_key(onset) < _sort_key(self.primary_onset)):
            self.primary_onset = onset or self.primary_onset
            self.primary_label = label
        if self.histology is None:
            texts = self.texts(res.get("code"))
            if texts and texts[0].upper() != "TEST":
                self.histology = texts[0]
        placeholders = 0
        for st in _l(res.get("stage")):
            summary = _d(st).get("summary")
            values = [c.code for c in self.codings(summary)] + [c.display for c in self.codings(summary)]
            placeholders += sum(1 for v in values if v.upper() == "TEST")
            stage = self.stage_from(summary, label)
            if stage:
                self.primary_stage = stage if self.primary_stage != "IV" else "IV"
        if placeholders:
            self.problem(
                label, "placeholder_code", f'{placeholders} stage coding(s) hold the placeholder "TEST"; ignored'
            )
        if self.primary_stage == "IV":
            self.report.metastatic_evidence.append(DatedFact(what="stage IV at diagnosis", date=onset, resource=label))

    def stage_from(self, cc: Any, label: str) -> str | None:
        ans = self.answer(cc, label)
        if ans and ans[0] == "stage":
            return ans[1]
        for c in self.codings(cc):
            if c.system in ("ajcc", None) and c.code:
                if self.codes.is_stage_iv(c.code):
                    return "IV"
                if re.fullmatch(r"(c|p|yc|yp)?(0|1|2|3|i|ii|iii)[a-c]?", c.code.lower()):
                    return "I-III"
        for t in self.texts(cc):
            if self.codes.is_stage_iv(t):
                return "IV"
            m = re.search(r"stage\s*(iv|4)\b", norm_text(t))
            if m:
                return "IV"
            if re.search(r"stage\s*(0|1|2|3|i|ii|iii)[a-c]?\b", norm_text(t)):
                return "I-III"
        return None

    # -------------------------------------------------------------- Observation
    def read_observation(self, res: dict[str, Any], label: str) -> None:
        status = _s(res.get("status"))
        if status in ("entered-in-error", "cancelled"):
            self.note(label, "excluded", f"status {status}; not used")
            return
        date = None
        for what, value in (
            ("effectiveDateTime", res.get("effectiveDateTime")),
            ("effectivePeriod.start", _d(res.get("effectivePeriod")).get("start")),
            ("effectiveInstant", res.get("effectiveInstant")),
            ("issued", res.get("issued")),
        ):
            if value is not None:
                date = self.date(value, label, what)
                if date is not None:
                    break
        meaning = self.observation_meaning(res.get("code"), label)
        self.observation_res = res
        values = {k: v for k, v in res.items() if k.startswith("value") and v is not None}
        used = False
        if meaning:
            used = True
            if len(values) > 1:
                self.problem(
                    label,
                    "two_values",
                    f"carries {len(values)} values ({', '.join(sorted(values))}); FHIR allows one — each is read "
                    "and they must agree",
                )
            if not values and meaning not in ("her2_status",):
                self.problem(label, "no_value", "has no value; not used")
            for key, value in sorted(values.items()):
                self.observation_value(meaning, key, value, date, label)
            self.interpretation(meaning, res, date, label)
        for comp in _l(res.get("component")):
            cmeaning = self.observation_meaning(_d(comp).get("code"), label)
            if not cmeaning:
                continue
            used = True
            for key, value in _d(comp).items():
                if key.startswith("value") and value is not None:
                    self.observation_value(cmeaning, key, value, date, label)
        if not used:
            self.note(label, "not_used", "not an observation oncoline uses; ignored")

    def interpretation(self, meaning: str, res: dict[str, Any], date: PartialDate | None, label: str) -> None:
        if not meaning.startswith("her2"):
            return
        for cc in _l(res.get("interpretation")):
            ans = self.answer(cc, label)
            if ans and ans[0] == "result" and ans[1] in ("positive", "negative", "equivocal"):
                self.her2_status.append(_Her2Value(field="status", value=ans[1], date=date, resource=label))

    def observation_value(self, meaning: str, key: str, value: Any, date: PartialDate | None, label: str) -> None:
        handler = {
            "her2_ihc": self.v_her2_ihc,
            "her2_ish": self.v_her2_ish,
            "her2_ish_ratio": self.v_her2_number,
            "her2_copies": self.v_her2_number,
            "her2_status": self.v_her2_status,
            "er": self.v_receptor,
            "pr": self.v_receptor,
            "ecog": self.v_ecog,
            "lvef": self.v_lvef,
            "pregnancy": self.v_pregnancy,
            "disease_status": self.v_disease,
            "stage_group": self.v_stage,
            "distant_metastasis": self.v_stage,
        }[meaning]
        handler(meaning, key, value, date, label)

    def number(self, key: str, value: Any) -> tuple[float | None, list[str]]:
        """(number, units given) from valueQuantity/valueInteger/valueDecimal/valueRatio/valueString; the units are
        the Quantity's ``code`` and ``unit`` (each one given), or the ``%`` written in a text; ``[]`` for none."""
        if key in ("valueInteger", "valueDecimal") and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value), []
        if key == "valueQuantity":
            q = _d(value)
            v = q.get("value")
            units = [u for u in (_s(q.get("code")), _s(q.get("unit"))) if u]
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                if _s(q.get("comparator")):
                    return None, units
                return float(v), units
            return None, units
        if key == "valueRatio":
            num, den = _d(_d(value).get("numerator")).get("value"), _d(_d(value).get("denominator")).get("value")
            if isinstance(num, (int, float)) and isinstance(den, (int, float)) and den:
                return float(num) / float(den), []
        if key == "valueString":
            m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(%?)\s*", _s(value))
            if m:
                return float(m.group(1)), ([m.group(2)] if m.group(2) else [])
        return None, []

    def wrong_unit(self, what: str, num: float, units: list[str], expected: str, label: str) -> None:
        shown = " / ".join(f'"{u}"' for u in units)
        self.problem(
            label,
            "bad_unit",
            f"{what} value {num:g} has the unit {shown}, not {expected}; not used (a value is read with its unit "
            "or not at all)",
        )

    def unreadable(self, meaning: str, key: str, value: Any, label: str) -> None:
        shown = json.dumps(value)[:80]
        self.problem(label, "bad_value", f"{meaning} value {key}={shown} cannot be read; not used")

    def v_her2_ihc(self, meaning: str, key: str, value: Any, date: PartialDate | None, label: str) -> None:
        score: str | None = None
        status: str | None = None
        num, units = self.number(key, value)
        if num is not None:
            if key == "valueRatio" or not self.codes.unit_accepted("her2_ihc", units):
                self.wrong_unit("HER2 IHC", num, units or ["ratio"], "an IHC score (0-3, no unit)", label)
                return
            if num in (0, 1, 2, 3):
                score = "0" if num == 0 else f"{int(num)}+"
                self.note(label, "ihc_number", f"IHC value {num:g} read as score {score}")
        elif key == "valueCodeableConcept":
            ans = self.answer(value, label)
            if ans and ans[0] == "ihc":
                score = ans[1]
            elif ans and ans[0] == "result":
                status = ans[1]
            if score is None:
                for t in self.texts(value):
                    reading = self.codes.ihc_text(t)
                    if reading.unreadable:
                        self.ambiguous(meaning, t, reading.unreadable, label)
                        return
                    if reading.score is not None and score not in (None, reading.score):
                        self.ambiguous(meaning, t, f"its texts give two scores ({score}, {reading.score})", label)
                        return
                    score = score or reading.score
            if score is not None and status is not None and status != self.codes.ihc_score_result(score):
                self.ambiguous(meaning, self.texts(value)[0], f"the coded result {status} contradicts it", label)
                return
        elif key == "valueString":
            reading = self.codes.ihc_text(_s(value))
            if reading.unreadable:
                self.ambiguous(meaning, _s(value), reading.unreadable, label)
                return
            score = reading.score
            if score is None:
                status = self.codes.text_result(_s(value))
        if score is not None:
            self.her2.append(_Her2Value(field="ihc", value=score, date=date, resource=label))
        elif status in ("positive", "negative", "equivocal"):
            self.her2_status.append(_Her2Value(field="status", value=status, date=date, resource=label))
            self.note(
                label, "qualitative", f"IHC reported as {status} (no score in this value); kept as the lab's call"
            )
        else:
            self.unreadable(meaning, key, value, label)

    def ambiguous(self, meaning: str, text: str, why: str, label: str) -> None:
        self.problem(
            label,
            "ambiguous_text",
            f'{meaning} text "{text[:80]}" is ambiguous: {why}; not read (HER2 left missing unless another result '
            "gives it; never guessed)",
        )

    def v_her2_ish(self, meaning: str, key: str, value: Any, date: PartialDate | None, label: str) -> None:
        result: str | None = None
        if key == "valueCodeableConcept":
            ans = self.answer(value, label)
            if ans and ans[0] == "result":
                result = ans[1]
            for t in self.texts(value):
                result = result or self.codes.text_result(t)
        elif key == "valueString":
            text = _s(value)
            result = self.codes.ish_text_call(text)
            if result:
                self.note(
                    label,
                    "ish_text",
                    f'ISH result text "{text}" read as the lab\'s call: {result} (no ratio value is taken from it)',
                )
            else:
                result = self.codes.text_result(text)
        if result in ("positive", "negative", "equivocal"):
            self.her2.append(_Her2Value(field="ish_result", value=result, date=date, resource=label))
        else:
            self.unreadable(meaning, key, value, label)

    def v_her2_number(self, meaning: str, key: str, value: Any, date: PartialDate | None, label: str) -> None:
        field = "ish_ratio" if meaning == "her2_ish_ratio" else "her2_copies"
        num, units = self.number(key, value)
        if num is not None and not self.codes.unit_accepted(meaning, units):
            expected = "a ratio (no unit)" if field == "ish_ratio" else "copies per cell"
            self.wrong_unit(f"HER2 {field.replace('_', ' ')}", num, units, expected, label)
            return
        if num is not None and num >= 0:
            self.her2.append(_Her2Value(field=field, value=num, date=date, resource=label))
            return
        text = _s(value) if key == "valueString" else ""
        call = self.codes.ish_text_call(text) if text else None
        if call:
            self.note(label, "ish_text", f'"{text}" read as the lab\'s ISH call: {call} (no number is made up)')
            self.her2.append(_Her2Value(field="ish_result", value=call, date=date, resource=label))
            return
        self.unreadable(meaning, key, value, label)

    def v_her2_status(self, meaning: str, key: str, value: Any, date: PartialDate | None, label: str) -> None:
        status = None
        if key == "valueCodeableConcept":
            ans = self.answer(value, label)
            status = ans[1] if ans and ans[0] == "result" else None
            if ans and ans[0] == "ihc":
                self.her2.append(_Her2Value(field="ihc", value=ans[1], date=date, resource=label))
                return
            for t in self.texts(value):
                status = status or self.codes.text_result(t)
        elif key == "valueString":
            status = self.codes.text_result(_s(value))
        if status in ("positive", "negative", "equivocal"):
            self.her2_status.append(_Her2Value(field="status", value=status, date=date, resource=label))
        else:
            self.unreadable(meaning, key, value, label)

    def v_receptor(self, meaning: str, key: str, value: Any, date: PartialDate | None, label: str) -> None:
        target = self.er if meaning == "er" else self.pr
        num, units = self.number(key, value)
        if num is not None:
            if not units:
                self.problem(label, "no_unit", f"{meaning.upper()} value {num:g} has no % unit; not used")
                return
            if not self.codes.unit_accepted("receptor_percent", units):
                self.wrong_unit(meaning.upper(), num, units, "a percent of cells (%)", label)
                return
            if 0 <= num <= 100:
                target.append(_Dated(value=("percent", num), date=date, resource=label))
                return
        status = None
        if key == "valueCodeableConcept":
            ans = self.answer(value, label)
            status = ans[1] if ans and ans[0] == "result" else None
            for t in self.texts(value):
                status = status or self.codes.text_result(t)
        elif key == "valueString":
            status = self.codes.text_result(_s(value))
        if status in ("positive", "negative"):
            target.append(_Dated(value=("status", status), date=date, resource=label))
        elif status:
            self.note(label, "indeterminate", f"{meaning.upper()} result {status}; not used")
        else:
            self.unreadable(meaning, key, value, label)

    def v_ecog(self, meaning: str, key: str, value: Any, date: PartialDate | None, label: str) -> None:
        num, units = self.number(key, value)
        if num is not None and not self.codes.unit_accepted("ecog", units):
            self.wrong_unit("ECOG", num, units, "a score (no unit)", label)
            return
        if num is None and key == "valueCodeableConcept":
            ans = self.answer(value, label)
            num = float(ans[1]) if ans and ans[0] == "ecog" else None
        if num is not None and num in (0, 1, 2, 3, 4):
            self.ecog.append(_Dated(value=int(num), date=date, resource=label))
        elif num == 5:
            self.problem(label, "bad_value", "ECOG 5 (dead); not used as a performance status")
        else:
            self.unreadable(meaning, key, value, label)

    def v_lvef(self, meaning: str, key: str, value: Any, date: PartialDate | None, label: str) -> None:
        num, units = self.number(key, value)
        if num is not None and not self.codes.unit_accepted("lvef", units):
            self.wrong_unit("LVEF", num, units, "%", label)
            return
        if num is not None and 0 <= num <= 100:
            if not units:
                self.note(label, "no_unit", f"LVEF {num:g} has no unit; read as %")
            marked = self.marked_baseline(self.observation_res)
            self.lvef.append(_Dated(value=num, date=date, resource=label, marked_baseline=marked))
        else:
            self.unreadable(meaning, key, value, label)

    def marked_baseline(self, res: dict[str, Any]) -> bool:
        """True when an Observation says it is a baseline (code text/display, category, method or note)."""
        texts = [*self.texts(res.get("code")), *self.texts(res.get("method"))]
        for cat in _l(res.get("category")):
            texts += self.texts(cat)
        texts += [_s(_d(n).get("text")) for n in _l(res.get("note"))]
        return any(self.codes.marks_lvef_baseline(t) for t in texts if t)

    def v_pregnancy(self, meaning: str, key: str, value: Any, date: PartialDate | None, label: str) -> None:
        ans = self.answer(value, label) if key == "valueCodeableConcept" else None
        if ans and ans[0] == "pregnancy":
            if ans[1] == "unknown":
                self.note(label, "unknown", "pregnancy status unknown; left unknown")
                return
            self.pregnant.append(_Dated(value=ans[1] == "pregnant", date=date, resource=label))
        elif key == "valueBoolean" and isinstance(value, bool):
            self.pregnant.append(_Dated(value=value, date=date, resource=label))
        else:
            self.unreadable(meaning, key, value, label)

    def v_disease(self, meaning: str, key: str, value: Any, date: PartialDate | None, label: str) -> None:
        ans = self.answer(value, label) if key == "valueCodeableConcept" else None
        if ans and ans[0] == "disease":
            if ans[1] == "progression":
                self.report.progression.append(DatedFact(what="progression", date=date, resource=label))
                if date is None or date.date is None:
                    self.problem(label, "undated", "progression without a full date; not linked to any treatment")
            else:
                self.note(label, "disease_status", f"disease status {ans[1]}")
        else:
            self.unreadable(meaning, key, value, label)

    def v_stage(self, meaning: str, key: str, value: Any, date: PartialDate | None, label: str) -> None:
        stage: str | None = None
        if key == "valueCodeableConcept":
            if meaning == "distant_metastasis":
                vals = [c.code for c in self.codings(value)] + self.texts(value)
                stage = "IV" if any(self.codes.is_m1(v) for v in vals) else "I-III"
            else:
                stage = self.stage_from(value, label)
        elif key == "valueString":
            stage = "IV" if self.codes.is_stage_iv(_s(value)) or self.codes.is_m1(_s(value)) else None
        if stage == "IV":
            what = "M1 (distant metastasis)" if meaning == "distant_metastasis" else "stage group IV"
            fact = DatedFact(what=what, date=date, resource=label)
            self.report.metastatic_evidence.append(fact)
            self.stage_iv_observations.append(fact)
        elif stage is None:
            self.unreadable(meaning, key, value, label)

    # -------------------------------------------------------------- medications
    def read_medication(self, res: dict[str, Any], label: str) -> None:
        rt = res["resourceType"]
        status = _s(res.get("status")) or None
        codes = self.codes
        known_status = {
            "MedicationAdministration": {
                "in-progress",
                "not-done",
                "on-hold",
                "completed",
                "entered-in-error",
                "stopped",
                "unknown",
            },
            "MedicationStatement": {
                "active",
                "completed",
                "entered-in-error",
                "intended",
                "stopped",
                "on-hold",
                "unknown",
                "not-taken",
            },
            "MedicationRequest": {
                "active",
                "on-hold",
                "cancelled",
                "completed",
                "entered-in-error",
                "stopped",
                "draft",
                "unknown",
            },
        }[rt]
        if status in codes.not_given_statuses:
            self.note(label, "excluded", f"status {status}: not given; excluded")
            return
        if status and status not in known_status:
            self.problem(label, "bad_status", f"status {status!r} is not a {rt} status; read as given")
        cc = res.get("medicationCodeableConcept")
        if cc is None and res.get("medicationReference") is not None:
            cc = self.medication_ref(res, label)
        if cc is None:
            self.problem(label, "no_medication", "names no medication (medication[x] missing); skipped")
            return
        names = self.resolve_drug(cc, label)
        if names is None:
            return
        start, end = self.medication_dates(res, label)
        stopped = None
        for reason in _l(res.get("statusReason")):
            for c in self.codings(reason):
                hit = codes.stop_reason(c.system, c.code)
                if hit:
                    stopped = hit.stopped
            if stopped is None:
                shown = "; ".join(self.texts(reason)) or json.dumps(reason)[:60]
                self.note(
                    label, "status_reason", f'statusReason "{shown}" is not a known stop reason; kept as text only'
                )
        if stopped:
            self.note(label, "stop_reason", f"statusReason documents a stop for {stopped}")
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
                self.problem(
                    label,
                    "undated_exposure",
                    f"{name}: {why}; kept in the report, not an exposure row (no day is invented)",
                )

    def medication_ref(self, res: dict[str, Any], label: str) -> Any:
        ref = _s(_d(res.get("medicationReference")).get("reference"))
        if ref.startswith("#"):
            for c in _l(res.get("contained")):
                if _d(c).get("resourceType") == "Medication" and f"#{_d(c).get('id')}" == ref:
                    return _d(c).get("code")
        med = self.medications.get(ref) or self.medications.get(ref.split("/")[-1])
        if med is not None:
            return med.get("code")
        display = _s(_d(res.get("medicationReference")).get("display"))
        if display:
            self.note(
                label, "display_only", f"Medication {ref or '(no reference)'} not in the bundle; read its display"
            )
            return {"text": display}
        self.problem(label, "bad_reference", f"medicationReference {ref!r} is not in the bundle")
        return None

    def lookup_text(self, text: str) -> tuple[str, ...] | None:
        found = self.vocab.lookup(text)
        if found is not None:
            return found
        brand = re.search(r"\[([^\]]+)\]", text)
        if brand and (found := self.vocab.lookup(brand.group(1))):
            return found
        words: list[str] = []
        for w in norm_text(re.sub(r"\[[^\]]*\]", " ", text)).split():
            if w in self.codes.dose_form_words or any(ch.isdigit() for ch in w):
                break
            words.append(w)
        if words and not (len(words) == 1 and words[0].isdigit()):
            return self.vocab.lookup(" ".join(words))
        return None

    def resolve_drug(self, cc: Any, label: str) -> tuple[str, ...] | None:
        by_code: tuple[str, ...] | None = None
        code_shown = ""
        unknown: list[str] = []
        for c in self.codings(cc):
            if not c.code:
                continue
            if self.codes.is_placeholder_code(c.code):
                self.problem(
                    label,
                    "placeholder_code",
                    f'drug code "{c.code}" ({c.raw_system or "no system"}) is a placeholder; not used',
                )
                continue
            if c.system == "rxnorm":
                found = self.vocab.lookup(f"rxnorm:{c.code}")
                if found and by_code is None:
                    by_code, code_shown = found, f"RxNorm {c.code}"
                elif not found:
                    unknown.append(f"RxNorm {c.code}")
            else:
                unknown.append(f"{c.raw_system or 'no system'}#{c.code}")
        by_text: tuple[str, ...] | None = None
        text_shown = ""
        for t in self.texts(cc):
            by_text = self.lookup_text(t)
            if by_text:
                text_shown = t
                break
        if by_code and by_text and set(by_code) != set(by_text):
            self.problem(
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
                self.note(
                    label,
                    "drug_by_text",
                    f"{', '.join(unknown)} not in the drug vocabulary; drug read from its "
                    f'text "{text_shown}" as {" + ".join(by_text)}',
                )
            return by_text
        shown = "; ".join([*unknown, *(f'"{t}"' for t in self.texts(cc))]) or "nothing"
        suggestions = []
        for t in self.texts(cc):
            suggestions += self.vocab.suggest(t)
        hint = f" (closest known: {', '.join(suggestions[:3])})" if suggestions else ""
        self.problem(label, "unknown_drug", f"unknown drug ({shown}){hint}; skipped")
        return None

    def medication_dates(self, res: dict[str, Any], label: str) -> tuple[PartialDate | None, PartialDate | None]:
        rt = res["resourceType"]
        start_v: Any = None
        end_v: Any = None
        if rt in ("MedicationAdministration", "MedicationStatement"):
            if res.get("effectiveDateTime") is not None:
                start_v = res.get("effectiveDateTime")
            else:
                period = _d(res.get("effectivePeriod"))
                start_v, end_v = period.get("start"), period.get("end")
        else:
            for di in _l(res.get("dosageInstruction")):
                bounds = _d(_d(_d(_d(di).get("timing")).get("repeat")).get("boundsPeriod"))
                if bounds.get("start") is not None:
                    start_v, end_v = bounds.get("start"), bounds.get("end")
                    break
            if start_v is None and res.get("authoredOn") is not None:
                start_v = res.get("authoredOn")
                self.note(label, "order_date", "no dosage period; the order date (authoredOn) is used as the start")
        start = self.date(start_v, label, "start") if start_v is not None else None
        end = self.date(end_v, label, "end") if end_v is not None else None
        if start and end and start.date and end.date and end.date < start.date:
            self.problem(label, "end_before_start", f"end {end} is before start {start}; end not used")
            end = None
        return start, end

    # -------------------------------------------------------------- assembly
    def assemble(self) -> Patient:
        data: dict[str, Any] = {}
        rep = self.report
        if self.patient_res is not None:
            data["id"] = _s(self.patient_res.get("id")) or "patient"
            gender = _s(self.patient_res.get("gender")).lower()
            if gender in ("female", "male", "other"):
                data["sex"] = gender
        bd = rep.birth_date
        if bd is not None and bd.date is not None and self.as_of is not None:
            born = bd.date
            years = self.as_of.year - born.year - ((self.as_of.month, self.as_of.day) < (born.month, born.day))
            if 0 <= years <= 120:
                data["age"] = years
        elif bd is not None and bd.date is None:
            self.note("Patient", "age", f"age not computed: birth date {bd} is known to the {bd.precision} only")
        elif bd is not None and self.as_of is None:
            self.note("Patient", "age", f"age not computed: no as-of date given (birth date {bd})")
        tumor = self.assemble_tumor()
        if tumor:
            data["tumor"] = tumor
        if self.ecog:
            data["ecog"] = _latest(self.ecog).value
        # metastatic diagnosis: earliest dated evidence, set only at day precision with nothing possibly earlier
        dated = [f for f in rep.metastatic_evidence if f.date is not None]
        if dated:
            first = min(dated, key=lambda f: (_sort_key(f.date), f.date.precision != "day" if f.date else True))
            rep.metastatic_diagnosis = first.date
            full = [f for f in dated if f.date is not None and f.date.date is not None]
            partial = [f for f in dated if f.date is not None and f.date.date is None]
            best = min(full, key=lambda f: _sort_key(f.date)) if full else None
            if (
                best is not None
                and best.date is not None
                and best.date.date is not None
                and all((p.date.earliest or dt.date.max) > best.date.date for p in partial if p.date is not None)
            ):
                data["metastatic_diagnosis"] = best.date.date
                rep.metastatic_diagnosis = best.date
            else:
                self.problem(
                    first.resource,
                    "partial_date",
                    f"metastatic diagnosis date is {first.date} ({first.what}), known to the "
                    f"{first.date.precision if first.date else 'none'} only; left unset (no day is invented)",
                )
        elif rep.metastatic_evidence or self.sites:
            self.problem(
                "Bundle",
                "undated",
                "metastatic disease is recorded but no dated SecondaryCancerCondition or stage IV; metastatic "
                "diagnosis date left unset (lines cannot be anchored to it)",
            )
        presentation = self.assemble_presentation()
        if presentation:
            data["presentation"] = presentation
        if self.sites:
            order = [k.value for k in SiteKind]  # a fixed order: entry order must not change the patient
            data["sites"] = [{"site": s} for s in sorted(self.sites, key=order.index)]
        if "brain" in self.sites:
            self.note(
                self.sites["brain"][0],
                "brain_status",
                "brain metastases: the bundle gives no status (stable | active | progressing), symptoms, lesion count "
                "or size; left unknown (the recommender asks for brain_status). Give them in a patient file: "
                "sites: [{site: brain, status: ..., symptomatic: ...}]",
            )
        exposures = self.assemble_exposures()
        if exposures:
            data["exposures"] = exposures
        conditions = self.assemble_conditions(exposures)
        if conditions:
            data["conditions"] = conditions
        try:
            return Patient.model_validate(data)
        except ValidationError as exc:
            from oncoline.io.patient_file import validation_to_input_error

            raise validation_to_input_error(exc, source=rep.source) from exc

    def assemble_presentation(self) -> str | None:
        """de_novo | recurrent where the bundle supports it, each choice reported; None (reported) otherwise."""
        rules = self.codes.presentation_rules
        primary, meta = self.primary_onset, self.report.metastatic_diagnosis
        where = self.primary_label or "Bundle"
        if self.primary_stage == "IV":
            self.note(
                where, "presentation", "presentation de_novo: stage IV is recorded on the primary cancer condition"
            )
            return "de_novo"
        if rules is not None and primary is not None and meta is not None:
            p_first, p_last, m_first, m_last = primary.earliest, primary.latest, meta.earliest, meta.latest
            if p_first and p_last and m_first and m_last:
                shortest, longest = (m_first - p_last).days, (m_last - p_first).days
                if shortest >= rules.recurrent_after_days:
                    self.note(
                        where,
                        "presentation",
                        f"presentation recurrent: primary diagnosis {primary}, metastatic diagnosis {meta} "
                        f"(at least {shortest} days later; recurrent from {rules.recurrent_after_days})",
                    )
                    return "recurrent"
                if longest <= rules.de_novo_window_days:
                    self.note(
                        where,
                        "presentation",
                        f"presentation de_novo: metastatic diagnosis {meta} within {rules.de_novo_window_days} days "
                        f"of the primary diagnosis {primary} (stage IV at first diagnosis)",
                    )
                    return "de_novo"
                self.note(
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
                self.note(
                    fact.resource,
                    "presentation",
                    f"presentation de_novo: {fact.what} ({fact.date or 'undated'})"
                    + ("" if primary is None else f" within {window} days of the primary diagnosis {primary}")
                    + ("; no primary diagnosis date to compare with" if primary is None else ""),
                )
                return "de_novo"
        if self.primary_stage == "I-III" and self.sites:
            self.note(
                where,
                "presentation",
                "presentation recurrent: stage I-III on the primary cancer condition, metastatic disease recorded",
            )
            return "recurrent"
        if self.sites or self.report.metastatic_evidence:
            missing = "primary diagnosis date" if primary is None else "metastatic diagnosis date (to the day)"
            self.note(
                where,
                "presentation",
                f"presentation unknown: no stage at diagnosis and no {missing} to tell de novo from recurrent; "
                "give presentation (de_novo | recurrent) in a patient file",
            )
        return None

    def assemble_tumor(self) -> dict[str, Any]:
        tumor: dict[str, Any] = {}
        her2: dict[str, Any] = {}
        by_field: dict[str, list[_Her2Value]] = {}
        for v in self.her2:
            by_field.setdefault(v.field, []).append(v)
        for field, found in by_field.items():
            ordered = sorted(found, key=lambda v: _sort_key(v.date))
            chosen = ordered[-1]
            her2[field] = chosen.value
            others = {str(v.value) for v in ordered if v.value != chosen.value}
            if others:
                self.note(
                    chosen.resource,
                    "latest_wins",
                    f"HER2 {field}: the latest result {chosen.value} is used; earlier {', '.join(sorted(others))} "
                    "not used",
                )
        if self.her2_status:
            latest = sorted(self.her2_status, key=lambda v: _sort_key(v.date))[-1]
            if her2:
                conflicting = _status_conflict(latest.value, her2)
                if conflicting:
                    self.problem(
                        latest.resource,
                        "conflicting_values",
                        f"the lab's call {latest.value} disagrees with the raw value(s) {conflicting}; the raw "
                        "values are kept and the HER2 engine classifies them",
                    )
                else:
                    self.note(
                        latest.resource, "status_not_used", f"lab call {latest.value} not used: raw values present"
                    )
            else:
                her2["status"] = latest.value
        if her2:
            tumor["her2"] = her2
        for name, vals in (("er", self.er), ("pr", self.pr)):
            if not vals:
                continue
            percents = [v for v in vals if v.value[0] == "percent"]
            picked = _latest(percents) if percents else _latest(vals)
            kind, val = picked.value
            tumor[f"{name}_{'percent' if kind == 'percent' else 'status'}"] = val
        if self.histology:
            tumor["histology"] = self.histology
        return tumor

    def assemble_exposures(self) -> list[dict[str, Any]]:
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
                self.note(
                    r.resources[0],
                    "merged",
                    f"{len(r.resources)} medication entries give the same {r.drug} exposure on {r.start}; counted once",
                )
        records = sorted(merged.values(), key=lambda r: (_sort_key(r.start), r.drug))
        records = self.mark_progression(records)
        self.report.exposures = records
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
        from oncoline.engines.lines.params import load_line_params

        gap = load_line_params().gap_days
        out = list(records)
        for prog in self.report.progression:
            day = prog.date.date if prog.date else None
            if day is None:
                continue
            latest: dict[str, int] = {}
            for i, r in enumerate(out):
                if r.used and r.start is not None and r.start.date is not None and r.start.date <= day:
                    latest[r.drug] = i
            marked = []
            for drug, i in latest.items():
                r = out[i]
                last = (r.end.date if r.end and r.end.date else None) or (r.start.date if r.start else None)
                if last is not None and (day - last).days <= gap and r.stopped is None:
                    out[i] = r.model_copy(update={"stopped": "progression"})
                    marked.append(drug)
            if marked:
                self.note(
                    prog.resource,
                    "progression",
                    f"progression on {day}: marks the last {', '.join(marked)} "
                    "exposure(s) before it as stopped for progression",
                )
            else:
                self.note(prog.resource, "progression", f"progression on {day}: no treatment in force to link it to")
        return out

    def lvef_baseline(self, exposures: list[dict[str, Any]], latest: _Dated) -> float | None:
        """The LVEF baseline: an LVEF marked as baseline, else the last LVEF dated (even partially) wholly before
        the current anti-HER2 therapy started; None otherwise. Each choice is reported as a note."""
        marked = [v for v in self.lvef if v.marked_baseline]
        if marked:
            chosen = _latest(marked)
            self.note(
                chosen.resource,
                "lvef_baseline",
                f"LVEF baseline {chosen.value:g} %: the observation ({chosen.date or 'undated'}) is marked as "
                "the baseline",
            )
            return float(chosen.value)
        from oncoline.engines.lines.params import load_line_params

        params = load_line_params()
        start, drugs = _current_her2_course(
            exposures,
            lambda drug: self.vocab.in_class(drug, "her2_directed"),
            params.gap_days,
            params.regimen_window_days,
        )
        if start is None:
            self.note(
                latest.resource,
                "lvef_baseline",
                "LVEF baseline unknown: no anti-HER2 therapy is recorded to date an LVEF before, and no LVEF is "
                "marked as baseline; lvef_baseline_percent left unset",
            )
            return None
        before = [v for v in self.lvef if v.date is not None and v.date.latest is not None and v.date.latest < start]
        if not before:
            self.note(
                latest.resource,
                "lvef_baseline",
                f"LVEF baseline unknown: no LVEF is dated before the current anti-HER2 therapy ({drugs}, started "
                f"{start}) or marked as baseline; lvef_baseline_percent left unset",
            )
            return None
        chosen = _latest(before)
        also = (
            "; it is also the latest LVEF: none is recorded since that therapy started"
            if chosen.resource == latest.resource
            else ""
        )
        self.note(
            chosen.resource,
            "lvef_baseline",
            f"LVEF baseline {chosen.value:g} %: the last LVEF ({chosen.date}) before the current anti-HER2 therapy "
            f"({drugs}) started on {start}{also}",
        )
        return float(chosen.value)

    def assemble_conditions(self, exposures: list[dict[str, Any]]) -> dict[str, Any]:
        cond: dict[str, Any] = {}
        if self.lvef:
            latest = _latest(self.lvef)
            cond["lvef_percent"] = latest.value
            baseline = self.lvef_baseline(exposures, latest)
            if baseline is not None:
                cond["lvef_baseline_percent"] = baseline
        if self.pregnant:
            cond["pregnant"] = _latest(self.pregnant).value
        current = {"active", "in-progress", "on-hold"}
        concomitant = sorted(
            {
                r.drug
                for r in self.records
                if r.status in current and self.vocab.drug(r.drug).role.value == "concomitant"
            }
        )
        if concomitant:
            cond["medications"] = concomitant
        return cond


_INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060\u00a0"


def _clean_type(name: str) -> str:
    return name.strip().strip(_INVISIBLE).strip()


@cache
def _model_names(version: str) -> dict[str, str]:
    """Lower-cased name → name of every model a FHIR version of fhir.resources knows (R4B, R5, STU3)."""
    import importlib

    module = importlib.import_module(
        "fhir.resources.fhirtypes" if version == "R5" else f"fhir.resources.{version}.fhirtypes"
    )
    return {n[:-4].lower(): n[:-4] for n in dir(module) if n.endswith("Type") and n[:1].isupper()}


def resource_type_problem(name: str) -> str | None:
    """Why ``name`` is not a FHIR R4 resource type oncoline can read (misspelt, a byte-order mark or space in it,
    another FHIR version's type, unknown), or None when it is one.

    >>> resource_type_problem("Observation") is None
    True
    >>> resource_type_problem("observation")
    "resourceType 'observation' is not a FHIR R4 resource type (did you mean 'Observation'?)"
    >>> resource_type_problem("GenomicStudy")
    "resourceType 'GenomicStudy' is a FHIR R5 resource, not R4"
    """
    r4 = _model_names("R4B")
    if name in r4.values():
        from fhir.resources.R4B import get_fhir_model_class
        from fhir.resources.R4B.resource import Resource

        if issubclass(get_fhir_model_class(name), Resource):
            return None
        return f"{name!r} is a FHIR data type, not a resource"
    shown = f"resourceType {name!r} is not a FHIR R4 resource type"
    near = r4.get(_clean_type(name).lower())
    if near:
        return f"{shown} (did you mean {near!r}?)"
    for version in ("R5", "STU3"):
        if name in _model_names(version).values():
            return f"resourceType {name!r} is a FHIR {version} resource, not R4"
    return shown


def _current_her2_course(exposures: list[dict[str, Any]], is_her2: Any, gap_days: int, window_days: int) -> Any:
    """(start, drugs) of the current anti-HER2 therapy: the last run of HER2-directed exposures, a run ending at a
    pause longer than ``gap_days`` or at a HER2-directed drug new to the run started more than ``window_days``
    after the run began (a switch, e.g. THP then T-DXd); (None, "") without HER2-directed exposures."""
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


def _latest(values: Iterable[_Dated]) -> _Dated:
    return sorted(values, key=lambda v: _sort_key(v.date))[-1]


def _status_conflict(status: str, her2: dict[str, Any]) -> str:
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


# --------------------------------------------------------------------------------------------- entry point
def patient_from_fhir(
    doc: Any,
    /,
    *,
    source: str | None = None,
    policy: Policy = "warn",
    as_of: dt.date | None = None,
) -> tuple[Patient, IngestionReport]:
    """Map a FHIR R4 / mCODE STU4 Bundle (or one resource) to a :class:`Patient` and an ingestion report.

    Parameters
    ----------
    doc
        The parsed JSON: a ``Bundle`` (any type: collection, transaction, searchset) or a single resource.
    source
        The file name, used in messages.
    policy
        ``ignore``: problems are only recorded in the report; ``warn`` (default): each problem is also
        emitted as a :class:`~oncoline.errors.DataQualityWarning`; ``raise``: any problem raises.
    as_of
        The date the age is computed at (age is left unset without it).

    Returns
    -------
    (Patient, IngestionReport)
        The patient (``history`` empty, ``exposures`` one row per medication resource with a full start date,
        identical rows merged) and the report (findings, dates with precision, every medication record).

    Raises
    ------
    InputError
        When ``doc`` is not a FHIR resource, the bundle holds several patients, ``policy`` is unknown, or (policy
        ``raise``) any problem was found — naming the resource, the defect and the number of further problems.

    References
    ----------
    HL7 mCODE STU4, https://hl7.org/fhir/us/mcode/STU4/ ; code meanings and sources in
    ``knowledge/data/fhir_codes.yaml``.
    """
    if policy not in _POLICIES:
        raise InputError(f"unknown validation policy {policy!r}; use one of {', '.join(_POLICIES)}", source=source)
    if not isinstance(doc, dict) or not isinstance(doc.get("resourceType"), str):
        reason = not_a_patient_reason(doc) or "not a FHIR resource (no resourceType)"
        raise InputError(reason, source=source)
    reader = _Reader(source, policy, as_of)
    entries = reader.entries(doc)
    counts = Counter(res["resourceType"] for _, res, _ in entries)
    reader.report.resources = dict(sorted(counts.items()))
    patients = [(label, res, url) for label, res, url in entries if res["resourceType"] == "Patient"]
    ids = sorted({_s(res.get("id")) for _, res, _ in patients})
    if len(ids) > 1:
        raise InputError(
            f"the bundle holds {len(ids)} different patients ({', '.join(ids)}); give one patient per bundle",
            source=source,
        )
    for label, res, url in patients:
        reader.validate(res, label)
        reader.read_patient(res, label)
        pid = _s(res.get("id"))
        reader.patient_refs |= {f"Patient/{pid}", pid, url} - {"", "Patient/"}
    if not patients:
        subjects = sorted(
            {
                _s(_d(res.get("subject") or res.get("patient")).get("reference"))
                for _, res, _ in entries
                if _s(_d(res.get("subject") or res.get("patient")).get("reference"))
            }
        )
        if len(subjects) > 1:
            raise InputError(
                f"no Patient resource, and the resources refer to {len(subjects)} different subjects "
                f"({', '.join(subjects[:4])}); give one patient's resources with its Patient resource",
                source=source,
            )
        if subjects:
            reader.patient_res = {"id": subjects[0].split("/")[-1].removeprefix("urn:uuid:")}
        reader.problem(
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
    for label, res, _url in entries:
        if res["resourceType"] == "Medication":
            for key in (label, _s(res.get("id")), _url):
                if key:
                    reader.medications[key] = res
    handlers = {
        "Condition": reader.read_condition,
        "Observation": reader.read_observation,
        "MedicationAdministration": reader.read_medication,
        "MedicationStatement": reader.read_medication,
        "MedicationRequest": reader.read_medication,
    }
    ignored: Counter[str] = Counter()
    for label, res, _url in entries:
        rt = res["resourceType"]
        if rt == "Patient":
            continue
        if not reader.validate(res, label):
            continue
        handler = handlers.get(rt)
        if handler is None:
            if rt != "Medication":
                ignored[rt] += 1
            continue
        if not reader.subject_ok(res, label):
            continue
        try:
            handler(res, label)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            reader.problem(label, "unreadable", f"could not be read ({type(exc).__name__}: {exc}); skipped")
    if ignored:
        shown = ", ".join(f"{n} {rt}" for rt, n in sorted(ignored.items()))
        reader.note("Bundle", "not_used", f"resources oncoline does not use: {shown}")
    patient = reader.assemble()
    report = reader.report
    problems = report.problems
    if policy == "raise" and problems:
        first = problems[0]
        more = f" [{len(problems) - 1} more problem(s)]" if len(problems) > 1 else ""
        raise InputError(f"{first.resource}: {first.message}{more}", source=source)
    if policy == "warn":
        for p in problems:
            warnings.warn(DataQualityWarning(f"{source or 'FHIR input'}: {p.resource}: {p.message}"), stacklevel=2)
    return patient, report
