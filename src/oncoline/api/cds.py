"""CDS Hooks 2.0 services: discovery, ``patient-view``, ``order-select``, ``order-sign`` and feedback.

Thin over :mod:`oncoline.app`: the prefetched (or fetched) FHIR resources become one Bundle that
:func:`oncoline.app.recommend_document` reads exactly as it reads a bundle file; draft orders go to
:func:`oncoline.app.orders.check_orders`. This module only translates answers into cards.

References
----------
HL7 CDS Hooks 2.0: https://cds-hooks.hl7.org/2.0/ (discovery, prefetch, cards, feedback, security).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import ipaddress
import json
import logging
import re
import time
import urllib.parse
import uuid
from typing import TYPE_CHECKING, Any, Literal

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from oncoline.api.problems import PROBLEM_TYPE, problem
from oncoline.errors import InputError

if TYPE_CHECKING:
    from oncoline.api.state import ServiceState
    from oncoline.app.orders import OrderCheck
    from oncoline.app.recommend import RecommendOutcome
    from oncoline.model.recommendation import Citation, Excluded, Option, Recommendation

__all__ = ["PREFETCH", "SERVICES", "TOKEN", "router"]

log = logging.getLogger("oncoline.api.cds")
router = APIRouter(tags=["CDS Hooks 2.0"])

PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}",
    "medicationRequests": "MedicationRequest?patient={{context.patientId}}&_include=MedicationRequest:medication",
    "medicationStatements": "MedicationStatement?patient={{context.patientId}}",
    "medicationAdministrations": "MedicationAdministration?patient={{context.patientId}}",
}
"""Prefetch templates: only root-level context tokens (``{{context.patientId}}``)."""

TOKEN = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
"""A prefetch token in a template."""

SERVICES: dict[str, dict[str, Any]] = {
    "oncoline-next-line": {
        "hook": "patient-view",
        "title": "oncoline: next line for HER2-positive metastatic breast cancer",
        "description": "When the chart opens: the line now being chosen, the preferred options with their evidence, "
        "the missing critical facts (e.g. no HER2 result) and safety findings. Decision support, not a prescription.",
        "prefetch": PREFETCH,
    },
    "oncoline-order-select": {
        "hook": "order-select",
        "title": "oncoline: check a HER2-directed regimen as it is selected",
        "description": "Maps the draft MedicationRequests to a regimen and checks it against the same exclusions "
        "and cautions as the next-line view; a withheld regimen gets a critical card and a preferred suggestion.",
        "prefetch": PREFETCH,
    },
    "oncoline-order-sign": {
        "hook": "order-sign",
        "title": "oncoline: check a HER2-directed regimen before it is signed",
        "description": "As order-select, when the orders are about to be signed.",
        "prefetch": PREFETCH,
    },
}

OVERRIDE_SYSTEM = "https://oncoline.readthedocs.io/cds/override-reason"
OVERRIDE_REASONS = [
    {"system": OVERRIDE_SYSTEM, "code": "mdt-decision", "display": "Multidisciplinary tumour board decision"},
    {"system": OVERRIDE_SYSTEM, "code": "record-incomplete", "display": "The record is incomplete or out of date"},
    {"system": OVERRIDE_SYSTEM, "code": "clinical-trial", "display": "Given within a clinical trial"},
    {"system": OVERRIDE_SYSTEM, "code": "patient-preference", "display": "Informed patient preference"},
]
TOPIC_SYSTEM = "https://oncoline.readthedocs.io/cds/card"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SAFETY = ("contraindicated", "interaction", "stopped_for_toxicity", "caution")


# ------------------------------------------------------------------------------------------ request models
class FhirAuthorization(BaseModel):
    """The EHR's access token for its FHIR server (CDS Hooks 2.0 §fhirAuthorization)."""

    model_config = ConfigDict(extra="allow")

    access_token: str
    token_type: str = "Bearer"
    expires_in: int | None = None
    scope: str = ""
    subject: str = ""


