"""REST API ``/api/v1``: thin routes over :mod:`oncoline.app` — parse the request, call the use case, answer.

Every document endpoint takes the document as the request body with its media type (``application/json``,
``application/fhir+json``, ``application/yaml`` / ``text/yaml``) and answers what the command line prints with
``--json`` for the same input, byte for byte (``recommend --json`` ↔ ``POST /api/v1/recommend``).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from oncoline import __version__
from oncoline.api.problems import PROBLEM_RESPONSES, problem

__all__ = ["DOCUMENT_TYPES", "body_document", "contract_json", "router"]

router = APIRouter(prefix="/api/v1", tags=["REST API"])

DOCUMENT_TYPES = ("application/json", "application/fhir+json", "application/yaml", "text/yaml")


def contract_json(data: Any, /) -> bytes:
    """The JSON text the CLI prints with ``--json``: 2-space indent, UTF-8 kept as is, one final newline."""
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


class UnsupportedMediaType(Exception):
    """The request body's media type is not a patient document type."""


async def body_document(request: Request) -> tuple[bytes, str]:
    """The request body and its media type, or :class:`UnsupportedMediaType` (answered 415)."""
    from oncoline.app import MEDIA_TYPES

    media_type = request.headers.get("content-type", "")
    if media_type.split(";", 1)[0].strip().lower() not in MEDIA_TYPES:
        raise UnsupportedMediaType(
            f"content type {media_type or '(none)'!r} is not a patient document; "
            f"send one of {', '.join(DOCUMENT_TYPES)}"
        )
    return await request.body(), media_type


def _doc_body(schema_ref: str | None = None) -> dict[str, Any]:
    json_schema: dict[str, Any] = {"$ref": schema_ref} if schema_ref else {"type": "object"}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": json_schema},
                "application/fhir+json": {"schema": {"type": "object", "description": "A FHIR R4 Bundle"}},
                "application/yaml": {"schema": {"type": "string"}},
                "text/yaml": {"schema": {"type": "string"}},
            },
        }
    }


def _ok(ref: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"description": "OK", "content": {"application/json": {"schema": {"$ref": ref}}}}}


def _as_of(value: str | None, today: dt.date) -> dt.date | None:
    from oncoline.app import parse_as_of

    return parse_as_of(value, today=today)


AS_OF = Query(
    None,
    description="Answer as the knowledge and the data stood on this date (YYYY-MM-DD); default the document's "
    "as_of, else today.",
    examples=["2026-10-01"],
)


@router.post(
    "/recommend",
    summary="Next-line options for one patient (same JSON as `oncoline recommend --json`)",
    response_class=Response,
    responses={**_ok("#/components/schemas/Recommendation"), **PROBLEM_RESPONSES},
    openapi_extra=_doc_body("#/components/schemas/Patient"),
)
async def recommend(request: Request, as_of: str | None = AS_OF) -> Response:
    """The recommendation for the patient in the body: a FORMAT.md patient (JSON or YAML) or a FHIR R4 bundle.

    The ``X-Oncoline-Data-Quality`` header counts problems found reading a FHIR bundle (see ``oncoline patient``).
    """
    from oncoline.app import recommend_document

    body, media_type = await body_document(request)
    today = dt.date.today()  # the door owns the clock
    when = _as_of(as_of, today)
    outcome = await run_in_threadpool(
        recommend_document, body, media_type=media_type, name="<request body>", as_of=when, today=today
    )
    headers = {"X-Oncoline-Data-Quality": str(len(outcome.findings))}
    return Response(contract_json(outcome.to_json()), media_type="application/json", headers=headers)


@router.post(
    "/her2",
    summary="ASCO/CAP HER2 status, ISH group and category (same JSON as `oncoline her2 --json`)",
    response_class=Response,
    responses={**_ok("#/components/schemas/Her2Classification"), **PROBLEM_RESPONSES},
    openapi_extra=_doc_body("#/components/schemas/Her2Raw"),
)
async def her2(request: Request) -> Response:
    """Classify HER2 results (``ihc``, ``ish_ratio``, ``her2_copies`` …), a ``kind: her2`` case or a patient."""
    from oncoline.app import classify_her2_document

    body, media_type = await body_document(request)
    result = await run_in_threadpool(classify_her2_document, body, media_type=media_type, name="<request body>")
    return Response(contract_json(result.model_dump(mode="json")), media_type="application/json")


@router.post(
    "/lines",
    summary="Lines of therapy from one patient's exposures (same JSON as `oncoline lines FILE --json`)",
    response_class=Response,
    responses={
        200: {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}},
        **PROBLEM_RESPONSES,
    },
    openapi_extra=_doc_body(),
)
async def lines(request: Request, as_of: str | None = AS_OF) -> Response:
    """Derive metastatic lines of therapy for one patient (``exposures`` + ``metastatic_diagnosis``)."""
    from oncoline.app import derive_patient_lines

    body, media_type = await body_document(request)
    today = dt.date.today()
    when = _as_of(as_of, today)
    result = await run_in_threadpool(
        derive_patient_lines, body, media_type=media_type, name="<request body>", as_of=when, today=today
    )
    return Response(contract_json(result.to_json()), media_type="application/json")


@router.get("/knowledge", summary="Knowledge-base version and files (as `oncoline kb show --json`)")
def knowledge() -> JSONResponse:
    """The knowledge-base version, its files and the number of entries of each kind."""
    from oncoline.app import knowledge_summary

    return JSONResponse(knowledge_summary())


@router.get(
    "/knowledge/{entry_id}",
    summary="One knowledge entry: source, statement, regimen, evidence or safety rule",
    responses={404: {"description": "No entry with that id", "content": {"application/problem+json": {}}}},
)
def knowledge_item(entry_id: str) -> Response:
    """One entry by id (e.g. ``DESTINY-Breast09``), with its kind and the knowledge version."""
    from oncoline.app import knowledge_entry
    from oncoline.errors import InputError

    try:
        entry = knowledge_entry(entry_id)
    except InputError as exc:
        return problem(404, str(exc), kind="not-found", title="No such knowledge entry")
    return JSONResponse({"kind": entry.kind, "id": entry.id, "version": entry.version, "data": entry.data})


@router.get("/version", summary="oncoline and knowledge-base versions")
def version() -> dict[str, str]:
    """``{"oncoline": "0.1.0", "knowledge": "<kb version>"}``."""
    from oncoline.knowledge.loader import load_knowledge

    return {"oncoline": __version__, "knowledge": load_knowledge().version}
