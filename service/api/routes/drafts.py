"""Agents act on drafts: approve, edit (checked again), reject with a reason, mark sent."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from service.api.deps import (
    AgentDep,
    AgentOrEvaluatorDep,
    ClientOrAgentDep,
    DraftReaderDep,
    IdempotencyKeyDep,
    ServicesDep,
)
from service.api.schemas import (
    ApproveRequest,
    ConflictBody,
    DraftOut,
    DraftState,
    EditRequest,
    ErrorBody,
    RejectRequest,
    SentRequest,
)
from service.store.drafts import Idempotency, Outcome
from service.store.keys import Principal

router = APIRouter(tags=["drafts"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody}, 401: {"model": ErrorBody}, 403: {"model": ErrorBody},
    404: {"model": ErrorBody}, 409: {"model": ConflictBody, "description": "The draft's state does not "
                                     "allow this (or it changed meanwhile); `current` is the draft now."},
    422: {"model": ErrorBody}, 503: {"model": ErrorBody},
}


def respond(outcome: Outcome) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    return JSONResponse(outcome.body, status_code=outcome.status, headers=headers)


def _act(services: ServicesDep, request: Request, principal: Principal, key: str | None,
         draft_id: str, action: str, body: Any, **fields: Any) -> JSONResponse:
    payload = body.model_dump() if body is not None else {}
    idem = Idempotency.of(key, principal.id, request.method, request.url.path, payload)
    outcome = services.drafts.act(draft_id, action, actor=principal.label, agent=payload.get("agent"),
                                  shops=principal.visible_shops(), idem=idem,
                                  version=payload.get("version"), **fields)
    return respond(outcome)


@router.get("/v1/drafts", response_model=list[DraftOut], responses=ERRORS,
            summary="A shop's drafts, newest first: the agents' queue, or the rejections with their reasons")
def list_drafts(services: ServicesDep, principal: AgentOrEvaluatorDep,
                shop: Annotated[str, Query(description="Shop id.")],
                state: Annotated[DraftState | None, Query(description="Only drafts in this state.")] = None,
                intent: Annotated[str | None, Query(description="Only drafts for this buyer intent.")] = None,
                limit: Annotated[int, Query(ge=1, le=500)] = 50,
                offset: Annotated[int, Query(ge=0)] = 0) -> JSONResponse:
    principal.require_shop(shop)
    return JSONResponse(services.drafts.list(shop, state=state, intent=intent, limit=limit, offset=offset))


@router.get("/v1/drafts/{draft_id}", response_model=DraftOut, responses=ERRORS,
            summary="A draft: its text, verdict, state and audit log")
def get_draft(draft_id: str, services: ServicesDep, principal: DraftReaderDep) -> JSONResponse:
    return JSONResponse(services.drafts.get(draft_id, principal.visible_shops()))


@router.post("/v1/drafts/{draft_id}/approve", response_model=DraftOut, responses=ERRORS,
             summary="Approve a draft (a blocked edit needs `override` and `reason`)")
def approve(draft_id: str, request: Request, services: ServicesDep, principal: AgentDep,
            key: IdempotencyKeyDep, body: ApproveRequest | None = None) -> JSONResponse:
    return _act(services, request, principal, key, draft_id, "approve", body,
                override=bool(body and body.override), reason=body.reason if body else None)


@router.post("/v1/drafts/{draft_id}/edit", response_model=DraftOut, responses=ERRORS,
             summary="Replace a draft's text; the response carries the new text's verdict and violations")
def edit(draft_id: str, body: EditRequest, request: Request, services: ServicesDep, principal: AgentDep,
         key: IdempotencyKeyDep) -> JSONResponse:
    return _act(services, request, principal, key, draft_id, "edit", body, text=body.text)


@router.post("/v1/drafts/{draft_id}/reject", response_model=DraftOut, responses=ERRORS,
             summary="Reject a draft, with the reason")
def reject(draft_id: str, body: RejectRequest, request: Request, services: ServicesDep,
           principal: AgentDep, key: IdempotencyKeyDep) -> JSONResponse:
    return _act(services, request, principal, key, draft_id, "reject", body, reason=body.reason)


@router.post("/v1/drafts/{draft_id}/sent", response_model=DraftOut, responses=ERRORS,
             summary="Mark an approved draft as sent to the buyer (by the chat client)")
def sent(draft_id: str, request: Request, services: ServicesDep, principal: ClientOrAgentDep,
         key: IdempotencyKeyDep, body: SentRequest | None = None) -> JSONResponse:
    return _act(services, request, principal, key, draft_id, "sent", body)
