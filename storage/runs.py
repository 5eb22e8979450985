"""Brokering runs in the ledger: the queue a run brokers (with the locations each order must
avoid), the state a run's commit checks its allocations against, and the run recorded with its
reservations. The run itself (snapshot, solve, commit) is :mod:`services.brokering`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import orjson
from sqlalchemy import Connection, Engine, select

from ledger.brokering_run import CommitState, QueuedOrder
from ledger.rules import UNSET
from ledger.snapshot import build_snapshot
from models.inventory import BrokeringRunOut, from_us
from models.problems import InvalidInput, Problem
from storage import tables
from storage.catalog import load_catalog_arrays, sku_id_map
from storage.db import bulk_insert, executemany, read_transaction
from storage.events import load_positions


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
    held_at = held_locations(connection)
    all_codes = {code for (code,) in connection.exec_driver_sql("SELECT code FROM locations")}
    queue = []
    for order_id, payload in payloads.items():
        order = orjson.loads(payload)
        if order.get("allow_split") is False and order_id in held_at:
            # One location over all runs: every other location is excluded.
            exclusions[order_id] |= all_codes - held_at[order_id]
        lines = open_lines[order_id]
        order["lines"] = [
            {**line, "quantity": lines[line["id"]]}
            for line in order["lines"]
            if line["id"] in lines
        ]
        queue.append(QueuedOrder(order, frozenset(exclusions.get(order_id, ()))))
    return queue


def held_locations(
    connection: Connection, order_ids: list[str] | None = None
) -> dict[str, set[str]]:
    """Per queued order (or per order of ``order_ids``): the locations holding part of it
    (reservations open or shipped; a rejected one holds nothing)."""
    held: dict[str, set[str]] = defaultdict(set)
    if order_ids is None:
        rows = connection.exec_driver_sql(
            "SELECT r.order_id, l.code FROM reservations r JOIN locations l ON l.id = r.location_id"
            " JOIN orders o ON o.id = r.order_id WHERE o.status = 'queued'"
            " AND r.status IN ('open', 'shipped')"
        ).all()
    else:
        stage_order_ids(connection, order_ids)
        rows = connection.exec_driver_sql(
            "SELECT r.order_id, l.code FROM run_orders w JOIN reservations r ON r.order_id = w.id"
            " JOIN locations l ON l.id = r.location_id WHERE r.status IN ('open', 'shipped')"
        ).all()
    for order_id, code in rows:
        held[order_id].add(code)
    return held


def stage_order_ids(connection: Connection, order_ids: list[str]) -> None:
    """The ids in the temporary table ``run_orders`` (to join on)."""
    connection.exec_driver_sql("CREATE TEMP TABLE IF NOT EXISTS run_orders (id TEXT PRIMARY KEY)")
    connection.exec_driver_sql("DELETE FROM run_orders")
    bulk_insert(connection, "run_orders", ("id",), ((i,) for i in sorted(set(order_ids))))


def commit_state(
    connection: Connection,
    queue: list[QueuedOrder],
    allocations: list[dict[str, Any]],
    line_sku: dict[tuple[str, str], str],
) -> CommitState:
    """What the ledger holds now (inside the commit's write transaction) for what a run
    allocated: the positions' ATP with today's settings, each line's open units, where each
    order may still be served."""
    order_ids = sorted({a["order_id"] for a in allocations})
    stage_order_ids(connection, order_ids)
    open_units = {
        (order_id, line_id): int(units) if status == "queued" else 0
        for order_id, line_id, units, status in connection.exec_driver_sql(
            "SELECT l.order_id, l.line_id, l.quantity - l.allocated, o.status FROM run_orders w"
            " JOIN orders o ON o.id = w.id JOIN order_lines l ON l.order_id = o.id"
        )
    }
    all_codes = {code for (code,) in connection.exec_driver_sql("SELECT code FROM locations")}
    excluded: dict[str, set[str]] = defaultdict(set)
    for order_id, code in connection.exec_driver_sql(
        "SELECT e.order_id, l.code FROM run_orders w JOIN order_exclusions e ON e.order_id = w.id"
        " JOIN locations l ON l.id = e.location_id"
    ):
        excluded[order_id].add(code)
    held_at = held_locations(connection, order_ids)
    orders = {q.order["id"]: q.order for q in queue}
    allowed: dict[str, frozenset[str] | None] = {}
    for order_id in order_ids:
        may = set(all_codes) - excluded.get(order_id, set())
        if orders[order_id].get("allow_split") is False and held_at.get(order_id):
            may &= held_at[order_id]
        allowed[order_id] = frozenset(may)
    positions = {(a["location_id"], line_sku[(a["order_id"], a["line_id"])]) for a in allocations}
    return CommitState(
        atp=atp_now(connection, positions),
        open_units=open_units,
        allowed=allowed,
        all_or_nothing=frozenset(o for o in order_ids if orders[o].get("allow_partial") is False),
        rank={q.order["id"]: k for k, q in enumerate(queue)},
    )


def atp_now(connection: Connection, positions: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """ATP of (location code, sku code) positions as the ledger holds them now."""
    if not positions:
        return {}
    locations = dict(
        connection.execute(select(tables.locations.c.code, tables.locations.c.id)).all()
    )
    skus = sku_id_map(connection, {sku for _, sku in positions})
    pairs = {(locations[loc], skus[sku]): (loc, sku) for loc, sku in positions if sku in skus}
    connection.exec_driver_sql(
        "CREATE TEMP TABLE IF NOT EXISTS commit_positions (location_id INTEGER, sku_id INTEGER)"
    )
    connection.exec_driver_sql("DELETE FROM commit_positions")
    bulk_insert(connection, "commit_positions", ("location_id", "sku_id"), sorted(pairs))
    rows = connection.exec_driver_sql(
        f"SELECT p.location_id, p.sku_id, p.on_hand, p.reserved, COALESCE(p.safety_stock, {UNSET})"
        " FROM commit_positions w JOIN positions p ON p.location_id = w.location_id"
        " AND p.sku_id = w.sku_id ORDER BY p.location_id, p.sku_id"
    ).all()
    if not rows:
        return {}
    matrix = np.array(rows, dtype=np.int64)
    location, sku, on_hand, reserved, own = (np.ascontiguousarray(matrix[:, i]) for i in range(5))
    keys = list(zip(location.tolist(), sku.tolist(), strict=True))
    snap = build_snapshot(
        0, 0, load_catalog_arrays(connection), location, sku, on_hand, reserved, own
    )
    return {pairs[k]: int(a) for k, a in zip(keys, snap.atp.tolist(), strict=True)}


def record_run(
    connection: Connection,
    version: int,
    snapshot_version: int,
    started_us: int,
    finished_us: int,
    queue: list[QueuedOrder],
    result: dict[str, Any],
) -> int:
    """The run and its reservations, in the commit's write transaction; the run's id."""
    run_id = connection.execute(
        tables.brokering_runs.insert()
        .values(
            status="committed", snapshot_version=snapshot_version, version=version,
            started_us=started_us, finished_us=finished_us, orders=len(queue),
            result=orjson.dumps(result).decode(),
        )
        .returning(tables.brokering_runs.c.id)
    ).scalar_one()  # fmt: skip
    connection.exec_driver_sql(
        f"UPDATE ledger_changes SET ref = 'run:{int(run_id)}' WHERE version = {int(version)}"
    )
    _reserve(connection, int(run_id), version, finished_us, result["allocations"], queue)
    return int(run_id)


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
