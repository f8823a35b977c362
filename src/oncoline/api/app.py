"""The FastAPI application: :func:`create_app` wires the REST API, CDS Hooks, the clinician page and /docs.

Doors only: every answer comes from :mod:`oncoline.app`. Cross-cutting rules live here — request size limit
(413), RFC 9457 problems for every error (never a 500 for bad input), CORS closed unless configured, security
headers, the ``--insecure-dev`` announcement on every response, and logs without patient data.
"""

from __future__ import annotations

import logging
import time
import traceback
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from oncoline import __version__
from oncoline.api.config import ServiceConfig
from oncoline.api.problems import input_problem, problem
from oncoline.api.rest import UnsupportedMediaType
from oncoline.api.state import ServiceState
from oncoline.errors import BackendError, InputError, KnowledgeBaseError

__all__ = ["INSECURE_HEADER", "create_app"]

log = logging.getLogger("oncoline.api")
WEB = Path(__file__).parent / "web"
INSECURE_HEADER = "X-Oncoline-Insecure-Dev"

_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
_DOCS_CSP = _CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")  # Swagger UI sets inline styles


class _Door:
    """Pure ASGI middleware: body size limit, security headers, the insecure-dev header, a log line per request."""

    def __init__(self, app: ASGIApp, config: ServiceConfig) -> None:
        self.app = app
        self.config = config

    async def _too_large(self, send: Send) -> None:
        resp = problem(
            413,
            f"the request body is larger than {self.config.max_body_bytes} bytes (max_body_bytes in the service "
            "configuration); send one patient at a time",
            kind="too-large",
        )
        await self._send_response(resp, send)

    async def _send_response(self, resp: Response, send: Send) -> None:
        async def noop() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        await resp({"type": "http", "method": "POST", "headers": []}, noop, self._wrap(send, "/"))

    def _wrap(self, send: Send, path: str) -> Send:
        config = self.config

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                extra = {
                    b"x-content-type-options": b"nosniff",
                    b"referrer-policy": b"no-referrer",
                    b"content-security-policy": (_DOCS_CSP if path.startswith("/docs") else _CSP).encode(),
                }
                if not path.startswith("/static"):
                    extra[b"cache-control"] = b"no-store"
                if config.insecure_dev:
                    extra[INSECURE_HEADER.lower().encode()] = b"authentication is OFF (development only)"
                have = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in extra.items() if k not in have]
                message = {**message, "headers": headers}
            await send(message)

        return wrapped

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path = scope.get("path", "")
        status: list[int] = []
        limit = self.config.max_body_bytes
        length = next((v for k, v in scope.get("headers", []) if k == b"content-length"), None)
        if length is not None and not length.isdigit():
            await self._send_response(problem(400, "Content-Length is not a number", kind="bad-request"), send)
            self._log(scope, 400, started)
            return
        if length is not None and int(length) > limit:
            await self._too_large(send)
            self._log(scope, 413, started)
            return
        if scope.get("method") in ("POST", "PUT", "PATCH"):
            chunks: list[bytes] = []
            size = 0
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                body = message.get("body", b"")
                size += len(body)
                if size > limit:
                    await self._too_large(send)
                    self._log(scope, 413, started)
                    return
                chunks.append(body)
                more = message.get("more_body", False)
            replay: list[Message] = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

            async def receive_again() -> Message:
                if replay:
                    return replay.pop()
                return await receive()

            receive = receive_again
        inner = self._wrap(send, path)

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await inner(message)

        try:
            await self.app(scope, receive, send_status)
        except Exception as exc:  # a bug: answer a bare 500 and log where, never the message (it may hold data)
            frames = traceback.extract_tb(exc.__traceback__)
            where = "; ".join(f"{Path(f.filename).name}:{f.lineno} in {f.name}" for f in frames[-4:])
            log.error("internal error (%s) on %s %s at %s", type(exc).__name__, scope.get("method"), path, where)
            if status:  # the response had started: nothing more can be sent
                return
            status.append(500)
            resp = problem(
                500, "internal error (a bug: please report it with the time of the request)", kind="internal"
            )
            await resp(scope, receive, inner)
        self._log(scope, status[0] if status else 0, started)

    @staticmethod
    def _log(scope: Scope, status: int, started: float) -> None:
        route = scope.get("path", "")
        if route.startswith(("/view/", "/patient/")):
            route = f"/{route.split('/')[1]}/<token>"  # a token opens a patient's view: never logged
        log.info("%s %s %d %.0f ms", scope.get("method"), route, status, (time.perf_counter() - started) * 1000)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document plus the schemas of the models the routes read and write as raw bodies."""
    if app.openapi_schema:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi
    from pydantic.json_schema import models_json_schema

    from oncoline.api.problems import Problem
    from oncoline.engines.her2 import Her2Classification
    from oncoline.model import Her2Raw, Patient
    from oncoline.model.recommendation import Recommendation

    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    _, defs = models_json_schema(
        [
            (Patient, "validation"),
            (Her2Raw, "validation"),
            (Recommendation, "serialization"),
            (Her2Classification, "serialization"),
            (Problem, "serialization"),
        ],
        ref_template="#/components/schemas/{model}",
    )
    doc.setdefault("components", {}).setdefault("schemas", {}).update(defs.get("$defs", {}))
    app.openapi_schema = doc
    return doc


def create_app(config: ServiceConfig | None = None, /) -> FastAPI:
    """Build the oncoline HTTP service.

    Parameters
    ----------
    config
        The service configuration (default: :class:`~oncoline.api.config.ServiceConfig` defaults — no trusted
        issuer, so every CDS Hooks call is refused unless ``insecure_dev``).

    Returns
    -------
    fastapi.FastAPI
        An ASGI application: ``/`` the clinician page, ``/api/v1/*`` REST, ``/cds-services`` CDS Hooks 2.0,
        ``/docs`` Swagger UI (served offline) over ``/openapi.json``, ``/healthz``.
    """
    config = config or ServiceConfig()
    app = FastAPI(
        title="oncoline",
        version=__version__,
        description="Evidence-linked next-line decision support for HER2-positive metastatic breast cancer: REST "
        "API, CDS Hooks 2.0 services and a clinician page. Decision support for clinicians, not a prescription.",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.oncoline = ServiceState(config)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]

    @app.exception_handler(InputError)
    async def _input(request: Request, exc: InputError) -> Response:
        return input_problem(exc)

    @app.exception_handler(UnsupportedMediaType)
    async def _media(request: Request, exc: UnsupportedMediaType) -> Response:
        return problem(415, str(exc), kind="unsupported-media-type")

    @app.exception_handler(KnowledgeBaseError)
    async def _kb(request: Request, exc: KnowledgeBaseError) -> Response:
        log.error("knowledge base error: %s", exc)
        return problem(503, f"the knowledge base failed to load: {exc}", kind="knowledge-base")

    @app.exception_handler(BackendError)
    async def _backend(request: Request, exc: BackendError) -> Response:
        log.error("back-end error: %s", type(exc).__name__)
        return problem(503, str(exc), kind="back-end")

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return problem(422, f"{where}: {first.get('msg')}", kind="bad-request", field=where or None)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        return problem(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}) or None)

    from oncoline.api import cds, rest, web

    app.include_router(rest.router)
    app.include_router(cds.router)
    app.include_router(web.router)

    import swagger_ui

    app.mount("/static/swagger", StaticFiles(directory=Path(swagger_ui.__file__).parent / "static"), name="swagger")
    app.mount("/static", StaticFiles(directory=WEB / "static"), name="static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse((WEB / "docs.html").read_text(encoding="utf-8"))

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response((WEB / "static" / "favicon.svg").read_bytes(), media_type="image/svg+xml")

    @app.get("/healthz", summary="Liveness: the service answers and its knowledge loads")
    def healthz() -> dict[str, str]:
        """``{"status": "ok", "knowledge": "<version>"}``."""
        from oncoline.knowledge.loader import load_knowledge

        return {"status": "ok", "knowledge": load_knowledge().version}

    if config.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(_Door, config=config)
    return app
