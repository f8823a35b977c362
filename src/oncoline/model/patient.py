"""The patient: tumour biology, presentation, metastatic sites, treatment history and safety conditions.

Reads the ``patient`` block of ``shared/cases/FORMAT.md`` as it is; fields beyond it are optional extras.
Drug names anywhere in the patient resolve through the drug vocabulary to canonical generic (INN) names at
validation time, so ``Kadcyla`` becomes ``trastuzumab emtansine`` and an unknown name is an error naming the
closest known names. Units are in field names (house style S4); dates are :class:`datetime.date`.
"""

import datetime as dt
import itertools
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from oncoline.knowledge.drugs import load_vocabulary
from oncoline.model.dates import CalendarDate

__all__ = [
    "BrainStatus",
    "Conditions",
    "EarlyTherapy",
    "Exposure",
    "Her2Raw",
    "HistoryLine",
    "IhcScore",
    "IldHistory",
    "LungDisease",
    "MetastaticSite",
    "Patient",
    "Preferences",
    "PrimaryTumor",
    "SiteKind",
    "StopReason",
    "Toxicity",
    "Tumor",
]


def _canonical_drugs(names: list[str]) -> list[str]:
    vocab = load_vocabulary()
    out: list[str] = []
    for name in names:
        for canonical in vocab.resolve(name):
            if canonical not in out:
                out.append(canonical)
    return out


def _canonical_drug(name: str) -> str:
    names = load_vocabulary().resolve(name)
    if len(names) != 1:
        raise ValueError(f"{name!r} is a combination product ({' + '.join(names)}); name one drug")
    return names[0]


def _no_items() -> list[Any]:
    """A new empty list, the default of the list fields. (A Python function rather than ``list``: pydantic reads
    a default factory's signature, and ``list``'s costs inspect's tokenizer ~1.5 ms, once per process.)"""
    return []


DrugList = Annotated[list[str], AfterValidator(_canonical_drugs)]
"""A list of drug names, resolved to canonical INN names (fixed-dose products expand to their components)."""

DrugName = Annotated[str, AfterValidator(_canonical_drug)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False, defer_build=True)


class IhcScore(StrEnum):
    """HER2 immunohistochemistry score (ASCO/CAP 2018; ``ultralow`` = IHC 0 with faint staining in ≤10 %)."""

    ZERO = "0"
    ULTRALOW = "ultralow"
    ONE = "1+"
    TWO = "2+"
    THREE = "3+"


class SiteKind(StrEnum):
    """Metastatic site."""

    BRAIN = "brain"
    LEPTOMENINGEAL = "leptomeningeal"
    LIVER = "liver"
    LUNG = "lung"
    BONE = "bone"
    LYMPH_NODE = "lymph_node"
    PLEURA = "pleura"
    SKIN = "skin"
    PERITONEUM = "peritoneum"
    OTHER = "other"


class BrainStatus(StrEnum):
    """Brain-metastasis status: stable (treated, stable), active (untreated), progressing (after local therapy)."""

    STABLE = "stable"
    ACTIVE = "active"
    PROGRESSING = "progressing"


_BRAIN_ALIASES = {
    "stable_treated": "stable",
    "treated_stable": "stable",
    "active_untreated": "active",
    "untreated": "active",
    "progressing_after_local": "progressing",
    "progressive": "progressing",
}


class StopReason(StrEnum):
    """Why a line stopped (or ``ongoing`` for the line given now)."""

    PROGRESSION = "progression"
    TOXICITY = "toxicity"
    COMPLETED = "completed"
    ONGOING = "ongoing"


