"""The patient handout as a person meets it (house style S27): HTML, and the PDF turned into PNG pages.

The PNG pages of the bundled example are kept in tests/outputs/handout_pages/ as the reviewed artefact; this test
renders them again and checks the page count and the words on every page.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from oncoline.engines.recommend import recommend
from oncoline.io.patient_file import load_patient
from oncoline.knowledge.loader import load_knowledge
from oncoline.outputs.patient_summary import render_handout_html, render_handout_pdf, summarize_for_patient

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples/cureus-2025-de-novo-brain-mets.yaml"
PAGES = Path(__file__).parent / "handout_pages"


def _summary():  # type: ignore[no-untyped-def]
    kb = load_knowledge()
    rec = recommend(load_patient(EXAMPLE), knowledge=kb, as_of=dt.date(2026, 11, 29))
    return summarize_for_patient(rec, knowledge=kb)


class _Headings(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.h2: list[str] = []
        self._in = False
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in = tag == "h2"
        for name, value in attrs:
            if name in ("src", "href") and value and re.match(r"https?://", value):
                self.external.append(value)
        if tag == "script":
            self.external.append("<script>")

    def handle_data(self, data: str) -> None:
        if self._in and data.strip():
            self.h2.append(data.strip())

    def handle_endtag(self, tag: str) -> None:
        self._in = False


def test_html_handout_has_question_headings_large_type_and_the_footer() -> None:
    summary = _summary()
    html = render_handout_html(summary)
    parser = _Headings()
    parser.feed(html)
    assert parser.h2 == [s.heading.text for s in summary.sections]
    assert all(h.endswith("?") for h in parser.h2)
    assert parser.external == []  # self-contained: no scripts, nothing fetched
    assert re.search(r"html \{[^}]*font-size: 1[4-9]pt", html)  # large type
    assert html.count(summary.discuss.text) >= 2 and summary.made.text in html  # page header and footer
    assert '<html lang="en">' in html


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils (pdftoppm) not installed")
def test_pdf_handout_pages_as_png(tmp_path: Path) -> None:
    summary = _summary()
    pdf = tmp_path / "handout.pdf"
    pdf.write_bytes(render_handout_pdf(summary))
    subprocess.run(["pdftoppm", "-png", "-r", "50", str(pdf), str(tmp_path / "page")], check=True, timeout=120)
    pages = sorted(tmp_path.glob("page-*.png"))
    kept = sorted(PAGES.glob("page-*.png"))
    assert 2 <= len(pages) <= 8 and len(pages) == len(kept), (len(pages), len(kept))
    assert all(p.stat().st_size < 200_000 for p in kept)  # a small artefact
    if shutil.which("pdftotext"):
        for n in range(1, len(pages) + 1):
            text = subprocess.run(
                ["pdftotext", "-f", str(n), "-l", str(n), str(pdf), "-"], capture_output=True, text=True, check=True
            ).stdout
            flat = " ".join(text.split())
            assert "for talking with your care team" in flat, n  # on every page
            assert "Knowledge version 2026.11.29" in flat and "29 November 2026" in flat, n


CHROMIUM = shutil.which("chromium") or next(
    (p for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium") if Path(p).exists()), None
)


@pytest.mark.skipif(CHROMIUM is None or shutil.which("pdftotext") is None, reason="no chromium or pdftotext")
def test_html_printed_from_a_browser_repeats_header_and_footer_on_every_page(tmp_path: Path) -> None:
    """New-user trial: printed from a browser, the care-team line and the date were on page 1 only."""
    html = tmp_path / "handout.html"
    html.write_text(render_handout_html(_summary()), encoding="utf-8")
    pdf = tmp_path / "browser.pdf"
    assert CHROMIUM is not None
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}",
            html.as_uri(),
        ],
        capture_output=True,
        timeout=180,
        check=False,
    )
    if not pdf.exists():
        pytest.skip("chromium could not print here")
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    pages = [" ".join(p.split()) for p in text.split("\f") if p.strip()]
    assert len(pages) >= 2
    for n, page in enumerate(pages, start=1):
        assert "for talking with your care team" in page and "29 November 2026" in page, n
