"""Brokering runs: a snapshot, the engine, and the allocations recorded as reservations, all in
one serialised write transaction.

The run holds the ledger's write lock from the snapshot to the commit, so the stock it allocates
is the stock it saw: two runs started at once take turns, and the second brokers against what
the first left. A run that dies before its commit leaves nothing behind.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import numpy as np
import orjson
from sqlalchemy import Connection, Engine, select

from engine.brokering_run import (
    EXACT_UP_TO_ROWS,
    QueuedOrder,
    SolveFunction,
    broker,
    candidate_rows,
)
from engine.snapshot import Snapshot
from models.inventory import BrokeringRunOut, from_us
from models.problems import InvalidInput, Problem
from storage import tables
from storage.catalog import sku_id_map
from storage.db import bulk_insert, executemany, now_us, read_transaction, write_transaction
from storage.events import load_positions
from storage.snapshots import current_version, take_snapshot


def _default_solve() -> SolveFunction:
    from engine.solve import solve

    return solve


def solve_locations(connection: Connection) -> list[dict[str, Any]]:
    """Active locations as the solve contract's location objects."""
    t = tables.locations
    rows = connection.execute(select(t).where(t.c.active).order_by(t.c.id)).all()
    return [
        {
            key: value
            for key, value in {
                "id": r.code, "kind": r.kind, "lat": r.lat, "lon": r.lon, "ships": bool(r.ships),
                "pickup": None if r.pickup is None else bool(r.pickup), "max_shipments": r.max_shipments,
                "max_units": r.max_units, "shipment_cost": r.shipment_cost, "unit_cost": float(r.unit_cost),
            }.items()
            if value is not None or key in ("max_shipments", "max_units")
        }
        for r in rows
    ]  # fmt: skip


def queued_orders(connection: Connection) -> list[QueuedOrder]:
    """Queued orders with their open lines (quantity still to allocate) and exclusions."""
    rows = connection.exec_driver_sql(
        "SELECT o.id, o.payload, l.line_id, l.quantity - l.allocated FROM orders o"
        " JOIN order_lines l ON l.order_id = o.id WHERE o.status = 'queued'"
        " AND l.quantity > l.allocated ORDER BY o.priority DESC, o.placed_at_us, o.received_us, o.id"
    ).all()
    open_lines: dict[str, dict[str, int]] = defaultdict(dict)
    payloads: dict[str, str] = {}
    for order_id, payload, line_id, open_quantity in rows:
        payloads[order_id] = payload
        open_lines[order_id][line_id] = int(open_quantity)
    exclusions: dict[str, set[str]] = defaultdict(set)
    for order_id, code in connection.exec_driver_sql(
        "SELECT e.order_id, l.code FROM order_exclusions e JOIN locations l ON l.id = e.location_id"
        " JOIN orders o ON o.id = e.order_id WHERE o.status = 'queued'"
    ):
        exclusions[order_id].add(code)
    queue = []
    for order_id, payload in payloads.items():
        order = orjson.loads(payload)
        lines = open_lines[order_id]
        order["lines"] = [
            {**line, "quantity": lines[line["id"]]}
            for line in order["lines"]
            if line["id"] in lines
        ]
        queue.append(QueuedOrder(order, frozenset(exclusions.get(order_id, ()))))
    return queue


def offered_inventory(
    connection: Connection, snapshot: Snapshot, queue: list[QueuedOrder]
) -> list[dict[str, Any]]:
    """The ``inventory`` of the run's solve requests: every stocked row of the skus the queue asks
    for, or, over a large network, the rows :func:`engine.brokering_run.candidate_rows` picks."""
    stocked = int(np.count_nonzero(snapshot.atp > 0))
    if stocked <= EXACT_UP_TO_ROWS:
        return snapshot.inventory()
    catalog = snapshot.catalog
    sku_of = {code: i for i, code in enumerate(catalog.sku_code.tolist()) if code is not None}
    location_of = {
        code: i for i, code in enumerate(catalog.location_code.tolist()) if code is not None
    }
    size = catalog.location_code.size
    lat, lon = np.zeros(size), np.zeros(size)
    for location_id, location_lat, location_lon in connection.exec_driver_sql(
        "SELECT id, lat, lon FROM locations"
    ):
        lat[location_id], lon[location_id] = location_lat, location_lon
    lines = [
        (
            sku_of.get(line["sku"], 0), line["quantity"],
            q.order["ship_to"]["lat"] if q.order["delivery"] == "ship" else np.nan,
            q.order["ship_to"]["lon"] if q.order["delivery"] == "ship" else np.nan,
            location_of.get(q.order.get("pickup_location_id"), -1) if q.order["delivery"] == "pickup" else -1,
        )
        for q in queue
        for line in q.order["lines"]
    ]  # fmt: skip
    columns = list(zip(*lines, strict=True)) if lines else [[]] * 5
    offered = candidate_rows(
        snapshot.location_id, snapshot.sku_id, snapshot.atp, lat, lon, catalog.location_ships,
        np.asarray(columns[0], dtype=np.int64), np.asarray(columns[1], dtype=np.int64),
        np.asarray(columns[2], dtype=float), np.asarray(columns[3], dtype=float),
        np.asarray(columns[4], dtype=np.int64),
    )  # fmt: skip
    codes_location = catalog.location_code[snapshot.location_id[offered]].tolist()
    codes_sku = catalog.sku_code[snapshot.sku_id[offered]].tolist()
    return [
        {"location_id": location, "sku": sku, "quantity": quantity}
        for location, sku, quantity in zip(
            codes_location, codes_sku, snapshot.atp[offered].tolist(), strict=True
        )
    ]


