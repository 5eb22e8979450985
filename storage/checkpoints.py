"""Feed checkpoints: every position of each location a full feed covered, as the feed left it.

A full feed resets every position of the locations it covers, so what it leaves is a checkpoint
of those locations: one row per (feed version, location, part) with the positions packed as
big-endian int64 records (sku_id, on_hand, reserved, held), the layout the server builds with
``int8send`` and numpy reads without a loop. A feed of ten million positions writes a thousand
rows, not ten million history rows with their index entries (migration 0006).

They are the feed's part of the ledger's history: a snapshot of an earlier version starts from
each location's newest checkpoint at or before it and lays on top the changes recorded after it
(events, brokering runs, releases); a position's history lists the checkpoints that changed it.
A location's positions may come in several parts (a feed's chunks, then its unlisted positions);
a position is in at most one part of a checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection

from storage.db import bulk_insert, is_sqlite

PACKED = np.dtype(">i8")
FIELDS = 4  # sku_id, on_hand, reserved, held


def pack(sku: np.ndarray, on_hand: np.ndarray, reserved: np.ndarray, held: np.ndarray) -> bytes:
    """One location's positions as checkpoint records."""
    return np.column_stack((sku, on_hand, reserved, held)).astype(PACKED).tobytes()


def unpack(packed: bytes | memoryview) -> np.ndarray:
    """Checkpoint records as an (n, 4) int64 matrix: sku_id, on_hand, reserved, held."""
    return np.frombuffer(packed, dtype=PACKED).reshape(-1, FIELDS).astype(np.int64)


def packed_sql(sku: str, on_hand: str, reserved: str, held: str) -> str:
    """PostgreSQL: the aggregate packing a group's rows into checkpoint records."""
    return (
        f"string_agg(int8send(({sku})::int8) || int8send(({on_hand})::int8)"
        f" || int8send(({reserved})::int8) || int8send(({held})::int8), ''::bytea)"
    )


def write_checkpoint(
    connection: Connection,
    version: int,
    part: int,
    key: np.ndarray,
    on_hand: np.ndarray,
    reserved: np.ndarray,
    held: np.ndarray,
) -> None:
    """Record positions (``key``: location << 32 | sku) as part ``part`` of the checkpoints of
    their locations at ``version``, one row per location."""
    if key.size == 0:
        return
    order = np.argsort(key, kind="stable")
    key, on_hand, reserved, held = key[order], on_hand[order], reserved[order], held[order]
    location = key >> 32
    starts = np.flatnonzero(np.r_[True, location[1:] != location[:-1]])
    ends = np.r_[starts[1:], key.size]
    rows = [
        (int(location[a]), int(version), int(part),
         pack(key[a:b] & 0xFFFFFFFF, on_hand[a:b], reserved[a:b], held[a:b]))
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True)
    ]  # fmt: skip
    bulk_insert(
        connection,
        "feed_checkpoints",
        ("location_id", "version", "part", "positions"),
        rows,
        types=None if is_sqlite(connection) else ("integer", "bigint", "integer", "bytea"),
    )


def newest_checkpoints_sql(version: int) -> str:
    """Per location, the version of its newest checkpoint at or before ``version``."""
    return (
        "SELECT location_id, MAX(version) AS version FROM feed_checkpoints"
        f" WHERE version <= {int(version)} GROUP BY location_id"
    )


@dataclass(frozen=True, slots=True)
class CheckpointState:
    """Positions as the newest checkpoints at or before a version left them, sorted by key."""

    key: np.ndarray
    on_hand: np.ndarray
    reserved: np.ndarray
    held: np.ndarray


def read_checkpoints(
    connection: Connection, version: int, location_ids: list[int] | None = None
) -> CheckpointState:
    """The positions of each location's newest checkpoint at or before ``version`` (of the
    locations ``location_ids`` if given)."""
    within = ""
    if location_ids is not None:
        within = f" WHERE n.location_id IN ({', '.join(map(str, location_ids)) or 'NULL'})"
    rows = connection.exec_driver_sql(
        "SELECT h.location_id, h.positions FROM feed_checkpoints h"
        f" JOIN ({newest_checkpoints_sql(version)}) n"
        f" ON n.location_id = h.location_id AND n.version = h.version{within}"
    ).all()
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return CheckpointState(empty, empty, empty, empty)
    parts = [unpack(packed) for _, packed in rows]
    location = np.repeat(
        np.array([int(location_id) for location_id, _ in rows], dtype=np.int64),
        [part.shape[0] for part in parts],
    )
    records = np.concatenate(parts)
    key = (location << 32) | records[:, 0]
    order = np.argsort(key, kind="stable")
    return CheckpointState(key[order], records[order, 1], records[order, 2], records[order, 3])


def position_in_checkpoints(
    connection: Connection, location_id: int, sku_id: int
) -> list[tuple[int, int, int, int]]:
    """(version, on_hand, reserved, held) of one position in every checkpoint of its location
    that holds it, oldest first. Reads the location's checkpoints whole: a position's history is
    a rare, diagnostic read; feeds are the frequent write."""
    rows = connection.exec_driver_sql(
        "SELECT version, positions FROM feed_checkpoints"
        f" WHERE location_id = {int(location_id)} ORDER BY version, part"
    ).all()
    found = []
    for version, packed in rows:
        records = unpack(packed)
        at = np.flatnonzero(records[:, 0] == sku_id)
        if at.size:
            _, on_hand, reserved, held = records[int(at[0])].tolist()
            found.append((int(version), on_hand, reserved, held))
    return found
