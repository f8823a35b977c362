"""REST API: the same bytes as the command line for the same input (run in a subprocess), RFC 9457 problems
with the CLI's words, 413/415/422/400 and never a 500 for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.api.conftest import FHIR_BUNDLE, ROOT, TestClient

EXAMPLES = ROOT / "src" / "oncoline" / "examples"
SHARED_CASES = ROOT.parent / "shared" / "cases" / "patients"


def cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "oncoline.cli.app", *args], capture_output=True, timeout=120)


def _first_lines_case(case_path: Callable[[str], Path], tmp_path: Path) -> Path:
    doc = next(yaml.safe_load_all(case_path("lines/her2-lines.yaml").read_text()))
    path = tmp_path / "events.yaml"
    path.write_text(yaml.safe_dump(doc["events"]))
    return path


@pytest.mark.parametrize(
    ("file", "media", "query"),
    [
        (EXAMPLES / "cureus-2025-de-novo-brain-mets.yaml", "application/yaml", ""),
        (SHARED_CASES / "p-her2-missing.yaml", "text/yaml", "2026-10-01"),
        (FHIR_BUNDLE, "application/fhir+json", "2026-10-01"),
    ],
    ids=["yaml", "case-file-as-of", "fhir"],
)
def test_recommend_is_byte_identical_to_the_cli(
    client: TestClient, file: Path, media: str, query: str, tmp_path: Path
) -> None:
    args = ["recommend", str(file), "--json", *(["--as-of", query] if query else [])]
    expected = cli(*args)
    assert expected.returncode == 0, expected.stderr
    r = client.post(
        "/api/v1/recommend" + (f"?as_of={query}" if query else ""),
        content=file.read_bytes(),
        headers={"Content-Type": media},
    )
    assert r.status_code == 200, r.text
    assert r.content == expected.stdout
    if file.suffix == ".yaml":  # the same patient as JSON gives the same bytes too
        as_json = json.dumps(yaml.safe_load(file.read_text()), default=str).encode()
        query_string = f"?as_of={query}" if query else ""
        r2 = client.post(
            f"/api/v1/recommend{query_string}", content=as_json, headers={"Content-Type": "application/json"}
        )
        assert r2.content == expected.stdout


def test_her2_is_byte_identical_to_the_cli(client: TestClient, tmp_path: Path) -> None:
    path = tmp_path / "her2.json"
    path.write_text(json.dumps({"ihc": "2+", "ish_ratio": 2.4, "her2_copies": 5.1}))
    expected = cli("her2", str(path), "--json")
    assert expected.returncode == 0, expected.stderr
    r = client.post("/api/v1/her2", content=path.read_bytes(), headers={"Content-Type": "application/json"})
    assert r.status_code == 200 and r.content == expected.stdout
    assert r.json()["status"] == "positive"


def test_lines_is_byte_identical_to_the_cli(
    client: TestClient, case_path: Callable[[str], Path], tmp_path: Path
) -> None:
    path = _first_lines_case(case_path, tmp_path)
    expected = cli("lines", str(path), "--json", "--as-of", "2026-06-01")
    assert expected.returncode == 0, expected.stderr
    r = client.post(
        "/api/v1/lines?as_of=2026-06-01", content=path.read_bytes(), headers={"Content-Type": "application/yaml"}
    )
    assert r.status_code == 200 and r.content == expected.stdout


def test_bad_content_is_422_with_the_cli_words(client: TestClient, tmp_path: Path) -> None:
    bad = {"id": "x", "tumor": {"er_percent": 150, "her2": {"ihc": "3+"}}}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    expected = cli("recommend", str(path), "--json")
    assert expected.returncode == 1
    r = client.post("/api/v1/recommend", json=bad)
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["status"] == 422 and problem["field"] == "tumor.er_percent" and problem["source"] == "<request body>"
    # the same words as the CLI, after the source name
    words = " ".join(expected.stderr.decode().split()).removeprefix(f"error: {path}, ")
    assert " ".join(problem["detail"].split()).removeprefix("<request body>, ") == words


@pytest.mark.parametrize(
    ("body", "media", "status"),
    [
        (b"x: [", "application/yaml", 422),
        (b"{", "application/json", 422),
        (b"", "application/json", 422),
        (b"\xff\xfe", "application/json", 422),
        (b"[1, 2]", "application/json", 422),
        (b"hello", "text/plain", 415),
        (b"{}", "", 415),
    ],
)
def test_bad_bodies_are_problems_not_500(client: TestClient, body: bytes, media: str, status: int) -> None:
    headers = {"Content-Type": media} if media else {}
    for path in ("/api/v1/recommend", "/api/v1/her2", "/api/v1/lines"):
        r = client.post(path, content=body, headers=headers)
        assert r.status_code == status, (path, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["detail"]


def test_bad_as_of_is_400(client: TestClient) -> None:
    r = client.post("/api/v1/recommend?as_of=soon", content=b"{}", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "YYYY-MM-DD" in r.json()["detail"]
    r = client.post("/api/v1/recommend?as_of=2999-01-01", content=b"{}", headers={"Content-Type": "application/json"})
    assert r.status_code == 400


def test_too_large_is_413(client: TestClient, config: Any) -> None:
    big = b"{" + b" " * config.max_body_bytes + b"}"
    r = client.post("/api/v1/recommend", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"

    def chunks() -> Any:  # no Content-Length: counted as it streams
        for _ in range(config.max_body_bytes // 65536 + 2):
            yield b" " * 65536

    r = client.post("/api/v1/recommend", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_knowledge_version_health(client: TestClient) -> None:
    summary = client.get("/api/v1/knowledge")
    assert summary.status_code == 200
    expected = cli("kb", "show", "--json")
    assert summary.json() == json.loads(expected.stdout)
    entry = client.get("/api/v1/knowledge/DESTINY-Breast09")
    assert entry.status_code == 200 and entry.json()["id"] == "DESTINY-Breast09"
    missing = client.get("/api/v1/knowledge/no-such-thing")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    version = client.get("/api/v1/version").json()
    assert version["knowledge"] == summary.json()["version"]
    assert client.get("/healthz").json()["status"] == "ok"


def test_docs_are_served_offline(client: TestClient) -> None:
    page = client.get("/docs").text
    assert "cdn" not in page.lower() and 'src="/static/swagger/swagger-ui-bundle.js"' in page
    for asset in ("/static/swagger/swagger-ui-bundle.js", "/static/swagger/swagger-ui.css", "/static/docs-init.js"):
        assert client.get(asset).status_code == 200
    doc = client.get("/openapi.json").json()
    assert {"Patient", "Recommendation", "Problem"} <= set(doc["components"]["schemas"])


def test_cors_closed_unless_configured(client: TestClient, tmp_path: Path) -> None:
    r = client.options(
        "/api/v1/version", headers={"Origin": "https://evil.test", "Access-Control-Request-Method": "GET"}
    )
    assert "access-control-allow-origin" not in r.headers
    from oncoline.api import ServiceConfig, create_app

    open_client = TestClient(create_app(ServiceConfig(cors_origins=("https://ehr.test",), feedback_db=tmp_path / "f")))
    r = open_client.get("/api/v1/version", headers={"Origin": "https://ehr.test"})
    assert r.headers["access-control-allow-origin"] == "https://ehr.test"
    r = open_client.get("/api/v1/version", headers={"Origin": "https://evil.test"})
    assert "access-control-allow-origin" not in r.headers