class HookRequest(BaseModel):
    """A CDS Hooks call."""

    model_config = ConfigDict(extra="allow")

    hook: str
    hookInstance: str
    fhirServer: str | None = None
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None


class OverrideReason(BaseModel):
    model_config = ConfigDict(extra="allow")
    reason: dict[str, Any] | None = None
    userComment: str | None = None


class FeedbackItem(BaseModel):
    model_config = ConfigDict(extra="allow")
    card: str
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[dict[str, Any]] = Field(default_factory=list)
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: str | None = None


class FeedbackRequest(BaseModel):
    feedback: list[FeedbackItem] = Field(min_length=1)


# ------------------------------------------------------------------------------------------ helpers
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


def render_template(template: str, context: dict[str, Any], user: str | None) -> str | None:
    """Fill a prefetch template's tokens; None when a token has no value (then it cannot be fetched)."""
    missing = False

    def fill(m: re.Match[str]) -> str:
        nonlocal missing
        name = m.group(1)
        value: Any = None
        if name.startswith("context."):
            value = context.get(name.removeprefix("context."))
        elif name == "userPractitionerId" and user and user.startswith("Practitioner/"):
            value = user.split("/", 1)[1]
        if not isinstance(value, str) or not value:
            missing = True
            return ""
        return value

    out = TOKEN.sub(fill, template)
    return None if missing else out


class PrefetchUnavailable(Exception):
    """A prefetch key could not be satisfied (answered 412)."""


