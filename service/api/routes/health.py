from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service import __version__
from service.api.deps import ServicesDep
from service.api.schemas import Health
from service.errors import BackendError
from service.metrics import REGISTRY

router = APIRouter(tags=["service"])


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}})
def healthz(services: ServicesDep) -> Response:
    """Liveness and readiness: the index answers and lists the shops it holds."""
    try:
        services.index.heartbeat()
        shops = services.index.shops()
        status, code = "ok", 200
    except BackendError:
        shops, status, code = [], "degraded", 503
    body = Health(status=status, version=__version__, index=services.index.location,
                  embedder=services.embedder.name, shops=shops)
    return JSONResponse(body.model_dump(), status_code=code)


@router.get("/metrics", response_class=Response)
def metrics() -> Response:
    """Prometheus text format."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
