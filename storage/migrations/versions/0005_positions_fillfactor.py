"""room on PostgreSQL's position pages for a feed's new row versions

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 01:25:00

A full feed updates nearly every position. PostgreSQL writes each update as a new row version;
when the page holding the row has room for it, the update is "HOT": no index entry is written
and the old version is pruned in place. With full pages (the default fill factor of 100) every
one of ten million updates moves its row to another page and inserts a new primary-key entry,
which doubles the cost of a feed. Positions pages are filled to 45 % so a feed's new versions fit
beside the old ones; the table is about twice as large on disk, and a snapshot's sequential read
of it measured within noise of the full table's. SQLite updates in place: nothing changes there.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSITIONS_FILLFACTOR = 45


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Applies to pages written from now on; existing ones get room as they are rewritten.
        op.execute(f"ALTER TABLE positions SET (fillfactor = {POSITIONS_FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE positions RESET (fillfactor)")
