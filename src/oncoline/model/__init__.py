"""Domain model: pure, frozen pydantic models (no FHIR, database or web imports — house style S7)."""

from oncoline.model.patient import (
    BrainStatus,
    Conditions,
    EarlyTherapy,
    Exposure,
    Her2Raw,
    HistoryLine,
    IhcScore,
    IldHistory,
    MetastaticSite,
    Patient,
    Preferences,
    PrimaryTumor,
    SiteKind,
    StopReason,
    Toxicity,
    Tumor,
)

__all__ = [
    "BrainStatus",
    "Conditions",
    "EarlyTherapy",
    "Exposure",
    "Her2Raw",
    "HistoryLine",
    "IhcScore",
    "IldHistory",
    "MetastaticSite",
    "Patient",
    "Preferences",
    "PrimaryTumor",
    "SiteKind",
    "StopReason",
    "Toxicity",
    "Tumor",
]
