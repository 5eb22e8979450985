"""The order queue over HTTP: ``POST /v1/orders`` queues orders for the next brokering run."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.concurrency import run_in_threadpool

from api.deps import EngineDep, json_response, read_json_body
from api.errors import found
from api.openapi import READ, WRITE, one_of, problem_responses
from api.security import ReadAccess, WriteAccess
from models.inventory import OrderBatch, OrderStatus, OrderSubmission
from models.problems import NO_NUL_PATTERN
from models.solve import MAX_ID_LENGTH, Order
from storage.orders import get_order, submit_orders

router = APIRouter(tags=["orders"])


@router.post(
    "/v1/orders",
    dependencies=[WriteAccess],
    response_model=OrderSubmission,
    status_code=202,
    responses=problem_responses(*WRITE),
    summary="Queue one order, or {orders: [...]}, in the solve contract's order shape",
    description="Refused whole (422) if any order is bad, with every problem of every order. "
    "An order id already queued is reported under duplicates and left as it is, so a retry is "
    "safe.",
    openapi_extra=one_of(Order, OrderBatch),
)
async def post_orders(request: Request, engine: EngineDep) -> Response:
    raw = read_json_body(await request.body())
    result = await run_in_threadpool(submit_orders, engine, raw)
    return json_response(result.model_dump(mode="json"), status_code=202)


@router.get(
    "/v1/orders/{order_id}",
    dependencies=[ReadAccess],
    response_model=OrderStatus,
    responses=problem_responses(*READ, 404),
    summary="An order's lines, what is allocated, and the locations it may no longer use",
)
def read_order(
    order_id: Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH, pattern=NO_NUL_PATTERN)],
    engine: EngineDep,
) -> Response:
    return json_response(found(get_order, engine, order_id).model_dump(mode="json"))