def run_brokering(
    engine: Engine, policy: dict[str, Any] | None = None, solve: SolveFunction | None = None
) -> BrokeringRunOut:
    """Broker every queued order against a snapshot and reserve what is allocated, atomically.

    Raises :class:`InvalidInput` if the policy is refused by the solve contract."""
    solve = solve or _default_solve()
    started_us = now_us()
    started = time.perf_counter()
    with write_transaction(engine, "run") as write:
        connection = write.connection
        snapshot_version = current_version(connection, below=write.version)
        queue = queued_orders(connection)
        skus = sku_id_map(connection, {line["sku"] for q in queue for line in q.order["lines"]})
        sku_ids = sorted(skus.values())
        snapshot = take_snapshot(connection, sku_ids=sku_ids, snapshot_version=snapshot_version)
        inventory = offered_inventory(connection, snapshot, queue)
        result = broker(solve_locations(connection), inventory, queue, policy, solve)
        result["solver"]["run_seconds"] = round(time.perf_counter() - started, 3)
        finished_us = now_us()
        run_id = connection.execute(
            tables.brokering_runs.insert()
            .values(
                status="committed", snapshot_version=snapshot_version, version=write.version,
                started_us=started_us, finished_us=finished_us, orders=len(queue),
                result=orjson.dumps(result).decode(),
            )
            .returning(tables.brokering_runs.c.id)
        ).scalar_one()  # fmt: skip
        connection.exec_driver_sql(
            f"UPDATE ledger_changes SET ref = 'run:{int(run_id)}' WHERE version = {int(write.version)}"
        )
        _reserve(connection, int(run_id), write.version, finished_us, result["allocations"], queue)
    return BrokeringRunOut(
        id=int(run_id),
        snapshot_version=snapshot_version,
        version=write.version,
        started_at=from_us(started_us),
        finished_at=from_us(finished_us),
        orders=len(queue),
        result=result,
    )


def _reserve(
    connection: Connection,
    run_id: int,
    version: int,
    at_us: int,
    allocations: list[dict[str, Any]],
    queue: list[QueuedOrder],
) -> None:
    """Record allocations as reservations: positions' ``reserved`` grows, the lines' allocated
    units grow, orders with every unit allocated leave the queue; every position changed gets a
    history row."""
    if not allocations:
        return
    locations = dict(
        connection.execute(select(tables.locations.c.code, tables.locations.c.id)).all()
    )
    line_sku = {
        (q.order["id"], line["id"]): line["sku"] for q in queue for line in q.order["lines"]
    }
    skus = sku_id_map(connection, set(line_sku.values()))
    rows = []
    per_position: dict[tuple[int, int], int] = defaultdict(int)
    per_line: dict[tuple[str, str], int] = defaultdict(int)
    for a in allocations:
        loc = locations[a["location_id"]]
        sku = skus[line_sku[(a["order_id"], a["line_id"])]]
        rows.append(
            (run_id, a["order_id"], a["line_id"], loc, sku, a["quantity"], a["quantity"], "open")
        )
        per_position[(loc, sku)] += a["quantity"]
        per_line[(a["order_id"], a["line_id"])] += a["quantity"]
    bulk_insert(
        connection,
        "reservations",
        (
            "run_id",
            "order_id",
            "line_id",
            "location_id",
            "sku_id",
            "quantity",
            "open_quantity",
            "status",
        ),
        rows,
    )
    executemany(
        connection,
        "UPDATE positions SET reserved = reserved + ?, version = ? WHERE location_id = ? AND sku_id = ?",
        [(q, version, loc, sku) for (loc, sku), q in per_position.items()],
    )
    after = load_positions(connection, per_position.keys())
    bulk_insert(
        connection,
        "position_history",
        (
            "location_id",
            "sku_id",
            "version",
            "cause",
            "ref",
            "at_us",
            "on_hand",
            "reserved",
            "held",
        ),
        [
            (
                loc,
                sku,
                version,
                "reservation",
                f"run:{run_id}",
                at_us,
                p.on_hand,
                p.reserved,
                p.held,
            )
            for (loc, sku), p in after.items()
        ],
    )
    executemany(
        connection,
        "UPDATE order_lines SET allocated = allocated + ? WHERE order_id = ? AND line_id = ?",
        [(q, order_id, line_id) for (order_id, line_id), q in per_line.items()],
    )
    # Orders with no open unit left are brokered; the rest stay queued for the next run.
    executemany(
        connection,
        "UPDATE orders SET status = 'brokered' WHERE id = ? AND NOT EXISTS (SELECT 1 FROM order_lines"
        " l WHERE l.order_id = orders.id AND l.allocated < l.quantity)",
        [(order_id,) for order_id in {order_id for order_id, _ in per_line}],
    )


def get_run(engine: Engine, run_id: int) -> BrokeringRunOut:
    with read_transaction(engine) as connection:
        row = connection.execute(
            select(tables.brokering_runs).where(tables.brokering_runs.c.id == run_id)
        ).first()
    if row is None:
        raise InvalidInput(
            [Problem(("run_id",), f"unknown brokering run {run_id}", "unknown_run")], what="run"
        )
    return BrokeringRunOut(
        id=row.id,
        snapshot_version=row.snapshot_version,
        version=row.version,
        started_at=from_us(row.started_us),
        finished_at=from_us(row.finished_us),
        orders=row.orders,
        result=orjson.loads(row.result),
    )
