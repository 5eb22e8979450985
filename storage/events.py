"""Event batches: each event counts once, in the order it occurred, by the rules of
:mod:`ledger.rules`; a batch with a bad row is refused whole.

A batch is applied in one write transaction: positions, events (each event's row is also its
position's history entry), holds, reservations and the
order queue change together or not at all. Events are applied in the order of ``occurred_at``
(ties in batch order), whatever order they were delivered in.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import orjson
from sqlalchemy import Connection, Engine

from ledger import rules as ledger
from ledger.rules import Effect, LocationRules, Outcome, Position
from models.event_reader import EventBatch, NumberedEvent, StockEventColumns, parse_event_rows
from models.inventory import (
    ApproveEvent,
    EventBatchResult,
    RejectedEvent,
    ShippedEvent,
    VarianceEvent,
    to_us,
)
from models.problems import InvalidInput, Problem
from storage.catalog import ensure_skus, location_id_map, location_rules
from storage.db import (
    bulk_insert,
    bulk_upsert,
    copy_arrays,
    executemany,
    gc_paused,
    is_sqlite,
    now_us,
    write_transaction,
)
from storage.order_updates import append_updates

CHUNK = 400  # pairs per query: 800 parameters, well under SQLite's limit
EMPTY_STOCK = StockEventColumns(
    index=np.zeros(0, dtype=np.int64), id=[], kind=[], location_id=[], sku=[],
    quantity=np.zeros(0, dtype=np.int64), occurred_us=np.zeros(0, dtype=np.int64), reason=[],
)  # fmt: skip


def apply_event_batch(engine: Engine, data: bytes | str | IO[bytes]) -> EventBatchResult:
    """Parse and apply a batch (JSON array, ``{"events": [...]}`` or JSON lines).

    Raises :class:`InvalidInput` with every bad row; nothing is applied then."""
    with engine.connect() as connection:
        known = location_id_map(connection)
    with gc_paused():
        return apply_events(engine, parse_event_rows(data, known))


def apply_events(engine: Engine, batch: EventBatch | list[NumberedEvent]) -> EventBatchResult:
    """Apply validated events. Duplicates (ids seen before, in the ledger or earlier in the batch)
    are ignored and reported; cross-reference problems (an approval of an unknown hold, a shipment
    of a line never brokered there) refuse the batch."""
    if isinstance(batch, list):
        batch = EventBatch(
            ids=[n.event.id for n in batch],
            where=[n.where for n in batch],
            stock=EMPTY_STOCK,
            others=[NumberedEvent(n.where, n.event, i) for i, n in enumerate(batch)],
        )
    started = time.perf_counter()
    refuse_future_events(batch, now_us())
    duplicates: list[str] = []
    with gc_paused(), write_transaction(engine, "events") as write:
        connection = write.connection
        applier = _BatchApplier(connection, write.version)
        duplicates = applier.run(batch)
        if not applier.outcomes:
            write.discard()  # empty, or duplicates only: the ledger's version stays
    return EventBatchResult(
        version=write.version,
        applied=sum(applier.outcomes.values()),
        duplicates=duplicates,
        outcomes=dict(applier.outcomes),
        seconds=round(time.perf_counter() - started, 3),
    )


def refuse_future_events(batch: EventBatch, clock_us: int) -> None:
    """Raise :class:`InvalidInput` naming every event dated more than a day ahead of the
    ledger's clock (nothing of the batch is applied then)."""
    problems: list[Problem] = []
    stock = batch.stock
    if stock.index.size:
        for row in np.flatnonzero(ledger.too_far_ahead(stock.occurred_us, clock_us)).tolist():
            problems.append(_future_problem(batch.where[int(stock.index[row])]))
    problems.extend(
        _future_problem(n.where)
        for n in batch.others
        if ledger.too_far_ahead(to_us(n.event.occurred_at), clock_us)
    )
    if problems:
        problems.sort(key=lambda p: tuple(str(part).zfill(12) for part in p.loc))
        raise InvalidInput(problems, what="event batch")


def _future_problem(where: tuple[str | int, ...]) -> Problem:
    return Problem(
        (*where, "occurred_at"),
        f"{_label(where)}: occurred_at is more than 24 hours ahead of the ledger's clock",
        "future_time",
    )


def _label(where: tuple[str | int, ...]) -> str:
    return f"line {where[1]}" if where[0] == "line" else f"{where[0]}[{where[1]}]"


