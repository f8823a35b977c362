"""The clinician page: open a patient, choose the decision date, read the tumour-board view, print the handout.

Server-side HTML (Jinja2) over :func:`oncoline.app.recommend_document` and :func:`oncoline.app.timeline.
patient_timeline`; the swimmer plot is SVG drawn here; every asset is served by oncoline (no CDN, no inline
script). Works with keyboard and screen reader: labelled controls, landmarks, headings, a table beside the plot.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from oncoline.api.web.timeline_svg import swimmer_svg
from oncoline.errors import InputError

if TYPE_CHECKING:
    from oncoline.app.recommend import RecommendOutcome

__all__ = ["PAGE_FIELDS", "examples", "page_error", "router"]

router = APIRouter(include_in_schema=False)
_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)

_SUFFIX_TYPES = {".json": "application/json", ".yaml": "application/yaml", ".yml": "application/yaml"}


def examples() -> dict[str, str]:
    """The bundled example patients (:func:`oncoline.app.examples.list_examples`): name → description."""
    from oncoline.app.examples import list_examples

    return {e.name: e.description for e in list_examples()}


def _example(name: str) -> tuple[bytes, str]:
    """A bundled example's content and media type (read as content, so no server path is ever shown)."""
    from oncoline.app.examples import example_path

    path = example_path(name)
    return path.read_bytes(), _SUFFIX_TYPES.get(path.suffix.lower(), "application/yaml")


def _citation_url(c: Any) -> str | None:
    if c.url:
        return str(c.url)
    if c.doi:
        return f"https://doi.org/{c.doi}"
    if c.pmid:
        return f"https://pubmed.ncbi.nlm.nih.gov/{c.pmid}/"
    return None


def short_url(url: str | None) -> str:
    """A citation link in short form for print: ``doi:10.1056/…`` for a DOI link, else the host.

    >>> short_url("https://doi.org/10.1056/NEJMoa2115022"), short_url("https://www.fda.gov/drugs/x")
    ('doi:10.1056/NEJMoa2115022', 'fda.gov')
    """
    if not url:
        return ""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = (parts.hostname or "").removeprefix("www.")
    if host in ("doi.org", "dx.doi.org") and parts.path.strip("/"):
        return f"doi:{parts.path.strip('/')}"
    return host or url


STATUS_HELP = {
    "probable": "a detail of the citation (its DOI, a figure) is given from domain knowledge, consistent with the "
    "material retrieved but not yet checked against the original publication",
    "unconfirmed": "the fact is not yet confirmed by a source and needs review before it is relied on",
}
"""What a source's status tag means on the page (``Source.status`` in the knowledge schema)."""

_env.globals["status_help"] = STATUS_HELP
_env.filters["cite_url"] = _citation_url
_env.filters["short_url"] = short_url


PAGE_FIELDS = {"--as-of": "Decision date", "as_of": "Decision date", "example": "Bundled example"}
"""Option or argument names the application layer's messages use → the page's own field labels."""

_OPTION_WORDS = (
    (re.compile(r"\b(?:pass|give) --as-of(?: DATE)?"), "set the Decision date"),
    (re.compile(r"--as-of(?: DATE)?"), "the Decision date"),
)


def page_error(error: InputError) -> tuple[str, str | None]:
    """The error's message and field in the page's words: command-line options (``--as-of DATE``) become the
    page's field labels ("Decision date"). The application layer's words stay as the command line prints them.

    >>> page_error(InputError("correct the date or pass --as-of DATE on or after it", field="--as-of"))
    ("field 'Decision date': correct the date or set the Decision date on or after it", 'Decision date')
    """
    text = str(error)
    if error.field in PAGE_FIELDS:
        text = text.replace(f"field {error.field!r}", f"field {PAGE_FIELDS[error.field]!r}")
    for pattern, words in _OPTION_WORDS:
        text = pattern.sub(words, text)
    return text, PAGE_FIELDS.get(error.field or "", error.field)


def _render(
    request: Request,
    *,
    outcome: RecommendOutcome | None = None,
    error: InputError | None = None,
    chosen: str | None = None,
    as_of: str | None = None,
    status: int = 200,
    token: str | None = None,
) -> HTMLResponse:
    from oncoline import __version__
    from oncoline.knowledge.loader import load_knowledge

    context: dict[str, Any] = {
        "examples": examples(),
        "chosen": chosen,
        "as_of": as_of or "",
        "today": dt.date.today().isoformat(),
        "version": __version__,
        "kb_version": load_knowledge().version,
        "error": error,
        "error_text": page_error(error)[0] if error else "",
        "error_field": page_error(error)[1] if error else None,
        "insecure_dev": request.app.state.oncoline.config.insecure_dev,
    }
    if outcome is not None:
        from oncoline.app.timeline import patient_timeline

        rec = outcome.recommendation
        timeline = patient_timeline(outcome.patient, as_of=outcome.as_of)
        token = token or request.app.state.oncoline.views.put(outcome)  # for the patient handout link
        context.update(
            token=token,
            rec=rec,
            outcome=outcome,
            preferred=[o for o in rec.options if o.category.value == "preferred"],
            others=[o for o in rec.options if o.category.value != "preferred"],
            timeline=timeline,
            swimmer=swimmer_svg(timeline),
        )
    html = _env.get_template("page.html").render(**context)
    return HTMLResponse(html, status_code=status)


