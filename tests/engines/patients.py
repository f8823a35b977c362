"""A HER2-positive patient builder shared by the recommender tests: a base record plus per-test overrides."""

from __future__ import annotations

from typing import Any

from oncoline.model import Patient

BASE: dict[str, Any] = {
    "age": 55,
    "menopausal_status": "post",
    "tumor": {"er_percent": 0, "pr_percent": 0, "her2": {"ihc": "3+"}},
    "presentation": "de_novo",
    "sites": [{"site": "liver"}],
    "conditions": {"lvef_percent": 60, "pregnant": False, "neuropathy_grade": 0},
}


def merged_patient(base: dict[str, Any], extra: dict[str, Any]) -> Patient:
    """``base`` with ``extra`` applied: mapping fields (tumor, conditions …) merge one level deep, others replace."""
    merged = {**BASE, **base}
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return Patient.model_validate(merged)
