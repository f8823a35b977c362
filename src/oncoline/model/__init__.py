"""Domain model: pure, frozen pydantic models (no FHIR, database or web imports — house style S7).

The patient models are imported on first access (PEP 562, :mod:`oncoline._lazy`): importing a submodule such
as :mod:`oncoline.model.lines` (the cohort line engines need only its enums) does not build them (about 0.1 s of
CPU time, issue 13: whole-process cost of ``oncoline lines``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from oncoline._lazy import lazy_exports

if TYPE_CHECKING:
    from oncoline.model.patient import (
        BrainStatus,
        Conditions,
        EarlyTherapy,
        Exposure,
        Her2Raw,
        HistoryLine,
        IhcScore,
        IldHistory,
        LungDisease,
        MetastaticSite,
        Patient,
        Preferences,
        PrimaryTumor,
        SiteKind,
        StopReason,
        Toxicity,
        Tumor,
    )

_LAZY: dict[str, str] = {
    "BrainStatus": "oncoline.model.patient",
    "Conditions": "oncoline.model.patient",
    "EarlyTherapy": "oncoline.model.patient",
    "Exposure": "oncoline.model.patient",
    "Her2Raw": "oncoline.model.patient",
    "HistoryLine": "oncoline.model.patient",
    "IhcScore": "oncoline.model.patient",
    "IldHistory": "oncoline.model.patient",
    "LungDisease": "oncoline.model.patient",
    "MetastaticSite": "oncoline.model.patient",
    "Patient": "oncoline.model.patient",
    "Preferences": "oncoline.model.patient",
    "PrimaryTumor": "oncoline.model.patient",
    "SiteKind": "oncoline.model.patient",
    "StopReason": "oncoline.model.patient",
    "Toxicity": "oncoline.model.patient",
    "Tumor": "oncoline.model.patient",
}

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

__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)
