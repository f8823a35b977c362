"""The JWT matrix of CDS Hooks 2.0 §Trusting CDS Clients, with keys made in the test: every bad token → 401 with
WWW-Authenticate; good RS256 and ES384 tokens → 200."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from oncoline.api import ServiceConfig, create_app
from tests.api.conftest import ISS, NEXT_LINE, PUBLIC, TestClient

URL = f"/cds-services/{NEXT_LINE}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(claims: dict[str, Any]) -> str:
    head = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": "rsa-1"}).encode())
    return f"{head}.{_b64(json.dumps(claims).encode())}."


def _hs256(claims: dict[str, Any], secret: bytes) -> str:
    """HS256 signed by hand (PyJWT refuses to sign with a public key as secret — the classic confusion attack)."""
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
    signing = f"{head}.{_b64(json.dumps(claims).encode())}"
    return f"{signing}.{_b64(hmac.new(secret, signing.encode(), hashlib.sha256).digest())}"


def _claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": ISS, "aud": f"{PUBLIC}{URL}", "iat": now, "exp": now + 300, "jti": "x-" + str(now)}
    base.update(over)
    return base


def _post(client: TestClient, body: dict[str, Any], auth: str | None) -> Any:
    headers = {"Authorization": auth} if auth is not None else {}
    return client.post(URL, json=body, headers=headers)


BAD: dict[str, Callable[[Callable[..., str], dict[str, Any]], str | None]] = {
    "no token": lambda tok, keys: None,
    "not bearer": lambda tok, keys: "Basic dXNlcjpwYXNz",
    "alg none": lambda tok, keys: "Bearer " + _unsigned(_claims()),
    "HS256 with the public key as secret": lambda tok, keys: (
        "Bearer " + _hs256(_claims(), json.dumps(keys["jwks"]["keys"][0]).encode())
    ),
    "wrong aud": lambda tok, keys: "Bearer " + tok(aud="https://other.test/cds-services/x"),
    "aud of another service": lambda tok, keys: "Bearer " + tok(aud=f"{PUBLIC}/cds-services/oncoline-order-sign"),
    "expired": lambda tok, keys: "Bearer " + tok(iat=int(time.time()) - 900, exp=int(time.time()) - 600),
    "iat in the future": lambda tok, keys: "Bearer " + tok(iat=int(time.time()) + 600, exp=int(time.time()) + 900),
    "no jti": lambda tok, keys: "Bearer " + tok(jti=None),
    "no exp": lambda tok, keys: "Bearer " + tok(exp=None),
    "unknown iss": lambda tok, keys: "Bearer " + tok(iss="https://evil.test"),
    "unknown kid": lambda tok, keys: "Bearer " + tok(kid="rsa-2"),
    "key pinned to another alg": lambda tok, keys: "Bearer " + tok(alg="RS384"),
    "too long-lived": lambda tok, keys: "Bearer " + tok(exp=int(time.time()) + 7200),
    "garbage": lambda tok, keys: "Bearer not.a.jwt",
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_tokens_are_401(
    case: str, client: TestClient, token: Callable[..., str], keys: dict[str, Any], hook: Callable[..., dict[str, Any]]
) -> None:
    r = _post(client, hook(), BAD[case](token, keys))
    assert r.status_code == 401, (case, r.text)
    assert r.headers["www-authenticate"].startswith('Bearer realm="oncoline", error="invalid_token"')
    assert r.headers["content-type"] == "application/problem+json"


def test_kid_missing_is_401(client: TestClient, keys: dict[str, Any], hook: Callable[..., dict[str, Any]]) -> None:
    tok = jwt.encode(_claims(), keys["rsa"], algorithm="RS256")
    r = _post(client, hook(), f"Bearer {tok}")
    assert r.status_code == 401 and "kid" in r.json()["detail"]


@pytest.mark.parametrize("alg", ["RS256", "ES384"])
def test_good_token_is_200_and_replay_is_401(
    alg: str, client: TestClient, token: Callable[..., str], hook: Callable[..., dict[str, Any]]
) -> None:
    tok = token(alg=alg)
    first = _post(client, hook(), f"Bearer {tok}")
    assert first.status_code == 200, first.text
    assert first.json()["cards"]
    replay = _post(client, hook(), f"Bearer {tok}")
    assert replay.status_code == 401 and "replay" in replay.json()["detail"]


def test_small_clock_skew_is_tolerated(
    client: TestClient, token: Callable[..., str], hook: Callable[..., dict[str, Any]]
) -> None:
    now = int(time.time())
    r = _post(client, hook(), "Bearer " + token(iat=now + 20, exp=now + 300))
    assert r.status_code == 200


def test_no_issuers_refuses_every_call(
    tmp_path: Any, token: Callable[..., str], hook: Callable[..., dict[str, Any]]
) -> None:
    client = TestClient(create_app(ServiceConfig(public_url=PUBLIC, feedback_db=tmp_path / "f.sqlite")))
    assert _post(client, hook(), "Bearer " + token()).status_code == 401


def test_insecure_dev_needs_no_token_and_says_so(dev_client: TestClient, hook: Callable[..., dict[str, Any]]) -> None:
    r = _post(dev_client, hook(), None)
    assert r.status_code == 200
    assert "OFF" in r.headers["x-oncoline-insecure-dev"]
    assert "x-oncoline-insecure-dev" in dev_client.get("/healthz").headers
    assert "Development mode" in dev_client.get("/").text


def test_secure_service_has_no_insecure_header(client: TestClient) -> None:
    assert "x-oncoline-insecure-dev" not in client.get("/healthz").headers


def test_discovery_needs_no_token(client: TestClient) -> None:
    assert client.get("/cds-services").status_code == 200
