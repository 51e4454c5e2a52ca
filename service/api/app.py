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

from service import __version__
from service.api.routes import check, evals, health, search, suggestions
from service.config import Settings, get_settings
from service.container import Services
from service.errors import (
    BackendError,
    HuashuError,
    InvalidRequest,
    NotFound,
    PackError,
)
from service.evaluation.jobs import EvalJobs
from service.metrics import REQUEST_LATENCY, REQUESTS

log = logging.getLogger("huashu.api")

# The one place where errors become HTTP statuses; the first matching class wins.
STATUS = [
    (NotFound, 404),
    (InvalidRequest, 400),
    (PackError, 400),
    (BackendError, 503),
    (HuashuError, 500),
]

DESCRIPTION = """
huashu drafts replies for Chinese e-commerce customer service, grounded in each shop's
knowledge pack (product facts, handbook scripts, policy).

Errors are JSON: `{"error": {"code": "...", "message": "..."}}`.
"""


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


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
        yield
        app.state.eval_jobs.shutdown()

    app = FastAPI(title="huashu", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.services = services
    app.state.eval_jobs = EvalJobs(services)
    app.include_router(health.router)
    app.include_router(search.router)
    app.include_router(check.router)
    app.include_router(suggestions.router)
    app.include_router(evals.router)

    @app.exception_handler(HuashuError)
    async def huashu_error(request: Request, exc: HuashuError) -> JSONResponse:
        status = next(code for cls, code in STATUS if isinstance(exc, cls))
        if status >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, exc.message)
        return error_response(status, exc.code, exc.message)

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

    @app.middleware("http")
    async def record_metrics(request: Request, call_next):  # type: ignore[no-untyped-def]
        began = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        REQUESTS.labels(request.method, path, str(response.status_code)).inc()
        REQUEST_LATENCY.labels(path).observe(time.perf_counter() - began)
        return response

    return app
