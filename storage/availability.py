"""Publishing and reading the outbound availability feed.

A publication computes the feed from a snapshot, compares it with what was published before and
stores only the rows that changed, stamped with the publication's sequence number. The sequence
number is the cursor: "changes since cursor c" are the rows stamped after c; "full" is every row.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import numpy as np
from sqlalchemy import Connection, Engine

from engine.availability import (
    ONLINE,
    PICKUP,
    Availability,
    changes,
    key_of,
    online_availability,
    pickup_availability,
    split_key,
)
from models.inventory import AvailabilityFeed, OnlineAvailability, PickupAvailability
from storage.catalog import load_catalog_arrays
from storage.db import bulk_upsert, is_sqlite, read_transaction, write_transaction
from storage.snapshots import current_version, take_snapshot


@dataclass(frozen=True, slots=True)
class Publication:
    cursor: int
    version: int
    rows_changed: int
    seconds: float


def publish(engine: Engine) -> Publication:
    """Publish the availability of the ledger now; returns the new cursor."""
    started = time.perf_counter()
    with write_transaction(engine, "publish") as write:
        connection = write.connection
        version = current_version(connection, below=write.version)
        snapshot = take_snapshot(connection, snapshot_version=version)
        seq = connection.exec_driver_sql(
            f"INSERT INTO availability_publications (version, published_us, rows_changed)"
            f" VALUES ({version}, {write.recorded_us}, 0) RETURNING seq"
        ).scalar_one()
        changed = 0
        for scope, current in (
            (ONLINE, online_availability(snapshot)),
            (PICKUP, pickup_availability(snapshot)),
        ):
            delta = changes(_published(connection, scope), current)
            location, sku = split_key(delta.key)
            bulk_upsert(
                connection,
                "availability",
                ("scope", "location_id", "sku_id"),
                ("scope", "location_id", "sku_id", "quantity", "seq"),
                zip(
                    [scope] * delta.key.size,
                    location.tolist(),
                    sku.tolist(),
                    delta.quantity.tolist(),
                    [seq] * delta.key.size,
                    strict=True,
                ),
            )
            changed += int(delta.key.size)
        connection.exec_driver_sql(
            f"UPDATE availability_publications SET rows_changed = {changed} WHERE seq = {int(seq)}"
        )
    return Publication(int(seq), version, changed, round(time.perf_counter() - started, 3))


def _published(connection: Connection, scope: str) -> Availability:
    """The published rows of a scope, as sorted keys (read per location, parsed in C)."""
    concat = (
        "group_concat({}, ',')"
        if is_sqlite(connection)
        else "string_agg(({})::text, ',' ORDER BY sku_id)"
    )
    rows = connection.exec_driver_sql(
        f"SELECT location_id, {concat.format('sku_id')}, {concat.format('quantity')} FROM availability"
        f" WHERE scope = '{scope}' GROUP BY location_id"
    ).all()
    keys, quantities = [], []
    for location_id, skus, quantity in rows:
        keys.append(key_of(location_id, np.fromstring(skus, dtype=np.int64, sep=",")))
        quantities.append(np.fromstring(quantity, dtype=np.int64, sep=","))
    if not keys:
        return Availability(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    key = np.concatenate(keys)
    quantity = np.concatenate(quantities)
    order = np.argsort(key, kind="stable")
    return Availability(key[order], quantity[order])


def _rows(connection: Connection, since: int | None) -> Iterator[tuple[str, str | None, str, int]]:
    """(scope, location code or None, sku code, quantity): every row (full, without zeros) or the
    rows changed after ``since`` (zeros included: they are what changed)."""
    catalog = load_catalog_arrays(connection)
    condition = "quantity > 0" if since is None else f"seq > {int(since)}"
    result = connection.exec_driver_sql(
        f"SELECT scope, location_id, sku_id, quantity FROM availability WHERE {condition}"
        " ORDER BY scope, location_id, sku_id"
    )
    for scope, location_id, sku_id, quantity in result:
        yield (
            scope,
            (catalog.location_code[location_id] if scope == PICKUP else None),
            catalog.sku_code[sku_id],
            int(quantity),
        )


def latest_cursor(connection: Connection) -> int:
    return int(
        connection.exec_driver_sql(
            "SELECT COALESCE(MAX(seq), 0) FROM availability_publications"
        ).scalar_one()
    )


def read_feed(engine: Engine, since: int | None = None) -> AvailabilityFeed:
    """The feed in full (``since`` None) or the changes after cursor ``since``."""
    with read_transaction(engine) as connection:
        cursor = latest_cursor(connection)
        online, pickup = [], []
        for scope, location, sku, quantity in _rows(connection, since):
            if scope == ONLINE:
                online.append(OnlineAvailability(sku=sku, quantity=quantity))
            else:
                pickup.append(PickupAvailability(location_id=location, sku=sku, quantity=quantity))
    return AvailabilityFeed(
        mode="full" if since is None else "changes",
        since=since,
        cursor=cursor,
        online=online,
        pickup=pickup,
    )


def export_csv(engine: Engine, out: IO[str], since: int | None = None) -> int:
    """Write the feed as CSV (``scope,location_id,sku,quantity``; location empty for online),
    streamed row by row. Returns the cursor to pass as ``since`` next time."""
    with read_transaction(engine) as connection:
        cursor = latest_cursor(connection)
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("scope", "location_id", "sku", "quantity"))
        for scope, location, sku, quantity in _rows(connection, since):
            writer.writerow((scope, location or "", sku, quantity))
    return cursor
