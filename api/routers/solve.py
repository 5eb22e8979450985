"""``POST /v1/solve`` and ``GET /healthz``: the solve contract over HTTP.

The body is read raw and validated by :mod:`models.validation`, the same path as the CLI, so a
refusal lists every problem (schema and cross-reference) in one 422 (raised, answered by
:mod:`api.errors`). The solve runs in a worker
thread: OR-Tools releases the GIL while it searches, so a long solve never blocks the event loop.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from api.deps import json_response
from api.openapi import model_body, problem_responses
from engine.problem import build_problem
from engine.solve import solve_problem
from models.solve import SolveRequest, SolveResponse
from models.validation import parse_solve_request_json

router = APIRouter()

_EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
_REQUEST_EXAMPLE = json.loads((_EXAMPLES / "solve_request.json").read_text())
_RESPONSE_EXAMPLE = json.loads((_EXAMPLES / "solve_response.json").read_text())


@router.get("/healthz", tags=["health"], summary="Liveness")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.post(
    "/v1/solve",
    tags=["solve"],
    summary="Allocate a batch of orders to locations",
    description=(
        "A batch of orders and an availability snapshot in; allocations, the reason for every "
        "unfilled unit, and the remaining availability out (shared/contract/solve.md). "
        "Fill by priority first, then least cost. A request that breaks the contract is refused "
        "whole with 422 and every problem listed with the path of the field at fault."
    ),
    response_model=SolveResponse,
    responses={
        200: {"content": {"application/json": {"example": _RESPONSE_EXAMPLE}}},
        **problem_responses(408, 413),
    },
    openapi_extra=model_body(SolveRequest, example=_REQUEST_EXAMPLE),
)
async def solve_endpoint(request: Request) -> Response:
    # held in a list the worker empties: the validated request (0.8 GB at 200k orders) is let
    # go of once the problem arrays are built, as the command line does
    pending = [parse_solve_request_json(await request.body())]
    return json_response(await run_in_threadpool(_solve_taking, pending))


def _solve_taking(pending: list[SolveRequest]) -> dict[str, Any]:
    """engine.solve.solve, holding the request only until its arrays are built; the clock starts
    where solve() starts it, as on the command line."""
    started = time.perf_counter()
    data = build_problem(pending.pop())
    return solve_problem(data, started=started)
