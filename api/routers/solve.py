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

from api import metrics
from api.deps import json_response
from api.openapi import model_body, problem_responses
from engine.problem import problem_from_json
from engine.solve import solve_problem
from models.solve import SolveRequest, SolveResponse

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
    body = await request.body()
    # The time limit counts from here: parsing the request is part of it.
    started = time.perf_counter()
    # parsed in the worker too (a second at 10,000 orders the event loop need not wait); a
    # refused request raises there, answered as any other refusal
    document = await run_in_threadpool(_solve_body, body, started)
    metrics.observe_solve(document)
    return json_response(document)


def _solve_body(body: bytes, started: float) -> dict[str, Any]:
    """engine.solve.solve from the body, the validated request let go of once its arrays are
    built (:func:`engine.problem.problem_from_json`), as on the command line; the clock
    started before the request was parsed."""
    return solve_problem(problem_from_json(body), started=started)
