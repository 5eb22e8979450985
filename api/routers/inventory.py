"""The ledger over HTTP: the catalog, full feeds, event batches, positions and their history,
snapshots. Writes need an API key; feeds and batches are refused whole (422) on any bad row.

Bodies are read raw (a feed streams to disk, a batch goes to the bulk reader in one piece); their
schemas are declared for the OpenAPI document all the same."""

from __future__ import annotations

import tempfile
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from api.deps import EngineDep, json_response, read_json_body
from api.errors import NotFound, found
from api.openapi import (
    CSV_OR_JSON,
    READ,
    WRITE,
    field_schema,
    model_body,
    one_of,
    problem_responses,
)
from api.security import ReadAccess, WriteAccess
from models.inventory import (
    Catalog,
    CatalogResult,
    EventBatchDocument,
    EventBatchResult,
    FeedDocument,
    FeedResult,
    PositionHistory,
    PositionOut,
    SnapshotOut,
    from_us,
    parse_catalog,
    parse_feed_header,
)
from models.problems import NO_NUL_PATTERN, Problem
from models.solve import MAX_ID_LENGTH
from storage.catalog import apply_catalog
from storage.events import apply_event_batch
from storage.feeds import load_feed
from storage.positions import get_history, get_position
from storage.snapshots import snapshot

router = APIRouter(tags=["inventory"])

LocationPath = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH, pattern=NO_NUL_PATTERN)]
SkuPath = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH, pattern=NO_NUL_PATTERN)]
# A version is an ASCII number ("²" and "٣" pass str.isdigit()) that fits int64, or "current".
VersionPath = Annotated[
    str, Path(pattern=r"^(current|[0-9]{1,18})$", description="A ledger version, or 'current'.")
]


@router.put(
    "/v1/catalog",
    dependencies=[WriteAccess],
    response_model=CatalogResult,
    responses=problem_responses(*WRITE),
    summary="Upsert locations, skus and settings",
    openapi_extra=model_body(Catalog),
)
async def put_catalog(request: Request, engine: EngineDep) -> Response:
    catalog = parse_catalog(read_json_body(await request.body()))
    result = await run_in_threadpool(apply_catalog, engine, catalog)
    return json_response(
        {"version": result.version, "locations": result.locations, "skus": result.skus}
    )


@router.post(
    "/v1/feeds",
    dependencies=[WriteAccess],
    response_model=FeedResult,
    responses=problem_responses(*WRITE),
    summary="Apply a full feed (CSV or JSON), a hard reset of the locations it covers",
    description="JSON: a document {source, basis, as_of, rows: [{location_id, sku, quantity}]}. "
    "CSV (Content-Type text/csv): header location_id,sku,quantity; source, basis and as_of as "
    "query parameters. The body is spooled to disk as it arrives and parsed in a stream. A feed "
    "with any bad row (a quantity outside [0, 1,000,000,000], an unknown location, a (location, "
    "sku) listed twice) is refused whole, every bad row named with its line.",
    openapi_extra=model_body(FeedDocument, csv=True),
)
async def post_feed(
    request: Request,
    engine: EngineDep,
    source: Annotated[Literal["erp", "sim", "wms"] | None, Query()] = None,
    basis: Annotated[Literal["physical", "available"] | None, Query()] = None,
    as_of: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    is_csv = "csv" in request.headers.get("content-type", "")
    header = (
        parse_feed_header({"source": source, "basis": basis, "as_of": as_of}) if is_csv else None
    )
    with tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024) as spool:
        async for block in request.stream():
            spool.write(block)
        spool.seek(0)
        result = await run_in_threadpool(
            load_feed,
            engine,
            spool,
            "csv" if is_csv else "json",
            header,
        )
    return json_response(result.model_dump(mode="json"))


@router.post(
    "/v1/events",
    dependencies=[WriteAccess],
    response_model=EventBatchResult,
    responses=problem_responses(*WRITE),
    summary="Apply a batch of events (JSON array, {events: [...]} or JSON lines)",
    description="Each event: id, kind, location_id, occurred_at and, but for approvals, sku and "
    "quantity (1 to 1,000,000,000; a count may be 0). A batch with any bad event is refused "
    "whole, every bad one named with its line. JSON lines (one event per line) are accepted too.",
    openapi_extra=one_of(EventBatchDocument, field_schema(EventBatchDocument, "events")),
)
async def post_events(request: Request, engine: EngineDep) -> Response:
    body = await request.body()
    result = await run_in_threadpool(apply_event_batch, engine, body)
    return json_response(result.model_dump(mode="json"))


@router.get(
    "/v1/positions/{location_id}/{sku}",
    dependencies=[ReadAccess],
    response_model=PositionOut,
    responses=problem_responses(*READ, 404),
    summary="A position: on hand, reserved, held, safety stock and ATP",
)
def read_position(location_id: LocationPath, sku: SkuPath, engine: EngineDep) -> Response:
    return json_response(found(get_position, engine, location_id, sku).model_dump(mode="json"))


@router.get(
    "/v1/positions/{location_id}/{sku}/history",
    dependencies=[ReadAccess],
    response_model=PositionHistory,
    responses=problem_responses(*READ, 404),
    summary="Every recorded change of a position, oldest first",
)
def read_history(
    location_id: LocationPath,
    sku: SkuPath,
    engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
) -> Response:
    history = found(get_history, engine, location_id, sku, limit)
    return json_response(history.model_dump(mode="json"))


@router.get(
    "/v1/snapshots/{version}",
    dependencies=[ReadAccess],
    response_model=SnapshotOut,
    responses={**problem_responses(*READ, 404), 200: CSV_OR_JSON},
    summary="ATP per position at a ledger version ('current' for now)",
    description="A version beyond the ledger's current one is 404.",
)
def read_snapshot(
    version: VersionPath,
    engine: EngineDep,
    location_id: Annotated[
        str | None, Query(max_length=MAX_ID_LENGTH, pattern=NO_NUL_PATTERN)
    ] = None,
    sku: Annotated[str | None, Query(max_length=MAX_ID_LENGTH, pattern=NO_NUL_PATTERN)] = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Response:
    wanted = None if version == "current" else int(version)
    taken = snapshot(engine, wanted, location_id, sku)
    if wanted is not None and wanted > taken.version:
        raise NotFound(
            [
                Problem(
                    ("path", "version"),
                    f"version {wanted} does not exist yet (the ledger is at {taken.version})",
                    "not_found",
                )
            ]
        )
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