class Her2Raw(_Frozen):
    """Raw HER2 test results; the HER2 engine classifies them per ASCO/CAP 2018 (affirmed 2023)."""

    ihc: IhcScore | None = Field(default=None, description='IHC score: "0", "ultralow", "1+", "2+", "3+".')
    ish_ratio: float | None = Field(default=None, ge=0, description="Dual-probe HER2/CEP17 ratio.")
    her2_copies: float | None = Field(default=None, ge=0, description="Average HER2 signals per cell.")
    ish_result: str | None = Field(default=None, description="Qualitative ISH call: positive | negative.")
    single_probe: bool = Field(default=False, description="True when her2_copies come from a single-probe assay.")
    recount_confirmed: bool | None = Field(
        default=None,
        description="For ISH groups 2-4 with IHC 2+: whether a blinded recount confirmed the group "
        "(None = the reported counts are taken as final).",
    )
    status: str | None = Field(
        default=None, description="A lab's final call (positive | negative | equivocal), used only without raw values."
    )

    @field_validator("ihc", mode="before")
    @classmethod
    def _ihc_text(cls, v: Any) -> Any:
        if v is None:
            return None
        text = str(v).strip().lower().replace(" ", "")
        return {"0+": "0", "1": "1+", "2": "2+", "3": "3+", "0-ultralow": "ultralow"}.get(text, text)

    @field_validator("ish_result", "status", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        if v is None:
            return None
        text = str(v).strip().lower()
        allowed = {"positive", "negative", "equivocal"}
        if text not in allowed:
            raise ValueError(f"must be one of {sorted(allowed)}, got {v!r}")
        return text

    @property
    def empty(self) -> bool:
        """True when no result at all is recorded."""
        return all(x is None for x in (self.ihc, self.ish_ratio, self.her2_copies, self.ish_result, self.status))


class Tumor(_Frozen):
    """Tumour biology."""

    er_percent: float | None = Field(default=None, ge=0, le=100, description="% nuclei ER-positive (≥1 % = positive).")
    pr_percent: float | None = Field(default=None, ge=0, le=100, description="% nuclei PR-positive.")
    er_status: str | None = Field(default=None, description="positive | negative when no percentage is reported.")
    pr_status: str | None = Field(default=None, description="positive | negative when no percentage is reported.")
    hr_status: str | None = Field(
        default=None,
        description="A lab's overall hormone-receptor call (positive | negative); used when ER and PR do not both "
        "decide it, and must agree with them when they do.",
    )
    her2: Her2Raw = Field(default_factory=Her2Raw, description="Raw HER2 results.")
    histology: str | None = None
    earlier: "Tumor | None" = Field(
        default=None,
        description="An earlier receptor result (usually the primary tumour) when this block holds the metastatic "
        "biopsy: a change of HR or HER2 status raises a receptor-discordance action for MDT review (reference §a.7).",
    )

    @field_validator("er_status", "pr_status", "hr_status", mode="before")
    @classmethod
    def _status(cls, v: Any) -> Any:
        if v is None:
            return None
        text = str(v).strip().lower()
        if text not in {"positive", "negative"}:
            raise ValueError(f"must be positive or negative, got {v!r}")
        return text

    @property
    def er_positive(self) -> bool | None:
        """ER ≥ 1 % (ASCO/CAP ER/PgR 2020); None when unknown."""
        if self.er_percent is not None:
            return self.er_percent >= 1
        return None if self.er_status is None else self.er_status == "positive"

    @property
    def pr_positive(self) -> bool | None:
        """PR ≥ 1 %; None when unknown."""
        if self.pr_percent is not None:
            return self.pr_percent >= 1
        return None if self.pr_status is None else self.pr_status == "positive"

    @property
    def hr_from_receptors(self) -> bool | None:
        """HR status from ER and PR alone: positive when either is ≥ 1 %, negative only when **both** are known and
        < 1 %; None otherwise (a missing result is not a negative one — reference §0.1, ASCO/CAP ER/PgR 2020)."""
        er, pr = self.er_positive, self.pr_positive
        if er is True or pr is True:
            return True
        if er is False and pr is False:
            return False
        return None

    @property
    def hr_positive(self) -> bool | None:
        """HR-positive = ER and/or PR ≥ 1 %; HR-negative = both < 1 %. A lab's ``hr_status`` decides when ER and PR
        do not (one of them missing); None when still unknown (``missing: hr_status``)."""
        derived = self.hr_from_receptors
        if derived is not None or self.hr_status is None:
            return derived
        return self.hr_status == "positive"

    @property
    def hr_missing_results(self) -> tuple[str, ...]:
        """The receptor results still needed to call HR status (``("PR",)``, ``("ER", "PR")``); empty when known."""
        if self.hr_positive is not None:
            return ()
        return tuple(name for name, value in (("ER", self.er_positive), ("PR", self.pr_positive)) if value is None)

    @model_validator(mode="after")
    def _hr_agrees(self) -> Self:
        derived = self.hr_from_receptors
        if self.hr_status is not None and derived is not None and (self.hr_status == "positive") != derived:
            er = self.er_percent if self.er_percent is not None else self.er_status
            pr = self.pr_percent if self.pr_percent is not None else self.pr_status
            raise ValueError(
                f"hr_status {self.hr_status!r} contradicts the receptor results (ER {er}, PR {pr}); correct one or "
                "leave hr_status out"
            )
        return self


class EarlyTherapy(_Frozen):
    """(Neo)adjuvant treatment of the early cancer."""

    setting: str = Field(description="neoadjuvant | adjuvant")
    drugs: DrugList
    start: CalendarDate | None = None
    end: CalendarDate | None = Field(default=None, description="Date of the last dose.")

    @field_validator("setting")
    @classmethod
    def _setting(cls, v: str) -> str:
        v = v.strip().lower().replace("-", "")
        if v not in {"neoadjuvant", "adjuvant", "postneoadjuvant"}:
            raise ValueError("must be neoadjuvant or adjuvant")
        return "adjuvant" if v == "postneoadjuvant" else v


class MetastaticSite(_Frozen):
    """One metastatic site; brain sites carry status, lesion count, size and symptoms."""

    site: SiteKind
    status: BrainStatus | None = Field(default=None, description="Brain only: stable | active | progressing.")
    lesions: int | None = Field(default=None, ge=0)
    largest_mm: float | None = Field(default=None, ge=0)
    symptomatic: bool | None = None
    mass_effect: bool | None = Field(default=None, description="Brain only: symptomatic mass effect / hydrocephalus.")
    oligometastatic: bool | None = None
    note: str | None = None

    @field_validator("site", mode="before")
    @classmethod
    def _site(cls, v: Any) -> Any:
        text = str(v).strip().lower().replace(" ", "_").replace("-", "_")
        return {
            "lymph_nodes": "lymph_node",
            "nodes": "lymph_node",
            "node": "lymph_node",
            "cns": "brain",
            "bones": "bone",
            "lungs": "lung",
            "pleural": "pleura",
            "hepatic": "liver",
        }.get(text, text)

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, v: Any) -> Any:
        if v is None:
            return None
        text = str(v).strip().lower()
        return _BRAIN_ALIASES.get(text, text)


