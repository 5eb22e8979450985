"""The ledger over HTTP: the catalog, full feeds, event batches, positions and their history,
snapshots. Writes need an API key; feeds and batches are refused whole (422) on any bad row."""

from __future__ import annotations

import tempfile
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from api import metrics
from api.deps import PROBLEMS_RESPONSE, EngineDep, json_response, not_found, refused
from api.security import ReadAccess, WriteAccess
from models.inventory import (
    EventBatchResult,
    FeedResult,
    PositionHistory,
    PositionOut,
    SnapshotOut,
    from_us,
    parse_catalog,
    parse_feed_header,
)
from models.problems import InvalidInput, Problem
from storage.catalog import apply_catalog
from storage.events import apply_event_batch
from storage.feeds import load_feed
from storage.positions import get_history, get_position
from storage.snapshots import snapshot

router = APIRouter(tags=["inventory"], responses=PROBLEMS_RESPONSE)


@router.put(
    "/v1/catalog", dependencies=[WriteAccess], summary="Upsert locations, skus and settings"
)
async def put_catalog(request: Request, engine: EngineDep) -> Response:
    try:
        catalog = parse_catalog(_json(await request.body()))
        result = await run_in_threadpool(apply_catalog, engine, catalog)
    except InvalidInput as error:
        return refused(error)
    return json_response(
        {"version": result.version, "locations": result.locations, "skus": result.skus}
    )


@router.post(
    "/v1/feeds",
    dependencies=[WriteAccess],
    response_model=FeedResult,
    summary="Apply a full feed (CSV or JSON), a hard reset of the locations it covers",
    description="JSON: a document {source, basis, as_of, rows: [{location_id, sku, quantity}]}. "
    "CSV (Content-Type text/csv): header location_id,sku,quantity; source, basis and as_of as "
    "query parameters. The body is spooled to disk as it arrives and parsed in a stream.",
)
async def post_feed(
    request: Request,
    engine: EngineDep,
    source: Annotated[str | None, Query()] = None,
    basis: Annotated[str | None, Query()] = None,
    as_of: Annotated[str | None, Query()] = None,
) -> Response:
    is_csv = "csv" in request.headers.get("content-type", "")
    with tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024) as spool:
        async for block in request.stream():
            spool.write(block)
        spool.seek(0)
        try:
            header = (
                parse_feed_header({"source": source, "basis": basis, "as_of": as_of})
                if is_csv
                else None
            )
            result = await run_in_threadpool(
                load_feed, engine, spool, "csv" if is_csv else "json", header
            )
        except InvalidInput as error:
            return refused(error)
    metrics.observe_feed(str(result.source), result.seconds)
    return json_response(result.model_dump(mode="json"))


@router.post(
    "/v1/events",
    dependencies=[WriteAccess],
    response_model=EventBatchResult,
    summary="Apply a batch of events (JSON array, {events: [...]} or JSON lines)",
)
async def post_events(request: Request, engine: EngineDep) -> Response:
    body = await request.body()
    try:
        result = await run_in_threadpool(apply_event_batch, engine, body)
    except InvalidInput as error:
        return refused(error)
    return json_response(result.model_dump(mode="json"))


@router.get(
    "/v1/positions/{location_id}/{sku}", dependencies=[ReadAccess], response_model=PositionOut
)
def read_position(location_id: str, sku: str, engine: EngineDep) -> Response:
    try:
        return json_response(get_position(engine, location_id, sku).model_dump(mode="json"))
    except InvalidInput as error:
        return not_found(error)


@router.get(
    "/v1/positions/{location_id}/{sku}/history",
    dependencies=[ReadAccess],
    response_model=PositionHistory,
    summary="Every recorded change of a position, oldest first",
)
def read_history(
    location_id: str,
    sku: str,
    engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
) -> Response:
    try:
        return json_response(get_history(engine, location_id, sku, limit).model_dump(mode="json"))
    except InvalidInput as error:
        return not_found(error)


@router.get(
    "/v1/snapshots/{version}",
    dependencies=[ReadAccess],
    response_model=SnapshotOut,
    summary="ATP per position at a ledger version ('current' for now)",
)
def read_snapshot(
    version: str,
    engine: EngineDep,
    location_id: Annotated[str | None, Query()] = None,
    sku: Annotated[str | None, Query()] = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Response:
    if version != "current" and not version.isdigit():
        return refused(
            InvalidInput(
                [Problem(("path", "version"), "a version number or 'current'", "int_parsing")]
            )
        )
    taken = snapshot(engine, None if version == "current" else int(version), location_id, sku)
    frame = taken.to_frame()
    if format == "csv":
        return Response(
            frame.to_csv(index=False),
            media_type="text/csv",
            headers={"X-Snapshot-Version": str(taken.version)},
        )
    rows = frame.astype({"location_id": str, "sku": str}).to_dict(orient="records")
    return Response(
        orjson.dumps(
            {
                "version": taken.version,
                "taken_at": from_us(taken.taken_us),
                "positions": taken.positions,
                "rows": rows,
            },
            option=orjson.OPT_SERIALIZE_NUMPY,
        ),
        media_type="application/json",
    )


def _json(body: bytes) -> object:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(
            [Problem((), f"body is not valid JSON: {exc}", "json_invalid")]
        ) from None
