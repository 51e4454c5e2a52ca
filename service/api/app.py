"""The FastAPI application factory.

Errors leave as `{"error": {"code", "message"}}` with a fitting status, mapped in one
table below; an unexpected exception is logged and answered 500 without a stack trace.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import __version__
from service.api.routes import check, console, drafts, evals, health, keys, search, stats, suggestions
from service.config import Settings, get_settings
from service.container import Services
from service.errors import (
    BackendError,
    Conflict,
    Forbidden,
    HuashuError,
    InvalidRequest,
    NotFound,
    PackError,
    Unauthorized,
)
from service.evaluation.jobs import EvalJobs
from service.metrics import REQUEST_LATENCY, REQUESTS

log = logging.getLogger("huashu.api")

# The one place where errors become HTTP statuses; the first matching class wins.
STATUS = [
    (NotFound, 404),
    (InvalidRequest, 400),
    (PackError, 400),
    (Unauthorized, 401),
    (Forbidden, 403),
    (Conflict, 409),
    (BackendError, 503),
    (HuashuError, 500),
]

DESCRIPTION = """
huashu drafts replies for Chinese e-commerce customer service, grounded in each shop's
knowledge pack (product facts, handbook scripts, policy).

Errors are JSON: `{"error": {"code": "...", "message": "..."}}`; a 409 on a draft adds
`current`, the draft as it now stands.

Access: send `Authorization: Bearer hs_…` (or `X-API-Key`). Roles: `client` (suggestions,
check, search, marking drafts sent), `agent` (drafts), `evaluator` (evals, stats), `admin`
(everything, and keys); each key is scoped to shops. With no key configured, huashu answers
loopback clients only. The agent console is at [/console](/console).

Retries: `POST /v1/suggestions` and every draft action accept an `Idempotency-Key` header; a
retried request with the same key returns the first answer (header `Idempotent-Replayed`).
"""


def error_response(status: int, code: str, message: str, **extra: object) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status)


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    services = services or Services(settings or get_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Open Chroma and build the embedder before the first request, not during it.
        services.embedder  # noqa: B018
        try:
            services.index.heartbeat()
        except BackendError as exc:
            log.warning("starting without the index: %s", exc.message)
        try:
            if services.settings.database_migrate:
                services.db.migrate()
            services.keys  # noqa: B018 - built here, before requests race to build it
            services.learning.sync()
        except BackendError as exc:
            log.warning("starting without the database (%s): %s", services.db.location, exc.message)
        yield
        app.state.eval_jobs.shutdown()
        if "learning" in services.__dict__:  # index what was approved before stopping
            services.learning.wait(timeout=10)
        services.db.dispose()

    app = FastAPI(title="huashu", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.services = services
    app.state.eval_jobs = EvalJobs(services)
    app.include_router(health.router)
    app.include_router(search.router)
    app.include_router(check.router)
    app.include_router(suggestions.router)
    app.include_router(drafts.router)
    app.include_router(stats.router)
    app.include_router(evals.router)
    app.include_router(keys.router)
    app.include_router(console.router)

    @app.exception_handler(HuashuError)
    async def huashu_error(request: Request, exc: HuashuError) -> JSONResponse:
        status = next(code for cls, code in STATUS if isinstance(exc, cls))
        if status >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, exc.message)
        extra = {"current": exc.current} if isinstance(exc, Conflict) and exc.current else {}
        response = error_response(status, exc.code, exc.message, **extra)
        if status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
            problems.append(f"{loc}: {err.get('msg')}")
        return error_response(422, "invalid_request", "; ".join(problems))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "internal error; see the server log")

    app.add_middleware(MetricsMiddleware)
    return app


class MetricsMiddleware:
    """Requests and latency by route template. Plain ASGI: starlette's BaseHTTPMiddleware
    runs each request in a task of its own, which cost more than the metrics themselves."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            REQUESTS.labels(scope["method"], path, str(status)).inc()
            REQUEST_LATENCY.labels(path).observe(time.perf_counter() - began)
