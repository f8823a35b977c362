"""oncoline: evidence-linked next-line decision support and line-of-therapy analytics for HER2-positive
metastatic breast cancer.

Decision support for clinicians, not a prescription: every output carries its sources and knowledge version.
"""

from __future__ import annotations

from oncoline.engines.her2 import Her2Classification, classify_her2
from oncoline.engines.lines.params import LineParams, load_line_params
from oncoline.engines.lines.reference import derive_lines
from oncoline.engines.recommend import recommend
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
from oncoline.knowledge.loader import KnowledgeBase, load_knowledge
from oncoline.model import Exposure, HistoryLine, Patient
from oncoline.model.lines import Line, LinesResult
from oncoline.model.recommendation import Recommendation

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "DataQualityWarning",
    "EngineError",
    "Exposure",
    "Her2Classification",
    "HistoryLine",
    "InputError",
    "KnowledgeBase",
    "KnowledgeBaseError",
    "Line",
    "LineParams",
    "LinesResult",
    "OncolineError",
    "OncolineWarning",
    "Patient",
    "Recommendation",
    "UnknownDrugError",
    "__version__",
    "classify_her2",
    "derive_lines",
    "load_knowledge",
    "load_line_params",
    "load_patient",
    "load_vocabulary",
    "recommend",
]
