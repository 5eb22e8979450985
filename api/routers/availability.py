"""The outbound availability feed over HTTP: full or changes since a cursor, JSON or CSV."""

from __future__ import annotations

import io
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.concurrency import run_in_threadpool

from api.deps import EngineDep, json_response
from api.openapi import READ, WRITE, problem_responses
from api.security import ReadAccess, WriteAccess
from models.inventory import AvailabilityFeed, PublicationResult
from storage.availability import export_csv, publish, read_feed

router = APIRouter(tags=["availability"])

# A cursor is a ledger position: an int64 (a larger one is refused, not wrapped).
Cursor = Annotated[
    int | None, Query(ge=0, le=2**63 - 1, description="The cursor of the last feed read.")
]


@router.get(
    "/v1/availability",
    dependencies=[ReadAccess],
    response_model=AvailabilityFeed,
    responses=problem_responses(*READ),
    summary="The published availability: in full, or the changes since a cursor",
    description="Without since: every row with units (a hard reset; rows not listed are 0). "
    "With since=CURSOR: the rows changed after it, zeros included. Keep the returned cursor.",
)
def get_availability(engine: EngineDep, since: Cursor = None) -> Response:
    return json_response(read_feed(engine, since).model_dump(mode="json"))


@router.get(
    "/v1/availability.csv",
    dependencies=[ReadAccess],
    response_class=Response,
    responses={
        **problem_responses(*READ),
        200: {
            "description": "online and pickup rows; the cursor in X-Availability-Cursor",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
    },
    summary="The same feed as CSV",
)
def get_availability_csv(engine: EngineDep, since: Cursor = None) -> Response:
    out = io.StringIO()
    cursor = export_csv(engine, out, since)
    return Response(
        out.getvalue(), media_type="text/csv", headers={"X-Availability-Cursor": str(cursor)}
    )


@router.post(
    "/v1/availability/publish",
    dependencies=[WriteAccess],
    response_model=PublicationResult,
    responses=problem_responses(*WRITE),
    summary="Publish the availability of the ledger now (the rows that changed)",
)
async def post_publish(engine: EngineDep) -> Response:
    publication = await run_in_threadpool(publish, engine)
    return json_response(
        {"cursor": publication.cursor, "version": publication.version,
         "rows_changed": publication.rows_changed, "seconds": publication.seconds}
    )  # fmt: skip
