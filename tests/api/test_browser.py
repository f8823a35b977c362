"""The clinician page as a clinician meets it: real headless Chromium (Debian's, via Playwright) against a real
uvicorn server on loopback. A screenshot and the printed PDF are kept as test artefacts."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oncoline.api import ServiceConfig, create_app
from tests.api.conftest import FHIR_BUNDLE, running_server

CHROMIUM = "/usr/lib/chromium/chromium"
ARTEFACTS = Path(os.environ.get("ONCOLINE_TEST_ARTEFACTS", Path(__file__).resolve().parents[2] / "test-artefacts"))

if not Path(CHROMIUM).exists() and os.environ.get("ONCOLINE_SKIP_BROWSER") != "1":
    # a missing browser is a failure, not a silent skip: .ci/run installs it (apt-get install chromium)
    pytest.fail(
        f"Debian chromium not found at {CHROMIUM}: apt-get install chromium (or ONCOLINE_SKIP_BROWSER=1)", pytrace=False
    )
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="ONCOLINE_SKIP_BROWSER=1 and no chromium")


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    cfg = ServiceConfig(feedback_db=tmp_path_factory.mktemp("fb") / "feedback.sqlite")
    with running_server(create_app(cfg)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--disable-dev-shm-usage", "--no-sandbox"])
        yield b
        b.close()


def test_open_example_see_preferred_and_citation_print_pdf(base_url: str, browser: object, tmp_path: Path) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(base_url) else outside.append(r.url))

    page.goto(base_url + "/")
    expect(page.get_by_role("heading", name="Tumour-board view")).to_be_visible()
    # keyboard and screen reader: labelled controls, landmarks
    page.get_by_label("Bundled example").select_option("her2pos-thp-tdxd-brain")  # the FHIR bundle example
    page.get_by_label("Decision date").fill("2026-10-01")
    page.get_by_role("button", name="Show the recommendation").click()

    expect(page.get_by_role("heading", name="Line 3")).to_be_visible()
    preferred = page.get_by_role("region", name="Preferred")
    expect(preferred.get_by_role("heading", name="TTC (tucatinib + trastuzumab + capecitabine)")).to_be_visible()
    citation = preferred.get_by_role("link", name="HER2CLIMB", exact=True)
    expect(citation).to_have_attribute("href", "https://doi.org/10.1056/NEJMoa1914609")
    expect(page.get_by_role("region", name="Withheld")).to_contain_text("progressed on trastuzumab deruxtecan")
    expect(page.get_by_role("region", name="Missing before deciding")).to_contain_text("brain status")
    expect(page.get_by_role("img", name="Lines of therapy up to the decision date")).to_be_visible()
    expect(page.get_by_role("main")).to_be_visible()
    expect(page.get_by_role("navigation", name="Open a patient")).to_be_visible()
    assert (
        page.locator("input:not([type=hidden]), select, textarea").evaluate_all(
            "els => els.filter(e => !e.labels || e.labels.length === 0).map(e => e.name)"
        )
        == []
    )

    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / "page-her2pos-thp-tdxd-brain.png"), full_page=True)
    pdf = ARTEFACTS / "handout-her2pos-thp-tdxd-brain.pdf"
    page.emulate_media(media="print")
    expect(page.get_by_role("navigation", name="Open a patient")).to_be_hidden()  # the print stylesheet applies
    page.pdf(path=str(pdf), format="A4", print_background=True)
    assert pdf.read_bytes().startswith(b"%PDF")
    if shutil.which("pdftotext"):
        text = subprocess.run(
            ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
        ).stdout
        assert "TTC (tucatinib + trastuzumab + capecitabine)" in text and "Open a patient" not in text
    assert problems == [] and outside == []
    page.close()


def test_upload_fhir_bundle_and_see_the_timeline(base_url: str, browser: object, shared_data: Any) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    page = browser.new_page()
    page.goto(base_url + "/")
    page.get_by_label("or upload a file (YAML, JSON or FHIR R4 bundle)").set_input_files(str(FHIR_BUNDLE))
    page.get_by_label("Decision date").fill("2026-10-01")
    page.get_by_label("Decision date").press("Enter")  # keyboard submit
    expect(page.get_by_role("heading", name="Line 3")).to_be_visible()
    table = page.get_by_role("table", name="Metastatic lines up to 2026-10-01")
    expect(table).to_contain_text("trastuzumab deruxtecan")
    expect(table).to_contain_text("derived from the recorded drug exposures")
    # a real public bundle (shared/data): read, its missing facts first, nothing guessed
    page.goto(base_url + "/")
    page.get_by_label("or upload a file (YAML, JSON or FHIR R4 bundle)").set_input_files(
        str(shared_data("ctm-app-test-patients/TrialMatching_Patient01.json"))
    )
    page.get_by_role("button", name="Show the recommendation").click()
    expect(page.get_by_role("region", name="Missing before deciding")).to_contain_text("metastatic diagnosis")
    page.close()


def test_bad_paste_shows_the_error_with_its_field(base_url: str, browser: object) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    page = browser.new_page()
    page.goto(base_url + "/")
    page.get_by_label("or paste a patient (YAML, JSON or a FHIR bundle)").fill("tumor:\n  er_percent: 150\n")
    page.get_by_role("button", name="Show the recommendation").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("pasted text")
    expect(alert).to_contain_text("tumor.er_percent")
    page.close()


def test_docs_render_offline(base_url: str, browser: object) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    page = browser.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(base_url) else outside.append(r.url))
    page.goto(base_url + "/docs")
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/recommend")).to_be_visible(timeout=15000)
    assert problems == [] and outside == []
    page.close()


def test_for_the_patient_link_opens_the_plain_language_handout(base_url: str, browser: object) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.goto(base_url + "/view?example=cureus-2025-de-novo-brain-mets")
    page.get_by_role("link", name="For the patient: a plain-language summary").click()
    expect(page.get_by_role("heading", name="What are my options?")).to_be_visible()
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / "patient-handout-cureus.png"), full_page=True)
    assert problems == []
    page.close()
