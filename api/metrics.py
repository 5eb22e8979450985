"""Prometheus metrics of the service (``GET /metrics``), from ``prometheus-client``.

What an OMS team watches, all prefixed ``omnibroker_``:

- ``solves_total`` and ``solve_seconds`` (histogram), by ``strategy`` and ``status`` (optimal,
  feasible): every engine answer, over ``POST /v1/solve`` and inside brokering runs;
- ``solve_gap`` and ``solve_fill_ratio`` (histograms, by ``strategy``) and ``last_solve_gap``,
  ``last_solve_fill_ratio`` (gauges): the gap and the units allocated / requested of each solve;
- ``brokering_run_seconds`` and ``brokering_runs_total``; ``feed_seconds`` and ``feeds_total``
  by ``source`` (erp, sim, wms), from the feed endpoint and the morning run;
- ``http_requests_total`` (method, route, status) and ``http_request_seconds`` (method, route);
- read at scrape time from the ledger: ``order_queue_depth`` (queued orders),
  ``ledger_lag_versions`` (ledger versions that change stock, not yet in the published
  availability feed: feeds, events, runs, catalog; a publication or an order queued changes no
  stock) and ``ledger_lag_seconds`` (age of the oldest of them; 0 when the feed is current).

One registry per process: with ``omnibroker serve --workers N`` each worker reports its own
counters (scrape each, or run one worker per container as usual).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger("omnibroker.metrics")

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

# Seconds: from a 300-order batch in 50 ms to a 200k-order batch at its time limit.
_SOLVE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600)
_GAP_BUCKETS = (0.0, 1e-4, 1e-3, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)
_FILL_BUCKETS = (0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 1.0)
_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

SOLVES = Counter("omnibroker_solves", "Engine solves.", ["strategy", "status"], registry=REGISTRY)
SOLVE_SECONDS = Histogram(
    "omnibroker_solve_seconds",
    "Engine solve time.",
    ["strategy", "status"],
    buckets=_SOLVE_BUCKETS,
    registry=REGISTRY,
)
SOLVE_GAP = Histogram(
    "omnibroker_solve_gap",
    "Relative gap of each solve.",
    ["strategy"],
    buckets=_GAP_BUCKETS,
    registry=REGISTRY,
)
SOLVE_FILL = Histogram(
    "omnibroker_solve_fill_ratio",
    "Units allocated / units requested of each solve.",
    ["strategy"],
    buckets=_FILL_BUCKETS,
    registry=REGISTRY,
)
LAST_GAP = Gauge("omnibroker_last_solve_gap", "Gap of the last solve.", registry=REGISTRY)
LAST_FILL = Gauge(
    "omnibroker_last_solve_fill_ratio", "Fill ratio of the last solve.", registry=REGISTRY
)
RUNS = Counter("omnibroker_brokering_runs", "Brokering runs committed.", registry=REGISTRY)
RUN_SECONDS = Histogram(
    "omnibroker_brokering_run_seconds",
    "Brokering run time, snapshot to commit.",
    buckets=_SOLVE_BUCKETS,
    registry=REGISTRY,
)
FEEDS = Counter("omnibroker_feeds", "Feeds loaded.", ["source"], registry=REGISTRY)
FEED_SECONDS = Histogram(
    "omnibroker_feed_seconds",
    "Feed load time.",
    ["source"],
    buckets=_SOLVE_BUCKETS,
    registry=REGISTRY,
)
HTTP_REQUESTS = Counter(
    "omnibroker_http_requests",
    "HTTP requests.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_SECONDS = Histogram(
    "omnibroker_http_request_seconds",
    "HTTP request time.",
    ["method", "route"],
    buckets=_HTTP_BUCKETS,
    registry=REGISTRY,
)


def observe_solve(response: Mapping[str, Any]) -> None:
    """Count a solve response (the contract's shape): its time, status, strategy, gap, fill."""
    solver = response.get("solver") or {}
    summary = response.get("summary") or {}
    strategy = str(solver.get("strategy", "optimal"))
    status = str(solver.get("status", "unknown"))
    SOLVES.labels(strategy, status).inc()
    if isinstance(solver.get("seconds"), int | float):
        SOLVE_SECONDS.labels(strategy, status).observe(float(solver["seconds"]))
    if isinstance(solver.get("gap"), int | float):
        SOLVE_GAP.labels(strategy).observe(float(solver["gap"]))
        LAST_GAP.set(float(solver["gap"]))
    requested = summary.get("units_requested") or 0
    if requested:
        fill = float(summary.get("units_allocated", 0)) / float(requested)
        SOLVE_FILL.labels(strategy).observe(fill)
        LAST_FILL.set(fill)


def observe_run(run: Any) -> None:
    """Count a committed brokering run (:class:`models.inventory.BrokeringRunOut`) and its
    solve."""
    RUNS.inc()
    RUN_SECONDS.observe(max(0.0, (run.finished_at - run.started_at).total_seconds()))
    if run.result.get("solver"):
        observe_solve(run.result)


def observe_feed(source: str, seconds: float) -> None:
    FEEDS.labels(source).inc()
    FEED_SECONDS.labels(source).observe(seconds)


def observe_morning(report: Any) -> None:
    """The feeds and the solve of a morning run (:class:`models.morning.MorningRunReport`)."""
    for feed in report.feeds:
        observe_feed(str(feed.source), feed.seconds)
    RUNS.inc()
    run_seconds = report.seconds.get("broker")
    if run_seconds is not None:
        RUN_SECONDS.observe(run_seconds)
    observe_solve({"solver": report.solver, "summary": report.summary})


def observe_http(method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_SECONDS.labels(method, route).observe(seconds)


class LedgerCollector(Collector):
    """Queue depth and ledger lag, read from the ledger's database when scraped."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            figures = _ledger_figures()
        except Exception:  # a scrape must answer even when the database does not
            log.warning("ledger metrics unavailable", exc_info=True)
            return
        for name, help_text, value in figures:
            yield GaugeMetricFamily(name, help_text, value=value)


def _ledger_figures() -> list[tuple[str, str, float]]:
    from sqlalchemy import text

    from api.deps import get_engine
    from storage.db import read_transaction

    with read_transaction(get_engine()) as connection:
        queued = connection.exec_driver_sql(
            "SELECT COUNT(*) FROM orders WHERE status = 'queued'"
        ).scalar_one()
        published = connection.exec_driver_sql(
            "SELECT COALESCE(MAX(version), 0) FROM availability_publications"
        ).scalar_one()
        behind, oldest_us = connection.execute(
            text(
                "SELECT COUNT(*), MIN(recorded_us) FROM ledger_changes"
                " WHERE version > :published AND kind NOT IN ('publish', 'orders')"
            ),
            {"published": int(published)},
        ).one()
    lag_s = 0.0 if oldest_us is None else max(0.0, time.time() - oldest_us / 1e6)
    return [
        ("omnibroker_order_queue_depth", "Orders queued for brokering.", float(queued)),
        (
            "omnibroker_ledger_lag_versions",
            "Ledger versions not yet in the published availability feed.",
            float(behind),
        ),
        (
            "omnibroker_ledger_lag_seconds",
            "Age of the oldest ledger change not yet published (0: the feed is current).",
            lag_s,
        ),
    ]


REGISTRY.register(LedgerCollector())


def exposition() -> bytes:
    """The registry in Prometheus' text format."""
    return generate_latest(REGISTRY)
