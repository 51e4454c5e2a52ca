from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service import __version__
from service.api.deps import ServicesDep
from service.api.schemas import Health
from service.errors import BackendError
from service.metrics import REGISTRY
from service.store.db import describe

router = APIRouter(tags=["service"])


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}})
def healthz(services: ServicesDep) -> Response:
    """Liveness and readiness: the index answers and lists the shops it holds, and the
    database answers with its schema in place."""
    try:
        services.index.heartbeat()
        shops = services.index.shops()
        status, code = "ok", 200
    except BackendError:
        shops, status, code = [], "degraded", 503
    try:
        database = "ok" if services.db.ready() else "not migrated (run `huashu db upgrade`)"
    except BackendError:
        database = "unavailable"
    if database != "ok":
        status, code = "degraded", 503
    body = Health(status=status, version=__version__, index=services.index.location,
                  embedder=services.embedder.name, shops=shops, database=database,
                  database_location=describe(services.settings.database))
    return JSONResponse(body.model_dump(), status_code=code)


@router.get("/metrics", response_class=Response)
def metrics() -> Response:
    """Prometheus text format."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
