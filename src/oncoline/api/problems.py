"""RFC 9457 problem details (``application/problem+json``) for every error the service answers.

Bad input never becomes a 500: an :class:`~oncoline.errors.InputError` is a 422 carrying the same words as the
command line (file, field and fix) in ``detail``, with ``source`` and ``field`` as extension members; a bad
query or option value (field ``--as-of`` …) is a 400; 413 over the size limit, 415 for an unsupported media type,
401 for CDS Hooks without an acceptable token. Only a bug is a 500, and its detail says nothing of the input.

References
----------
RFC 9457, Problem Details for HTTP APIs: https://www.rfc-editor.org/rfc/rfc9457
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse

from oncoline.errors import InputError

__all__ = ["PROBLEM_RESPONSES", "PROBLEM_TYPE", "Problem", "input_problem", "problem"]

PROBLEM_TYPE = "application/problem+json"
_TYPE_BASE = "https://oncoline.readthedocs.io/problems/"  # a stable identifier; the README lists the kinds


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(default="about:blank", description="URI naming the kind of problem.")
    title: str = Field(description="Short summary of the kind (the same for every occurrence).")
    status: int = Field(description="HTTP status code.")
    detail: str = Field(default="", description="What went wrong here and how to fix it (the CLI's words).")
    source: str | None = Field(default=None, description="The document the problem is in (upload name).")
    field: str | None = Field(default=None, description="The dotted path of the offending field.")


def problem(
    status: int,
    detail: str,
    /,
    *,
    kind: str | None = None,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A ``application/problem+json`` response.

    Parameters
    ----------
    status
        HTTP status code.
    detail
        What went wrong and the fix.
    kind
        Short slug of the problem kind (``input``, ``too-large`` …) → ``type``; None → ``about:blank``.
    title
        Default: the HTTP reason phrase.
    headers
        Extra response headers (``WWW-Authenticate`` for 401).
    extra
        Extension members (``source``, ``field``); None values are left out.
    """
    body: dict[str, Any] = {
        "type": f"{_TYPE_BASE}{kind}" if kind else "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_TYPE, headers=headers)


def input_problem(exc: InputError, /) -> JSONResponse:
    """422 for bad content (400 when the field is a query/option such as ``--as-of``), with the CLI's words."""
    usage = exc.field is not None and exc.field.startswith("--")
    return problem(
        400 if usage else 422,
        str(exc),
        kind="bad-parameter" if usage else "bad-input",
        title="Bad parameter" if usage else "The document cannot be used as given",
        source=exc.source,
        field=exc.field,
    )


def _content() -> dict[str, Any]:
    return {"content": {PROBLEM_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "A bad query parameter (e.g. as_of)", **_content()},
    413: {"description": "The body is larger than max_body_bytes", **_content()},
    415: {"description": "Unsupported media type", **_content()},
    422: {"description": "The document cannot be used (field, file and fix named)", **_content()},
}
"""Error responses shared by the document endpoints (OpenAPI ``responses``)."""
