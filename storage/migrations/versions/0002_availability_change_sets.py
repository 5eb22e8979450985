"""availability changes packed per (publication, scope, location)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 11:10:00

A publication that changes nine million rows wrote nine million rows to ``availability_changes``
(a third of a morning run's time); it now writes one row per (scope, location) with the changed
skus and quantities packed as int64 arrays, like ``availability_state``. Existing changes are
carried over, each publication's rows packed in the order they were written.
"""

from collections.abc import Sequence

import numpy as np
import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INT64 = np.dtype("<i8")


def upgrade() -> None:
    sets = op.create_table(
        "availability_change_sets",
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("sku_ids", sa.LargeBinary(), nullable=False),
        sa.Column("quantities", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("seq", "scope", "location_id"),
    )
    connection = op.get_bind()
    rows = connection.exec_driver_sql(
        "SELECT seq, scope, location_id, sku_id, quantity FROM availability_changes ORDER BY id"
    ).all()
    grouped: dict[tuple[int, str, int], list[tuple[int, int]]] = {}
    for seq, scope, location_id, sku_id, quantity in rows:
        grouped.setdefault((seq, scope, location_id), []).append((sku_id, quantity))
    if grouped:
        op.bulk_insert(
            sets,
            [
                {
                    "seq": seq, "scope": scope, "location_id": location_id,
                    "sku_ids": np.array([s for s, _ in changed], dtype=INT64).tobytes(),
                    "quantities": np.array([q for _, q in changed], dtype=INT64).tobytes(),
                }
                for (seq, scope, location_id), changed in grouped.items()
            ],
        )  # fmt: skip
    op.execute("UPDATE availability_publications SET last_change_id = 0")
    op.drop_table("availability_changes")


def downgrade() -> None:
    changes = op.create_table(
        "availability_changes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("sku_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    connection = op.get_bind()
    rows = connection.exec_driver_sql(
        "SELECT seq, scope, location_id, sku_ids, quantities FROM availability_change_sets"
        " ORDER BY seq, scope, location_id"
    ).all()
    unpacked = [
        {
            "seq": seq,
            "scope": scope,
            "location_id": location_id,
            "sku_id": int(s),
            "quantity": int(q),
        }
        for seq, scope, location_id, skus, quantities in rows
        for s, q in zip(
            np.frombuffer(bytes(skus), dtype=INT64).tolist(),
            np.frombuffer(bytes(quantities), dtype=INT64).tolist(),
            strict=True,
        )
    ]
    if unpacked:
        op.bulk_insert(changes, unpacked)
    op.execute(
        "UPDATE availability_publications SET last_change_id = COALESCE((SELECT MAX(c.id)"
        " FROM availability_changes c WHERE c.seq <= availability_publications.seq), 0)"
    )
    op.drop_table("availability_change_sets")
