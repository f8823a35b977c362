"""The printable patient handout: HTML (Jinja2) and PDF (WeasyPrint).

:func:`render_handout_html` is what any door calls (the command line writes it to a file; a web service can
return it as the page). Large type, short sections headed by questions; on every printed page a header saying the
handout is for discussion with the care team and a footer with the date, the knowledge version and the page.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from oncoline.errors import InputError
from oncoline.outputs.patient_summary.model import PatientSummary

__all__ = ["render_handout_html", "render_handout_pdf"]


@cache
def _environment() -> Any:
    try:
        import jinja2
    except ImportError as exc:
        raise InputError(
            f'the handout needs the optional "handout" extra, which is not installed ({exc}); install it with: '
            'pip install "oncoline[handout]"',
            field="--handout",
        ) from exc
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

    Raises
    ------
    InputError
        Jinja2 (the ``handout`` extra) is not installed (field ``--handout``; the message gives the pip command).
    """
    return str(_environment().get_template("handout.html.j2").render(s=summary))


def render_handout_pdf(summary: PatientSummary, /) -> bytes:
    """The handout as PDF (A4), rendered by WeasyPrint from :func:`render_handout_html`.

    Raises
    ------
    InputError
        WeasyPrint (or its system libraries: pango, harfbuzz, fontconfig) is not installed.
    """
    try:
        import weasyprint
    except (ImportError, OSError) as exc:
        raise InputError(
            f"the PDF handout needs WeasyPrint and its system libraries (pango, harfbuzz), which are not "
            f'installed ({exc}); install it with: pip install "oncoline[handout]" - or write an .html handout',
            field="--handout",
        ) from exc
    pdf = weasyprint.HTML(string=render_handout_html(summary)).write_pdf()
    assert isinstance(pdf, bytes)
    return pdf
