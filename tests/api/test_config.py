"""Service configuration, start-up refusals, logs without patient data, and a bug answered as a bare 500."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from oncoline.api import ServiceConfig, create_app, load_config
from oncoline.cli.app import app as cli_app
from oncoline.cli.serve import is_loopback
from oncoline.errors import InputError
from tests.api.conftest import NEXT_LINE, TestClient


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "oncoline.toml"
    path.write_text(text)
    return path


def test_full_config_is_read(tmp_path: Path, jwks_file: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "ehr.json").write_text(jwks_file.read_text())
    cfg = load_config(
        _write(
            tmp_path,
            'public_url = "https://onc.example.org/"\nmax_body_bytes = 1000\ncors_origins = ["https://ehr.example.org"]\n'
            'feedback_db = "fb.sqlite"\nfhir_timeout_seconds = 2.5\nclock_skew_seconds = 30\n'
            '[[issuers]]\niss = "https://ehr.example.org"\njwks_file = "keys/ehr.json"\n'
            '[[issuers]]\niss = "https://other.example.org"\njwks_url = "https://other.example.org/jwks"\n',
        )
    )
    assert cfg.public_url == "https://onc.example.org"
    assert cfg.max_body_bytes == 1000 and cfg.cors_origins == ("https://ehr.example.org",)
    assert cfg.feedback_db == tmp_path / "fb.sqlite"
    assert [i.iss for i in cfg.issuers] == ["https://ehr.example.org", "https://other.example.org"]
    assert cfg.issuer("https://ehr.example.org").jwks_file == tmp_path / "keys" / "ehr.json"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("public_url = 3", "public_url"),
        ("max_body_bytes = -1", "max_body_bytes"),
        ("colour = 'blue'", "colour"),
        ('cors_origins = ["*"]', "cors_origins"),
        ('[[issuers]]\niss = "x"', "issuers[0]"),
        ('[[issuers]]\niss = "x"\njwks_file = "none.json"', "issuers[0].jwks_file"),
        ('[[issuers]]\niss = "x"\njwks_url = "http://x/jwks"', "issuers[0].jwks_url"),
        ('[[issuers]]\niss = "x"\njwks_file = "bad.json"', "issuers[0].jwks_file"),
        ('[[issuers]]\niss = "x"\njwks_file = "oct.json"', "issuers[0].jwks_file"),
        ("public_url = ", None),
    ],
)
def test_bad_config_names_file_key_and_fix(tmp_path: Path, text: str, field: str | None) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "oct.json").write_text(json.dumps({"keys": [{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}]}))
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as err:
        load_config(path)
    assert err.value.source == str(path) and err.value.field == field


def test_loopback_addresses() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "10.0.0.5", "example.org", "::"))


def test_insecure_dev_refused_off_loopback() -> None:
    result = CliRunner().invoke(cli_app, ["serve", "--host", "0.0.0.0", "--insecure-dev"])
    assert result.exit_code == 2
    assert "loopback" in " ".join(result.output.split())


def test_logs_hold_no_patient_data(
    client: TestClient, hook: Any, token: Any, caplog: pytest.LogCaptureFixture, prefetch: dict[str, Any]
) -> None:
    caplog.set_level(logging.INFO, logger="oncoline")
    r = client.post(f"/cds-services/{NEXT_LINE}", json=hook(), headers={"Authorization": f"Bearer {token()}"})
    assert r.status_code == 200
    link = r.json()["cards"][0]["links"][0]["url"]
    client.get(link.split("oncoline.test", 1)[1])
    text = caplog.text
    assert "cds oncoline-next-line patient=" in text  # the hook is logged, with a hashed patient id
    patient_id = prefetch["patient"]["id"]
    for secret in (patient_id, link.rsplit("/", 1)[1], "trastuzumab", "HER2CLIMB"):
        assert secret not in text


def test_a_bug_is_a_bare_500_and_its_message_is_not_logged(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import oncoline.app

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("patient P004 has HER2 3+")

    monkeypatch.setattr(oncoline.app, "classify_her2_document", broken)
    client = TestClient(create_app(ServiceConfig(feedback_db=tmp_path / "f")), raise_server_exceptions=False)
    caplog.set_level(logging.INFO)
    r = client.post("/api/v1/her2", content=b"{}", headers={"Content-Type": "application/json"})
    assert r.status_code == 500 and r.headers["content-type"] == "application/problem+json"
    assert "P004" not in r.text and "P004" not in caplog.text
    assert "RuntimeError" in caplog.text


def test_patient_handout_from_the_page(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    import re

    caplog.set_level(logging.INFO, logger="oncoline")
    page = client.get("/view?example=cureus-2025-de-novo-brain-mets")
    link = re.search(r'href="(/patient/[^"]+)"', page.text)
    assert link, "the page links the patient summary"
    handout = client.get(link.group(1))
    assert handout.status_code == 200
    assert "What are my options?" in handout.text
    csp = handout.headers["content-security-policy"]
    assert "script-src" not in csp and "default-src 'none'" in csp  # its own inline style, never a script
    assert link.group(1).rsplit("/", 1)[1] not in caplog.text and "/patient/<token>" in caplog.text
    assert client.get("/patient/not-a-token").status_code == 404
