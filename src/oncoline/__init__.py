"""oncoline: evidence-linked next-line decision support and line-of-therapy analytics for HER2-positive
metastatic breast cancer.

Decision support for clinicians, not a prescription: every output carries its sources and knowledge version.
"""

from __future__ import annotations

from oncoline.errors import (
    BackendError,
    DataQualityWarning,
    EngineError,
    InputError,
    KnowledgeBaseError,
    OncolineError,
    OncolineWarning,
    UnknownDrugError,
)
from oncoline.io.patient_file import load_patient
from oncoline.knowledge.drugs import load_vocabulary
from oncoline.model import Exposure, HistoryLine, Patient

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "DataQualityWarning",
    "EngineError",
    "Exposure",
    "HistoryLine",
    "InputError",
    "KnowledgeBaseError",
    "OncolineError",
    "OncolineWarning",
    "Patient",
    "UnknownDrugError",
    "__version__",
    "load_patient",
    "load_vocabulary",
]
