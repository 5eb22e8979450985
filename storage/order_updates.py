"""The order updates feed: appended where orders change (submission, a run's commit, a rejection,
a shipment), in the same transaction as the change; read by cursor."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import orjson
from sqlalchemy import Connection, Engine

from ledger.brokering_run import QueuedOrder
from models.inventory import from_us
from models.order_updates import OrderUpdate, OrderUpdatesPage
from storage.db import bulk_insert, is_sqlite, read_transaction

COLUMNS = ("order_id", "status", "version", "at_us", "detail")


def append_updates(
    connection: Connection, version: int, updates: Iterable[tuple[str, str, dict, int]]
) -> None:
    """Append (order id, status, detail, time in us) updates made by ledger ``version``."""
    bulk_insert(
        connection,
        "order_updates",
        COLUMNS,
        (
            (order_id, status, version, at_us, orjson.dumps(detail).decode())
            for order_id, status, detail, at_us in updates
        ),
    )


def record_run_updates(
    connection: Connection,
    version: int,
    at_us: int,
    run_id: int,
    queue: list[QueuedOrder],
    result: dict[str, Any],
) -> None:
    """Per order a run reserved units for: ``brokered`` (nothing left open) or
    ``partly_brokered`` (with the open units and their reasons). Orders the run gave nothing
    get no update: nothing became of them."""
    served: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for a in result["allocations"]:
        served[a["order_id"]].append(
            {"line_id": a["line_id"], "location_id": a["location_id"], "quantity": a["quantity"]}
        )
    if not served:
        return
    open_lines: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for u in result["unallocated"]:
        if u["order_id"] in served:
            open_lines[u["order_id"]].append(
                {"line_id": u["line_id"], "quantity": u["quantity"], "reason": u["reason"]}
            )
    again = {q.order["id"] for q in queue if q.excluded_location_ids} & served.keys()
    rejected_before = _rejected_orders(connection, sorted(again))
    updates = []
    for q in queue:
        order_id = q.order["id"]
        if order_id not in served:
            continue
        detail: dict[str, Any] = {"run_id": run_id, "lines": served[order_id]}
        if order_id in rejected_before:
            detail["brokered_again"] = True
        if open_lines.get(order_id):
            detail["open"] = open_lines[order_id]
            updates.append((order_id, "partly_brokered", detail, at_us))
        else:
            updates.append((order_id, "brokered", detail, at_us))
    append_updates(connection, version, updates)


def _rejected_orders(connection: Connection, order_ids: list[str]) -> set[str]:
    if not order_ids:
        return set()
    mark = "?" if is_sqlite(connection) else "%s"
    found: set[str] = set()
    for start in range(0, len(order_ids), 500):
        part = order_ids[start : start + 500]
        found.update(
            row[0]
            for row in connection.exec_driver_sql(
                "SELECT DISTINCT order_id FROM order_updates WHERE status = 'rejected'"
                f" AND order_id IN ({', '.join([mark] * len(part))})",
                tuple(part),
            )
        )
    return found


def read_updates(engine: Engine, since: int = 0, limit: int = 1000) -> OrderUpdatesPage:
    """The updates after cursor ``since``, oldest first, at most ``limit``."""
    with read_transaction(engine) as connection:
        rows = connection.exec_driver_sql(
            "SELECT seq, order_id, status, version, at_us, detail FROM order_updates"
            f" WHERE seq > {int(since)} ORDER BY seq LIMIT {int(limit)}"
        ).all()
    updates = []
    for seq, order_id, status, version, at_us, detail in rows:
        fields = orjson.loads(detail)
        updates.append(
            OrderUpdate(
                cursor=seq, order_id=order_id, status=status, at=from_us(at_us), version=version,
                lines=fields.get("lines", []), open=fields.get("open", []),
                brokered_again=fields.get("brokered_again", False),
            )
        )  # fmt: skip
    return OrderUpdatesPage(updates=updates, cursor=updates[-1].cursor if updates else since)
