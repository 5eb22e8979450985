"""the order updates feed

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 01:45:00

What became of each order, appended as it happens (queued, brokered, partly brokered, rejected,
shipped), read by cursor like the availability feed (inventory contract, "Snapshots and the
outbound feed"). Orders queued before this migration get no back-filled history.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "order_updates",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("at_us", sa.BigInteger(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_order_updates_order", "order_updates", ["order_id", "seq"])


def downgrade() -> None:
    op.drop_index("ix_order_updates_order", table_name="order_updates")
    op.drop_table("order_updates")
