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
from typing import TYPE_CHECKING, Any

import httpx

from oncoline.api.cds.services import PREFETCH, TOKEN, FhirAuthorization, HookRequest

if TYPE_CHECKING:
    import re

    from oncoline.api.state import ServiceState

__all__ = ["PrefetchUnavailable", "bundle_bytes", "draft_orders", "gather_resources", "render_template", "resources_of"]


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
    PrefetchUnavailable
        A key is absent (or an OperationOutcome) and there is no ``fhirServer``, or the fetch fails.
    """
    prefetch = hook.prefetch or {}
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
