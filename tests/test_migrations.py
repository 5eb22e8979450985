"""The migrations and storage/tables.py describe one schema: migrate an empty database to the
newest revision, and alembic's autogenerate finds nothing to change against the tables' metadata.

The migrations are what a database really gets (PostgreSQL-only parts included), so they are the
source of truth; tables.py is what the code reads and writes through. What autogenerate cannot
see, it cannot hold to agreement: partial index predicates, storage parameters (PostgreSQL's
fillfactor) and CHECK constraints are outside its comparison.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from storage.tables import metadata
from tests.ledger_fixtures import BACKENDS, migrated_database

# Differences the migrations make on purpose, per dialect, as autogenerate words them:
# (operation, table, columns).
DELIBERATE: dict[str, set[tuple[str, str, tuple[str, ...]]]] = {
    "sqlite": set(),
    # 0005_positions_fillfactor drops the positions' two foreign keys on PostgreSQL only: its
    # per-row trigger checks were half the cost of inserting positions, and the ledger writes
    # only positions whose location and sku it has just looked up (SQLite keeps them). tables.py
    # keeps declaring them, as the relation they are.
    "postgresql": {
        ("add_fk", "positions", ("location_id",)),
        ("add_fk", "positions", ("sku_id",)),
    },
}


def _described(difference: Any) -> tuple[str, str, tuple[str, ...]]:
    """A difference as (operation, table, columns), for the deliberate ones to be named by."""
    operation = difference[0]
    if operation in ("add_fk", "remove_fk"):
        constraint = difference[1]
        return operation, constraint.table.name, tuple(c.name for c in constraint.columns)
    return operation, str(difference[1]), ()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_the_migrated_schema_is_the_one_tables_py_declares(backend: str, tmp_path: Path) -> None:
    engine = migrated_database(backend, tmp_path)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        differences = compare_metadata(context, metadata)
        dialect = connection.dialect.name
    engine.dispose()
    # A change of a column (type, nullability, default) comes as a list of modify_* tuples.
    flat = [item for d in differences for item in (d if isinstance(d, list) else [d])]
    unexpected = [
        d for d in flat if d[0].startswith("modify_") or _described(d) not in DELIBERATE[dialect]
    ]
    assert unexpected == []
    # And every deliberate difference is still there: a migration that undid one must say so here.
    assert {_described(d) for d in flat if not d[0].startswith("modify_")} == DELIBERATE[dialect]
