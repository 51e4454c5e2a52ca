"""Suggestions: drafted, checked, and stored as drafts before they are answered.

A suggestion is answered only once it is stored, so every candidate id the client sees is
a draft an agent can act on. With an Idempotency-Key, a retry is answered from the store
without drafting again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from service.api.deps import ClientDep, IdempotencyKeyDep, ServicesDep
from service.api.schemas import ErrorBody, SuggestionRequest, SuggestionResponse
from service.store.drafts import Idempotency

router = APIRouter(tags=["drafting"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody}, 401: {"model": ErrorBody}, 403: {"model": ErrorBody},
    404: {"model": ErrorBody}, 422: {"model": ErrorBody}, 503: {"model": ErrorBody},
}


@router.post("/v1/suggestions", response_model=SuggestionResponse, responses=ERRORS,
             summary="Draft N ready-to-send replies to the buyer's last message")
def suggest(body: SuggestionRequest, request: Request, services: ServicesDep, principal: ClientDep,
            key: IdempotencyKeyDep) -> JSONResponse:
    principal.require_shop(body.shop)
    payload = body.model_dump()
    idem = Idempotency.of(key, principal.id, "POST", request.url.path, payload)
    if (seen := services.drafts.replay(idem)) is not None:
        return JSONResponse(seen.body, status_code=seen.status, headers={"Idempotent-Replayed": "true"})
    s = services.pipeline.suggest(body.shop, payload["history"], product=body.product, n=body.n)
    outcome = services.drafts.record(s.as_dict(), payload, actor=principal.label, idem=idem)
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    return JSONResponse(SuggestionResponse.model_validate(outcome.body).model_dump(), headers=headers)


@router.post(
    "/v1/suggestions/stream",
    responses={200: {"content": {"text/event-stream": {}},
                     "description": "Server-sent events: `token` (LLM text as it arrives), `candidate` "
                                    "(each checked candidate as soon as it is complete), `done` (the whole "
                                    "suggestion, as POST /v1/suggestions returns it, once it is stored: "
                                    "the candidates' draft ids can be acted on from then)."},
               **ERRORS},
    summary="The same suggestions, streamed over SSE",
)
def suggest_stream(body: SuggestionRequest, request: Request, services: ServicesDep, principal: ClientDep,
                   key: IdempotencyKeyDep) -> StreamingResponse:
    principal.require_shop(body.shop)
    payload = body.model_dump()
    idem = Idempotency.of(key, principal.id, "POST", "/v1/suggestions", payload)
    if (seen := services.drafts.replay(idem)) is not None:
        stored = seen.body
        events: Iterator[tuple[str, dict[str, Any]]] = iter(
            [*(("candidate", c) for c in stored["candidates"]), ("done", stored)])
    else:
        events = _stored(services.pipeline.stream(body.shop, payload["history"], product=body.product,
                                                  n=body.n), services, payload, principal.label, idem)
    first = next(events)  # bad input raises here, before any byte is sent: a JSON 4xx

    def sse() -> Iterator[bytes]:
        for name, data in _chain(first, events):
            yield f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()

    return StreamingResponse(sse(), media_type="text/event-stream",
                             headers={"cache-control": "no-cache", "x-accel-buffering": "no"})


def _stored(events: Iterator[tuple[str, dict[str, Any]]], services: ServicesDep, payload: dict[str, Any],
            actor: str, idem: Idempotency | None) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, data in events:
        if name == "done":
            data = services.drafts.record(data, payload, actor=actor, idem=idem).body
        yield name, data


def _chain(first: tuple[str, dict[str, Any]],
           rest: Iterator[tuple[str, dict[str, Any]]]) -> Iterator[tuple[str, dict[str, Any]]]:
    yield first
    yield from rest
