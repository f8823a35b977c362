"""FHIR code tables: what LOINC, SNOMED CT, CAP eCC, ICD and RxNorm codes mean to oncoline.

The tables are data (``knowledge/data/fhir_codes.yaml``, with sources); this module loads, validates and
indexes them. A code is looked up by ``(system, code)``; a code labelled with the wrong system (a SNOMED code
labelled LOINC) or a missing/malformed code can be matched by its display text, which the caller reports.

>>> codes = load_fhir_codes()
>>> codes.observation("loinc", "85319-2").meaning
'her2_ihc'
>>> codes.system_key("http://snomed.info/sct")
'snomed'
>>> codes.answer("snomed", "10828004").value
'positive'
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from oncoline.errors import KnowledgeBaseError
from oncoline.io.fhir.free_text import Her2IhcText, IhcTextReading, IhcTextRules, norm_text

__all__ = [
    "Answer",
    "FhirCodes",
    "Her2IhcText",
    "IhcTextReading",
    "ObservationCode",
    "PresentationRules",
    "SiteCode",
    "StopReasonCode",
    "load_fhir_codes",
    "norm_text",
]

LOINC_SHAPE = re.compile(r"^\d{1,7}-\d$")
"""LOINC codes are digits, a dash and a check digit (``85319-2``)."""


class _Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    system: str
    code: str
    display: str = ""
    source: str | None = None


class ObservationCode(_Entry):
    """An observation code and what it measures."""

    meaning: str


class Answer(_Entry):
    """A coded answer: ``kind`` (result, ihc, ecog, pregnancy, disease, stage) and its oncoline ``value``."""

    kind: str
    value: str


class SiteCode(_Entry):
    """A condition or body-structure code naming a metastatic site (``site`` None = site not stated)."""

    site: str | None
    prefix: bool = False


class StopReasonCode(_Entry):
    """A statusReason code and the stop reason it documents."""

    stopped: str


class PresentationRules(BaseModel):
    """Day windows that tell de novo from recurrent disease by the primary and metastatic diagnosis dates."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    de_novo_window_days: int = Field(ge=0, description="Metastatic diagnosis at most this many days after the primary.")
    recurrent_after_days: int = Field(ge=0, description="Metastatic diagnosis at least this many days after it.")
    source: str


