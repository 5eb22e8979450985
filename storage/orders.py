"""The order queue: orders wait here until a brokering run reserves stock for all their units.

An order id is accepted once; submitting it again is reported as a duplicate and changes
nothing, so an OMS may retry a submission safely.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Connection, Engine, select

from models.inventory import OrderStatus, OrderSubmission, QueuedLine, parse_orders, to_us
from models.problems import InvalidInput, Problem
from storage import tables
from storage.db import bulk_insert, read_transaction, write_transaction
from storage.events import existing_ids_in
from storage.order_updates import append_updates


def pickup_locations(connection: Connection) -> dict[str, bool]:
    """Active location code -> whether it serves pickup."""
    t = tables.locations
    rows = connection.execute(select(t.c.code, t.c.kind, t.c.pickup).where(t.c.active))
    return {
        code: (pickup if pickup is not None else kind == "store") for code, kind, pickup in rows
    }


def submit_orders(engine: Engine, raw: Any) -> OrderSubmission:
    """Queue one order or ``{"orders": [...]}``; refused whole (InvalidInput) if any is bad."""
    with engine.connect() as connection:
        known = pickup_locations(connection)
    orders = parse_orders(raw, known)
    with write_transaction(engine, "orders") as write:
        connection = write.connection
        existing = existing_ids_in(connection, "orders", [o.id for o in orders])
        fresh = [o for o in orders if o.id not in existing]
        bulk_insert(
            connection,
            "orders",
            ("id", "status", "priority", "placed_at_us", "received_us", "payload"),
            [
                (
                    o.id, "queued", o.priority, to_us(o.placed_at) if o.placed_at else None,
                    write.recorded_us, orjson.dumps(o.model_dump(mode="json", exclude_none=True)).decode(),
                )
                for o in fresh
            ],
        )  # fmt: skip
        bulk_insert(
            connection,
            "order_lines",
            ("order_id", "line_id", "sku", "quantity", "allocated"),
            [(o.id, line.id, line.sku, line.quantity, 0) for o in fresh for line in o.lines],
        )
        append_updates(
            connection, write.version, ((o.id, "queued", {}, write.recorded_us) for o in fresh)
        )
        if not fresh:
            write.discard()  # duplicates only: nothing changed
    return OrderSubmission(
        accepted=[o.id for o in fresh], duplicates=[o.id for o in orders if o.id in existing]
    )


def get_order(engine: Engine, order_id: str) -> OrderStatus:
    with read_transaction(engine) as connection:
        order = connection.execute(
            select(tables.orders.c.status, tables.orders.c.priority).where(
                tables.orders.c.id == order_id
            )
        ).first()
        if order is None:
            raise InvalidInput(
                [Problem(("order_id",), f"unknown order {order_id!r}", "unknown_order")],
                what="order",
            )
        lines = connection.execute(
            select(tables.order_lines).where(tables.order_lines.c.order_id == order_id)
        ).all()
        excluded = connection.execute(
            select(tables.locations.c.code)
            .join(
                tables.order_exclusions,
                tables.order_exclusions.c.location_id == tables.locations.c.id,
            )
            .where(tables.order_exclusions.c.order_id == order_id)
        ).scalars()
        return OrderStatus(
            id=order_id,
            status=order.status,
            priority=order.priority,
            lines=[
                QueuedLine(line_id=r.line_id, sku=r.sku, quantity=r.quantity, allocated=r.allocated)
                for r in lines
            ],
            excluded_location_ids=sorted(excluded),
        )