def later_on_hand(
    connection: Connection, location: np.ndarray, sku: np.ndarray, occurred_us: np.ndarray
) -> np.ndarray:
    """Per (location, sku, moment): the sum of what the events recorded so far that occurred
    after the moment did to ``on_hand`` (a cycle count goes under them). One indexed join."""
    n = int(location.size)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    connection.exec_driver_sql(
        "CREATE TEMP TABLE IF NOT EXISTS count_moments"
        " (k INTEGER, location_id INTEGER, sku_id INTEGER, occurred_us BIGINT)"
    )
    connection.exec_driver_sql("DELETE FROM count_moments")
    bulk_insert(
        connection,
        "count_moments",
        ("k", "location_id", "sku_id", "occurred_us"),
        zip(range(n), location.tolist(), sku.tolist(), occurred_us.tolist(), strict=True),
    )
    later = np.zeros(n, dtype=np.int64)
    for k, total in connection.exec_driver_sql(
        "SELECT c.k, SUM(e.on_hand_delta) FROM count_moments c JOIN events e"
        " ON e.location_id = c.location_id AND e.sku_id = c.sku_id AND e.occurred_us > c.occurred_us"
        " GROUP BY c.k"
    ):
        later[int(k)] = int(total)
    return later


def _mark(connection: Connection) -> str:
    return "?" if is_sqlite(connection) else "%s"


def existing_event_ids(connection: Connection, ids: list[str]) -> set[str]:
    return existing_ids_in(connection, "events", ids)


def existing_ids_in(connection: Connection, table: str, ids: list[str]) -> set[str]:
    """Which of ``ids`` the table (events, orders) holds already."""
    found: set[str] = set()
    if not is_sqlite(connection):
        # One array parameter per 50,000 ids: an IN list of placeholders is parsed by the
        # driver in Python and planned by the server each time (5 s for a million ids).
        for start in range(0, len(ids), 50_000):
            rows = connection.exec_driver_sql(
                f"SELECT id FROM {table} WHERE id = ANY(%s)", (ids[start : start + 50_000],)
            )
            found.update(r[0] for r in rows)
        return found
    mark = _mark(connection)
    for start in range(0, len(ids), CHUNK * 2):
        part = ids[start : start + CHUNK * 2]
        rows = connection.exec_driver_sql(
            f"SELECT id FROM {table} WHERE id IN ({', '.join([mark] * len(part))})", tuple(part)
        )
        found.update(r[0] for r in rows)
    return found


def load_positions(
    connection: Connection, pairs: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], Position]:
    """Positions of the (location id, sku id) pairs; pairs without a position are left out.

    The pairs go to a temporary table and are joined on the positions' primary key: one query,
    an index lookup per pair, however many pairs."""
    connection.exec_driver_sql(
        "CREATE TEMP TABLE IF NOT EXISTS wanted_positions (location_id INTEGER, sku_id INTEGER)"
    )
    connection.exec_driver_sql("DELETE FROM wanted_positions")
    # In key order: the lookups then walk the positions' B-tree forwards, page after page.
    bulk_insert(connection, "wanted_positions", ("location_id", "sku_id"), sorted(pairs))
    # The driver's cursor, not SQLAlchemy's result rows: a million positions come back here.
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cursor.execute(
        "SELECT p.location_id, p.sku_id, p.on_hand, p.reserved, p.held, p.counted_at_us"
        " FROM wanted_positions w JOIN positions p ON p.location_id = w.location_id AND p.sku_id = w.sku_id"
    )
    rows = cursor.fetchall()
    cursor.close()
    return {
        (loc, sku): Position(on_hand, reserved, held, counted)
        for loc, sku, on_hand, reserved, held, counted in rows
    }


@dataclass(frozen=True, slots=True)
class PositionArrays:
    """Positions of sorted keys (``location_id << 32 | sku_id``) as aligned arrays; a key
    without a position has ``exists`` False and zeros (``counted_at_us`` -1)."""

    key: np.ndarray
    exists: np.ndarray
    on_hand: np.ndarray
    reserved: np.ndarray
    held: np.ndarray
    counted_at_us: np.ndarray


