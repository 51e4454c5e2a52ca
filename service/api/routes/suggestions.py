from __future__ import annotations

import json
from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from service.api.deps import ServicesDep
from service.api.schemas import ErrorBody, SuggestionRequest, SuggestionResponse

router = APIRouter(tags=["drafting"])


@router.post(
    "/v1/suggestions",
    response_model=SuggestionResponse,
    responses={400: {"model": ErrorBody}, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}},
    summary="Draft N ready-to-send replies to the buyer's last message",
)
def suggest(body: SuggestionRequest, services: ServicesDep) -> SuggestionResponse:
    s = services.pipeline.suggest(body.shop, [t.model_dump() for t in body.history], product=body.product, n=body.n)
    return SuggestionResponse.model_validate(s.as_dict())


@router.post(
    "/v1/suggestions/stream",
    responses={200: {"content": {"text/event-stream": {}},
                     "description": "Server-sent events: `token` (LLM text as it arrives), `candidate` "
                                    "(each checked candidate as soon as it is complete), `done` (the whole "
                                    "suggestion, as POST /v1/suggestions returns it)."},
               400: {"model": ErrorBody}, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}},
    summary="The same suggestions, streamed over SSE",
)
def suggest_stream(body: SuggestionRequest, services: ServicesDep) -> StreamingResponse:
    events = services.pipeline.stream(body.shop, [t.model_dump() for t in body.history],
                                      product=body.product, n=body.n)
    first = next(events)  # bad input raises here, before any byte is sent: a JSON 4xx

    def sse() -> Iterator[bytes]:
        for name, data in _chain(first, events):
            yield f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()

    return StreamingResponse(sse(), media_type="text/event-stream",
                             headers={"cache-control": "no-cache", "x-accel-buffering": "no"})


def _chain(first: tuple[str, dict], rest: Iterator[tuple[str, dict]]) -> Iterator[tuple[str, dict]]:  # type: ignore[type-arg]
    yield first
    yield from rest
