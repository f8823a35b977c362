"""The cohort report as a person meets it: opened in real headless Chromium (Debian chromium + Playwright), every
plot rendered, no console errors, nothing fetched from the network; a screenshot is kept in tests/artifacts/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/lib/chromium/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from oncoline.app.cohort_report import ReportInputs, ReportOptions, build_cohort_report, write_cohort_report
    from oncoline.engines.lines.params import load_line_params
    from tests.analytics.cohort import AS_OF, small_cohort

    exposures, index, lines = small_cohort(20_000, 11)
    inputs = ReportInputs(
        lines=lines,
        index=index,
        as_of=AS_OF,
        as_of_note="test",
        params=load_line_params(),
        source="generated test cohort",
        exposures=exposures,
    )
    result = build_cohort_report(inputs, options=ReportOptions(min_cell=3))
    out = tmp_path_factory.mktemp("report")
    write_cohort_report(result, out)
    return out


def test_report_files(report_dir: Path) -> None:
    html = (report_dir / "report.html").read_text()
    assert not re.search(r"<script[^>]*src=[\"']https?://", html)  # no CDN
    assert html.count("Plotly.newPlot") == html.count('<figure class="plot"')
    assert len(re.findall(r"/\*! For license information|plotly\.js v\d", html)) <= 2  # plotly.js once
    names = {p.stem for p in report_dir.glob("*.parquet")}
    assert names == {p.stem for p in report_dir.glob("*.csv")}
    # every figure names its exported table, and the table is there
    for source in set(re.findall(r'<figure class="plot" data-source="([a-z_]+)"', html)):
        assert source in names
    assert html.index('id="attrition"') < html.index('id="pathways"')  # attrition first


def test_report_renders_in_chromium(report_dir: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install 'oncoline[browser]'")
    if not CHROMIUM.exists():
        pytest.skip(f"Debian chromium not installed at {CHROMIUM} (apt-get install -y chromium)")
    errors: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--disable-dev-shm-usage", "--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto((report_dir / "report.html").as_uri(), wait_until="load")
            n_figures = page.locator("figure.plot").count()
            page.wait_for_function(
                "n => document.querySelectorAll('figure.plot .js-plotly-plot .main-svg').length >= n",
                arg=n_figures,
                timeout=60_000,
            )
            rendered = page.evaluate(
                "() => Array.from(document.querySelectorAll('figure.plot')).map(f => "
                "f.querySelectorAll('.main-svg').length > 0 && "
                "(f.querySelectorAll('.trace, .slice, .sankey-node, path.point, .bars path').length > 0))"
            )
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "cohort-report.png"), full_page=False)
        finally:
            browser.close()
    assert n_figures >= 10
    assert all(rendered), rendered
    assert errors == []
    assert all(u.startswith(("file:", "data:", "about:")) for u in requests), requests
