from __future__ import annotations

import time

from fastapi import APIRouter

from service.api.deps import ClientOrAgentDep, RetrieverDep
from service.api.schemas import ErrorBody, SearchRequest, SearchResponse, SearchResultOut
from service.metrics import SEARCH_LATENCY

router = APIRouter(tags=["retrieval"])


@router.post(
    "/v1/search",
    response_model=SearchResponse,
    responses={400: {"model": ErrorBody}, 401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}},
    summary="Retrieve product facts, handbook scripts and policy lines for a question",
)
def search(body: SearchRequest, retriever: RetrieverDep, principal: ClientOrAgentDep) -> SearchResponse:
    principal.require_shop(body.shop)
    began = time.perf_counter()
    outcome = retriever.search(body.shop, body.query, product=body.product, kind=body.kind, k=body.k)
    elapsed = time.perf_counter() - began
    SEARCH_LATENCY.observe(elapsed)
    return SearchResponse(
        shop=body.shop, query=body.query, products=outcome.products,
        results=[SearchResultOut.model_validate(r.as_dict()) for r in outcome.results],
        latency_ms=round(elapsed * 1000, 2),
    )