async def _fetch(
    client: httpx.AsyncClient, base: str, query: str, token: FhirAuthorization | None
) -> list[dict[str, Any]]:
    headers = {"Accept": "application/fhir+json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token.access_token}"
    url: str | None = f"{base.rstrip('/')}/{query}"
    out: list[dict[str, Any]] = []
    pages = 0
    while url and pages < 20:
        pages += 1
        try:
            resp = await client.get(url, headers=headers)
        except httpx.HTTPError as exc:
            raise PrefetchUnavailable(
                f"fhirServer did not answer {query.split('?')[0]} ({type(exc).__name__})"
            ) from None
        if resp.status_code == 404 and "?" not in query:
            return out
        if resp.status_code != 200:
            raise PrefetchUnavailable(f"fhirServer answered {resp.status_code} to {query.split('?')[0]}")
        try:
            data = resp.json()
        except ValueError:
            raise PrefetchUnavailable(f"fhirServer sent no JSON for {query.split('?')[0]}") from None
        out.extend(_resources(data))
        url = None
        if isinstance(data, dict) and data.get("resourceType") == "Bundle":
            nxt = next((ln.get("url") for ln in data.get("link", []) if ln.get("relation") == "next"), None)
            if isinstance(nxt, str) and nxt.startswith(base.rstrip("/")):  # never follow a link off the server
                url = nxt
    return out


def _resources(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, dict):
        return []
    if value.get("resourceType") == "Bundle":
        return [
            e["resource"]
            for e in value.get("entry", []) or []
            if isinstance(e, dict) and isinstance(e.get("resource"), dict)
        ]
    if value.get("resourceType") == "OperationOutcome":
        return []
    return [value]


def _is_outcome(value: Any) -> bool:
    return isinstance(value, dict) and value.get("resourceType") == "OperationOutcome"


async def gather_resources(hook: HookRequest, state: ServiceState) -> list[dict[str, Any]]:
    """Every resource the prefetch holds, fetching each absent or OperationOutcome key from ``fhirServer``.

    Raises
    ------
    PrefetchUnavailable
        A key is absent (or an OperationOutcome) and there is no ``fhirServer``, or the fetch fails.
    """
    prefetch = hook.prefetch or {}
    user = hook.context.get("userId") if isinstance(hook.context.get("userId"), str) else None
    wanted: dict[str, str] = {}
    resources: list[dict[str, Any]] = []
    for key, template in PREFETCH.items():
        if key in prefetch and not _is_outcome(prefetch[key]):
            resources.extend(_resources(prefetch[key]))  # null = the EHR has no such data
            continue
        query = render_template(template, hook.context, user)
        if query is None:
            raise PrefetchUnavailable(f"prefetch {key!r} is absent and context lacks the values to fetch it")
        wanted[key] = query
    if wanted:
        if not hook.fhirServer:
            raise PrefetchUnavailable(
                f"prefetch {', '.join(sorted(wanted))} absent (or an OperationOutcome) and no fhirServer to fetch from"
            )
        if not _tls_or_loopback(hook.fhirServer):
            raise PrefetchUnavailable("fhirServer must be https:// (CDS Hooks requires TLS; http only on loopback)")
        timeout = httpx.Timeout(state.config.fhir_timeout_seconds)
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            fetched = await asyncio.gather(
                *(_fetch(client, hook.fhirServer, query, hook.fhirAuthorization) for query in wanted.values())
            )
        for found in fetched:
            resources.extend(found)
    return resources


def _tls_or_loopback(url: str) -> bool:
    """True for an https URL, or an http URL on a loopback host (a test or a local FHIR server)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def _bundle(resources: list[dict[str, Any]], skip: set[str]) -> bytes:
    seen: set[str] = set()
    entries = []
    for r in resources:
        ref = f"{r.get('resourceType')}/{r.get('id')}"
        if r.get("id") and (ref in seen or ref in skip):
            continue
        seen.add(ref)
        entries.append({"resource": r})
    return json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}).encode()


def _short(text: str, limit: int = 139) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip(" ,;:") + "…"


def _cite(c: Citation) -> str:
    link = (
        c.url
        or (f"https://doi.org/{c.doi}" if c.doi else None)
        or (f"https://pubmed.ncbi.nlm.nih.gov/{c.pmid}/" if c.pmid else None)
    )
    return f"[{c.short}]({link})" if link else c.short


def _cites(citations: tuple[Citation, ...]) -> str:
    return ", ".join(_cite(c) for c in citations) or "—"


def _source(
    rec: Recommendation, state: ServiceState, citation: Citation | None, topic: str, display: str
) -> dict[str, Any]:
    label = f"oncoline · knowledge {rec.kb_version}"
    url = f"{state.config.public_url}/"
    if citation is not None:
        label = f"{citation.short} (oncoline · knowledge {rec.kb_version})"
        url = citation.url or (f"https://doi.org/{citation.doi}" if citation.doi else url)
    return {"label": label, "url": url, "topic": {"system": TOPIC_SYSTEM, "code": topic, "display": display}}


def _card(state: ServiceState, service: str, kind: str, **fields: Any) -> dict[str, Any]:
    card_id = str(uuid.uuid4())
    state.remember_card(card_id, service, kind)
    card = {"uuid": card_id, **fields}
    return {k: v for k, v in card.items() if v not in (None, [], {}, "")}


def _option_line(o: Option) -> str:
    ev = f" — {o.evidence[0]}" if o.evidence else ""
    return f"- **{o.name}**{ev} ({', '.join(_cite(c) for c in o.citations[:3])})"


def _next_line_card(outcome: RecommendOutcome, state: ServiceState, service: str, link: str) -> dict[str, Any]:
    rec = outcome.recommendation
    preferred = [o for o in rec.options if o.category.value == "preferred"]
    others = [o for o in rec.options if o.category.value != "preferred"]
    if preferred:
        summary = f"Line {rec.line}: preferred {'; '.join(o.name for o in preferred)}"
    elif rec.options:
        summary = f"Line {rec.line}: no preferred option; {len(rec.options)} other option(s)"
    else:
        summary = f"Line {rec.line}: no systemic option can be offered yet — see the missing facts"
    parts = [f"**Line {rec.line}** — {rec.line_rationale}", ""]
    if rec.missing:
        parts += ["**Missing first:** " + "; ".join(m.text for m in rec.missing), ""]
    if preferred:
        parts += ["**Preferred**", *(_option_line(o) for o in preferred), ""]
    if others:
        parts += ["**Other options**", *(_option_line(o) for o in others), ""]
    if rec.excluded:
        parts += ["**Withheld**", *(f"- {x.name}: {x.reason}" for x in rec.excluded), ""]
    parts += [
        f"Knowledge version {rec.kb_version}, as of {rec.as_of.isoformat()}. {rec.disclaimer}",
    ]
    return _card(
        state,
        service,
        "next-line",
        summary=_short(summary),
        indicator="info",
        detail="\n".join(parts),
        source=_source(rec, state, None, "next-line", "Next-line options"),
        links=[{"label": "Open the tumour-board view in oncoline", "url": link, "type": "absolute"}],
    )


def _missing_cards(outcome: RecommendOutcome, state: ServiceState, service: str) -> list[dict[str, Any]]:
    rec = outcome.recommendation
    return [
        _card(
            state,
            service,
            f"missing:{m.code}",
            summary=_short(f"Needed before choosing line {rec.line}: {m.code.replace('_', ' ')} — {m.text}"),
            indicator="warning",
            detail=f"{m.text}\n\noncoline does not guess a missing critical fact (`{m.code}`).",
            source=_source(rec, state, None, f"missing:{m.code}", "Missing critical fact"),
        )
        for m in rec.missing
    ]


def _safety_cards(outcome: RecommendOutcome, state: ServiceState, service: str) -> list[dict[str, Any]]:
    """One warning card per safety finding (one rule), naming every regimen it withholds; one per caution."""
    rec = outcome.recommendation
    groups: dict[str, list[Excluded]] = {}
    for x in rec.excluded:
        if x.reason_code.startswith(SAFETY):
            groups.setdefault(x.rule, []).append(x)
    cards = []
    for rule, items in groups.items():
        first = items[0]
        names = ", ".join(x.name for x in items)
        citations = tuple(dict.fromkeys(c for x in items for c in x.citations))
        cards.append(
            _card(
                state,
                service,
                f"safety:{first.reason_code}",
                summary=_short(f"Safety ({first.reason_code.replace('_', ' ')}): withholds {names}"),
                indicator="warning",
                detail="\n".join(
                    [
                        *(f"- **{x.name}**: {x.reason}" for x in items),
                        "",
                        f"Rule `{rule}`; sources: {_cites(citations)}.",
                    ]
                ),
                source=_source(
                    rec, state, citations[0] if citations else None, f"safety:{first.reason_code}", "Safety"
                ),
            )
        )
    cautions: dict[str, list[Option]] = {}
    for o in rec.options:
        for flag in o.flags:
            if flag.lower().startswith("caution"):
                cautions.setdefault(flag, []).append(o)
    for flag, options in cautions.items():
        cards.append(
            _card(
                state,
                service,
                "caution",
                summary=_short(f"Caution: {flag.split(':', 1)[-1].strip()}"),
                indicator="warning",
                detail=f"{flag}\n\nApplies to: {', '.join(o.name for o in options)}. "
                f"Sources: {_cites(options[0].citations)}.",
                source=_source(rec, state, options[0].citations[0], "caution", "Caution"),
            )
        )
    return cards


def _create_actions(o: Option, check: OrderCheck, subject: str | None) -> list[dict[str, Any]]:
    from oncoline.knowledge.loader import load_knowledge

    vocab = load_knowledge().vocab
    actions: list[dict[str, Any]] = [
        {"type": "delete", "description": f"Remove the draft order {ref}", "resourceId": ref}
        for ref in sorted({r for d in check.drugs for r in check.resources.get(d, ())})
    ]
    for drug in o.drugs:
        code = vocab.rxnorm(drug)
        concept: dict[str, Any] = {"text": drug}
        if code:
            concept["coding"] = [{"system": RXNORM, "code": code, "display": drug}]
        resource: dict[str, Any] = {
            "resourceType": "MedicationRequest",
            "status": "draft",
            "intent": "proposal",
            "medicationCodeableConcept": concept,
        }
        if subject:
            resource["subject"] = {"reference": subject}
        actions.append({"type": "create", "description": f"Draft an order for {drug}", "resource": resource})
    return actions


def _order_cards(
    outcome: RecommendOutcome, check: OrderCheck, state: ServiceState, service: str, subject: str | None
) -> list[dict[str, Any]]:
    rec = outcome.recommendation
    cards: list[dict[str, Any]] = []
    suggestions = [
        {
            "label": f"Order {o.name} instead (preferred, line {rec.line})",
            "uuid": str(uuid.uuid4()),
            "isRecommended": True,
            "actions": _create_actions(o, check, subject),
        }
        for o in check.preferred
        if not (set(o.drugs) & {d for x in check.withheld for d in x.drugs})
    ]
    for x in check.withheld:
        cards.append(
            _card(
                state,
                service,
                f"withheld:{x.regimen}",
                summary=_short(f"{x.name} is withheld for this patient: {x.reason}"),
                indicator="critical",
                detail="\n".join(
                    [
                        f"**{x.name}** is withheld: {x.reason}" + (f" (also: {'; '.join(x.also)})" if x.also else ""),
                        "",
                        f"Rule `{x.rule}` ({x.reason_code}); sources: {_cites(x.citations)}.",
                        "",
                        f"Preferred at line {rec.line}: {', '.join(o.name for o in check.preferred) or 'none'}.",
                        f"Knowledge version {rec.kb_version}. {rec.disclaimer}",
                    ]
                ),
                source=_source(
                    rec, state, x.citations[0] if x.citations else None, f"withheld:{x.reason_code}", "Withheld regimen"
                ),
                suggestions=suggestions,
                selectionBehavior="at-most-one" if suggestions else None,
                overrideReasons=OVERRIDE_REASONS,
            )
        )
    if check.off_list:
        cards.append(
            _card(
                state,
                service,
                "off-list",
                summary=_short(f"{' + '.join(check.drugs)} is not among the line-{rec.line} options"),
                indicator="warning",
                detail=f"The ordered drugs ({', '.join(check.drugs)}) match no option oncoline places at line "
                f"{rec.line}.\n\n" + "\n".join(_option_line(o) for o in rec.options[:6]),
                source=_source(rec, state, None, "off-list", "Not among the options"),
                suggestions=suggestions,
                selectionBehavior="at-most-one" if suggestions else None,
                overrideReasons=OVERRIDE_REASONS,
            )
        )
    for o in (*check.matches, *check.partial):
        exact = o in check.matches
        rest = sorted(set(o.drugs) - set(check.drugs))
        kind = {"preferred": "a preferred", "other": "an", "certain_circumstances": "a certain-circumstances"}
        text = f"{o.name} is {kind.get(o.category.value, 'an')} option at line {rec.line}"
        if not exact:
            text += f"; the regimen also needs {', '.join(rest)}"
        cards.append(
            _card(
                state,
                service,
                f"option:{o.regimen}",
                summary=_short(text),
                indicator="info",
                detail="\n".join(
                    [
                        _option_line(o),
                        "",
                        *(f"- {f}" for f in o.flags),
                        *(f"- Monitoring: {m.text}" for m in check.monitoring),
                    ]
                ),
                source=_source(rec, state, o.citations[0], f"option:{o.category.value}", "Option"),
            )
        )
        if exact:
            break
    for flag in check.cautions:
        cards.append(
            _card(
                state,
                service,
                "caution",
                summary=_short(f"Caution: {flag.split(':', 1)[-1].strip()}"),
                indicator="warning",
                detail=flag,
                source=_source(rec, state, None, "caution", "Caution"),
            )
        )
    for message in check.unknown:
        cards.append(
            _card(
                state,
                service,
                "unknown-drug",
                summary=_short("oncoline cannot check an order: its drug is not in the vocabulary"),
                indicator="info",
                detail=message,
                source=_source(rec, state, None, "unknown-drug", "Unknown drug"),
            )
        )
    return cards


def _draft_orders(hook: HookRequest) -> list[dict[str, Any]]:
    drafts = hook.context.get("draftOrders")
    found = _resources(drafts) if isinstance(drafts, dict) else []
    return [r for r in found if r.get("resourceType") in ("MedicationRequest", "Medication")]


# ------------------------------------------------------------------------------------------ routes
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
        412: {"description": "Prefetch absent and no fhirServer to fetch it", "content": {PROBLEM_TYPE: {}}},
    },
)
async def call_service(service_id: str, request: Request) -> Response:
    """Answer a hook with cards."""
    if service_id not in SERVICES:
        return problem(404, f"no CDS service {service_id!r}; GET /cds-services lists them", kind="not-found")
    denied = await _auth(request, service_id, path=service_id)
    if denied is not None:
        return denied
    state = _state(request)
    started = time.perf_counter()
    try:
        hook = HookRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return problem(400, f"not a CDS Hooks request: {where}: {first['msg']}", kind="bad-hook-request", field=where)
    expected = SERVICES[service_id]["hook"]
    if hook.hook != expected:
        return problem(
            400,
            f"service {service_id} answers the {expected} hook, not {hook.hook!r}",
            kind="bad-hook-request",
            field="hook",
        )
    patient_ref = hook.context.get("patientId")
    try:
        resources = await gather_resources(hook, state)
    except PrefetchUnavailable as exc:
        log.info("cds %s patient=%s: 412 (%s)", service_id, hashed(str(patient_ref)), exc)
        return problem(412, str(exc), kind="prefetch-unavailable", title="Prefetch data unavailable")
    drafts = _draft_orders(hook) if expected != "patient-view" else []
    skip = {f"{r.get('resourceType')}/{r.get('id')}" for r in drafts}
    body = _bundle(resources, skip)
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
        log.info("cds %s patient=%s: input problem", service_id, hashed(str(patient_ref)))
        card = _card(
            state,
            service_id,
            "unreadable-record",
            summary="oncoline cannot give a recommendation from this record",
            indicator="warning",
            detail=f"{exc}\n\nNothing was guessed.",
            source={"label": "oncoline", "url": f"{state.config.public_url}/"},
        )
        return JSONResponse({"cards": [card]})
    token = state.views.put(outcome)
    link = f"{state.config.public_url}/view/{token}"
    if expected == "patient-view":
        cards = [
            _next_line_card(outcome, state, service_id, link),
            *_missing_cards(outcome, state, service_id),
            *_safety_cards(outcome, state, service_id),
        ]
    else:
        from oncoline.app.orders import check_orders

        check = await run_in_threadpool(check_orders, outcome, drafts)
        subject = f"Patient/{patient_ref}" if isinstance(patient_ref, str) else None
        cards = [*_missing_cards(outcome, state, service_id), *_order_cards(outcome, check, state, service_id, subject)]
    log.info(
        "cds %s patient=%s: %d card(s) in %.0f ms",
        service_id,
        hashed(str(patient_ref)),
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
    },
)
async def feedback(service_id: str, request: Request) -> Response:
    """Store what the clinician did with cards (append-only; ``oncoline feedback`` summarises)."""
    if service_id not in SERVICES:
        return problem(404, f"no CDS service {service_id!r}; GET /cds-services lists them", kind="not-found")
    denied = await _auth(request, service_id, path=f"{service_id}/feedback")
    if denied is not None:
        return denied
    try:
        doc = FeedbackRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return problem(400, f"not a feedback document: {where}: {first['msg']}", kind="bad-feedback", field=where)
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
