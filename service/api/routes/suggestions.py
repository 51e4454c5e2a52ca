from __future__ import annotations

from fastapi import APIRouter

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
    u = s.understanding
    return SuggestionResponse.model_validate({
        "id": s.id, "intent": s.intent, "backend": s.backend, "usage": s.usage, "latency_ms": s.latency_ms,
        "candidates": [c.__dict__ for c in s.candidates],
        "stage": u.stage if u else "pre_sale", "mood": u.mood if u else "calm",
        "product": u.product if u else None,
        "beyond_authority": [r.kind for r in u.beyond_authority] if u else [], "notes": s.notes,
        "prompt_version": s.prompt_version, "model": s.model,
    })
