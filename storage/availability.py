"""Publishing and reading the outbound availability feed.

A publication computes the feed from a snapshot, compares it with the state published before
and appends only the rows that changed, stamped with the publication's sequence number: that
number is the cursor. "Changes since cursor c" are the rows appended after publication c (the
last value of each); "full" is the published state.

The published state is kept per (scope, location) as packed arrays, so that diffing and storing
ten million pickup rows is a thousand row writes; the changes of each publication are
stored the same way, one packed row per (publication, scope, location) that changed.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import numpy as np
from sqlalchemy import Connection, Engine

from ledger.availability import (
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
from storage.db import (
    Progress,
    bulk_insert,
    bulk_upsert,
    is_sqlite,
    read_transaction,
    write_transaction,
)
from storage.snapshots import current_version, take_snapshot

INT64 = np.dtype("<i8")  # the packed arrays' layout, the same on every platform


@dataclass(frozen=True, slots=True)
class Publication:
    cursor: int
    version: int
    rows_changed: int
    seconds: float


def publish(engine: Engine, progress: Progress | None = None) -> Publication:
    """Publish the availability of the ledger now; returns the new cursor."""
    started = time.perf_counter()
    with write_transaction(engine, "publish") as write:
        connection = write.connection
        version = current_version(connection, below=write.version)
        snapshot = take_snapshot(connection, snapshot_version=version)
        seq = int(
            connection.exec_driver_sql(
                "INSERT INTO availability_publications (version, published_us, rows_changed, last_change_id)"
                f" VALUES ({version}, {write.recorded_us}, 0, 0) RETURNING seq"
            ).scalar_one()
        )
        changed = 0
        for scope, current in (
            (ONLINE, online_availability(snapshot)),
            (PICKUP, pickup_availability(snapshot)),
        ):
            delta = changes(published_state(connection, scope), current)
            locations = np.unique(split_key(delta.key)[0])
            binary = (lambda b: b) if is_sqlite(connection) else bytes
            bulk_insert(
                connection,
                "availability_change_sets",
                ("seq", "scope", "location_id", "sku_ids", "quantities"),
                (
                    (seq, scope, location, binary(skus), binary(quantities))
                    for location, skus, quantities in _packed(delta, locations)
                ),
                PACKED_ROW_TYPES,
            )
            _store_state(connection, scope, current, locations, seq)
            changed += int(delta.key.size)
            if progress:
                progress(f"availability: {changed:,} rows published ({scope} done)")
        connection.exec_driver_sql(
            f"UPDATE availability_publications SET rows_changed = {changed} WHERE seq = {seq}"
        )
    return Publication(seq, version, changed, round(time.perf_counter() - started, 3))


# PostgreSQL types of a change set's columns (seq, scope, location, skus, quantities).
PACKED_ROW_TYPES = ("bigint", "text", "integer", "bytea", "bytea")


def _store_state(
    connection: Connection, scope: str, current: Availability, locations: np.ndarray, seq: int
) -> None:
    """Rewrite the published state of the locations whose rows changed."""
    if locations.size == 0:
        return
    binary = (lambda b: b) if is_sqlite(connection) else bytes
    bulk_upsert(
        connection,
        "availability_state",
        ("scope", "location_id"),
        ("scope", "location_id", "sku_ids", "quantities", "seq"),
        (
            (scope, location, binary(skus), binary(quantities), seq)
            for location, skus, quantities in _packed(current, locations)
        ),
        ("text", "integer", "bytea", "bytea", "bigint"),
    )


def _packed(rows: Availability, locations: np.ndarray) -> Iterator[tuple[int, bytes, bytes]]:
    """Per location of ``locations`` (sorted): its rows' skus and quantities as packed int64."""
    location_of_row, sku_of_row = split_key(rows.key)
    bounds = np.searchsorted(location_of_row, np.concatenate([locations, locations + 1]))
    starts, ends = bounds[: locations.size], bounds[locations.size :]
    for location, start, end in zip(
        locations.tolist(), starts.tolist(), ends.tolist(), strict=True
    ):
        yield (
            int(location),
            sku_of_row[start:end].astype(INT64).tobytes(),
            rows.quantity[start:end].astype(INT64).tobytes(),
        )


def published_state(connection: Connection, scope: str) -> Availability:
    """The published rows of a scope, as sorted keys and quantities."""
    rows = connection.exec_driver_sql(
        f"SELECT location_id, sku_ids, quantities FROM availability_state WHERE scope = '{scope}'"
        " ORDER BY location_id"
    ).all()
    if not rows:
        return Availability(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    keys = [key_of(location, np.frombuffer(bytes(skus), dtype=INT64)) for location, skus, _ in rows]
    quantities = [np.frombuffer(bytes(quantity), dtype=INT64) for _, _, quantity in rows]
    key = np.concatenate(keys)
    quantity = np.concatenate(quantities).astype(np.int64)
    order = np.argsort(key, kind="stable")
    return Availability(key[order], quantity[order])


def _rows(connection: Connection, since: int | None) -> Iterator[tuple[str, str | None, str, int]]:
    """(scope, location code or None, sku code, quantity): the published state without zeros
    (full), or the last value of each row changed after publication ``since`` (zeros included:
    they are what changed)."""
    catalog = load_catalog_arrays(connection)
    if since is None:
        for scope in (ONLINE, PICKUP):
            state = published_state(connection, scope)
            location, sku = split_key(state.key)
            keep = state.quantity > 0
            for location_id, sku_id, quantity in zip(
                location[keep].tolist(),
                sku[keep].tolist(),
                state.quantity[keep].tolist(),
                strict=True,
            ):
                yield (
                    scope,
                    catalog.location_code[location_id] if scope == PICKUP else None,
                    catalog.sku_code[sku_id],
                    quantity,
                )
        return
    keys: dict[str, list[np.ndarray]] = {ONLINE: [], PICKUP: []}
    quantities: dict[str, list[np.ndarray]] = {ONLINE: [], PICKUP: []}
    for scope, location_id, skus, quantity in connection.exec_driver_sql(
        "SELECT scope, location_id, sku_ids, quantities FROM availability_change_sets"
        f" WHERE seq > {int(since)} ORDER BY seq"
    ):
        keys[scope].append(key_of(int(location_id), np.frombuffer(bytes(skus), dtype=INT64)))
        quantities[scope].append(np.frombuffer(bytes(quantity), dtype=INT64))
    for scope in (ONLINE, PICKUP):
        if not keys[scope]:
            continue
        # The last value of each row: a stable sort keeps publication order within a key.
        key = np.concatenate(keys[scope])
        order = np.argsort(key, kind="stable")
        key, quantity = key[order], np.concatenate(quantities[scope])[order]
        last = np.append(key[1:] != key[:-1], True)
        location, sku = split_key(key[last])
        for location_id, sku_id, value in zip(
            location.tolist(), sku.tolist(), quantity[last].tolist(), strict=True
        ):
            yield (
                scope,
                catalog.location_code[location_id] if scope == PICKUP else None,
                catalog.sku_code[sku_id],
                value,
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
