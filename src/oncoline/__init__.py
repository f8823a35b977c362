"""oncoline: evidence-linked next-line decision support and line-of-therapy analytics for HER2-positive
metastatic breast cancer.

Decision support for clinicians, not a prescription: every output carries its sources and knowledge version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from oncoline._lazy import lazy_exports
from oncoline._version import __version__

if TYPE_CHECKING:  # the names below are imported on first use (a command pays only for what it uses)
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

_LAZY: dict[str, str] = {
    "BackendError": "oncoline.errors",
    "DataQualityWarning": "oncoline.errors",
    "EngineError": "oncoline.errors",
    "Exposure": "oncoline.model",
    "Her2Classification": "oncoline.engines.her2",
    "HistoryLine": "oncoline.model",
    "InputError": "oncoline.errors",
    "KnowledgeBase": "oncoline.knowledge.loader",
    "KnowledgeBaseError": "oncoline.errors",
    "Line": "oncoline.model.lines",
    "LineParams": "oncoline.engines.lines.params",
    "LinesResult": "oncoline.model.lines",
    "OncolineError": "oncoline.errors",
    "OncolineWarning": "oncoline.errors",
    "Patient": "oncoline.model",
    "Recommendation": "oncoline.model.recommendation",
    "UnknownDrugError": "oncoline.errors",
    "classify_her2": "oncoline.engines.her2",
    "derive_lines": "oncoline.engines.lines.reference",
    "load_knowledge": "oncoline.knowledge.loader",
    "load_line_params": "oncoline.engines.lines.params",
    "load_patient": "oncoline.io.patient_file",
    "load_vocabulary": "oncoline.knowledge.drugs",
    "recommend": "oncoline.engines.recommend",
}
"""Public name → the module that defines it, imported on first access (PEP 562)."""


__getattr__, __dir__ = lazy_exports("oncoline", globals(), _LAZY)


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
