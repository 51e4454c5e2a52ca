from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from service.api.deps import EvaluatorDep, ServicesDep
from service.api.schemas import ErrorBody, StatsResponse
from service.store.stats import shop_stats

router = APIRouter(tags=["evaluation"])


@router.get("/v1/stats", response_model=StatsResponse,
            responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 404: {"model": ErrorBody}},
            summary="What agents did with the drafts: acceptance, edits, rejection reasons")
def stats(services: ServicesDep, principal: EvaluatorDep,
          shop: Annotated[str, Query(description="Shop id.")],
          since: Annotated[datetime | None, Query(description="Only drafts made at or after (ISO 8601).")] = None,
          until: Annotated[datetime | None, Query(description="Only drafts made before (ISO 8601).")] = None,
          ) -> StatsResponse:
    principal.require_shop(shop)
    services.retriever.state(shop)  # an unknown shop is a 404, not empty figures
    return StatsResponse.model_validate(shop_stats(services.drafts, shop, since=since, until=until))
