"""feed history packed per (feed, location): feed checkpoints

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 03:40:00

A full feed wrote a ``position_history`` row (and its primary-key entry) for every position it
changed: ten million rows, about a gigabyte with the index and as much again of PostgreSQL's
WAL, for each daily feed. A feed resets every position of the locations it covers, so it now
records what it leaves as one row per (feed version, location, part) in ``feed_checkpoints``,
with every position of the location packed as big-endian int64 records (sku_id, on_hand,
reserved, held): a thousand rows per feed, as the published availability is kept (migration
0002). Brokering runs and releases keep their rows in ``position_history``; events keep theirs.

A snapshot of an earlier version now starts from each location's newest checkpoint at or before
it, so it reads one feed's worth of positions and the changes after it, not every change since
the first feed.

Existing feed rows (``cause`` null) become checkpoints: for each feed version, every location it
changed gets a checkpoint of all its positions as of that version (the newest of their recorded
changes), and the rows go. On PostgreSQL the packed columns (the checkpoints', the published
availability's) are compressed with lz4 where the server has it: 4x smaller, and pglz, the
default, took longer than writing the rows.
"""

from collections.abc import Sequence

import numpy as np
import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PACKED = np.dtype(">i8")  # sku_id, on_hand, reserved, held per position
# Packed columns compressed with lz4 on PostgreSQL from now on: the checkpoints, and the
# published availability's (storing one publication's nine million changed pickup rows took
# 30 s with pglz).
LZ4_COLUMNS = [
    ("feed_checkpoints", "positions"),
    ("availability_state", "sku_ids"),
    ("availability_state", "quantities"),
    ("availability_change_sets", "sku_ids"),
    ("availability_change_sets", "quantities"),
]


def upgrade() -> None:
    checkpoints = op.create_table(
        "feed_checkpoints",
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("positions", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("location_id", "version", "part"),
    )
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        for table, column in LZ4_COLUMNS:
            op.execute(
                "DO $$ BEGIN"
                f" ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION lz4;"
                " EXCEPTION WHEN feature_not_supported THEN NULL; END $$"
            )
    feed_versions = connection.exec_driver_sql(
        "SELECT version, location_id FROM position_history WHERE cause IS NULL"
        " GROUP BY version, location_id ORDER BY version, location_id"
    ).all()
    by_version: dict[int, list[int]] = {}
    for version, location_id in feed_versions:
        by_version.setdefault(int(version), []).append(int(location_id))
    for version, location_ids in by_version.items():
        rows = _states_at(connection, version, location_ids)
        if rows:
            op.bulk_insert(checkpoints, rows)
    op.execute("DELETE FROM position_history WHERE cause IS NULL")


def _states_at(connection: sa.Connection, version: int, location_ids: list[int]) -> list[dict]:
    """Every recorded position of the locations as of ``version``, one packed row per location
    (the newest of each position's history rows and events, as snapshots read them before)."""
    within = f"location_id IN ({', '.join(map(str, location_ids))})"
    states = connection.exec_driver_sql(
        "SELECT location_id, sku_id, on_hand, reserved, held FROM (SELECT location_id, sku_id,"
        " on_hand, reserved, held, ROW_NUMBER() OVER (PARTITION BY location_id, sku_id"
        " ORDER BY version DESC, seq DESC) AS newest FROM ("
        " SELECT location_id, sku_id, version, 0 AS seq, on_hand, reserved, held"
        f" FROM position_history WHERE version <= {version} AND {within}"
        " UNION ALL SELECT location_id, sku_id, version, seq, on_hand, reserved, held FROM events"
        f" WHERE version <= {version} AND sku_id IS NOT NULL AND {within}) changes) c"
        " WHERE newest = 1 ORDER BY location_id, sku_id"
    ).all()
    if not states:
        return []
    matrix = np.array(states, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, matrix[1:, 0] != matrix[:-1, 0]])
    ends = np.r_[starts[1:], matrix.shape[0]]
    return [
        {"location_id": int(matrix[a, 0]), "version": version, "part": 0,
         "positions": matrix[a:b, 1:].astype(PACKED).tobytes()}
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True)
    ]  # fmt: skip


def downgrade() -> None:
    """Every position of every checkpoint becomes a feed row of ``position_history`` again (also
    those the feed left as they were: a checkpoint does not say which it changed)."""
    connection = op.get_bind()
    history = sa.table(
        "position_history",
        *(sa.column(name) for name in ("location_id", "sku_id", "version", "on_hand", "reserved", "held")),
    )  # fmt: skip
    for location_id, version, packed in connection.exec_driver_sql(
        "SELECT location_id, version, positions FROM feed_checkpoints ORDER BY version, location_id, part"
    ).all():
        records = np.frombuffer(bytes(packed), dtype=PACKED).reshape(-1, 4).tolist()
        op.bulk_insert(
            history,
            [
                {"location_id": location_id, "version": version, "sku_id": sku,
                 "on_hand": on_hand, "reserved": reserved, "held": held}
                for sku, on_hand, reserved, held in records
            ],
        )  # fmt: skip
    op.drop_table("feed_checkpoints")
    if connection.dialect.name == "postgresql":
        for table, column in LZ4_COLUMNS[1:]:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION default")
