"""Full feeds: streamed in, staged, checked whole, then applied as set-based SQL in the same
transaction, so a refused or interrupted feed leaves the ledger exactly as it was.

Rows go to a temporary staging table chunk by chunk (a few hundred thousand rows in memory at a
time); only when every row is valid are positions reset from it. Each position the feed changes
gets a history row.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np
import orjson
from sqlalchemy import Connection, Engine

from engine.ledger import feed_is_stale, feed_reserved_factor
from models.inventory import (
    FeedChunk,
    FeedHeader,
    FeedResult,
    JsonFeedStream,
    read_csv_feed,
    to_us,
)
from models.problems import InvalidInput, Problem
from storage.catalog import location_id_map, register_new_skus, sku_id_map
from storage.db import bulk_insert, is_sqlite, write_transaction

STAGE = "feed_stage"


def feed_format(path: Path) -> str:
    """``csv`` or ``json`` from the file name."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return "csv"
    if suffix == ".json":
        return "json"
    raise InvalidInput(
        [Problem((), f"{path.name}: a feed is a .csv or .json file", "format")], what="feed"
    )


def load_feed_file(engine: Engine, path: Path, header: FeedHeader | None = None) -> FeedResult:
    """Load a feed file (CSV needs ``header``: source, basis, as_of; JSON carries its own)."""
    with open(path, "rb") as source:
        return load_feed(engine, source, feed_format(path), header)


def load_feed(
    engine: Engine, source: IO[bytes], fmt: str, header: FeedHeader | None = None
) -> FeedResult:
    """Apply one full feed, whole or not at all.

    Raises :class:`InvalidInput` listing every bad row (nothing applied). Locations whose last
    applied feed is newer than this one are left out and named in ``refused_locations``.
    """
    started = time.perf_counter()
    with write_transaction(engine, "feed") as write:
        connection = write.connection
        _create_stage(connection)
        locations = location_id_map(connection)
        skus = sku_id_map(connection)
        if fmt == "csv":
            if header is None:
                raise InvalidInput(
                    [Problem((), "a CSV feed needs its source, basis and as_of", "missing")],
                    what="feed",
                )
            rows, problems = _stage(connection, read_csv_feed(source, locations), skus)
        elif fmt == "json":
            stream = JsonFeedStream(source, locations, chunk_rows=200_000)
            leading = stream.leading_header()
            rows, problems = _stage(connection, stream.chunks(), skus)
            # A JSON feed names its own source, basis and as_of; they win over any given.
            header = leading or stream.header()
        else:
            raise InvalidInput([Problem((), f"unknown feed format {fmt!r}", "format")], what="feed")
        problems += _duplicate_rows(connection)
        if problems:
            raise InvalidInput(problems, what="feed")
        assert header is not None
        as_of_us = to_us(header.as_of)
        covered, refused = _covered_locations(
            connection, as_of_us, {v: k for k, v in locations.items()}
        )
        feed_id = connection.exec_driver_sql(
            "INSERT INTO feeds (source, basis, as_of_us, version, rows, locations, refused_locations, recorded_us)"
            f" VALUES ({_ph(connection, 8)}) RETURNING id",
            (
                header.source, header.basis, as_of_us, write.version, rows, len(covered),
                orjson.dumps(refused).decode(), write.recorded_us,
            ),
        ).scalar_one()  # fmt: skip
        connection.exec_driver_sql(
            f"UPDATE ledger_changes SET ref = {_ph(connection, 1)} WHERE version = {int(write.version)}",
            (f"feed:{feed_id}",),
        )
        _apply(connection, header, as_of_us, covered, write.version, f"feed:{feed_id}")
    return FeedResult(
        feed_id=int(feed_id),
        version=write.version,
        source=header.source,
        basis=header.basis,
        as_of=header.as_of,
        rows=rows,
        locations=len(covered),
        refused_locations=refused,
        seconds=round(time.perf_counter() - started, 3),
    )


def _ph(connection: Connection, n: int) -> str:
    mark = "?" if is_sqlite(connection) else "%s"
    return ", ".join([mark] * n)


def _create_stage(connection: Connection) -> None:
    # A temporary table: private to this connection, never written to the database file's pages
    # on SQLite (temp_store=MEMORY), dropped with the session.
    connection.exec_driver_sql(
        f"CREATE TEMP TABLE IF NOT EXISTS {STAGE} (line BIGINT, location_id INTEGER,"
        " sku_id INTEGER, quantity BIGINT)"
    )
    connection.exec_driver_sql(
        f"DROP INDEX IF EXISTS {'temp.' if is_sqlite(connection) else ''}ix_{STAGE}"
    )
    connection.exec_driver_sql(f"DELETE FROM {STAGE}")


