"""Reading positions back: one position now, and its history (every change, with its cause)."""

from __future__ import annotations

from sqlalchemy import Engine, select, text

from ledger.rules import Position, atp_of
from models.inventory import PositionChange, PositionHistory, PositionOut, from_us
from models.problems import InvalidInput, Problem
from storage import tables
from storage.checkpoints import position_in_checkpoints
from storage.db import read_transaction
from storage.snapshots import take_snapshot


def _ids(connection, location: str, sku: str) -> tuple[int, int]:
    loc = connection.execute(
        select(tables.locations.c.id).where(tables.locations.c.code == location)
    ).scalar()
    sku_id = connection.execute(select(tables.skus.c.id).where(tables.skus.c.code == sku)).scalar()
    problems = []
    if loc is None:
        problems.append(
            Problem(("location_id",), f"unknown location {location!r}", "unknown_location")
        )
    if sku_id is None:
        problems.append(Problem(("sku",), f"unknown sku {sku!r}", "unknown_sku"))
    if problems:
        raise InvalidInput(problems, what="position")
    return int(loc), int(sku_id)


def get_position(engine: Engine, location: str, sku: str) -> PositionOut:
    """The position now, with its resolved safety stock and ATP. Raises InvalidInput if unknown."""
    with read_transaction(engine) as connection:
        loc, sku_id = _ids(connection, location, sku)
        snapshot = take_snapshot(connection, location_ids=[loc], sku_ids=[sku_id])
        p = tables.positions
        row = connection.execute(
            select(p.c.on_hand, p.c.reserved, p.c.held, p.c.version).where(
                (p.c.location_id == loc) & (p.c.sku_id == sku_id)
            )
        ).first()
    if row is None:
        position, version = Position(), 0
        safety = int(snapshot.safety_stock[0]) if snapshot.positions else 0
    else:
        position, version = Position(row.on_hand, row.reserved, row.held), int(row.version)
        safety = int(snapshot.safety_stock[0])
    return PositionOut(
        location_id=location,
        sku=sku,
        on_hand=position.on_hand,
        reserved=position.reserved,
        held=position.held,
        safety_stock=safety,
        atp=atp_of(position, safety),
        version=version,
    )


def get_history(engine: Engine, location: str, sku: str, limit: int = 1000) -> PositionHistory:
    """The position's changes, oldest first (the last ``limit``): feeds, brokering runs and
    events together, in the order the ledger applied them. A feed is listed where it changed
    the position (its checkpoint holds every position of the location, changed or not)."""
    with read_transaction(engine) as connection:
        loc, sku_id = _ids(connection, location, sku)
        rows = connection.execute(
            text(
                "SELECT h.version, 0 AS seq, COALESCE(h.cause, c.kind) AS cause,"
                " COALESCE(h.ref, c.ref) AS ref, COALESCE(h.at_us, f.as_of_us) AS at_us,"
                " h.on_hand, h.reserved, h.held, NULL AS note"
                " FROM position_history h JOIN ledger_changes c ON c.version = h.version"
                " LEFT JOIN feeds f ON f.version = h.version"
                " WHERE h.location_id = :loc AND h.sku_id = :sku"
                " UNION ALL SELECT version, seq, kind, id, occurred_us, on_hand, reserved, held,"
                "  CASE WHEN outcome = 'applied' THEN NULL ELSE outcome END"
                "  FROM events WHERE location_id = :loc AND sku_id = :sku"
            ),
            {"loc": loc, "sku": sku_id},
        ).all()
        changes = [_change(*r) for r in rows]
        checkpoints = position_in_checkpoints(connection, loc, sku_id)
        if checkpoints:
            feeds = {
                version: (kind, ref, as_of_us)
                for version, kind, ref, as_of_us in connection.exec_driver_sql(
                    "SELECT c.version, c.kind, c.ref, f.as_of_us FROM ledger_changes c"
                    " LEFT JOIN feeds f ON f.version = c.version WHERE c.version IN"
                    f" ({', '.join(str(version) for version, *_ in checkpoints)})"
                ).all()
            }
            changes += [
                _change(version, 0, *feeds[version], on_hand, reserved, held, None, feed=True)
                for version, on_hand, reserved, held in checkpoints
            ]
    changes.sort(key=lambda change: (change[0].version, change[1]))
    listed: list[PositionChange] = []
    for change, _, feed in changes:
        before = listed[-1] if listed else None
        if feed and before and _values(before) == _values(change):
            continue  # the feed left the position as it was
        listed.append(change)
    return PositionHistory(location_id=location, sku=sku, changes=listed[-limit:] if limit else [])


def _change(
    version: int, seq: int, cause: str, ref: str | None, at_us: int | None, on_hand: int,
    reserved: int, held: int, note: str | None, feed: bool = False,
) -> tuple[PositionChange, int, bool]:  # fmt: skip
    change = PositionChange(
        version=version, cause=cause, ref=ref, at=from_us(at_us), on_hand=on_hand,
        reserved=reserved, held=held, note=note,
    )  # fmt: skip
    return change, seq, feed


def _values(change: PositionChange) -> tuple[int, int, int]:
    return change.on_hand, change.reserved, change.held
