"""settings with valid-from versions

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 01:20:00

A snapshot of an earlier ledger version reads the settings as they were then (inventory
contract, "Snapshots"): safety stock at every level and the online thresholds. Each catalog
change now appends the settings it names, stamped with its ledger version; a snapshot of version
v takes, per setting, the newest row at or before v. The settings in force when this migration
runs are recorded as valid from version 0 (nothing older is known).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "setting_history",
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=True),
        sa.Column("sku_id", sa.Integer(), nullable=True),
        sa.Column("code", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=True),
        sa.Column("text_value", sa.Text(), nullable=True),
    )
    op.create_index("ix_setting_history_scope", "setting_history", ["scope", "version"])
    for sql in (
        "INSERT INTO setting_history (version, scope, code, name, value)"
        " SELECT 0, 'kind', kind, 'safety_stock', quantity FROM safety_stock_by_kind",
        "INSERT INTO setting_history (version, scope, location_id, name, value)"
        " SELECT 0, 'location', id, 'safety_stock', safety_stock FROM locations",
        "INSERT INTO setting_history (version, scope, sku_id, name, value)"
        " SELECT 0, 'sku', id, 'safety_stock', safety_stock FROM skus WHERE safety_stock IS NOT NULL",
        "INSERT INTO setting_history (version, scope, sku_id, name, value)"
        " SELECT 0, 'sku', id, 'online_threshold', online_threshold FROM skus"
        " WHERE online_threshold IS NOT NULL",
        "INSERT INTO setting_history (version, scope, sku_id, name, text_value)"
        " SELECT 0, 'sku', id, 'category', category FROM skus WHERE category IS NOT NULL",
        "INSERT INTO setting_history (version, scope, code, name, value)"
        " SELECT 0, 'category', code, 'online_threshold', online_threshold FROM categories",
        "INSERT INTO setting_history (version, scope, location_id, sku_id, name, value)"
        " SELECT 0, 'position', location_id, sku_id, 'safety_stock', safety_stock FROM positions"
        " WHERE safety_stock IS NOT NULL",
    ):
        op.execute(sql)


def downgrade() -> None:
    op.drop_index("ix_setting_history_scope", table_name="setting_history")
    op.drop_table("setting_history")
