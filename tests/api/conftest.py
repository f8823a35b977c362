"""Fixtures for the HTTP service: keys and tokens made here, a configured app, real servers on loopback."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from oncoline.api import ServiceConfig, create_app
from oncoline.api.cds.services import PREFETCH_KEY_BY_TYPE
from oncoline.api.config import Issuer

with warnings.catch_warnings():
    # Starlette deprecates its httpx-based TestClient in favour of an "httpx2" package this machine does not
    # serve; the client itself works. The warning fires once, at import.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[2]
PUBLIC = "https://oncoline.test"
ISS = "https://ehr.test"
NEXT_LINE = "oncoline-next-line"


@pytest.fixture(scope="session")
def keys() -> dict[str, Any]:
    """An RSA and an EC P-384 private key (made for this test run) and their public JWKS."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP384R1())
    jwk_rsa = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    jwk_ec = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key()))
    jwk_rsa.update(kid="rsa-1", alg="RS256", use="sig")
    jwk_ec.update(kid="ec-1", alg="ES384", use="sig")
    return {"rsa": rsa_key, "ec": ec_key, "jwks": {"keys": [jwk_rsa, jwk_ec]}}


@pytest.fixture(scope="session")
def jwks_file(keys: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("jwks") / "ehr.jwks.json"
    path.write_text(json.dumps(keys["jwks"]))
    return path


@pytest.fixture
def config(jwks_file: Path, tmp_path: Path) -> ServiceConfig:
    return ServiceConfig(
        public_url=PUBLIC,
        issuers=(Issuer(ISS, jwks_file=jwks_file),),
        feedback_db=tmp_path / "feedback.sqlite",
        max_body_bytes=1_000_000,
    )


@pytest.fixture
def client(config: ServiceConfig) -> TestClient:
    return TestClient(create_app(config), raise_server_exceptions=False)


@pytest.fixture
def dev_client(tmp_path: Path) -> TestClient:
    """Authentication off (``--insecure-dev``)."""
    cfg = ServiceConfig(insecure_dev=True, feedback_db=tmp_path / "feedback.sqlite")
    return TestClient(create_app(cfg), raise_server_exceptions=False)


@pytest.fixture
def token(keys: dict[str, Any]) -> Callable[..., str]:
    """``token(service=..., alg="RS256", **claim_overrides)`` → a signed JWT; claims set to None are left out."""

    def make(service: str = NEXT_LINE, alg: str = "RS256", kid: str | None = None, **claims: Any) -> str:
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": ISS,
            "sub": "ehr-client",
            "aud": f"{PUBLIC}/cds-services/{service}",
            "iat": now,
            "exp": now + 300,
            "jti": str(uuid.uuid4()),
        }
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        key = keys["ec"] if alg.startswith("ES") else keys["rsa"]
        default_kid = "ec-1" if alg.startswith("ES") else "rsa-1"
        return jwt.encode(body, key, algorithm=alg, headers={"kid": kid or default_kid})

    return make


FHIR_BUNDLE = ROOT / "tests" / "data" / "her2pos-thp-tdxd-brain.fhir.json"
PREFETCH_KEYS = PREFETCH_KEY_BY_TYPE


def split_bundle(bundle: dict[str, Any]) -> dict[str, Any]:
    """A FHIR bundle as CDS Hooks prefetch: the Patient resource and one searchset Bundle per query."""
    out: dict[str, Any] = {
        k: {"resourceType": "Bundle", "type": "searchset", "entry": []} for k in PREFETCH_KEYS.values()
    }
    for e in bundle["entry"]:
        res = e["resource"]
        key = PREFETCH_KEYS.get(res["resourceType"])
        if key == "patient":
            out["patient"] = res
        elif key:
            out[key]["entry"].append({"resource": res})
    return out


@pytest.fixture
def prefetch() -> dict[str, Any]:
    """Prefetch for a HER2-positive patient after THP and T-DXd (117 resources)."""
    return split_bundle(json.loads(FHIR_BUNDLE.read_text()))


@pytest.fixture
def hook(prefetch: dict[str, Any]) -> Callable[..., dict[str, Any]]:
    def make(name: str = "patient-view", **fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "hook": name,
            "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/example", "patientId": prefetch["patient"]["id"]},
            "prefetch": prefetch,
        }
        body.update(fields)
        return body

    return make


@contextlib.contextmanager
def running_server(app: Any) -> Iterator[str]:
    """A real uvicorn server on a free loopback port in a thread; yields its base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


class FhirStub:
    """A tiny FHIR server on loopback: answers reads and searches from a bundle, records each request."""

    def __init__(self, bundle: dict[str, Any]) -> None:
        self.resources = [e["resource"] for e in bundle["entry"]]
        self.requests: list[tuple[str, str | None]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stub.requests.append((self.path, self.headers.get("Authorization")))
                path = self.path.partition("?")[0].removeprefix("/fhir/")
                if "/" in path:
                    kind, rid = path.split("/", 1)
                    found = [r for r in stub.resources if r["resourceType"] == kind and r.get("id") == rid]
                    body: dict[str, Any] | None = found[0] if found else None
                else:
                    body = {
                        "resourceType": "Bundle",
                        "type": "searchset",
                        "entry": [{"resource": r} for r in stub.resources if r["resourceType"] == path],
                    }
                data = json.dumps(body or {"resourceType": "OperationOutcome"}).encode()
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/fhir"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FhirStub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fhir_stub() -> Iterator[FhirStub]:
    with FhirStub(json.loads(FHIR_BUNDLE.read_text())) as stub:
        yield stub
