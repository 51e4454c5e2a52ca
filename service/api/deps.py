"""Small dependencies, swapped in tests with `app.dependency_overrides`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Header, Request

from service.config import Settings
from service.container import Services
from service.errors import Unauthorized
from service.evaluation.jobs import EvalJobs
from service.retrieval.hybrid import HybridRetriever
from service.store.keys import LOCAL, Principal


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_settings(services: Annotated[Services, Depends(get_services)]) -> Settings:
    return services.settings


def get_retriever(services: Annotated[Services, Depends(get_services)]) -> HybridRetriever:
    return services.retriever


def get_eval_jobs(request: Request) -> EvalJobs:
    jobs: EvalJobs = request.app.state.eval_jobs
    return jobs


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
RetrieverDep = Annotated[HybridRetriever, Depends(get_retriever)]


# --- access -------------------------------------------------------------------------------

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def get_principal(request: Request, services: Annotated[Services, Depends(get_services)]) -> Principal:
    """The caller, from `Authorization: Bearer hs_…` or `X-API-Key`. With no key configured
    at all, huashu answers loopback clients only, as `local` with every role."""
    auth = request.headers.get("authorization", "")
    secret = auth[7:].strip() if auth[:7].lower() == "bearer " else request.headers.get("x-api-key", "").strip()
    if secret:
        return services.keys.authenticate(secret)
    if services.open_access():
        host = request.client.host if request.client else ""
        if host in LOOPBACK:
            return LOCAL
        raise Unauthorized("no API key is configured, so huashu answers only on the loopback "
                           "interface; create one with `huashu keys create`")
    raise Unauthorized("missing API key: send `Authorization: Bearer hs_…` (see `huashu keys create`)")


def require(*roles: str) -> Callable[[Principal], Principal]:
    """A dependency that admits keys holding any of `roles` (admin holds them all)."""

    def dependency(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        principal.require(*roles)
        return principal

    dependency.__name__ = "require_" + "_or_".join(roles)
    return dependency


def get_idempotency_key(idempotency_key: Annotated[str | None, Header(
        description="Retry-safe requests: a retried request with the same key returns the first "
                    "answer and writes nothing twice (1-255 visible ASCII characters).")] = None) -> str | None:
    return idempotency_key


PrincipalDep = Annotated[Principal, Depends(get_principal)]
ClientDep = Annotated[Principal, Depends(require("client"))]
ClientOrAgentDep = Annotated[Principal, Depends(require("client", "agent"))]
AgentDep = Annotated[Principal, Depends(require("agent"))]
DraftReaderDep = Annotated[Principal, Depends(require("client", "agent", "evaluator"))]
AgentOrEvaluatorDep = Annotated[Principal, Depends(require("agent", "evaluator"))]
EvaluatorDep = Annotated[Principal, Depends(require("evaluator"))]
AdminDep = Annotated[Principal, Depends(require("admin"))]
IdempotencyKeyDep = Annotated[str | None, Depends(get_idempotency_key)]
EvalJobsDep = Annotated[EvalJobs, Depends(get_eval_jobs)]