def load_position_arrays(connection: Connection, keys: np.ndarray) -> PositionArrays:
    """Positions of ``keys`` (sorted, unique) read as arrays: the keys go to a temporary table
    (in key order, so the lookups walk the positions' B-tree forwards) and each location's values
    come back concatenated into one text that numpy parses, so a million positions cross the
    driver as a thousand rows instead of a million tuples."""
    n = int(keys.size)
    found = PositionArrays(
        keys, np.zeros(n, dtype=bool), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64),
        np.zeros(n, dtype=np.int64), np.full(n, -1, dtype=np.int64),
    )  # fmt: skip
    if n == 0:
        return found
    connection.exec_driver_sql(
        "CREATE TEMP TABLE IF NOT EXISTS wanted_keys (location_id INTEGER, sku_id INTEGER)"
    )
    connection.exec_driver_sql("DELETE FROM wanted_keys")
    columns = ("p.sku_id", "p.on_hand", "p.reserved", "p.held", "COALESCE(p.counted_at_us, -1)")
    join = (
        " FROM wanted_keys w JOIN positions p"
        " ON p.location_id = w.location_id AND p.sku_id = w.sku_id GROUP BY w.location_id"
    )
    if is_sqlite(connection):
        bulk_insert(
            connection,
            "wanted_keys",
            ("location_id", "sku_id"),
            zip((keys >> 32).tolist(), (keys & 0xFFFFFFFF).tolist(), strict=True),
        )
        concat = [f"group_concat({c}, ',')" for c in columns]
        rows = connection.exec_driver_sql(f"SELECT w.location_id, {', '.join(concat)}{join}").all()
        parsed = [
            (location, [np.fromstring(t, dtype=np.int64, sep=",") for t in texts])
            for location, *texts in rows
        ]
    else:
        # Binary both ways: the keys by COPY from numpy, each location's positions packed by
        # the server as 8-byte integers (text and its sort cost ten seconds for a million).
        copy_arrays(
            connection,
            "wanted_keys",
            {"location_id": (keys >> 32).astype(np.int32),
             "sku_id": (keys & 0xFFFFFFFF).astype(np.int32)},
        )  # fmt: skip
        packed = " || ".join(f"int8send(({c})::int8)" for c in columns)
        cursor = connection.connection.driver_connection.cursor(binary=True)  # type: ignore[union-attr]
        cursor.execute(f"SELECT w.location_id, string_agg({packed}, ''::bytea){join}")
        parsed = [
            (location, list(np.frombuffer(values, dtype=">i8").reshape(-1, len(columns)).T))
            for location, values in cursor.fetchall()
        ]
        cursor.close()
    if not parsed:
        return found
    parts: list[list[np.ndarray]] = [[] for _ in columns]
    for location, values in parsed:
        values[0] = (np.int64(location) << 32) | values[0]
        for part, value in zip(parts, values, strict=True):
            part.append(value.astype(np.int64))
    key, on_hand, reserved, held, counted = (np.concatenate(part) for part in parts)
    at = np.searchsorted(keys, key)  # every key read back is one of ``keys``
    found.exists[at] = True
    found.on_hand[at], found.reserved[at], found.held[at] = on_hand, reserved, held
    found.counted_at_us[at] = counted
    return found


def _upsert_position_arrays(
    connection: Connection,
    version: int,
    location: np.ndarray,
    sku: np.ndarray,
    on_hand: np.ndarray,
    reserved: np.ndarray,
    held: np.ndarray,
    counted: np.ndarray,
) -> None:
    """PostgreSQL: write the positions of the vectorised path from their arrays, by binary COPY
    to a staging table (no tuple per position in Python) and one upsert; ``counted`` -1 is
    none."""
    connection.exec_driver_sql(
        "CREATE TEMP TABLE IF NOT EXISTS batch_positions (location_id integer, sku_id integer,"
        " on_hand bigint, reserved bigint, held bigint, counted_at_us bigint)"
    )
    connection.exec_driver_sql("TRUNCATE batch_positions")
    copy_arrays(
        connection,
        "batch_positions",
        {"location_id": location.astype(np.int32), "sku_id": sku.astype(np.int32),
         "on_hand": on_hand.astype(np.int64), "reserved": reserved.astype(np.int64),
         "held": held.astype(np.int64), "counted_at_us": counted.astype(np.int64)},
    )  # fmt: skip
    connection.exec_driver_sql(
        "INSERT INTO positions (location_id, sku_id, on_hand, reserved, held, counted_at_us,"
        f" version) SELECT location_id, sku_id, on_hand, reserved, held,"
        f" NULLIF(counted_at_us, -1), {int(version)} FROM batch_positions"
        " ON CONFLICT (location_id, sku_id) DO UPDATE SET on_hand = excluded.on_hand,"
        " reserved = excluded.reserved, held = excluded.held,"
        " counted_at_us = excluded.counted_at_us, version = excluded.version"
    )


