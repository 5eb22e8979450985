"""``GET /v1/brokering-runs/{run_id}/report``: a run as one self-contained HTML page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine

from api.deps import EngineDep
from api.errors import found
from api.openapi import READ, problem_responses
from api.routers.runs import INT64_MAX
from api.security import ReadAccess

router = APIRouter(tags=["brokering"])


@router.get(
    "/v1/brokering-runs/{run_id}/report",
    dependencies=[ReadAccess],
    summary="A run as a self-contained HTML page",
    description="KPIs, fill by priority, unfilled units by reason, the flow map and the "
    "explanations (next-best locations, who took the units of unfilled lines). CSS and images "
    "are inline: the page opens offline, as a file or an attachment.",
    responses={
        200: {
            "description": "The report page",
            "content": {"text/html": {"schema": {"type": "string"}}},
        },
        # declared one by one: a route whose class is HTML would document its refusals as HTML
        **problem_responses(*READ, 404),
    },
)
async def read_run_report(
    run_id: Annotated[int, PathParam(ge=1, le=INT64_MAX)], engine: EngineDep
) -> Response:
    page = await run_in_threadpool(found, run_report_page, engine, run_id)
    return HTMLResponse(page)


def run_report_page(engine: Engine, run_id: int) -> str:
    """The page of run ``run_id``. Raises ``InvalidInput`` for an unknown run."""
    # Imported here: matplotlib loads only when a report is asked for.
    from scenarios.run_report import render_run_report, run_request
    from storage.runs import get_run

    run = get_run(engine, run_id)
    try:
        request = run_request(engine, run)
    except (KeyError, ValueError):
        request = None  # an order or location gone from the ledger: the page says what is missing
    return render_run_report(run, request)
