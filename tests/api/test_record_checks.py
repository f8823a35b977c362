"""A new user's findings (notes/nu-web.md): the record must be the chart's patient, unreadable records are counted
and shown at every door, hooks take only application/json, the page speaks its own field names, a draft without
an id gets no delete action, and ``oncoline feedback`` prints one line per override reason."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from oncoline.cli.app import app as cli_app
from tests.api.conftest import NEXT_LINE, TestClient

Hook = Callable[..., dict[str, Any]]
Token = Callable[..., str]


def _post(client: TestClient, body: dict[str, Any], token: Token, service: str = NEXT_LINE) -> Any:
    return client.post(f"/cds-services/{service}", json=body, headers={"Authorization": f"Bearer {token(service)}"})


# (1) the record must be the open chart's patient ------------------------------------------------------------


def test_prefetch_of_another_patient_is_412_not_a_recommendation(client: TestClient, hook: Hook, token: Token) -> None:
    body = hook()
    body["context"]["patientId"] = "OTHER"
    r = _post(client, body, token)
    assert r.status_code == 412, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert "does not match this chart" in problem["detail"] and "1 Patient" in problem["detail"]
    assert "cards" not in problem


def test_resources_referring_to_another_patient_are_412(client: TestClient, hook: Hook, token: Token) -> None:
    body = hook()
    obs = body["prefetch"]["observations"]["entry"][0]["resource"]
    obs["subject"] = {"reference": "https://ehr.test/fhir/Patient/someone-else"}
    r = _post(client, body, token)
    assert r.status_code == 412 and "1 Observation" in r.json()["detail"]


def test_draft_order_of_another_patient_is_412(client: TestClient, hook: Hook, token: Token) -> None:
    body = hook("order-sign")
    draft = {"resourceType": "MedicationRequest", "id": "d1", "status": "draft", "intent": "order"}
    draft["subject"] = {"reference": "Patient/someone-else"}
    draft["medicationCodeableConcept"] = {"text": "tucatinib"}
    body["context"]["draftOrders"] = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": draft}]}
    r = _post(client, body, token, "oncoline-order-sign")
    assert r.status_code == 412 and "MedicationRequest" in r.json()["detail"]


def test_hook_without_patient_id_is_400(client: TestClient, hook: Hook, token: Token) -> None:
    body = hook()
    del body["context"]["patientId"]
    r = _post(client, body, token)
    assert r.status_code == 400 and r.json()["field"] == "context.patientId"


# (2) unreadable records are reported -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "kind"),
    [("patient", "str", "string"), ("conditions", 5, "number"), ("observations", [], "array"), ("conditions", {}, "")],
)
def test_wrong_typed_prefetch_key_is_400(
    client: TestClient, hook: Hook, token: Token, key: str, value: Any, kind: str
) -> None:
    body = hook()
    body["prefetch"][key] = value
    r = _post(client, body, token)
    assert r.status_code == 400, r.text
    problem = r.json()
    assert problem["field"] == f"prefetch.{key}" and kind in problem["detail"]


def test_unreadable_prefetch_entries_give_a_counted_warning_card(client: TestClient, hook: Hook, token: Token) -> None:
    body = hook()
    entries = body["prefetch"]["observations"]["entry"]
    entries.extend([None, {"resource": None}, {"resource": {"resourceType": "Observation", "status": 42}}])
    r = _post(client, body, token)
    assert r.status_code == 200, r.text
    (dq,) = [c for c in r.json()["cards"] if "could not be read" in c["summary"]]
    assert dq["indicator"] == "warning"
    assert dq["summary"].startswith("3 record(s)")
    assert f"prefetch observations: Bundle entry {len(entries) - 2} holds no FHIR resource" in dq["detail"]
    assert f"Bundle entry {len(entries) - 1} holds no FHIR resource" in dq["detail"]
    assert "Observation (entry" in dq["detail"] and "does not conform to FHIR R4" in dq["detail"]


def test_clean_prefetch_has_no_data_quality_card(client: TestClient, hook: Hook, token: Token) -> None:
    r = _post(client, hook(), token)
    assert not [c for c in r.json()["cards"] if "could not be read" in c["summary"]]


BAD_BUNDLES = {
    "invalid-observation": (
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": {"resourceType": "Observation", "status": 42}}],
        },
        "Observation (entry 1): does not conform to FHIR R4",
    ),
    "null-entries": (
        {"resourceType": "Bundle", "type": "collection", "entry": [None, {"resource": None}]},
        "Bundle entry 2: entry holds no resource",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_BUNDLES))
def test_rest_json_carries_the_data_quality_findings(client: TestClient, name: str) -> None:
    bundle, expected = BAD_BUNDLES[name]
    r = client.post("/api/v1/recommend", content=json.dumps(bundle), headers={"Content-Type": "application/fhir+json"})
    assert r.status_code == 200, r.text
    dq = r.json()["data_quality"]
    assert dq["count"] == len(dq["findings"]) == int(r.headers["X-Oncoline-Data-Quality"]) >= 1
    assert any(expected in f for f in dq["findings"]), dq


def test_cli_prints_the_same_findings(tmp_path: Path) -> None:
    bundle, expected = BAD_BUNDLES["invalid-observation"]
    path = tmp_path / "bad.fhir.json"
    path.write_text(json.dumps(bundle))
    result = CliRunner().invoke(cli_app, ["recommend", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert expected in result.stdout.split("\n{", 1)[-1] or expected in result.output
    start = result.stdout.index("{")
    assert any(expected in f for f in json.loads(result.stdout[start:])["data_quality"]["findings"])


def test_clean_document_has_no_data_quality_member(client: TestClient) -> None:
    from tests.api.conftest import FHIR_BUNDLE

    r = client.post(
        "/api/v1/recommend", content=FHIR_BUNDLE.read_bytes(), headers={"Content-Type": "application/fhir+json"}
    )
    assert r.status_code == 200
    assert ("data_quality" in r.json()) == (r.headers["X-Oncoline-Data-Quality"] != "0")


# (3) hooks take application/json only -------------------------------------------------------------------------


@pytest.mark.parametrize("media", ["text/plain", ""])
def test_hook_with_another_content_type_is_415(client: TestClient, hook: Hook, token: Token, media: str) -> None:
    r = client.post(
        f"/cds-services/{NEXT_LINE}",
        content=json.dumps(hook()),
        headers={"Authorization": f"Bearer {token()}", "Content-Type": media},
    )
    assert r.status_code == 415 and r.headers["content-type"] == "application/problem+json"
    assert "application/json" in r.json()["detail"]


# (4) the page names its own field ------------------------------------------------------------------------------


def test_page_error_names_the_decision_date_not_the_cli_option(dev_client: TestClient) -> None:
    patient = "id: p1\nmetastatic_diagnosis: 2024-03-01\ntumor:\n  her2: {ihc: 3}\n"
    r = dev_client.post("/view", data={"text": patient, "as_of": "2020-01-01"})
    assert r.status_code == 422, r.text
    error = r.text.split('class="error"', 1)[1].split("</section>", 1)[0]
    assert "--as-of" not in error
    assert "Decision date" in error


def test_page_error_mapping_keeps_other_words() -> None:
    from oncoline.api.web import page_error
    from oncoline.errors import InputError

    text, field = page_error(InputError("2030-01-01 is in the future; give --as-of DATE", field="--as-of"))
    assert field == "Decision date" and "--as-of" not in text and "set the Decision date" in text
    text, field = page_error(InputError("ihc must be 0-3", field="tumor.her2.ihc"))
    assert field == "tumor.her2.ihc" and "ihc must be 0-3" in text


# (5) a draft without an id gets no delete action ----------------------------------------------------------------


def test_draft_without_id_gets_no_invalid_delete_action(client: TestClient, hook: Hook, token: Token) -> None:
    from oncoline.knowledge.loader import load_knowledge

    rx = load_knowledge().vocab.rxnorm("trastuzumab deruxtecan")
    draft = {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/onc-her2pos-01"},
        "medicationCodeableConcept": {
            "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": rx}],
            "text": "Enhertu",
        },
    }
    body = hook("order-sign")
    body["context"]["draftOrders"] = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": draft}]}
    r = _post(client, body, token, "oncoline-order-sign")
    assert r.status_code == 200, r.text
    (critical,) = [c for c in r.json()["cards"] if c["indicator"] == "critical"]
    actions = [a for s in critical["suggestions"] for a in s["actions"]]
    assert actions and all(a["type"] != "delete" for a in actions), actions
    with_id = copy.deepcopy(body)
    with_id["context"]["draftOrders"]["entry"][0]["resource"]["id"] = "mr-123"
    r = _post(client, with_id, token, "oncoline-order-sign")
    (critical,) = [c for c in r.json()["cards"] if c["indicator"] == "critical"]
    deletes = [a for s in critical["suggestions"] for a in s["actions"] if a["type"] == "delete"]
    assert [a["resourceId"] for a in deletes] == ["MedicationRequest/mr-123"]


# (7) oncoline feedback: one line per override reason -------------------------------------------------------------


def test_feedback_tree_has_no_empty_display_or_bare_number(tmp_path: Path) -> None:
    import datetime as dt

    from oncoline.app.feedback import FeedbackRecord, FeedbackStore

    db = tmp_path / "fb.sqlite"
    store = FeedbackStore(db)
    store.append(
        [
            FeedbackRecord(
                service=NEXT_LINE,
                card="c1",
                card_kind="withheld:tdxd",
                outcome="overridden",
                override_code="mdt-decision",
            ),
            FeedbackRecord(
                service=NEXT_LINE,
                card="c2",
                card_kind="withheld:tdxd",
                outcome="overridden",
                override_code="clinical-trial",
                override_display="Given within a clinical trial",
            ),
        ],
        received_at=dt.datetime.now(dt.UTC),
    )
    store.close()
    result = CliRunner().invoke(cli_app, ["feedback", "--db", str(db)])
    assert result.exit_code == 0, result.output
    lines = [ln.strip(" │├└─") for ln in result.stdout.splitlines()]
    assert "mdt-decision: 1" in lines
    assert "Given within a clinical trial (clinical-trial): 1" in lines
    assert not any(ln in ("1", "2", "display:") for ln in lines), result.stdout


# (6) the page: source-tag legend, future-date rule, short links in print -----------------------------------------


def test_page_explains_source_tags_and_the_date_rule_and_prints_short_links(dev_client: TestClient) -> None:
    from oncoline.api.web import examples

    r = dev_client.get("/view", params={"example": next(iter(examples()))})
    assert r.status_code == 200, r.text
    page = r.text
    assert "(probable)</strong> —" in page and "(unconfirmed)</strong> —" in page
    assert "Not after today" in page
    assert 'data-short="doi:10.' in page
    css = dev_client.get("/static/oncoline.css").text
    assert "print-color-adjust: exact" in css and "attr(data-short)" in css and "attr(href)" not in css
    assert "datetime-edit-month-field:focus" in css
