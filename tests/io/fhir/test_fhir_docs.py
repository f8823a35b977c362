"""docs/fhir-mapping.md lists every code of knowledge/data/fhir_codes.yaml (the doc is checked against the data)."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]


def _codes() -> set[str]:
    data = yaml.safe_load((ROOT / "src/oncoline/knowledge/data/fhir_codes.yaml").read_text(encoding="utf-8"))
    found: set[str] = set()
    for table in ("observations", "answers", "secondary_conditions", "body_sites", "stop_reasons"):
        found |= {str(row["code"]) for row in data[table]}
    for values in data["primary_breast"].values():
        found |= {str(v) for v in values}
    found |= {str(v) for v in data["stage_iv_values"] + data["m1_values"] + data["lvef_baseline_words"]}
    found |= {uri for uris in data["systems"].values() for uri in uris}
    rules = data["presentation_rules"]
    found |= {str(rules["de_novo_window_days"]), str(rules["recurrent_after_days"])}
    return found


def test_every_code_of_fhir_codes_yaml_is_in_the_mapping_doc() -> None:
    doc = (ROOT / "docs/fhir-mapping.md").read_text(encoding="utf-8")
    missing = sorted(code for code in _codes() if code not in doc)
    assert not missing, f"docs/fhir-mapping.md does not list {missing}: update it from fhir_codes.yaml"


def test_the_doc_names_the_codes_clinicians_ask_about() -> None:
    doc = (ROOT / "docs/fhir-mapping.md").read_text(encoding="utf-8")
    for text in ("97509-4", "407563006", "89247-1", "10230-1", "82810-3", "partial date", "RxNorm", "CAP eCC"):
        assert text in doc, text