class Toxicity(_Frozen):
    """The toxicity that stopped a line."""

    event: str
    grade: int | None = Field(default=None, ge=1, le=5, description="CTCAE grade.")


class HistoryLine(_Frozen):
    """One metastatic line already given."""

    line: int | None = Field(default=None, ge=1, description="Ordinal as recorded (re-derived from order).")
    drugs: DrugList
    start: CalendarDate | None = None
    end: CalendarDate | None = None
    stopped: StopReason | None = Field(default=None, description="progression | toxicity | completed | ongoing")
    toxicity: Toxicity | None = None
    best_response: str | None = Field(default=None, description="CR | PR | SD | PD, when known.")

    @model_validator(mode="after")
    def _dates(self) -> Self:
        if self.start and self.end and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}; swap or correct the dates")
        return self


class Exposure(_Frozen):
    """One raw administration or dispensing (the ``events.exposures`` rows of FORMAT.md)."""

    drug: str = Field(description="As recorded: a name, brand or RxNorm code (resolved by the line engine).")
    start: CalendarDate
    end: CalendarDate | None = Field(default=None, description="Defaults to start.")
    stopped: StopReason | None = Field(default=None, description="A documented reason the drug stopped.")

    @model_validator(mode="after")
    def _dates(self) -> Self:
        if self.end is not None and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start} for {self.drug!r}")
        return self


