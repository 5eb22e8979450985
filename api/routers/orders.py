"""The order queue over HTTP: ``POST /v1/orders`` queues orders for the next brokering run."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from api.deps import PROBLEMS_RESPONSE, EngineDep, json_response, not_found, refused
from api.security import ReadAccess, WriteAccess
from models.inventory import OrderStatus, OrderSubmission
from models.problems import InvalidInput, Problem
from storage.orders import get_order, submit_orders

router = APIRouter(tags=["orders"], responses=PROBLEMS_RESPONSE)


@router.post(
    "/v1/orders",
    dependencies=[WriteAccess],
    response_model=OrderSubmission,
    status_code=202,
    summary="Queue one order, or {orders: [...]}, in the solve contract's order shape",
    description="Refused whole (422) if any order is bad. An order id already queued is "
    "reported under duplicates and left as it is, so a retry is safe.",
)
async def post_orders(request: Request, engine: EngineDep) -> Response:
    try:
        try:
            raw = orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(
                [Problem((), f"body is not valid JSON: {exc}", "json_invalid")]
            ) from None
        result = await run_in_threadpool(submit_orders, engine, raw)
    except InvalidInput as error:
        return refused(error)
    return json_response(result.model_dump(mode="json"), status_code=202)


@router.get("/v1/orders/{order_id}", dependencies=[ReadAccess], response_model=OrderStatus)
def read_order(order_id: str, engine: EngineDep) -> Response:
    try:
        return json_response(get_order(engine, order_id).model_dump(mode="json"))
    except InvalidInput as error:
        return not_found(error)
