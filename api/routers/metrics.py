"""``GET /metrics``: the service's metrics in Prometheus' text format (see :mod:`api.metrics`)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST

from api import metrics
from api.security import ReadAccess

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    dependencies=[ReadAccess],
    summary="Metrics for Prometheus",
    description="Solves by strategy and status (count, latency, gap, fill), brokering runs and "
    "feeds (durations), HTTP requests, the order queue's depth and the ledger's lag behind the "
    "published availability feed.",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
async def read_metrics() -> Response:
    # The ledger figures are read from the database: off the event loop.
    body = await run_in_threadpool(metrics.exposition)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