class PrimaryTumor(_Frozen):
    """The primary tumour when still in place."""

    in_place: bool = False
    symptoms: list[str] = Field(default_factory=_no_items, description="fungating | bleeding | pain")


class Preferences(_Frozen):
    """What the patient has said."""

    declines_chemotherapy: bool = False
    declines_brain_local_therapy: bool = False
    declines_intravenous: bool = False


class LungDisease(StrEnum):
    """Known lung disease that is a pulmonary-risk fact for HER2 therapy (reference §d.2: fibrosis, home oxygen)."""

    FIBROSIS = "fibrosis"
    HOME_OXYGEN = "home_oxygen"
    COPD = "copd"
    RADIATION_PNEUMONITIS = "radiation_pneumonitis"
    OTHER = "other"


class IldHistory(_Frozen):
    """A past interstitial lung disease / pneumonitis event."""

    grade: int = Field(ge=1, le=5, description="CTCAE grade.")
    drug: DrugName | None = Field(default=None, description="The drug it occurred on, when drug-related.")
    steroids: bool | None = None


class Conditions(_Frozen):
    """Safety-relevant conditions; an omitted field means unknown."""

    lvef_percent: float | None = Field(default=None, ge=0, le=100, description="Latest LVEF, %.")
    lvef_baseline_percent: float | None = Field(
        default=None, ge=0, le=100, description="LVEF before anti-HER2 therapy."
    )
    heart_failure_nyha: int | None = Field(default=None, ge=0, le=4, description="0 none, 1-4 = NYHA I-IV.")
    ild_history: IldHistory | None = None
    lung_disease: list[LungDisease] = Field(
        default_factory=_no_items,
        description="Known significant lung disease besides an ILD event: fibrosis | home_oxygen | copd | "
        "radiation_pneumonitis | other (reference §d.2); empty = none recorded.",
    )
    pregnant: bool | None = None
    gestational_age_weeks: float | None = Field(
        default=None, ge=0, le=45, description="Completed weeks of gestation when pregnant (2nd trimester from 14)."
    )
    breastfeeding: bool | None = None
    hepatic_impairment: str | None = Field(
        default=None, description="none | mild | moderate | severe (Child-Pugh A/B/C)"
    )
    bilirubin_x_uln: float | None = Field(default=None, ge=0, description="Total bilirubin / upper limit of normal.")
    alt_x_uln: float | None = Field(default=None, ge=0)
    platelets_per_mm3: float | None = Field(default=None, ge=0)
    neuropathy_grade: int | None = Field(default=None, ge=0, le=4, description="CTCAE grade.")
    crcl_ml_min: float | None = Field(default=None, ge=0, description="Creatinine clearance, mL/min.")
    g8_score: float | None = Field(
        default=None, ge=0, le=17, description="G8 geriatric screening score, 0-17; ≤ 14 is abnormal (FORMAT.md)."
    )
    medications: DrugList = Field(default_factory=_no_items, description="Concomitant drugs relevant to interactions.")

    @field_validator("hepatic_impairment", mode="before")
    @classmethod
    def _hepatic(cls, v: Any) -> Any:
        if v is None:
            return None
        text = str(v).strip().lower()
        text = {
            "child-pugh a": "mild",
            "child-pugh b": "moderate",
            "child-pugh c": "severe",
            "a": "mild",
            "b": "moderate",
            "c": "severe",
        }.get(text, text)
        if text not in {"none", "mild", "moderate", "severe"}:
            raise ValueError("must be none | mild | moderate | severe (Child-Pugh A/B/C)")
        return text