class _BatchApplier:
    """Applies one batch inside a write transaction; collects every problem before writing."""

    def __init__(self, connection: Connection, version: int) -> None:
        self.connection = connection
        self.version = version
        self.outcomes: Counter[str] = Counter()
        self.problems: list[Problem] = []

    def run(self, batch: EventBatch) -> list[str]:
        connection = self.connection
        locations = location_id_map(connection)
        self.rules: dict[int, LocationRules] = location_rules(connection)
        # Each id counts once: the first in the batch, if the ledger has not seen it before.
        seen_before = existing_event_ids(connection, batch.ids)
        fresh = np.zeros(len(batch.ids), dtype=bool)
        duplicates: list[str] = []
        seen: set[str] = set()
        for index, event_id in enumerate(batch.ids):
            if event_id in seen_before or event_id in seen:
                duplicates.append(event_id)
            else:
                seen.add(event_id)
                fresh[index] = True
        stock = batch.stock
        stock_rows = (
            np.flatnonzero(fresh[stock.index]) if stock.index.size else np.zeros(0, dtype=np.int64)
        )
        others = [n for n in batch.others if fresh[n.index]]
        if stock_rows.size == 0 and not others:
            return duplicates
        self.skus = ensure_skus(
            connection,
            {stock.sku[i] for i in stock_rows.tolist()}
            | {n.event.sku for n in others if hasattr(n.event, "sku")},
        )
        self.holds = self._load_holds(
            {n.event.held_id for n in others if isinstance(n.event, ApproveEvent)}
        )
        self.reservations = self._load_reservations(
            {
                (n.event.order_id, n.event.line_id, locations[n.event.location_id])
                for n in others
                if isinstance(n.event, ShippedEvent | RejectedEvent)
            }
        )
        self.no_split_at = self._no_split_reservations(others, locations)
        stock_location = np.array(
            [locations[stock.location_id[i]] for i in stock_rows.tolist()], dtype=np.int64
        )
        stock_sku = np.array([self.skus[stock.sku[i]] for i in stock_rows.tolist()], dtype=np.int64)
        stock_key = (stock_location << 32) | stock_sku
        # Positions an approval, shipment or rejection touches go event by event, with all their
        # events (so the order within a position holds); the rest take the vectorised path.
        slow_pairs = self._pairs_of(others, stock, stock_rows, stock_key)
        slow_pairs |= {(loc, sku) for keys in self.no_split_at.values() for _, _, loc, sku in keys}
        slow_keys = np.array(sorted((loc << 32) | sku for loc, sku in slow_pairs), dtype=np.int64)
        to_slow = (
            np.isin(stock_key, slow_keys)
            if slow_keys.size
            else np.zeros(stock_key.size, dtype=bool)
        )
        others = others + [batch.numbered(int(i)) for i in stock_rows[to_slow].tolist()]
        fast = ~to_slow
        # The event-by-event path keeps its positions in a dict; the vectorised one in arrays
        # (a million Position objects would cost seconds to build and again to write).
        self.positions = load_positions(connection, slow_pairs)
        self.fast_positions = load_position_arrays(connection, np.unique(stock_key[fast]))
        self.fast_after: tuple[np.ndarray, ...] | None = None
        self.new_holds: list[tuple[Any, ...]] = []
        self.approved_holds: list[tuple[str, str]] = []
        self.event_rows: list[tuple[Any, ...]] = []
        self.reservation_updates: dict[int, tuple[int, str]] = {}
        self.requeued: dict[tuple[str, str], int] = defaultdict(int)
        self.exclusions: set[tuple[str, int, str]] = set()
        self.order_updates: list[tuple[str, str, dict[str, Any], int]] = []
        # History rows of no-split releases, one per position (the last in the batch).
        self.releases: dict[tuple[int, int], tuple[Any, ...]] = {}
        # Stable sort: the order things happened, batch order between equal times.
        timed = sorted(
            ((to_us(n.event.occurred_at), n.index, n) for n in others), key=lambda t: (t[0], t[1])
        )

        self.count_later = self._later_of_counts(timed, locations)
        for occurred_us, _, numbered in timed:
            self._apply_one(numbered, locations[numbered.event.location_id], occurred_us)
        self._apply_stock(stock, stock_rows[fast], stock_key[fast], batch.where)
        if self.problems:
            self.problems.sort(key=lambda p: tuple(str(part).zfill(12) for part in p.loc))
            raise InvalidInput(self.problems, what="event batch")
        self._write()
        return duplicates

    def _pairs_of(
        self,
        others: list[NumberedEvent],
        stock: StockEventColumns,
        stock_rows: np.ndarray,
        stock_key: np.ndarray,
    ) -> set[tuple[int, int]]:
        """The positions the event-by-event path needs (an approval's is its hold's, which may be
        a receipt of this same batch)."""
        locations = location_id_map(self.connection)
        pairs: set[tuple[int, int]] = set()
        batch_receipts: dict[str, int] | None = None
        for n in others:
            event = n.event
            if isinstance(event, ApproveEvent):
                hold = self.holds.get(event.held_id)
                if hold is not None:
                    pairs.add((hold["location_id"], hold["sku_id"]))
                    continue
                if batch_receipts is None:
                    batch_receipts = {stock.id[i]: k for k, i in enumerate(stock_rows.tolist())}
                k = batch_receipts.get(event.held_id)
                if k is not None:
                    pairs.add((int(stock_key[k] >> 32), int(stock_key[k] & 0xFFFFFFFF)))
            else:
                pairs.add((locations[event.location_id], self.skus[event.sku]))
        return pairs

    def _later_of_counts(
        self, timed: list[tuple[int, int, NumberedEvent]], locations: dict[str, int]
    ) -> dict[int, int]:
        """Per cycle count of the event-by-event path (by batch index): the deltas recorded
        before this batch that occurred after it."""
        counts = [
            (index, locations[n.event.location_id], self.skus[n.event.sku], occurred_us)
            for occurred_us, index, n in timed
            if isinstance(n.event, VarianceEvent) and n.event.reason == "count"
        ]
        if not counts:
            return {}
        matrix = np.array(counts, dtype=np.int64)
        later = later_on_hand(self.connection, matrix[:, 1], matrix[:, 2], matrix[:, 3])
        return dict(zip(matrix[:, 0].tolist(), later.tolist(), strict=True))

    def _apply_stock(
        self,
        stock: StockEventColumns,
        rows: np.ndarray,
        key: np.ndarray,
        where: list[tuple[str | int, ...]],
    ) -> None:
        """Sales, variances, receipts and returns of positions no other event touches: all at
        once, by :func:`ledger.rules.apply_stock_events`."""
        if rows.size == 0:
            return
        occurred = stock.occurred_us[rows]
        order = np.lexsort((stock.index[rows], occurred, key))
        rows, key, occurred = rows[order], key[order], occurred[order]
        unique_key, position = np.unique(key, return_inverse=True)
        location, sku = unique_key >> 32, unique_key & 0xFFFFFFFF
        before = self.fast_positions
        assert np.array_equal(before.key, unique_key)
        on_hand0, reserved0, held0, counted0 = (
            before.on_hand,
            before.reserved,
            before.held,
            before.counted_at_us,
        )
        loc_ids = np.unique(location)
        rules = [self.rules[int(loc)] for loc in loc_ids.tolist()]
        at = np.searchsorted(loc_ids, location)

        def per_location(values: list[Any], dtype: Any) -> np.ndarray:
            return np.array(values, dtype=dtype)[at]

        kinds, reasons = stock.kind, stock.reason
        code = np.array(
            [
                ledger.REASON_CODE[reasons[i]]
                if kinds[i] == "variance"
                else ledger.KIND_CODE[kinds[i]]
                for i in rows.tolist()
            ],
            dtype=np.int64,
        )
        quantity = stock.quantity[rows]
        later = np.zeros(rows.size, dtype=np.int64)
        counts = np.flatnonzero(code == ledger.COUNT)
        if counts.size:
            later[counts] = later_on_hand(
                self.connection, location[position[counts]], sku[position[counts]],
                occurred[counts],
            )  # fmt: skip
        result = ledger.apply_stock_events(
            position, occurred, code, quantity, on_hand0, held0, counted0,
            per_location([-1 if r.feed_as_of_us is None else r.feed_as_of_us for r in rules], np.int64),
            per_location([r.kind == "store" for r in rules], bool),
            per_location([r.receipts_count_at_once for r in rules], bool),
            per_location([r.returns_auto_approved for r in rules], bool),
            later,
        )  # fmt: skip
        for k in np.flatnonzero(
            ledger.beyond_limits(result.on_hand_after, 0, result.held_after)
        ).tolist():
            self._limit_problem(
                where[int(stock.index[rows[k]])],
                int(result.on_hand_after[k]),
                int(result.held_after[k]),
            )
        self.fast_after = (
            location,
            sku,
            result.on_hand,
            reserved0,
            result.held,
            result.counted_at_us,
        )
        previous = np.where(
            np.append(True, position[1:] != position[:-1]),
            on_hand0[position],
            np.append(0, result.on_hand_after[:-1]),
        )
        outcome_names = ledger.OUTCOME_NAMES[result.outcome]
        for name, count in zip(
            *np.unique(outcome_names.astype(str), return_counts=True), strict=True
        ):
            self.outcomes[str(name)] += int(count)
        held_rows = np.flatnonzero(result.outcome == ledger.OUTCOME_INDEX[Outcome.HELD])
        ids = [stock.id[i] for i in rows.tolist()]
        self.new_holds.extend(
            (
                ids[k],
                kinds[int(rows[k])],
                int(location[position[k]]),
                int(sku[position[k]]),
                int(quantity[k]),
                int(occurred[k]),
            )
            for k in held_rows.tolist()
        )
        details = [
            None if reasons[i] is None else f'{{"reason":"{reasons[i]}"}}' for i in rows.tolist()
        ]
        seq0 = len(self.event_rows)
        n = int(rows.size)
        self.event_rows.extend(
            zip(
                ids, [kinds[i] for i in rows.tolist()], location[position].tolist(), sku[position].tolist(),
                quantity.tolist(), occurred.tolist(), [self.version] * n, outcome_names.tolist(),
                (result.on_hand_after - previous).tolist(), [0] * n, range(seq0, seq0 + n),
                result.on_hand_after.tolist(), reserved0[position].tolist(), result.held_after.tolist(), details,
                strict=True,
            )
        )  # fmt: skip

    # -- reads --------------------------------------------------------------------------------

    def _load_holds(self, held_ids: set[str]) -> dict[str, dict[str, Any]]:
        holds: dict[str, dict[str, Any]] = {}
        ids = list(held_ids)
        mark = _mark(self.connection)
        for start in range(0, len(ids), CHUNK * 2):
            part = ids[start : start + CHUNK * 2]
            rows = self.connection.exec_driver_sql(
                "SELECT id, location_id, sku_id, quantity, approved_by FROM holds"
                f" WHERE id IN ({', '.join([mark] * len(part))})",
                tuple(part),
            )
            for hold_id, loc, sku, quantity, approved_by in rows:
                holds[hold_id] = {
                    "location_id": loc,
                    "sku_id": sku,
                    "quantity": quantity,
                    "approved_by": approved_by,
                }
        return holds

    def _load_reservations(
        self, keys: set[tuple[str, str, int]]
    ) -> dict[tuple[str, str, int], list[list[int]]]:
        """Per (order, line, location): [[reservation id, open quantity], ...], oldest first."""
        found: dict[tuple[str, str, int], list[list[int]]] = defaultdict(list)
        keys_list = list(keys)
        mark = _mark(self.connection)
        for start in range(0, len(keys_list), CHUNK // 2):
            part = keys_list[start : start + CHUNK // 2]
            values = ", ".join([f"({mark}, {mark}, {mark})"] * len(part))
            rows = self.connection.exec_driver_sql(
                "SELECT order_id, line_id, location_id, id, open_quantity FROM reservations"
                f" WHERE (order_id, line_id, location_id) IN (VALUES {values}) ORDER BY id",
                tuple(x for key in part for x in key),
            )
            for order_id, line_id, loc, reservation_id, open_quantity in rows:
                found[(order_id, line_id, loc)].append([reservation_id, open_quantity])
        return found

    def _no_split_reservations(
        self, others: list[NumberedEvent], locations: dict[str, int]
    ) -> dict[tuple[str, int], list[tuple[str, str, int, int]]]:
        """For each rejection of an order that may not split: every open reservation of the
        order at the rejecting location, as (order, line, location, sku) keys (they are released
        with it, and the whole order brokered again). Added to ``self.reservations``."""
        rejected = {
            (n.event.order_id, locations[n.event.location_id])
            for n in others
            if isinstance(n.event, RejectedEvent)
        }
        if not rejected:
            return {}
        mark = _mark(self.connection)
        order_ids = sorted({order_id for order_id, _ in rejected})
        no_split: set[str] = set()
        for start in range(0, len(order_ids), CHUNK):
            part = order_ids[start : start + CHUNK]
            for order_id, payload in self.connection.exec_driver_sql(
                f"SELECT id, payload FROM orders WHERE id IN ({', '.join([mark] * len(part))})",
                tuple(part),
            ):
                if orjson.loads(payload).get("allow_split") is False:
                    no_split.add(order_id)
        found: dict[tuple[str, int], list[tuple[str, str, int, int]]] = defaultdict(list)
        for order_id, loc in sorted(rejected):
            if order_id not in no_split:
                continue
            rows = self.connection.exec_driver_sql(
                "SELECT line_id, sku_id, id, open_quantity FROM reservations WHERE order_id ="
                f" {mark} AND location_id = {int(loc)} AND status = 'open' ORDER BY id",
                (order_id,),
            ).all()
            lines: dict[str, int] = {}
            loaded = {(order_id, line_id, loc) for line_id, *_ in rows} & self.reservations.keys()
            for line_id, sku_id, reservation_id, open_quantity in rows:
                lines[line_id] = sku_id
                key = (order_id, line_id, loc)
                if key not in loaded:
                    self.reservations[key].append([reservation_id, open_quantity])
            found[(order_id, loc)] = [(order_id, line, loc, sku) for line, sku in lines.items()]
        return found

    # -- the rules ----------------------------------------------------------------------------

    def _problem(self, numbered: NumberedEvent, field: str, msg: str, kind: str) -> None:
        where = numbered.where
        self.problems.append(Problem((*where, field), f"{_label(where)}: {msg}", kind))

    def _limit_problem(self, where: tuple[str | int, ...], on_hand: int, held: int) -> None:
        self.problems.append(
            Problem(
                (*where, "quantity"),
                f"{_label(where)}: would take the position to on_hand {on_hand}, held {held},"
                f" beyond the ledger's limit of {ledger.QUANTITY_LIMIT:,}",
                "beyond_limit",
            )
        )

    def _apply_one(self, numbered: NumberedEvent, loc: int, occurred_us: int) -> None:
        event = numbered.event
        rules = self.rules[loc]
        detail: dict[str, Any] = {}
        if isinstance(event, ApproveEvent):
            hold = self.holds.get(event.held_id)
            detail["held_id"] = event.held_id
            if hold is None:
                self._problem(
                    numbered,
                    "held_id",
                    f"no receipt or return {event.held_id!r} is held",
                    "unknown_hold",
                )
                return
            if hold["location_id"] != loc:
                self._problem(
                    numbered,
                    "held_id",
                    f"hold {event.held_id!r} is at another location",
                    "hold_elsewhere",
                )
                return
            if hold["approved_by"] is not None:
                self._problem(
                    numbered,
                    "held_id",
                    f"hold {event.held_id!r} was approved by {hold['approved_by']!r}",
                    "hold_approved",
                )
                return
            pair = (loc, hold["sku_id"])
            position = self.positions.get(pair, Position())
            effect = ledger.approve(hold["quantity"], occurred_us, rules, position)
            hold["approved_by"] = event.id
            self.approved_holds.append((event.id, event.held_id))
            sku_id, quantity = hold["sku_id"], None
        else:
            sku_id = self.skus[event.sku]
            quantity = event.quantity
            pair = (loc, sku_id)
            position = self.positions.get(pair, Position())
            found = self._effect(numbered, event, loc, occurred_us, rules, position, detail)
            if found is None:
                return
            effect = found
        after = ledger.apply_effect(position, effect)
        if ledger.beyond_limits(after.on_hand, after.reserved, after.held):
            self._limit_problem(numbered.where, after.on_hand, after.held)
            return
        self.positions[pair] = after
        if isinstance(event, RejectedEvent) and (event.order_id, loc) in self.no_split_at:
            self._release_order_at(event, loc, occurred_us)
        self.outcomes[effect.outcome.value] += 1
        self.event_rows.append(
            (
                event.id, event.kind, loc, sku_id, quantity, occurred_us, self.version, effect.outcome.value,
                after.on_hand - position.on_hand, after.reserved - position.reserved, len(self.event_rows),
                after.on_hand, after.reserved, after.held, orjson.dumps(detail).decode() if detail else None,
            )
        )  # fmt: skip

    def _effect(
        self,
        numbered: NumberedEvent,
        event: Any,
        loc: int,
        occurred_us: int,
        rules: LocationRules,
        position: Position,
        detail: dict[str, Any],
    ) -> Effect | None:
        kind = event.kind
        if kind == "sale":
            return ledger.sale(event.quantity, occurred_us, rules, position)
        if isinstance(event, VarianceEvent):
            detail["reason"] = event.reason
            return ledger.variance(
                event.quantity, event.reason, occurred_us, rules, position,
                self.count_later.get(numbered.index, 0),
            )  # fmt: skip
        if kind in ("receipt", "return"):
            effect = ledger.receipt(
                event.quantity, occurred_us, rules, position, is_return=kind == "return"
            )
            if effect.outcome is Outcome.HELD:
                # The event's id names the hold; an approval later in this batch may release it.
                self.new_holds.append(
                    (event.id, kind, loc, self.skus[event.sku], event.quantity, occurred_us)
                )
                self.holds[event.id] = {
                    "location_id": loc, "sku_id": self.skus[event.sku], "quantity": event.quantity, "approved_by": None,
                }  # fmt: skip
            return effect
        # shipped / rejected: settle the line's reservation at this location.
        detail.update(order_id=event.order_id, line_id=event.line_id)
        key = (event.order_id, event.line_id, loc)
        reservations = self.reservations.get(key)
        if not reservations:
            self._problem(
                numbered,
                "order_id",
                f"order {event.order_id!r} line {event.line_id!r} was not brokered to {event.location_id!r}",
                "unknown_reservation",
            )
            return None
        open_reserved = sum(open_quantity for _, open_quantity in reservations)
        if isinstance(event, ShippedEvent):
            effect = ledger.shipped(event.quantity, open_reserved, occurred_us, rules, position)
            self._settle(reservations, -effect.reserved_delta, "shipped")
            self._order_update(event, "shipped", event.quantity, occurred_us)
            return effect
        detail["not_found"] = event.not_found
        effect = ledger.rejected(
            event.quantity, open_reserved, event.not_found, occurred_us, rules, position
        )
        released = -effect.reserved_delta
        self._settle(reservations, released, "rejected")
        # Back to the queue, never again to this location.
        self.requeued[(event.order_id, event.line_id)] += released
        self.exclusions.add((event.order_id, loc, event.id))
        self._order_update(event, "rejected", released, occurred_us)
        return effect

    def _order_update(
        self, event: ShippedEvent | RejectedEvent, status: str, quantity: int, occurred_us: int
    ) -> None:
        line = {"line_id": event.line_id, "location_id": event.location_id, "quantity": quantity}
        self.order_updates.append((event.order_id, status, {"lines": [line]}, occurred_us))

    def _release_order_at(self, event: RejectedEvent, loc: int, occurred_us: int) -> None:
        """An order that may not split was rejected at ``loc``: its other units reserved there
        are released too and go back to the queue with it (the exclusion keeps it away)."""
        for order_id, line_id, _, sku in self.no_split_at[(event.order_id, loc)]:
            reservations = self.reservations.get((order_id, line_id, loc), [])
            released = sum(open_quantity for _, open_quantity in reservations)
            if released <= 0:
                continue
            self._settle(reservations, released, "rejected")
            self.requeued[(order_id, line_id)] += released
            before = self.positions.get((loc, sku), Position())
            after = ledger.apply_effect(before, Effect(Outcome.APPLIED, reserved_delta=-released))
            self.positions[(loc, sku)] = after
            self.releases[(loc, sku)] = (
                (loc, sku, self.version, "release", event.id, occurred_us,
                 after.on_hand, after.reserved, after.held)
            )  # fmt: skip
            self.order_updates.append(
                (order_id, "rejected", {"lines": [{"line_id": line_id,
                 "location_id": event.location_id, "quantity": released}], "released": True},
                 occurred_us)
            )  # fmt: skip

    def _settle(self, reservations: list[list[int]], quantity: int, status: str) -> None:
        """Take ``quantity`` off the open reservations of a line, oldest first."""
        for reservation in reservations:
            if quantity <= 0:
                break
            take = min(quantity, reservation[1])
            reservation[1] -= take
            quantity -= take
            self.reservation_updates[reservation[0]] = (
                reservation[1],
                status if reservation[1] == 0 else "open",
            )

    # -- writes -------------------------------------------------------------------------------

    def _write(self) -> None:
        connection = self.connection
        columns = (
            "location_id",
            "sku_id",
            "on_hand",
            "reserved",
            "held",
            "counted_at_us",
            "version",
        )
        bulk_upsert(
            connection,
            "positions",
            ("location_id", "sku_id"),
            columns,
            [
                (loc, sku, p.on_hand, p.reserved, p.held, p.counted_at_us, self.version)
                for (loc, sku), p in sorted(self.positions.items())
            ],
        )
        if self.fast_after is not None and not is_sqlite(connection):
            _upsert_position_arrays(connection, self.version, *self.fast_after)
        elif self.fast_after is not None:
            location, sku, on_hand, reserved, held, counted = self.fast_after
            n = int(location.size)
            bulk_upsert(
                connection,
                "positions",
                ("location_id", "sku_id"),
                columns,
                zip(
                    location.tolist(), sku.tolist(), on_hand.tolist(), reserved.tolist(),
                    held.tolist(), [None if c < 0 else c for c in counted.tolist()],
                    [self.version] * n, strict=True,
                ),
            )  # fmt: skip
        bulk_insert(
            connection,
            "events",
            (
                "id",
                "kind",
                "location_id",
                "sku_id",
                "quantity",
                "occurred_us",
                "version",
                "outcome",
                "on_hand_delta",
                "reserved_delta",
                "seq",
                "on_hand",
                "reserved",
                "held",
                "detail",
            ),
            self.event_rows,
        )
        if self.new_holds:
            bulk_insert(
                connection,
                "holds",
                ("id", "kind", "location_id", "sku_id", "quantity", "occurred_us"),
                self.new_holds,
            )
        executemany(
            connection, "UPDATE holds SET approved_by = ? WHERE id = ?", self.approved_holds
        )
        executemany(
            connection,
            "UPDATE reservations SET open_quantity = ?, status = ? WHERE id = ?",
            [
                (open_quantity, status, rid)
                for rid, (open_quantity, status) in self.reservation_updates.items()
            ],
        )
        requeued = [
            (q, order_id, line_id) for (order_id, line_id), q in self.requeued.items() if q > 0
        ]
        executemany(
            connection,
            "UPDATE order_lines SET allocated = allocated - ? WHERE order_id = ? AND line_id = ?",
            requeued,
        )
        executemany(
            connection,
            "UPDATE orders SET status = 'queued' WHERE id = ?",
            [(order_id,) for order_id in {order_id for _, order_id, _ in requeued}],
        )
        executemany(
            connection,
            "INSERT INTO order_exclusions (order_id, location_id, event_id) VALUES (?, ?, ?)"
            " ON CONFLICT (order_id, location_id) DO NOTHING",
            sorted(self.exclusions),
        )
        if self.releases:
            bulk_insert(
                connection,
                "position_history",
                ("location_id", "sku_id", "version", "cause", "ref", "at_us", "on_hand",
                 "reserved", "held"),
                list(self.releases.values()),
            )  # fmt: skip
        append_updates(connection, self.version, self.order_updates)
