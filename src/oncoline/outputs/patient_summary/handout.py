"""The printable patient handout: HTML (Jinja2) and PDF (WeasyPrint).

:func:`render_handout_html` is what any door calls (the command line writes it to a file; a web service can
return it as the page). Large type, short sections headed by questions; on every printed page a header saying the
handout is for discussion with the care team and a footer with the date, the knowledge version and the page.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from oncoline.outputs.patient_summary.model import PatientSummary

__all__ = ["render_handout_html", "render_handout_pdf"]


@cache
def _environment() -> Any:
    try:
        import jinja2
    except ImportError as exc:  # pragma: no cover - the handout extra is part of dev
        raise RuntimeError("the patient handout needs Jinja2: pip install 'oncoline[handout]'") from exc
    return jinja2.Environment(
        loader=jinja2.PackageLoader("oncoline.outputs.patient_summary", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )


def render_handout_html(summary: PatientSummary, /) -> str:
    """The handout as one self-contained HTML page (no scripts, no external resources).

    Returns
    -------
    str
        UTF-8 HTML5 with ``lang`` set to the summary's language (``en`` for fallback text is not split out).
    """
    return str(_environment().get_template("handout.html.j2").render(s=summary))


def render_handout_pdf(summary: PatientSummary, /) -> bytes:
    """The handout as PDF (A4), rendered by WeasyPrint from :func:`render_handout_html`.

    Raises
    ------
    RuntimeError
        WeasyPrint (or its system libraries: pango, harfbuzz, fontconfig) is not installed.
    """
    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # pragma: no cover - the handout extra is part of dev
        raise RuntimeError(
            f"the PDF handout needs WeasyPrint and its libraries ({exc}): pip install 'oncoline[handout]'"
        ) from exc
    pdf = weasyprint.HTML(string=render_handout_html(summary)).write_pdf()
    assert isinstance(pdf, bytes)
    return pdf
