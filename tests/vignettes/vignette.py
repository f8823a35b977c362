"""Small patients written from the clinical reference (shared/reference/her2-mbc.md), run through the real
recommender: a HER2-positive base patient plus the facts a vignette changes, and readers of the answer.

No code here names a case or a patient; each test file cites the reference section its vignettes come from.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml

from oncoline import load_knowledge, recommend
from oncoline.model import Patient
from oncoline.model.recommendation import Category, Recommendation

AS_OF = dt.date(2026, 12, 1)
PATIENTS = Path(__file__).parent / "patients"

BASE: dict[str, Any] = {
    "id": "vignette",
    "age": 55,
    "ecog": 1,
    "menopausal_status": "post",
    "tumor": {"er_percent": 0, "pr_percent": 0, "her2": {"ihc": "3+"}},
    "presentation": "de_novo",
    "metastatic_diagnosis": "2026-11-01",
    "sites": [{"site": "liver"}],
    "conditions": {"lvef_percent": 62, "pregnant": False, "neuropathy_grade": 0, "crcl_ml_min": 90},
}

HR_POSITIVE = {"tumor": {"er_percent": 80, "pr_percent": 30}}
THP_PROGRESSED = {
    "metastatic_diagnosis": "2024-01-10",
    "history": [
        {"line": 1, "drugs": ["pertuzumab", "trastuzumab", "docetaxel"], "start": "2024-01-20",
         "end": "2026-10-15", "stopped": "progression"},
    ],
}  # fmt: skip
THP_TDXD_PROGRESSED = {
    "metastatic_diagnosis": "2022-01-10",
    "history": [
        {"line": 1, "drugs": ["pertuzumab", "trastuzumab", "docetaxel"], "start": "2022-01-20",
         "end": "2024-01-15", "stopped": "progression"},
        {"line": 2, "drugs": ["trastuzumab deruxtecan"], "start": "2024-02-01", "end": "2026-10-20",
         "stopped": "progression"},
    ],
}  # fmt: skip


def patient(*changes: dict[str, Any]) -> Patient:
    """The base patient with ``changes`` applied in order: mappings (tumor, conditions, …) merge one level
    deep (``tumor.her2`` two), everything else replaces."""
    merged: dict[str, Any] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in BASE.items()}
    for change in changes:
        for key, value in change.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                inner = dict(merged[key])
                for k2, v2 in value.items():
                    if isinstance(v2, dict) and isinstance(inner.get(k2), dict):
                        inner[k2] = {**inner[k2], **v2}
                    else:
                        inner[k2] = v2
                merged[key] = inner
            else:
                merged[key] = value
    return Patient.model_validate(merged)


def run(*changes: dict[str, Any], as_of: dt.date = AS_OF) -> Recommendation:
    """Recommend for the base patient with ``changes`` (see :func:`patient`) as of ``as_of``."""
    return recommend(patient(*changes), knowledge=load_knowledge(), as_of=as_of)


def run_file(name: str) -> Recommendation:
    """Recommend for a new-user patient file of ``tests/vignettes/patients`` (FORMAT.md ``kind: patient``)."""
    doc = yaml.safe_load((PATIENTS / f"{name}.yaml").read_text(encoding="utf-8"))
    as_of = doc.get("as_of", AS_OF)
    return recommend(Patient.model_validate(doc["patient"]), knowledge=load_knowledge(), as_of=as_of)


def regimens(rec: Recommendation, category: Category | str | None = None) -> list[str]:
    """Regimen ids of the options in output order, optionally of one category."""
    return [o.regimen for o in rec.options if category is None or o.category == Category(category)]


def preferred(rec: Recommendation) -> list[str]:
    """Regimen ids ranked preferred, in output order."""
    return regimens(rec, Category.PREFERRED)


def option(rec: Recommendation, regimen: str) -> Any:
    """The option for ``regimen`` (AssertionError naming what is there when absent)."""
    for o in rec.options:
        if o.regimen == regimen:
            return o
    raise AssertionError(f"no option {regimen!r}; options: {regimens(rec)}")


def flags(rec: Recommendation, regimen: str) -> str:
    """All flags, notes and the rationale of one option as one lowercase text."""
    o = option(rec, regimen)
    return " | ".join((*o.flags, *o.notes, o.rationale, o.guideline_status or "")).lower()


def excluded(rec: Recommendation) -> dict[str, str]:
    """Excluded regimen id → reason code."""
    return {e.regimen: e.reason_code for e in rec.excluded}


def drugs_offered(rec: Recommendation) -> set[str]:
    """Every drug of every option."""
    return {d for o in rec.options for d in o.drugs}


def action_codes(rec: Recommendation) -> set[str]:
    return {a.code for a in rec.actions}


def action_rules(rec: Recommendation) -> set[str]:
    return {a.rule for a in rec.actions}


def action_text(rec: Recommendation, code: str) -> str:
    return " ".join(a.text for a in rec.actions if a.code == code).lower()


def monitoring_text(rec: Recommendation) -> str:
    return " ".join(m.text for m in rec.monitoring).lower()


def missing(rec: Recommendation) -> set[str]:
    return {m.code for m in rec.missing}


def cited(rec: Recommendation, regimen: str) -> set[str]:
    """Source ids cited by the option for ``regimen``."""
    return {c.id for c in option(rec, regimen).citations}


def rank(rec: Recommendation, regimen: str) -> int:
    """Position of ``regimen`` in the output (0 = first)."""
    return regimens(rec).index(regimen)
