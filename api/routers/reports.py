"""``GET /v1/brokering-runs/{run_id}/report``: a run as one self-contained HTML page."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine

from api.deps import PROBLEMS_RESPONSE, EngineDep, not_found
from api.security import ReadAccess
from models.problems import InvalidInput

router = APIRouter(tags=["brokering"], responses=PROBLEMS_RESPONSE)


@router.get(
    "/v1/brokering-runs/{run_id}/report",
    dependencies=[ReadAccess],
    response_class=HTMLResponse,
    summary="A run as a self-contained HTML page",
    description="KPIs, fill by priority, unfilled units by reason, the flow map and the "
    "explanations (next-best locations, who took the units of unfilled lines). CSS and images "
    "are inline: the page opens offline, as a file or an attachment.",
    responses={404: {"description": "No such run"}},
)
async def read_run_report(run_id: int, engine: EngineDep) -> Response:
    try:
        page = await run_in_threadpool(run_report_page, engine, run_id)
    except InvalidInput as error:
        return not_found(error)
    return HTMLResponse(page)


def run_report_page(engine: Engine, run_id: int) -> str:
    """The page of run ``run_id``. Raises :class:`InvalidInput` for an unknown run."""
    # Imported here: matplotlib loads only when a report is asked for.
    from scenarios.run_report import render_run_report, run_request
    from storage.runs import get_run

    run = get_run(engine, run_id)
    try:
        request = run_request(engine, run)
    except (KeyError, ValueError):
        request = None  # an order or location gone from the ledger: the page says what is missing
    return render_run_report(run, request)