def _entry(i: int, h: HistoryLine) -> str:
    when = f"{h.start or '?'} → {h.end or 'open'}"
    return f"history[{i}] ({' + '.join(h.drugs)}, {when})"


def _refuse_repeated_lines(entries: list[HistoryLine]) -> None:
    """Refuse a metastatic line written twice or two lines whose dates overlap (issue 12 item 4).

    Each entry is one line: a copy of an entry, or two entries sharing days, would count one line twice and move the
    patient one line further on (options whose label needs more prior lines would then appear). Lines may touch (one
    ends the day the next starts) but never overlap (reference §0.1); entries without dates are compared whole.

    Raises
    ------
    ValueError
        Naming both entries by their index in the input and how to fix them.
    """
    for j, b in enumerate(entries):
        for i, a in enumerate(entries[:j]):
            ignore = {"line"} if a.start is not None else set()  # undated copies differ only by their ordinal
            if a.model_dump(exclude=ignore) == b.model_dump(exclude=ignore):
                raise ValueError(
                    f"{_entry(i, a)} and history[{j}] are the same line written twice; remove one (each entry of "
                    "history is one metastatic line)"
                )
            if a.start is None or b.start is None:
                continue
            first, second, fi, si = (a, b, i, j) if (a.start, i) <= (b.start, j) else (b, a, j, i)
            starts_inside = first.end is not None and b.start is not None and max(a.start, b.start) < first.end
            if a.start == b.start or starts_inside:
                raise ValueError(
                    f"{_entry(fi, first)} and {_entry(si, second)} overlap; metastatic lines do not overlap — "
                    "merge them into one entry if they are one regimen, or correct the dates"
                )


def _refuse_missing_ordinals(entries: list[HistoryLine]) -> None:
    """Refuse recorded line numbers that leave earlier lines out (a history starting at ``line: 2``) or repeat one.

    Counting from the entries given would call the next regimen one line too early, and options whose label needs
    more prior lines would be withheld on a guess (issue 8 item 3). Without ``line`` numbers lines are counted from
    the entries given, oldest first.

    Raises
    ------
    ValueError
        Naming the line(s) not recorded and the two ways to fix it.
    """
    recorded = [(h.line, i) for i, h in enumerate(entries) if h.line is not None]
    if not recorded:
        return
    seen: dict[int, int] = {}
    for n, i in recorded:
        if n in seen:
            raise ValueError(
                f"history[{seen[n]}] and history[{i}] are both recorded as line {n}; number each metastatic line once"
            )
        seen[n] = i
    top = max(seen)
    missing = top - len(seen)  # the recorded numbers are distinct and >= 1: the rest of 1..top are absent
    unnumbered = len(entries) - len(recorded)
    if missing > unnumbered:
        # named lazily: `line: 1000000000` must not list (or hold in memory) a billion absent numbers
        first = list(itertools.islice((n for n in range(1, top + 1) if n not in seen), 5))
        names = ", ".join(str(n) for n in first) + (f" and {missing - len(first):,} more" if missing > 5 else "")
        raise ValueError(
            f"history is numbered up to line {top} but line(s) {names} not given: the line now being chosen "
            "would be guessed - give every metastatic line from line 1 (drugs, dates, how it ended), or leave `line` "
            "out to count lines from the entries given"
        )