class _Raw(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    effective: Any
    sources: dict[str, str]
    systems: dict[str, list[str]]
    observations: list[ObservationCode]
    answers: list[Answer]
    text_results: dict[str, list[str]]
    ish_text_calls: list[dict[str, str]]
    stage_iv_values: list[str]
    m1_values: list[str]
    primary_breast: dict[str, list[str]]
    secondary_conditions: list[SiteCode]
    body_sites: list[SiteCode]
    site_words: dict[str, list[str]]
    medication_status: dict[str, list[str]]
    stop_reasons: list[StopReasonCode]
    placeholder_codes: list[str]
    placeholder_dates: list[str]
    dose_form_words: list[str] = Field(default_factory=list)
    lvef_baseline_words: list[str] = Field(default_factory=list)
    presentation_rules: PresentationRules | None = None
    value_units: dict[str, list[str]] = Field(default_factory=dict)
    her2_ihc_text: Her2IhcText | None = None


class FhirCodes:
    """Indexed code tables (see module docstring).

    Raises
    ------
    KnowledgeBaseError
        When an entry names an unknown system or source.
    """

    def __init__(self, raw: _Raw) -> None:
        self.raw = raw
        self.version = raw.version
        self._systems = {uri.lower().rstrip("/"): key for key, uris in raw.systems.items() for uri in uris}
        entries: list[_Entry] = [
            *raw.observations,
            *raw.answers,
            *raw.secondary_conditions,
            *raw.body_sites,
            *raw.stop_reasons,
        ]
        for e in entries:
            if e.system not in raw.systems:
                raise KnowledgeBaseError(f"fhir_codes.yaml: {e.code!r} names unknown system {e.system!r}")
            if e.source is not None and e.source not in raw.sources:
                raise KnowledgeBaseError(f"fhir_codes.yaml: {e.code!r} cites unknown source {e.source!r}")
        rules = raw.presentation_rules
        if rules is not None and rules.source not in raw.sources:
            raise KnowledgeBaseError(f"fhir_codes.yaml: presentation_rules cite unknown source {rules.source!r}")
        if rules is not None and rules.recurrent_after_days < rules.de_novo_window_days:
            raise KnowledgeBaseError("fhir_codes.yaml: presentation_rules.recurrent_after_days < de_novo_window_days")
        self.presentation_rules = rules
        self._obs = {(o.system, o.code): o for o in raw.observations}
        self._obs_display = {norm_text(o.display): o for o in raw.observations}
        self._answers = {(a.system, a.code): a for a in raw.answers}
        self._answer_display = {norm_text(a.display): a for a in raw.answers}
        self._secondary = {(s.system, s.code): s for s in raw.secondary_conditions if not s.prefix}
        self._secondary_prefix = [s for s in raw.secondary_conditions if s.prefix]
        self._body = {(s.system, s.code): s for s in raw.body_sites}
        self._stops = {(s.system, s.code): s for s in raw.stop_reasons}
        self._text_results = {norm_text(t): k for k, texts in raw.text_results.items() for t in texts}
        self._ish_text = {norm_text(c["text"]): c["result"] for c in raw.ish_text_calls}
        self._units = {kind: {norm_text(u) for u in units} for kind, units in raw.value_units.items()}
        self._ihc_text = IhcTextRules(raw.her2_ihc_text) if raw.her2_ihc_text is not None else None

    def system_key(self, uri: str | None) -> str | None:
        """Short key (``loinc``, ``snomed``, ``rxnorm`` …) for a system URI/OID, or None when unknown."""
        if not uri:
            return None
        return self._systems.get(str(uri).strip().lower().rstrip("/"))

    def observation(self, system: str | None, code: str) -> ObservationCode | None:
        """The observation code ``(system, code)``, or None."""
        return self._obs.get((system or "", code))

    def observation_by_display(self, text: str) -> ObservationCode | None:
        """The observation code whose display equals ``text`` (normalised), or None."""
        return self._obs_display.get(norm_text(text))

    def answer(self, system: str | None, code: str) -> Answer | None:
        """The coded answer ``(system, code)``, or None."""
        return self._answers.get((system or "", code))

    def answer_by_display(self, text: str) -> Answer | None:
        """The coded answer whose display equals ``text`` (normalised), or None."""
        return self._answer_display.get(norm_text(text))

    def answer_any_system(self, code: str) -> Answer | None:
        """The answer with this code in any system (for codes labelled with the wrong system)."""
        for (_, c), a in self._answers.items():
            if c == code:
                return a
        return None

    def observation_any_system(self, code: str) -> ObservationCode | None:
        """The observation code with this code in any system."""
        for (_, c), o in self._obs.items():
            if c == code:
                return o
        return None

    def text_result(self, text: str) -> str | None:
        """positive | negative | equivocal | indeterminate for a free-text result, or None."""
        return self._text_results.get(norm_text(text).strip(" ."))

    def ish_text_call(self, text: str) -> str | None:
        """The qualitative ISH call a threshold text stands for ("greater than 2.2" → positive), or None."""
        return self._ish_text.get(norm_text(text))

    def unit_accepted(self, kind: str, units: list[str]) -> bool:
        """True when every unit given (a Quantity's ``code`` and ``unit``; none = ``[]``) is one ``value_units``
        lists for ``kind`` (her2_ihc, her2_ish_ratio, her2_copies, receptor_percent, lvef, ecog).

        >>> codes = load_fhir_codes()
        >>> codes.unit_accepted("her2_ihc", ["%"]), codes.unit_accepted("her2_ihc", [])
        (False, True)
        >>> codes.unit_accepted("receptor_percent", []), codes.unit_accepted("receptor_percent", ["%"])
        (False, True)

        Raises
        ------
        KnowledgeBaseError
            When ``kind`` has no entry in ``value_units``.
        """
        accepted = self._units.get(kind)
        if accepted is None:
            raise KnowledgeBaseError(f"fhir_codes.yaml: value_units has no entry {kind!r}")
        return all(norm_text(u) in accepted for u in units) if units else "" in accepted

    def ihc_text(self, text: str) -> IhcTextReading:
        """Read an IHC score from free text only when it is unambiguous (``her2_ihc_text`` rules).

        >>> codes = load_fhir_codes()
        >>> codes.ihc_text("Equivocal (Score 2+)").score
        '2+'
        >>> codes.ihc_text("negative (3+ control)").unreadable
        'control or reference wording ("control")'
        >>> codes.ihc_text("positive").score is None and codes.ihc_text("positive").unreadable is None
        True
        """
        if self._ihc_text is None:
            return IhcTextReading()
        return self._ihc_text.read(text)

    def ihc_score_result(self, score: str) -> str | None:
        """The result an IHC score means (3+ positive, 2+ equivocal, 0 / ultralow / 1+ negative), or None."""
        rules = self.raw.her2_ihc_text
        return rules.score_results.get(score) if rules is not None else None

    def secondary_site(self, system: str | None, code: str) -> SiteCode | None:
        """The secondary-neoplasm code ``(system, code)`` (ICD-10 prefixes such as C77 included), or None."""
        hit = self._secondary.get((system or "", code))
        if hit is None:
            for s in self._secondary_prefix:
                if s.system == system and code.upper().startswith(s.code.upper()):
                    return s
        return hit

    def body_site(self, system: str | None, code: str) -> SiteCode | None:
        """The body-structure code ``(system, code)``, or None."""
        return self._body.get((system or "", code))

    def site_from_words(self, text: str) -> str | None:
        """The first site whose words occur in ``text`` (order of the YAML), or None."""
        t = norm_text(text)
        for site, words in self.raw.site_words.items():
            if any(re.search(rf"\b{re.escape(w)}", t) for w in words):
                return site
        return None

    def stop_reason(self, system: str | None, code: str) -> StopReasonCode | None:
        """The documented stop reason for a statusReason code, or None."""
        return self._stops.get((system or "", code))

    def is_primary_breast(self, system: str | None, code: str) -> bool:
        """True for a code of primary breast cancer (SNOMED list, ICD-10 C50*, ICD-9 174*/175*)."""
        pb = self.raw.primary_breast
        if system == "snomed":
            return code in pb.get("snomed", [])
        if system == "icd10":
            return any(code.upper().startswith(p) for p in pb.get("icd10_prefixes", []))
        if system == "icd9":
            return any(code.startswith(p) for p in pb.get("icd9_prefixes", []))
        return False

    def is_stage_iv(self, value: str) -> bool:
        """True when an AJCC stage group value means stage IV (``4``, ``IV``, ``c4``, ``pIV`` …)."""
        v = norm_text(value)
        v = re.sub(r"^(yc|yp|c|p|r|a)(?=[0-9iv])", "", v)
        return v in self.raw.stage_iv_values

    def is_m1(self, value: str) -> bool:
        """True when an AJCC M category value means distant metastasis (``cM1``, ``pM1b`` …)."""
        v = re.sub(r"^(yc|yp|c|p)(?=m)", "", norm_text(value))
        return v in self.raw.m1_values

    def is_placeholder_code(self, code: str) -> bool:
        """True for placeholder codes seen in public examples (RxNorm "1234", "example-code")."""
        return code.strip() in self.raw.placeholder_codes or code.strip().lower().startswith("example")

    def is_placeholder_date(self, text: str) -> bool:
        """True for placeholder dates such as ``YYYY-MM-DD``."""
        return text.strip().upper() in self.raw.placeholder_dates

    @property
    def not_given_statuses(self) -> frozenset[str]:
        """Medication statuses meaning the drug was not given (entered-in-error, not-done …)."""
        return frozenset(self.raw.medication_status.get("not_given", []))

    def marks_lvef_baseline(self, text: str) -> bool:
        """True when ``text`` (an LVEF observation's code text, category, method or note) says it is the baseline.

        >>> load_fhir_codes().marks_lvef_baseline("LVEF (baseline, before trastuzumab)")
        True
        """
        t = norm_text(text)
        return any(norm_text(w) in t for w in self.raw.lvef_baseline_words)

    @property
    def dose_form_words(self) -> frozenset[str]:
        """Words cut from a drug display before looking it up."""
        return frozenset(self.raw.dose_form_words)


@cache
def load_fhir_codes() -> FhirCodes:
    """The packaged FHIR code tables (loaded once per process).

    Raises
    ------
    KnowledgeBaseError
        When ``fhir_codes.yaml`` fails its schema or cites an unknown system or source.
    """
    text = resources.files("oncoline.knowledge").joinpath("data/fhir_codes.yaml").read_text(encoding="utf-8")
    try:
        raw = _Raw.model_validate(yaml.safe_load(text))
    except ValidationError as exc:
        raise KnowledgeBaseError(f"fhir_codes.yaml: {exc}") from exc
    return FhirCodes(raw)
