"""The schema of the ledger. Times are integer microseconds since the epoch, UTC (``*_us``):
comparable in SQL and in numpy alike, and free of the zone handling of each database.

Every write transaction appends one row to ``ledger_changes``; its number is the ledger *version*
that positions, history rows and snapshots carry.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    text,
)

metadata = MetaData()

# SQLite only makes an INTEGER PRIMARY KEY the rowid (fast appends); PostgreSQL needs 64 bits for
# tables that grow by millions of rows a day.
RowId = BigInteger().with_variant(Integer(), "sqlite")

ledger_changes = Table(
    "ledger_changes",
    metadata,
    Column("version", RowId, primary_key=True, autoincrement=True),
    Column("kind", Text, nullable=False),  # catalog, feed, events, run, orders
    Column("ref", Text, nullable=True),
    Column("recorded_us", BigInteger, nullable=False),
)

locations = Table(
    "locations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("code", Text, nullable=False, unique=True),
    Column("kind", Text, nullable=False),
    Column("lat", Float, nullable=False),
    Column("lon", Float, nullable=False),
    Column("ships", Boolean, nullable=False),
    Column("pickup", Boolean, nullable=True),
    Column("max_shipments", Integer, nullable=True),
    Column("max_units", Integer, nullable=True),
    Column("shipment_cost", Float, nullable=True),
    Column("unit_cost", Float, nullable=False),
    Column("safety_stock", Integer, nullable=True),
    Column("receipts_count_at_once", Boolean, nullable=False),
    Column("returns_auto_approved", Boolean, nullable=False),
    Column("active", Boolean, nullable=False),
    # The last full feed applied to the location: deltas at or before it are already counted.
    Column("feed_as_of_us", BigInteger, nullable=True),
    Column("feed_basis", Text, nullable=True),
    Column("feed_source", Text, nullable=True),
)

skus = Table(
    "skus",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("code", Text, nullable=False, unique=True),
    Column("category", Text, nullable=True),
    Column("safety_stock", Integer, nullable=True),
    Column("online_threshold", Integer, nullable=True),
)

categories = Table(
    "categories",
    metadata,
    Column("code", Text, primary_key=True),
    Column("online_threshold", Integer, nullable=False),
)

safety_stock_by_kind = Table(
    "safety_stock_by_kind",
    metadata,
    Column("kind", Text, primary_key=True),
    Column("quantity", Integer, nullable=False),
)

# Settings with the ledger version they are valid from (migration 0003): a snapshot of an earlier
# version reads, per setting, the newest row at or before it. ``scope`` is kind (``code``),
# location, sku, category (``code``) or position (location and sku); ``name`` is safety_stock,
# online_threshold or category (a sku's, in ``text_value``); a null value clears the setting.
setting_history = Table(
    "setting_history",
    metadata,
    Column("version", BigInteger, nullable=False),
    Column("scope", Text, nullable=False),
    Column("location_id", Integer, nullable=True),
    Column("sku_id", Integer, nullable=True),
    Column("code", Text, nullable=True),
    Column("name", Text, nullable=False),
    Column("value", BigInteger, nullable=True),
    Column("text_value", Text, nullable=True),
    Index("ix_setting_history_scope", "scope", "version"),
)

positions = Table(
    "positions",
    metadata,
    Column("location_id", Integer, ForeignKey("locations.id"), primary_key=True),
    Column("sku_id", Integer, ForeignKey("skus.id"), primary_key=True),
    Column("on_hand", BigInteger, nullable=False),
    Column("reserved", BigInteger, nullable=False),
    Column("held", BigInteger, nullable=False),
    Column("safety_stock", Integer, nullable=True),  # per (location, sku); wins over the rest
    Column("counted_at_us", BigInteger, nullable=True),  # last cycle count, a reset like a feed
    Column("version", BigInteger, nullable=False),
    # The few positions with their own safety stock, found without reading all of them.
    Index(
        "ix_positions_own_safety_stock",
        "location_id",
        sqlite_where=text("safety_stock IS NOT NULL"),
        postgresql_where=text("safety_stock IS NOT NULL"),
    ),
    sqlite_with_rowid=False,
)

# Changes made by brokering runs and releases (an event's change is its row in ``events``, a
# feed's is in ``feed_checkpoints``): one row per position per ledger version, clustered by
# position so a position's history is one range read. Before migration 0006 feeds wrote rows
# here too, with null ``cause``, ``ref`` and ``at_us`` (those of the version and its feed).
position_history = Table(
    "position_history",
    metadata,
    Column("location_id", Integer, primary_key=True),
    Column("sku_id", Integer, primary_key=True),
    Column("version", BigInteger, primary_key=True),
    Column("on_hand", BigInteger, nullable=False),
    Column("reserved", BigInteger, nullable=False),
    Column("held", BigInteger, nullable=False),
    Column("cause", Text, nullable=True),  # null: the version's kind (a feed, before 0006)
    Column("ref", Text, nullable=True),  # null: the version's ref (feed:ID, run:ID)
    Column("at_us", BigInteger, nullable=True),  # null: the feed's as_of
    sqlite_with_rowid=False,
)

# What each full feed left (migration 0006): per (feed version, location, part) every position
# of the location, packed as big-endian int64 records (sku_id, on_hand, reserved, held); see
# storage/checkpoints.py. A feed of ten million positions writes a thousand rows.
feed_checkpoints = Table(
    "feed_checkpoints",
    metadata,
    Column("location_id", Integer, primary_key=True),
    Column("version", BigInteger, primary_key=True),
    Column("part", Integer, primary_key=True),
    Column("positions", LargeBinary, nullable=False),
)

feeds = Table(
    "feeds",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("source", Text, nullable=False),
    Column("basis", Text, nullable=False),
    Column("as_of_us", BigInteger, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("locations", Integer, nullable=False),
    Column("refused_locations", Text, nullable=True),  # JSON list of location codes
    Column("recorded_us", BigInteger, nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("id", Text, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("location_id", Integer, nullable=False),
    Column("sku_id", Integer, nullable=True),
    Column("quantity", BigInteger, nullable=True),
    Column("occurred_us", BigInteger, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("outcome", Text, nullable=False),
    # What the event did to its position: a feed older than the event replays these on top of
    # its values (the feed counts what happened up to its as_of, not after).
    Column("on_hand_delta", BigInteger, nullable=False),
    Column("reserved_delta", BigInteger, nullable=False),
    # The position after the event, and the event's place in its batch: an event's row is its
    # position's history entry (one row per event, not two, keeps a million-event batch fast).
    Column("seq", BigInteger, nullable=False),
    Column("on_hand", BigInteger, nullable=False),
    Column("reserved", BigInteger, nullable=False),
    Column("held", BigInteger, nullable=False),
    Column("detail", Text, nullable=True),  # JSON: reason, held_id, order_id, line_id, not_found
    Index("ix_events_position", "location_id", "sku_id", "occurred_us"),
)

holds = Table(
    "holds",
    metadata,
    Column("id", Text, primary_key=True),  # the receipt's or return's event id
    Column("kind", Text, nullable=False),
    Column("location_id", Integer, nullable=False),
    Column("sku_id", Integer, nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("occurred_us", BigInteger, nullable=False),
    Column("approved_by", Text, nullable=True),
)

orders = Table(
    "orders",
    metadata,
    Column("id", Text, primary_key=True),
    Column("status", Text, nullable=False),  # queued, brokered, cancelled
    Column("priority", Integer, nullable=False),
    Column("placed_at_us", BigInteger, nullable=True),
    Column("received_us", BigInteger, nullable=False),
    Column("payload", Text, nullable=False),  # the order as the solve contract's JSON
    Index("ix_orders_status", "status"),
)

order_lines = Table(
    "order_lines",
    metadata,
    Column("order_id", Text, ForeignKey("orders.id"), primary_key=True),
    Column("line_id", Text, primary_key=True),
    Column("sku", Text, nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("allocated", BigInteger, nullable=False),  # reserved or shipped, net of rejections
)

order_exclusions = Table(
    "order_exclusions",
    metadata,
    # A location that rejected a line of the order: never again offered the order.
    Column("order_id", Text, ForeignKey("orders.id"), primary_key=True),
    Column("location_id", Integer, ForeignKey("locations.id"), primary_key=True),
    Column("event_id", Text, nullable=True),
)

brokering_runs = Table(
    "brokering_runs",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("status", Text, nullable=False),
    Column("snapshot_version", BigInteger, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("started_us", BigInteger, nullable=False),
    Column("finished_us", BigInteger, nullable=False),
    Column("orders", Integer, nullable=False),
    Column("result", Text, nullable=False),  # the solve response's JSON
)

reservations = Table(
    "reservations",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("run_id", BigInteger, ForeignKey("brokering_runs.id"), nullable=False),
    Column("order_id", Text, nullable=False),
    Column("line_id", Text, nullable=False),
    Column("location_id", Integer, nullable=False),
    Column("sku_id", Integer, nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("open_quantity", BigInteger, nullable=False),
    Column("status", Text, nullable=False),  # open, shipped, rejected
    Index("ix_reservations_line", "order_id", "line_id", "location_id"),
)

# The published outbound feed, scope 'online' (location_id 0) or 'pickup' (per store), kept two
# ways: the state as published, one row per (scope, location) with its skus and quantities as
# packed int64 arrays (a publication diffs and rewrites a thousand rows, not ten million); and
# the changes, appended in publication order, for "changes since a cursor".
availability_state = Table(
    "availability_state",
    metadata,
    Column("scope", Text, primary_key=True),
    Column("location_id", Integer, primary_key=True),
    Column("sku_ids", LargeBinary, nullable=False),
    Column("quantities", LargeBinary, nullable=False),
    Column("seq", BigInteger, nullable=False),
)

# The changes of each publication, one row per (publication, scope, location) with the changed
# skus and their new quantities packed like the state: a morning that changes nine million pickup
# rows writes a thousand rows, not nine million. "Changes since cursor c" are the rows of seq > c.
availability_change_sets = Table(
    "availability_change_sets",
    metadata,
    Column("seq", BigInteger, primary_key=True),
    Column("scope", Text, primary_key=True),
    Column("location_id", Integer, primary_key=True),
    Column("sku_ids", LargeBinary, nullable=False),
    Column("quantities", LargeBinary, nullable=False),
)

availability_publications = Table(
    "availability_publications",
    metadata,
    Column("seq", RowId, primary_key=True, autoincrement=True),
    Column("version", BigInteger, nullable=False),
    Column("published_us", BigInteger, nullable=False),
    Column("rows_changed", BigInteger, nullable=False),
    # Before migration 0002 the id of the publication's last change row; now always 0.
    Column("last_change_id", BigInteger, nullable=False),
)

# The order updates feed (migration 0004): what became of each order, in the order it happened;
# "updates since cursor c" are the rows of seq > c. ``detail`` is the update's JSON (lines with
# location and units, what is open and why, the rejecting location).
order_updates = Table(
    "order_updates",
    metadata,
    Column("seq", RowId, primary_key=True, autoincrement=True),
    Column("order_id", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("at_us", BigInteger, nullable=False),
    Column("detail", Text, nullable=False),
    Index("ix_order_updates_order", "order_id", "seq"),
)