class Patient(_Frozen):
    """One patient with metastatic breast cancer at a treatment decision.

    Raises
    ------
    pydantic.ValidationError
        For a malformed field; :func:`oncoline.io.patient_file.load_patient` turns it into an
        :class:`~oncoline.errors.InputError` naming the file, the field and the fix.
    """

    id: str = Field(default="patient", description="Free-text identifier.")
    age: float | None = Field(default=None, ge=0, le=120, description="Years.")
    sex: str | None = None
    ecog: int | None = Field(default=None, ge=0, le=4, description="ECOG performance status.")
    menopausal_status: str | None = Field(default=None, description="pre | peri | post")
    tumor: Tumor = Field(default_factory=Tumor)
    presentation: str | None = Field(default=None, description="de_novo | recurrent")
    early_therapy: list[EarlyTherapy] = Field(default_factory=_no_items)
    metastatic_diagnosis: CalendarDate | None = None
    recurrence_date: CalendarDate | None = Field(
        default=None, description="Documented recurrence (defaults to metastatic_diagnosis)."
    )
    sites: list[MetastaticSite] = Field(default_factory=_no_items)
    history: list[HistoryLine] = Field(
        default_factory=_no_items, description="Metastatic lines already given, any order."
    )
    exposures: list[Exposure] = Field(
        default_factory=_no_items, description="Raw drug exposures; lines are derived from them when history is empty."
    )
    primary_tumor: PrimaryTumor | None = None
    preferences: Preferences = Field(default_factory=Preferences)
    conditions: Conditions = Field(default_factory=Conditions)
    as_of: CalendarDate | None = Field(default=None, description="Answer as the knowledge stood on this date.")

    @field_validator("menopausal_status", mode="before")
    @classmethod
    def _meno(cls, v: Any) -> Any:
        if v is None:
            return None
        text = str(v).strip().lower().replace("menopausal", "").strip("-_ ")
        if text not in {"pre", "peri", "post"}:
            raise ValueError("must be pre | peri | post")
        return text

    @field_validator("presentation", mode="before")
    @classmethod
    def _presentation(cls, v: Any) -> Any:
        if v is None:
            return None
        text = str(v).strip().lower().replace(" ", "_").replace("-", "_")
        text = {"denovo": "de_novo", "relapse": "recurrent", "recurrence": "recurrent"}.get(text, text)
        if text not in {"de_novo", "recurrent"}:
            raise ValueError("must be de_novo | recurrent")
        return text

    @field_validator("history")
    @classmethod
    def _order(cls, v: list[HistoryLine]) -> list[HistoryLine]:
        # Input order of history entries must not change the answer: order by start, then recorded ordinal.
        _refuse_repeated_lines(v)
        _refuse_missing_ordinals(v)
        far = dt.date.max
        return sorted(v, key=lambda h: (h.start or far, h.line or 0, tuple(h.drugs)))

    def dates_after(self, day: dt.date, /) -> list[tuple[str, dt.date]]:
        """Every recorded date later than ``day``, as ``(field path, date)`` — e.g. to refuse dates in the future.

        >>> Patient(metastatic_diagnosis=dt.date(2030, 1, 1)).dates_after(dt.date(2026, 1, 1))
        [('metastatic_diagnosis', datetime.date(2030, 1, 1))]
        """
        found: list[tuple[str, dt.date | None]] = [
            ("metastatic_diagnosis", self.metastatic_diagnosis),
            ("recurrence_date", self.recurrence_date),
        ]
        for i, e in enumerate(self.early_therapy):
            found += [(f"early_therapy.{i}.start", e.start), (f"early_therapy.{i}.end", e.end)]
        for i, h in enumerate(self.history):
            found += [(f"history.{i}.start", h.start), (f"history.{i}.end", h.end)]
        for i, x in enumerate(self.exposures):
            found += [(f"exposures.{i}.start", x.start), (f"exposures.{i}.end", x.end)]
        return [(path, value) for path, value in found if value is not None and value > day]

    def brain_sites(self) -> list[MetastaticSite]:
        """Brain and leptomeningeal sites."""
        return [s for s in self.sites if s.site in (SiteKind.BRAIN, SiteKind.LEPTOMENINGEAL)]

    def has_site(self, kind: SiteKind) -> bool:
        """True when a metastatic site of ``kind`` is recorded."""
        return any(s.site == kind for s in self.sites)
