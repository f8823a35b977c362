"""CDS Hooks 2.0 conformance: discovery, prefetch tokens, 412, OperationOutcome prefetch, fhirServer fetching,
card shape, order checks with override reasons and suggestions, feedback into the append-only store."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest
from typer.testing import CliRunner

from oncoline.api.cds import PREFETCH, SERVICES
from oncoline.cli.app import app as cli_app
from tests.api.conftest import NEXT_LINE, PUBLIC, FhirStub, TestClient

INDICATORS = {"info", "warning", "critical"}
# CDS Hooks 2.0 §Prefetch tokens: only root-level context fields and the user identifiers
TOKEN_GRAMMAR = re.compile(
    r"^(context\.[A-Za-z][A-Za-z0-9]*|userPractitionerId|userPractitionerRoleId|userPatientId|userRelatedPersonId)$"
)


def _no_empty(value: Any, where: str = "") -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            assert v is not None and v != [] and v != {} and v != "", f"{where}.{k} is null or empty"
            _no_empty(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _no_empty(v, f"{where}[{i}]")


def _check_card(card: dict[str, Any]) -> None:
    assert set(card) <= {
        "uuid",
        "summary",
        "detail",
        "indicator",
        "source",
        "suggestions",
        "selectionBehavior",
        "overrideReasons",
        "links",
    }
    assert len(card["summary"]) < 140
    assert card["indicator"] in INDICATORS
    assert card["source"]["label"]
    assert re.fullmatch(r"[0-9a-f-]{36}", card["uuid"])
    if "suggestions" in card:
        assert card["selectionBehavior"] in ("at-most-one", "any")
        for s in card["suggestions"]:
            assert s["label"]
            for a in s.get("actions", []):
                assert a["type"] in ("create", "update", "delete") and a["description"]
    for link in card.get("links", []):
        assert link["type"] in ("absolute", "smart") and link["url"].startswith(("http://", "https://"))
    _no_empty(card, "card")


def test_discovery_shape(client: TestClient) -> None:
    r = client.get("/cds-services")
    assert r.status_code == 200
    services = r.json()["services"]
    assert {s["hook"] for s in services} == {"patient-view", "order-select", "order-sign"}
    for s in services:
        assert {"hook", "id", "description"} <= set(s)
        assert set(s) <= {"hook", "id", "title", "description", "prefetch", "usageRequirements"}
        _no_empty(s, s["id"])


def test_prefetch_templates_use_only_root_level_context_tokens() -> None:
    for spec in SERVICES.values():
        for template in spec["prefetch"].values():
            tokens = re.findall(r"\{\{(.*?)\}\}", template)
            assert tokens, template
            for t in tokens:
                assert TOKEN_GRAMMAR.match(t.strip()), f"{t!r} in {template!r}"
    assert re.fullmatch(r"[A-Z][A-Za-z]+(/\{\{context\.patientId\}\}|\?.+)", PREFETCH["patient"])


def test_patient_view_cards(client: TestClient, hook: Callable[..., dict[str, Any]], token: Callable[..., str]) -> None:
    r = client.post(f"/cds-services/{NEXT_LINE}", json=hook(), headers={"Authorization": f"Bearer {token()}"})
    assert r.status_code == 200, r.text
    cards = r.json()["cards"]
    for card in cards:
        _check_card(card)
    first = cards[0]
    assert first["summary"].startswith("Line 3: preferred TTC")
    assert "HER2CLIMB" in first["detail"] and "Knowledge version" in first["detail"]
    assert first["source"]["topic"]["code"] == "next-line"
    link = first["links"][0]["url"]
    assert link.startswith(f"{PUBLIC}/view/")
    # the link opens this patient's tumour-board view
    page = client.get(link.removeprefix(PUBLIC))
    assert page.status_code == 200 and "TTC (tucatinib + trastuzumab + capecitabine)" in page.text
    # brain metastases without status: a warning card asks for the missing fact
    assert any(c["indicator"] == "warning" and "Brain metastases" in c["summary"] for c in cards[1:])


def test_412_without_prefetch_or_fhir_server(
    client: TestClient, hook: Callable[..., dict[str, Any]], token: Callable[..., str]
) -> None:
    body = hook()
    del body["prefetch"]
    r = client.post(f"/cds-services/{NEXT_LINE}", json=body, headers={"Authorization": f"Bearer {token()}"})
    assert r.status_code == 412
    assert r.headers["content-type"] == "application/problem+json"
    assert "fhirServer" in r.json()["detail"]


def test_operation_outcome_prefetch_is_fetched_from_fhir_server(
    client: TestClient, hook: Callable[..., dict[str, Any]], token: Callable[..., str], fhir_stub: FhirStub
) -> None:
    body = hook(
        fhirServer=fhir_stub.url,
        fhirAuthorization={
            "access_token": "ehr-secret",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "oncoline",
        },
    )
    body["prefetch"]["medicationAdministrations"] = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout"}],
    }
    r = client.post(f"/cds-services/{NEXT_LINE}", json=body, headers={"Authorization": f"Bearer {token()}"})
    assert r.status_code == 200, r.text
    assert [p for p, _ in fhir_stub.requests] == ["/fhir/MedicationAdministration?patient=onc-her2pos-01"]
    assert fhir_stub.requests[0][1] == "Bearer ehr-secret"
    # the fetched medications count: line 3 (after THP and T-DXd), as with the full prefetch
    assert r.json()["cards"][0]["summary"].startswith("Line 3:")


def test_absent_prefetch_fetched_from_fhir_server(
    client: TestClient, hook: Callable[..., dict[str, Any]], token: Callable[..., str], fhir_stub: FhirStub
) -> None:
    body = hook(fhirServer=fhir_stub.url)
    del body["prefetch"]
    r = client.post(f"/cds-services/{NEXT_LINE}", json=body, headers={"Authorization": f"Bearer {token()}"})
    assert r.status_code == 200, r.text
    paths = sorted(p.split("?")[0] for p, _ in fhir_stub.requests)
    assert "/fhir/Patient/onc-her2pos-01" in paths and len(paths) == len(PREFETCH)
    assert r.json()["cards"][0]["summary"].startswith("Line 3: preferred TTC")


def test_fhir_server_down_is_412(
    client: TestClient, hook: Callable[..., dict[str, Any]], token: Callable[..., str]
) -> None:
    body = hook(fhirServer="http://127.0.0.1:9/fhir")  # discard port: nothing listens
    del body["prefetch"]
    r = client.post(f"/cds-services/{NEXT_LINE}", json=body, headers={"Authorization": f"Bearer {token()}"})
    assert r.status_code == 412


def _draft(rid: str, rxnorm: str, text: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/onc-her2pos-01"},
        "medicationCodeableConcept": {
            "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": rxnorm}],
            "text": text,
        },
    }


def _orders(*drafts: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": d} for d in drafts]}


def test_order_sign_withheld_regimen_is_critical_with_override_and_suggestion(
    client: TestClient, hook: Callable[..., dict[str, Any]], token: Callable[..., str]
) -> None:
    from oncoline.knowledge.loader import load_knowledge

    rx = load_knowledge().vocab.rxnorm("trastuzumab deruxtecan")
    assert rx
    body = hook("order-sign")
    body["context"]["draftOrders"] = _orders(_draft("d1", rx, "Enhertu"))
    service = "oncoline-order-sign"
    r = client.post(f"/cds-services/{service}", json=body, headers={"Authorization": f"Bearer {token(service)}"})
    assert r.status_code == 200, r.text
    cards = r.json()["cards"]
    for card in cards:
        _check_card(card)
    critical = [c for c in cards if c["indicator"] == "critical"]
    assert len(critical) == 1
    card = critical[0]
    assert "T-DXd" in card["summary"] and "progressed on trastuzumab deruxtecan" in card["summary"]
    assert card["overrideReasons"] and all({"system", "code", "display"} <= set(c) for c in card["overrideReasons"])
    suggestion = card["suggestions"][0]
    assert suggestion["label"].startswith("Order TTC")
    kinds = [a["type"] for a in suggestion["actions"]]
    assert kinds[0] == "delete" and suggestion["actions"][0]["resourceId"] == "MedicationRequest/d1"
    created = {
        a["resource"]["medicationCodeableConcept"]["text"] for a in suggestion["actions"] if a["type"] == "create"
    }
    assert created == {"tucatinib", "trastuzumab", "capecitabine"}
    assert card["source"]["label"]  # a citation names the source of the exclusion


def test_order_select_preferred_regimen_is_info(
    client: TestClient, hook: Callable[..., dict[str, Any]], token: Callable[..., str]
) -> None:
    from oncoline.knowledge.loader import load_knowledge

    vocab = load_knowledge().vocab
    drafts = [
        _draft(f"d{i}", vocab.rxnorm(d) or "", d) for i, d in enumerate(["tucatinib", "trastuzumab", "capecitabine"])
    ]
    body = hook("order-select")
    body["context"]["draftOrders"] = _orders(*drafts)
    body["context"]["selections"] = ["MedicationRequest/d0"]
    service = "oncoline-order-select"
    r = client.post(f"/cds-services/{service}", json=body, headers={"Authorization": f"Bearer {token(service)}"})
    assert r.status_code == 200, r.text
    cards = r.json()["cards"]
    assert not [c for c in cards if c["indicator"] == "critical"]
    assert any(
        c["indicator"] == "info" and c["summary"].startswith("TTC (tucatinib") and "preferred" in c["summary"]
        for c in cards
    )


def test_unreadable_record_is_a_card_not_a_500(
    client: TestClient, hook: Callable[..., dict[str, Any]], token: Callable[..., str]
) -> None:
    body = hook()
    # a dose given on a date that has not come: the record cannot be used as it stands (another patient's record is
    # a 412: tests/api/test_record_checks.py)
    given = body["prefetch"]["medicationAdministrations"]["entry"][-1]["resource"]
    for key in [k for k in given if k.startswith("effective")]:
        del given[key]
    given["effectiveDateTime"] = "2999-01-01"
    r = client.post(f"/cds-services/{NEXT_LINE}", json=body, headers={"Authorization": f"Bearer {token()}"})
    assert r.status_code == 200
    (card,) = r.json()["cards"]
    assert card["indicator"] == "warning" and "in the future" in card["detail"]


@pytest.mark.parametrize(
    "body",
    [b"{}", b"[]", b"not json", b'{"hook": "patient-view", "hookInstance": "1"}'],
)
def test_malformed_hook_request_is_400(client: TestClient, token: Callable[..., str], body: bytes) -> None:
    r = client.post(
        f"/cds-services/{NEXT_LINE}",
        content=body,
        headers={"Authorization": f"Bearer {token()}", "Content-Type": "application/json"},
    )
    assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"


def test_wrong_hook_for_service_is_400(
    client: TestClient, hook: Callable[..., dict[str, Any]], token: Callable[..., str]
) -> None:
    r = client.post(
        f"/cds-services/{NEXT_LINE}", json=hook("order-sign"), headers={"Authorization": f"Bearer {token()}"}
    )
    assert r.status_code == 400 and r.json()["field"] == "hook"


def test_feedback_is_stored_append_only_and_summarised(
    client: TestClient, config: Any, hook: Callable[..., dict[str, Any]], token: Callable[..., str]
) -> None:
    r = client.post(f"/cds-services/{NEXT_LINE}", json=hook(), headers={"Authorization": f"Bearer {token()}"})
    card = r.json()["cards"][0]["uuid"]
    feedback = {
        "feedback": [
            {
                "card": card,
                "outcome": "accepted",
                "acceptedSuggestions": [],
                "outcomeTimestamp": "2026-12-06T10:00:00Z",
            },
            {
                "card": card,
                "outcome": "overridden",
                "overrideReason": {
                    "reason": {
                        "system": "https://oncoline.readthedocs.io/cds/override-reason",
                        "code": "mdt-decision",
                        "display": "Multidisciplinary tumour board decision",
                    },
                    "userComment": "board chose otherwise",
                },
                "outcomeTimestamp": "2026-12-06T10:01:00Z",
            },
        ]
    }
    r = client.post(
        f"/cds-services/{NEXT_LINE}/feedback", json=feedback, headers={"Authorization": f"Bearer {token()}"}
    )
    assert r.status_code == 200 and r.json() == {"stored": 2}
    # no token → refused like the hook itself
    assert client.post(f"/cds-services/{NEXT_LINE}/feedback", json=feedback).status_code == 401
    db = sqlite3.connect(config.feedback_db)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM feedback")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE feedback SET outcome = 'accepted'")
    db.close()
    result = CliRunner().invoke(cli_app, ["feedback", "--db", str(config.feedback_db), "--json"])
    assert result.exit_code == 0, result.output
    import json

    summary = json.loads(result.stdout)
    assert summary["total"] == 2
    assert summary["by_service"][NEXT_LINE] == {"accepted": 1, "overridden": 1}
    assert summary["by_card_kind"]["next-line"] == {"accepted": 1, "overridden": 1}
    assert summary["override_reasons"][0]["code"] == "mdt-decision"


def test_feedback_cli_names_a_missing_store(tmp_path: Any) -> None:
    result = CliRunner().invoke(cli_app, ["feedback", "--db", str(tmp_path / "none.sqlite")])
    assert result.exit_code == 2 and "does not exist" in " ".join(result.output.split())


def test_one_safety_card_per_finding(case_path: Callable[[str], Any]) -> None:
    from oncoline.api.cds.cards import safety_cards
    from oncoline.api.config import ServiceConfig
    from oncoline.api.state import ServiceState
    from oncoline.app import recommend_document

    state = ServiceState(ServiceConfig())
    outcome = recommend_document(case_path("patients/p-lvef-30-heart-failure.yaml"))
    cards = safety_cards(outcome, state, NEXT_LINE)
    lvef = [c for c in cards if "lvef" in c["summary"]]
    # the HER2-antibody rule and the lapatinib baseline rule: two findings, each naming what it withholds
    assert len(lvef) == 2
    assert "THP" in lvef[0]["summary"] and "T-DXd + pertuzumab" in lvef[0]["detail"]
    for card in cards:
        _check_card(card)
    ild = safety_cards(recommend_document(case_path("patients/p-3l-after-ild-grade2.yaml")), state, NEXT_LINE)
    assert [c["summary"] for c in ild] == ["Safety (contraindicated ild): withholds T-DXd (trastuzumab deruxtecan)"]


def test_same_chart_again_is_answered_from_the_outcome_cache(
    client: TestClient,
    hook: Callable[..., dict[str, Any]],
    token: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import oncoline.app

    calls: list[int] = []
    real = oncoline.app.recommend_document

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(oncoline.app, "recommend_document", counting)
    body = hook()
    first = client.post(f"/cds-services/{NEXT_LINE}", json=body, headers={"Authorization": f"Bearer {token()}"})
    again = client.post(f"/cds-services/{NEXT_LINE}", json=body, headers={"Authorization": f"Bearer {token()}"})
    assert len(calls) == 1
    assert [c["summary"] for c in first.json()["cards"]] == [c["summary"] for c in again.json()["cards"]]
    body["prefetch"]["observations"]["entry"].pop()  # a different chart is computed afresh
    client.post(f"/cds-services/{NEXT_LINE}", json=body, headers={"Authorization": f"Bearer {token()}"})
    assert len(calls) == 2


@pytest.mark.parametrize("server", ["http://ehr.example.org/fhir", "http://localhost.evil.test/fhir", "ftp://x/fhir"])
def test_fhir_server_without_tls_is_refused(
    client: TestClient, hook: Callable[..., dict[str, Any]], token: Callable[..., str], server: str
) -> None:
    body = hook(fhirServer=server)
    del body["prefetch"]
    r = client.post(f"/cds-services/{NEXT_LINE}", json=body, headers={"Authorization": f"Bearer {token()}"})
    assert r.status_code == 412 and "https" in r.json()["detail"]
