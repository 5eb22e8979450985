"""The order updates feed over HTTP: what became of each order, by cursor."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import EngineDep, json_response
from api.openapi import READ, problem_responses
from api.security import ReadAccess
from models.order_updates import OrderUpdatesPage
from storage.order_updates import read_updates

router = APIRouter(tags=["orders"])


@router.get(
    "/v1/order-updates",
    dependencies=[ReadAccess],
    response_model=OrderUpdatesPage,
    responses=problem_responses(*READ),
    summary="What became of each order since a cursor",
    description="Queued, brokered (location and units per line), partly brokered (what is "
    "open and the solve contract's reason), rejected by a location (and brokered again), "
    "shipped; oldest first. Keep the returned cursor and ask since it.",
)
def get_order_updates(
    engine: EngineDep,
    since: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
) -> Response:
    return json_response(read_updates(engine, since, limit).model_dump(mode="json"))