def _stage(
    connection: Connection, chunks: Iterator[tuple[FeedChunk, list[Problem]]], skus: dict[str, int]
) -> tuple[int, list[Problem]]:
    """Stage every valid row and collect every problem. Valid rows are staged even after a
    problem, so duplicates among them are reported too (the transaction is rolled back when the
    feed is refused)."""
    problems: list[Problem] = []
    rows = 0
    for chunk, chunk_problems in chunks:
        problems.extend(chunk_problems)
        if chunk.line.size == 0:
            continue
        codes = chunk.sku
        sku_ids = _sku_ids(connection, codes, skus)
        rows += int(chunk.line.size)
        bulk_insert(
            connection,
            STAGE,
            ("line", "location_id", "sku_id", "quantity"),
            zip(
                chunk.line.tolist(), chunk.location_id.tolist(), sku_ids.tolist(),
                chunk.quantity.tolist(), strict=True,
            ),
        )  # fmt: skip
    return rows, problems


def _sku_ids(connection: Connection, codes: np.ndarray, skus: dict[str, int]) -> np.ndarray:
    """Codes to ids, registering new skus; vectorised through a pandas hash lookup."""
    import pandas as pd

    series = pd.Series(codes)
    mapped = series.map(skus)
    missing = mapped.isna().to_numpy()
    if missing.any():
        register_new_skus(connection, pd.unique(codes[missing]).tolist(), skus)
        mapped = series.map(skus)
    return mapped.to_numpy(dtype=np.int64)


def _duplicate_rows(connection: Connection) -> list[Problem]:
    connection.exec_driver_sql(f"CREATE INDEX ix_{STAGE} ON {STAGE} (location_id, sku_id)")
    duplicates = connection.exec_driver_sql(
        f"SELECT s.line, first.line FROM {STAGE} s JOIN (SELECT location_id, sku_id, MIN(line) AS line"
        f" FROM {STAGE} GROUP BY location_id, sku_id HAVING COUNT(*) > 1) first"
        " ON s.location_id = first.location_id AND s.sku_id = first.sku_id AND s.line > first.line"
        " ORDER BY s.line"
    ).all()
    return [
        Problem(
            ("line", int(line)),
            f"line {line}: the same location and sku as line {first}",
            "duplicate_row",
        )
        for line, first in duplicates
    ]


def _covered_locations(
    connection: Connection, as_of_us: int, code_of: dict[int, str]
) -> tuple[list[int], list[str]]:
    """Locations in the feed, split into those it applies to and those whose last feed is newer
    (refused: their stage rows are dropped)."""
    present = [
        int(r[0]) for r in connection.exec_driver_sql(f"SELECT DISTINCT location_id FROM {STAGE}")
    ]
    if not present:
        return [], []
    last = dict(
        connection.exec_driver_sql(
            f"SELECT id, feed_as_of_us FROM locations WHERE id IN ({', '.join(map(str, present))})"
        ).all()
    )
    refused = [loc for loc in present if feed_is_stale(as_of_us, last.get(loc))]
    if refused:
        connection.exec_driver_sql(
            f"DELETE FROM {STAGE} WHERE location_id IN ({', '.join(map(str, refused))})"
        )
    covered = sorted(set(present) - set(refused))
    return covered, sorted(code_of[loc] for loc in refused)


