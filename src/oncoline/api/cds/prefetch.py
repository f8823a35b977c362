"""Prefetch in, one FHIR Bundle out: take what the EHR sent, fetch what it did not from ``fhirServer``.

A key that is absent, or that holds an ``OperationOutcome``, is fetched with the ``fhirAuthorization`` bearer token
(httpx, timeouts, ``next`` pages on the same server only, https or loopback only); ``null`` means the EHR has no
such data. Nothing else is decided here.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import urllib.parse
from collections import Counter
from typing import TYPE_CHECKING, Any

import httpx

from oncoline.api.cds.services import PREFETCH, TOKEN, FhirAuthorization, HookRequest

if TYPE_CHECKING:
    import re

    from oncoline.api.state import ServiceState

__all__ = [
    "PrefetchInvalid",
    "PrefetchUnavailable",
    "bundle_bytes",
    "draft_orders",
    "gather_resources",
    "other_patient",
    "render_template",
    "resources_of",
    "unreadable_entries",
]


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
    """A prefetch key could not be satisfied, or the data is not this chart's patient (answered 412)."""


class PrefetchInvalid(Exception):
    """A prefetch value of the wrong shape (answered 400): CDS Hooks 2.0 allows a FHIR resource (a Bundle for a
    search) or ``null`` and nothing else. ``field`` names the key (``prefetch.conditions``)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def _check_shape(key: str, value: Any) -> None:
    """Raise :class:`PrefetchInvalid` when a prefetch value is neither null nor a FHIR resource."""
    if value is None:
        return
    if not isinstance(value, dict):
        raise PrefetchInvalid(
            f"prefetch {key!r} is a JSON {_json_kind(value)}; CDS Hooks 2.0 allows a FHIR resource "
            "(a Bundle for a search), an OperationOutcome or null",
            field=f"prefetch.{key}",
        )
    if not isinstance(value.get("resourceType"), str) or not value["resourceType"]:
        raise PrefetchInvalid(
            f"prefetch {key!r} is an object without a resourceType; send a FHIR resource, an OperationOutcome or null",
            field=f"prefetch.{key}",
        )


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def unreadable_entries(key: str, value: Any) -> list[str]:
    """One line per entry of a prefetch Bundle that holds no FHIR resource (``null``, no ``resource``, no
    ``resourceType``), naming the key and the entry number (1-based); empty for anything else."""
    if not isinstance(value, dict) or value.get("resourceType") != "Bundle":
        return []
    raw = value.get("entry")
    if raw is None:
        return []
    if not isinstance(raw, list):
        return [f"prefetch {key}: Bundle.entry is a JSON {_json_kind(raw)}, not a list; nothing read from it"]
    out = []
    for i, e in enumerate(raw, start=1):
        res = e.get("resource") if isinstance(e, dict) else None
        if not isinstance(res, dict) or not isinstance(res.get("resourceType"), str):
            out.append(f"prefetch {key}: Bundle entry {i} holds no FHIR resource; skipped")
    return out


def _patient_ref_id(ref: Any) -> str | None:
    """The id of a ``Patient/<id>`` reference (relative or absolute), None for anything else (urn:uuid …)."""
    if not isinstance(ref, str):
        return None
    parts = ref.split("/_history/")[0].rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == "Patient":
        return parts[-1]
    return None


def other_patient(resources: list[dict[str, Any]], patient_id: str) -> str | None:
    """Why the resources are not (all) the chart's patient ``context.patientId``, or None when they are.

    A ``Patient`` resource must have that id; the ``subject`` (or ``patient``) ``Patient/<id>`` reference of any
    other resource must name it. Identifiers are not repeated in the message (it may be logged).
    """
    wrong: Counter[str] = Counter()
    for r in resources:
        rt = str(r.get("resourceType"))
        if rt == "Patient":
            if str(r.get("id")) != patient_id:
                wrong[rt] += 1
            continue
        for field in ("subject", "patient"):
            holder = r.get(field)
            ref = _patient_ref_id(holder.get("reference")) if isinstance(holder, dict) else None
            if ref is not None and ref != patient_id:
                wrong[rt] += 1
                break
    if not wrong:
        return None
    shown = ", ".join(f"{n} {rt}" for rt, n in sorted(wrong.items()))
    return (
        f"the record does not match this chart: {shown} resource(s) belong to another patient than "
        "context.patientId; no recommendation is given from another patient's data"
    )


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
        out.extend(resources_of(data))
        url = None
        if isinstance(data, dict) and data.get("resourceType") == "Bundle":
            nxt = next((ln.get("url") for ln in data.get("link", []) if ln.get("relation") == "next"), None)
            if isinstance(nxt, str) and nxt.startswith(base.rstrip("/")):  # never follow a link off the server
                url = nxt
    return out


def resources_of(value: Any) -> list[dict[str, Any]]:
    """The resources in a prefetch value: a Bundle's entries, a single resource, nothing for null or an
    OperationOutcome."""
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
    PrefetchInvalid
        A prefetch value is neither a FHIR resource nor null (a string, a number, a list …).
    PrefetchUnavailable
        A key is absent (or an OperationOutcome) and there is no ``fhirServer``, or the fetch fails.
    """
    prefetch = hook.prefetch or {}
    for key, value in prefetch.items():
        _check_shape(key, value)
    user = hook.context.get("userId") if isinstance(hook.context.get("userId"), str) else None
    wanted: dict[str, str] = {}
    resources: list[dict[str, Any]] = []
    for key, template in PREFETCH.items():
        if key in prefetch and not _is_outcome(prefetch[key]):
            resources.extend(resources_of(prefetch[key]))  # null = the EHR has no such data
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


def bundle_bytes(resources: list[dict[str, Any]], skip: set[str]) -> bytes:
    """One ``collection`` Bundle (JSON bytes) of the resources, each ``Type/id`` once, leaving out ``skip``
    (the draft orders, which are not yet part of the record)."""
    seen: set[str] = set()
    entries = []
    for r in resources:
        ref = f"{r.get('resourceType')}/{r.get('id')}"
        if r.get("id") and (ref in seen or ref in skip):
            continue
        seen.add(ref)
        entries.append({"resource": r})
    return json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}).encode()


def draft_orders(hook: HookRequest) -> list[dict[str, Any]]:
    """The draft ``MedicationRequest`` resources (and their ``Medication``) of ``context.draftOrders``."""
    drafts = hook.context.get("draftOrders")
    found = resources_of(drafts) if isinstance(drafts, dict) else []
    return [r for r in found if r.get("resourceType") in ("MedicationRequest", "Medication")]
