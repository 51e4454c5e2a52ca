from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import ClientOrAgentDep, ServicesDep
from service.api.schemas import CheckRequest, CheckResponse, ErrorBody

router = APIRouter(tags=["guardrails"])


@router.post(
    "/v1/check",
    response_model=CheckResponse,
    responses={400: {"model": ErrorBody}, 401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}},
    summary="Check a reply for authority, grounding, politeness and compliance",
)
def check(body: CheckRequest, services: ServicesDep, principal: ClientOrAgentDep) -> CheckResponse:
    principal.require_shop(body.shop)
    result = services.guardrails.check(body.shop, body.text, product=body.product,
                                       history=[t.model_dump() for t in body.history])
    return CheckResponse.model_validate(result.as_dict())