def _apply(
    connection: Connection,
    header: FeedHeader,
    as_of_us: int,
    covered: list[int],
    version: int,
    ref: str,
) -> None:
    """Reset every position of the covered locations: listed skus to the feed's value, the others
    to zero, by the feed's basis; record each position that changes.

    The feed counts what happened up to its ``as_of``. What the ledger applied that occurred
    after it (events that arrived before the feed did, reservations of later brokering runs) is
    replayed on top, and a position cycle-counted after ``as_of`` keeps its newer count.
    """
    if not covered:
        return
    factor = feed_reserved_factor(header.basis)
    # Ints only go into the SQL text (ids and numbers the ledger made), never sender's strings.
    in_covered = f"IN ({', '.join(map(str, covered))})"
    params = {"v": version, "ref": ref, "as_of": as_of_us, "f": factor}
    run = connection.exec_driver_sql
    named = _named(connection)
    _replay_after(connection, in_covered, params)
    newer_count = "p.counted_at_us IS NOT NULL AND p.counted_at_us > :as_of"
    # on_hand = the feed's quantity + what happened after as_of (+ the reservations open at
    # as_of, for an available basis).
    listed_value = (
        "s.quantity + COALESCE(r.on_hand_delta, 0)"
        " + :f * (COALESCE(p.reserved, 0) - COALESCE(r.reserved_delta, 0))"
    )
    listed_from = (
        f" FROM {STAGE} s LEFT JOIN positions p ON p.location_id = s.location_id AND p.sku_id = s.sku_id"
        " LEFT JOIN feed_replay r ON r.location_id = s.location_id AND r.sku_id = s.sku_id"
    )
    unlisted_value = (
        "COALESCE(r.on_hand_delta, 0) + :f * (p.reserved - COALESCE(r.reserved_delta, 0))"
    )
    unlisted = (
        f" FROM positions p LEFT JOIN feed_replay r ON r.location_id = p.location_id AND r.sku_id = p.sku_id"
        f" WHERE p.location_id {in_covered} AND NOT ({newer_count})"
        f" AND p.on_hand <> {unlisted_value} AND NOT EXISTS (SELECT 1 FROM {STAGE} s"
        " WHERE s.location_id = p.location_id AND s.sku_id = p.sku_id)"
    )
    # History first, while positions still hold the values before the feed.
    run(
        named(
            "INSERT INTO position_history (location_id, sku_id, version, cause, ref, at_us, on_hand, reserved, held)"
            f" SELECT s.location_id, s.sku_id, :v, 'feed', :ref, :as_of, {listed_value},"
            f" COALESCE(p.reserved, 0), COALESCE(p.held, 0){listed_from}"
            f" WHERE (p.on_hand IS NULL OR p.on_hand <> {listed_value}) AND NOT ({newer_count})"
            " ORDER BY s.location_id, s.sku_id"
        ),
        params,
    )
    run(
        named(
            "INSERT INTO position_history (location_id, sku_id, version, cause, ref, at_us, on_hand, reserved, held)"
            f" SELECT p.location_id, p.sku_id, :v, 'feed', :ref, :as_of, {unlisted_value}, p.reserved, p.held"
            f"{unlisted}"
        ),
        params,
    )
    run(
        named(
            f"UPDATE positions SET on_hand = (SELECT {unlisted_value}{unlisted}"
            " AND p.location_id = positions.location_id AND p.sku_id = positions.sku_id), version = :v"
            f" WHERE location_id {in_covered} AND EXISTS (SELECT 1{unlisted}"
            " AND p.location_id = positions.location_id AND p.sku_id = positions.sku_id)"
        ),
        params,
    )
    run(
        named(
            "INSERT INTO positions (location_id, sku_id, on_hand, reserved, held, version)"
            f" SELECT s.location_id, s.sku_id, {listed_value}, 0, 0, :v{listed_from}"
            f" WHERE NOT ({newer_count}) ORDER BY s.location_id, s.sku_id"
            " ON CONFLICT (location_id, sku_id) DO UPDATE SET on_hand = excluded.on_hand, version = :v"
            " WHERE positions.on_hand <> excluded.on_hand"
        ),
        params,
    )
    run(
        named(
            "UPDATE locations SET feed_as_of_us = :as_of, feed_basis = :basis, feed_source = :source"
            f" WHERE id {in_covered}"
        ),
        {**params, "basis": header.basis, "source": header.source},
    )


def _replay_after(connection: Connection, in_covered: str, params: dict[str, int | str]) -> None:
    """Per position of the covered locations, what the ledger applied that occurred after the
    feed's as_of: the net on_hand change of events, and the net reserved change of events and
    brokering runs."""
    connection.exec_driver_sql(
        "CREATE TEMP TABLE IF NOT EXISTS feed_replay (location_id INTEGER, sku_id INTEGER,"
        " on_hand_delta BIGINT, reserved_delta BIGINT, PRIMARY KEY (location_id, sku_id))"
    )
    connection.exec_driver_sql("DELETE FROM feed_replay")
    connection.exec_driver_sql(
        _named(connection)(
            "INSERT INTO feed_replay (location_id, sku_id, on_hand_delta, reserved_delta)"
            " SELECT location_id, sku_id, SUM(on_hand_delta), SUM(reserved_delta) FROM ("
            "  SELECT location_id, sku_id, on_hand_delta, reserved_delta FROM events"
            f"  WHERE location_id {in_covered} AND occurred_us > :as_of AND sku_id IS NOT NULL"
            "  UNION ALL SELECT r.location_id, r.sku_id, 0, r.quantity FROM reservations r"
            "  JOIN brokering_runs b ON b.id = r.run_id"
            f"  WHERE r.location_id {in_covered} AND b.finished_us > :as_of"
            " ) later GROUP BY location_id, sku_id"
        ),
        params,
    )


def _named(connection: Connection):
    """Named parameters in the driver's style (``:name`` for sqlite3, ``%(name)s`` for psycopg)."""
    if is_sqlite(connection):
        return lambda sql: sql
    import re

    return lambda sql: re.sub(r"(?<!:):([a-z_]+)", r"%(\1)s", sql)
