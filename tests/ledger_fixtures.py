"""Fixtures of the inventory ledger's tests: a migrated database (an SQLite file, and PostgreSQL
when OMNIBROKER_TEST_POSTGRES_URL is set) with a small catalog, and helpers to feed it.

Test modules import the fixtures they use (``from tests.ledger_fixtures import ledger``).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine

from benchmarks.resources import fresh_postgres
from models.inventory import FeedResult, parse_catalog, parse_feed_header
from storage.catalog import apply_catalog
from storage.db import make_engine
from storage.feeds import load_feed
from storage.migrate import upgrade

POSTGRES_URL = os.environ.get("OMNIBROKER_TEST_POSTGRES_URL")

CATALOG: dict[str, Any] = {
    "locations": [
        {"id": "WH-EAST", "kind": "warehouse", "lat": 40.73, "lon": -74.17},
        {"id": "S-017", "kind": "store", "lat": 40.75, "lon": -73.99},
        {"id": "S-042", "kind": "store", "lat": 40.71, "lon": -74.01},
        {"id": "S-AUTO", "kind": "store", "lat": 40.70, "lon": -74.00,
         "receipts_count_at_once": True, "returns_auto_approved": True},
    ]
}  # fmt: skip

BACKENDS = [
    "sqlite",
    pytest.param(
        "postgres",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(POSTGRES_URL is None, reason="OMNIBROKER_TEST_POSTGRES_URL not set"),
        ],
    ),
]


def migrated_database(backend: str, tmp_path) -> Engine:
    """An empty database of ``backend`` (sqlite or postgres) migrated to the newest schema."""
    if backend == "postgres":
        assert POSTGRES_URL is not None
        engine = fresh_postgres(POSTGRES_URL)
    else:
        engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    upgrade(engine)
    return engine


def new_ledger(backend: str, tmp_path) -> Engine:
    engine = migrated_database(backend, tmp_path)
    apply_catalog(engine, parse_catalog(CATALOG))
    return engine


def point_the_api_at(backend: str, database_file, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings for an API app on a fresh database of ``backend``: PostgreSQL's test database
    emptied, or a new SQLite file at ``database_file``."""
    if backend == "postgres":
        assert POSTGRES_URL is not None
        fresh_postgres(POSTGRES_URL).dispose()
        monkeypatch.setenv("OMNIBROKER_DATABASE_URL", POSTGRES_URL)
    else:
        monkeypatch.delenv("OMNIBROKER_DATABASE_URL", raising=False)
        monkeypatch.setenv("OMNIBROKER_DATABASE_PATH", str(database_file))


@pytest.fixture(params=BACKENDS)
def ledger(request, tmp_path) -> Iterator[Engine]:
    engine = new_ledger(request.param, tmp_path)
    yield engine
    engine.dispose()


def feed(
    engine: Engine,
    rows: list[tuple[str, str, int]],
    as_of: str,
    basis: str = "physical",
    source: str = "erp",
) -> FeedResult:
    """Apply a CSV feed of (location, sku, quantity) rows."""
    body = "location_id,sku,quantity\n" + "".join(f"{loc},{sku},{q}\n" for loc, sku, q in rows)
    header = parse_feed_header({"source": source, "basis": basis, "as_of": as_of})
    return load_feed(engine, io.BytesIO(body.encode()), "csv", header)


def event(event_id: str, kind: str, location: str, at: str, **fields: Any) -> dict[str, Any]:
    return {"id": event_id, "kind": kind, "location_id": location, "occurred_at": at, **fields}


def batch(*events: dict[str, Any]) -> bytes:
    return orjson.dumps(list(events))


def ship_order(
    order_id: str, sku: str, quantity: int, priority: int = 0, **extra: Any
) -> dict[str, Any]:
    return {
        "id": order_id, "priority": priority, "delivery": "ship", "ship_to": {"lat": 42.36, "lon": -71.06},
        "lines": [{"id": "1", "sku": sku, "quantity": quantity}], **extra,
    }  # fmt: skip