async def _recommend(source: Any, *, media_type: str | None, name: str, as_of: str | None) -> RecommendOutcome:
    from oncoline.app import parse_as_of, recommend_document

    today = dt.date.today()
    when = parse_as_of(as_of or None, today=today)
    outcome: RecommendOutcome = await run_in_threadpool(
        recommend_document, source, media_type=media_type, name=name, as_of=when, today=today
    )
    return outcome


@router.get("/", response_class=HTMLResponse)
def index(request: Request) -> HTMLResponse:
    """The page with nothing opened yet."""
    return _render(request)


@router.get("/view", response_class=HTMLResponse)
async def view_example(request: Request, example: str = "", as_of: str = "") -> HTMLResponse:
    """A bundled example (``?example=<name>&as_of=YYYY-MM-DD``)."""
    known = examples()
    if example not in known:
        err = InputError(f"no bundled example {example!r}; choose one of {', '.join(known)}", field="example")
        return _render(request, error=err, as_of=as_of, status=404)
    try:
        content, media = _example(example)
        outcome = await _recommend(content, media_type=media, name=f"example {example}", as_of=as_of)
    except InputError as exc:
        return _render(request, error=exc, chosen=example, as_of=as_of, status=422)
    return _render(request, outcome=outcome, chosen=example, as_of=as_of)


@router.post("/view", response_class=HTMLResponse)
async def view_upload(request: Request) -> HTMLResponse:
    """An uploaded file or pasted text (YAML, JSON or a FHIR bundle), or a chosen example."""
    async with request.form() as form:  # closes the upload's temporary file
        as_of = str(form.get("as_of") or "")
        upload = form.get("file")
        text = str(form.get("text") or "").strip()
        example = str(form.get("example") or "")
        try:
            if upload is not None and not isinstance(upload, str) and upload.filename:
                content = await upload.read()
                name = Path(upload.filename).name
                media = _SUFFIX_TYPES.get(Path(name).suffix.lower())
                if media is None:
                    media = "application/json" if content.lstrip()[:1] in (b"{", b"[") else "application/yaml"
                outcome = await _recommend(content, media_type=media, name=name, as_of=as_of)
            elif text:
                media = "application/json" if text[:1] in ("{", "[") else "application/yaml"
                outcome = await _recommend(text, media_type=media, name="pasted text", as_of=as_of)
            elif example:
                if example not in examples():
                    raise InputError(f"no bundled example {example!r}", field="example")
                content, media = _example(example)
                outcome = await _recommend(content, media_type=media, name=f"example {example}", as_of=as_of)
            else:
                raise InputError("choose an example, upload a file or paste a patient", field="patient")
        except InputError as exc:
            return _render(request, error=exc, chosen=example or None, as_of=as_of, status=422)
    return _render(request, outcome=outcome, chosen=example or None, as_of=as_of)


@router.get("/view/{token}", response_class=HTMLResponse)
def view_token(request: Request, token: str) -> HTMLResponse:
    """The view a CDS Hooks card links to (kept in memory for 30 minutes)."""
    outcome = request.app.state.oncoline.views.get(token)
    if outcome is None:
        err = InputError("this link has expired (views are kept 30 minutes); open the chart again", field="token")
        return _render(request, error=err, status=404)
    return _render(request, outcome=outcome, token=token)


_HANDOUT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; frame-ancestors 'none'"
"""The patient handout is one self-contained page with its own <style> and no script."""


@router.get("/patient/{token}", response_class=HTMLResponse)
def patient_handout(request: Request, token: str) -> HTMLResponse:
    """The plain-language summary for the patient of a view (:mod:`oncoline.outputs.patient_summary`)."""
    outcome = request.app.state.oncoline.views.get(token)
    if outcome is None:
        err = InputError("this link has expired (views are kept 30 minutes); open the patient again", field="token")
        return _render(request, error=err, status=404)
    from oncoline.knowledge.loader import load_knowledge
    from oncoline.outputs.patient_summary import render_handout_html, summarize_for_patient

    summary = summarize_for_patient(outcome.recommendation, knowledge=load_knowledge())
    return HTMLResponse(render_handout_html(summary), headers={"Content-Security-Policy": _HANDOUT_CSP})
