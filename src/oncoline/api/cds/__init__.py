"""CDS Hooks 2.0 services: discovery, ``patient-view``, ``order-select``, ``order-sign`` and feedback.

Thin over :mod:`oncoline.app`: the prefetched (or fetched) FHIR resources become one Bundle that
:func:`oncoline.app.recommend_document` reads exactly as it reads a bundle file; draft orders go to
:func:`oncoline.app.orders.check_orders`. Modules: :mod:`.services` (what is offered, request documents),
:mod:`.prefetch` (resources in), :mod:`.cards` (answers out); the routes are here.

References
----------
HL7 CDS Hooks 2.0: https://cds-hooks.hl7.org/2.0/ (discovery, prefetch, cards, feedback, security).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from oncoline.api.cds.cards import card, data_quality_cards, missing_cards, next_line_card, order_cards, safety_cards
from oncoline.api.cds.prefetch import (
    PrefetchInvalid,
    PrefetchUnavailable,
    bundle_bytes,
    draft_orders,
    gather_resources,
    other_patient,
    unreadable_entries,
)
from oncoline.api.cds.services import PREFETCH, SERVICES, TOKEN, FeedbackRequest, HookRequest
from oncoline.api.problems import PROBLEM_TYPE, problem
from oncoline.errors import InputError

if TYPE_CHECKING:
    from oncoline.api.state import ServiceState

__all__ = ["PREFETCH", "SERVICES", "TOKEN", "hashed", "router"]

M = TypeVar("M", bound=BaseModel)
log = logging.getLogger("oncoline.api.cds")
router = APIRouter(tags=["CDS Hooks 2.0"])


def _state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.oncoline
    return state


def hashed(value: str | None, /) -> str:
    """A short one-way hash of an identifier for the logs (never the identifier itself)."""
    return hashlib.sha256((value or "").encode()).hexdigest()[:12]


async def _auth(request: Request, service: str, *, path: str) -> JSONResponse | None:
    from oncoline.api.security import AuthError

    state = _state(request)
    if state.config.insecure_dev:
        return None
    audience = f"{state.config.public_url}/cds-services/{service}"
    try:  # in a thread: a JWKS URL may be fetched (blocking) on a cache miss
        await run_in_threadpool(state.verifier.verify, request.headers.get("authorization"), audience=audience)
    except AuthError as exc:
        log.info("cds %s: 401 (%s)", path, exc)
        why = str(exc).replace('"', "'").replace("\\", "/").encode("ascii", "replace").decode()  # RFC 6750 quoted
        return problem(
            401,
            str(exc),
            kind="unauthorized",
            title="A valid CDS Hooks bearer token is required",
            headers={"WWW-Authenticate": f'Bearer realm="oncoline", error="invalid_token", error_description="{why}"'},
        )
    return None


async def _open(request: Request, service_id: str, model: type[M], what: str, *, path: str) -> M | Response:
    """The request document of a CDS Hooks call, or the problem to answer: 404 unknown service, 401 token, 400
    a body that is not ``what``."""
    if service_id not in SERVICES:
        return problem(404, f"no CDS service {service_id!r}; GET /cds-services lists them", kind="not-found")
    denied = await _auth(request, service_id, path=path)
    if denied is not None:
        return denied
    media_type = request.headers.get("content-type", "")
    if media_type.split(";", 1)[0].strip().lower() != "application/json":  # as the REST API: 415, never a guess
        return problem(
            415,
            f"content type {media_type or '(none)'!r} is not a CDS Hooks request; send application/json",
            kind="unsupported-media-type",
        )
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return problem(400, f"not {what}: {where}: {first['msg']}", kind="bad-request", field=where)


@router.get("/cds-services", summary="CDS Hooks discovery")
def discovery() -> dict[str, Any]:
    """The services this CDS service offers (CDS Hooks 2.0 §Discovery)."""
    return {"services": [{"id": sid, **spec} for sid, spec in SERVICES.items()]}


@router.post(
    "/cds-services/{service_id}",
    summary="Call a CDS service (patient-view, order-select, order-sign)",
    responses={
        200: {"description": "Cards"},
        400: {"description": "Not a CDS Hooks request", "content": {PROBLEM_TYPE: {}}},
        401: {"description": "No acceptable bearer token", "content": {PROBLEM_TYPE: {}}},
        404: {"description": "No such service", "content": {PROBLEM_TYPE: {}}},
        412: {
            "description": "Prefetch absent and no fhirServer to fetch it, or the record is another patient's",
            "content": {PROBLEM_TYPE: {}},
        },
        415: {"description": "Body not application/json", "content": {PROBLEM_TYPE: {}}},
    },
)
async def call_service(service_id: str, request: Request) -> Response:
    """Answer a hook with cards."""
    started = time.perf_counter()
    hook = await _open(request, service_id, HookRequest, "a CDS Hooks request", path=service_id)
    if isinstance(hook, Response):
        return hook
    state = _state(request)
    expected = SERVICES[service_id]["hook"]
    if hook.hook != expected:
        return problem(
            400,
            f"service {service_id} answers the {expected} hook, not {hook.hook!r}",
            kind="bad-hook-request",
            field="hook",
        )
    patient_ref = hook.context.get("patientId")
    if not isinstance(patient_ref, str) or not patient_ref:
        return problem(
            400,
            f"context.patientId is required for the {expected} hook (the id of the chart's Patient)",
            kind="bad-hook-request",
            field="context.patientId",
        )
    try:
        resources = await gather_resources(hook, state)
    except PrefetchInvalid as exc:
        log.info("cds %s patient=%s: 400 (%s)", service_id, hashed(patient_ref), exc.field)
        return problem(400, str(exc), kind="bad-prefetch", title="Malformed prefetch", field=exc.field)
    except PrefetchUnavailable as exc:
        log.info("cds %s patient=%s: 412 (%s)", service_id, hashed(patient_ref), exc)
        return problem(412, str(exc), kind="prefetch-unavailable", title="Prefetch data unavailable")
    drafts = draft_orders(hook) if expected != "patient-view" else []
    mismatch = other_patient([*resources, *drafts], patient_ref)
    if mismatch is not None:  # never a card built from another patient's record (CDS Hooks 2.0 §412)
        log.warning("cds %s patient=%s: 412 record of another patient", service_id, hashed(patient_ref))
        return problem(412, mismatch, kind="patient-mismatch", title="The record does not match this chart")
    skipped = [line for key, value in (hook.prefetch or {}).items() for line in unreadable_entries(key, value)]
    skip = {f"{r.get('resourceType')}/{r.get('id')}" for r in drafts}
    body = bundle_bytes(resources, skip)
    today = dt.date.today()
    from oncoline.app import recommend_document

    key = hashlib.sha256(body).hexdigest() + today.isoformat()
    try:
        outcome = state.outcomes.get(key)  # the same chart again (order-select fires per selection): same answer
        if outcome is None:
            outcome = await run_in_threadpool(
                recommend_document, body, media_type="application/fhir+json", name="CDS Hooks prefetch", today=today
            )
            state.outcomes.put(key, outcome)
    except InputError as exc:
        log.info("cds %s patient=%s: input problem", service_id, hashed(patient_ref))
        unreadable = card(
            state,
            service_id,
            "unreadable-record",
            summary="oncoline cannot give a recommendation from this record",
            indicator="warning",
            detail=f"{exc}\n\nNothing was guessed.",
            source={"label": "oncoline", "url": f"{state.config.public_url}/"},
        )
        return JSONResponse({"cards": [unreadable]})
    token = state.views.put(outcome)
    link = f"{state.config.public_url}/view/{token}"
    if expected == "patient-view":
        cards = [
            next_line_card(outcome, state, service_id, link),
            *missing_cards(outcome, state, service_id),
            *safety_cards(outcome, state, service_id),
        ]
    else:
        from oncoline.app.orders import check_orders

        check = await run_in_threadpool(check_orders, outcome, drafts)
        subject = f"Patient/{patient_ref}"
        cards = [*missing_cards(outcome, state, service_id), *order_cards(outcome, check, state, service_id, subject)]
    cards.extend(data_quality_cards(outcome, skipped, state, service_id))
    log.info(
        "cds %s patient=%s: %d card(s) in %.0f ms",
        service_id,
        hashed(patient_ref),
        len(cards),
        (time.perf_counter() - started) * 1000,
    )
    return JSONResponse({"cards": cards})


@router.post(
    "/cds-services/{service_id}/feedback",
    summary="CDS Hooks feedback: accepted / overridden cards",
    responses={
        200: {"description": "Stored"},
        400: {"description": "Not a feedback document", "content": {PROBLEM_TYPE: {}}},
        401: {"description": "No acceptable bearer token", "content": {PROBLEM_TYPE: {}}},
        404: {"description": "No such service", "content": {PROBLEM_TYPE: {}}},
        415: {"description": "Body not application/json", "content": {PROBLEM_TYPE: {}}},
    },
)
async def feedback(service_id: str, request: Request) -> Response:
    """Store what the clinician did with cards (append-only; ``oncoline feedback`` summarises)."""
    doc = await _open(request, service_id, FeedbackRequest, "a feedback document", path=f"{service_id}/feedback")
    if isinstance(doc, Response):
        return doc
    from oncoline.app.feedback import FeedbackRecord

    state = _state(request)
    records = []
    for item in doc.feedback:
        reason = (item.overrideReason.reason if item.overrideReason else None) or {}
        records.append(
            FeedbackRecord(
                service=service_id,
                card=item.card,
                card_kind=state.card_kind(item.card),
                outcome=item.outcome,
                override_system=reason.get("system") if isinstance(reason.get("system"), str) else None,
                override_code=reason.get("code") if isinstance(reason.get("code"), str) else None,
                override_display=reason.get("display") if isinstance(reason.get("display"), str) else None,
                user_comment=item.overrideReason.userComment if item.overrideReason else None,
                accepted_suggestions=len(item.acceptedSuggestions),
                outcome_timestamp=item.outcomeTimestamp,
            )
        )
    n = await run_in_threadpool(state.feedback().append, records, received_at=dt.datetime.now(dt.UTC))
    log.info("cds %s feedback: %d item(s) stored", service_id, n)
    return JSONResponse({"stored": n})
