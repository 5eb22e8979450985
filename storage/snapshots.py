"""Snapshots read from the ledger: every position's ATP at one ledger version, as arrays.

The current state is read from ``positions`` inside one read transaction (a consistent view
even while writers work); an earlier version is rebuilt from the recorded changes: each
location's newest feed checkpoint at or before it (``feed_checkpoints``) and the changes
recorded after that (``position_history`` and ``events``), each stamped with the version that
made it.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from sqlalchemy import Connection, Engine

from ledger.rules import UNSET
from ledger.snapshot import Snapshot, build_snapshot
from storage.catalog import load_catalog_arrays, settings_as_of
from storage.checkpoints import newest_checkpoints_sql, read_checkpoints
from storage.db import is_sqlite, now_us, planner_settings, read_transaction


def current_version(connection: Connection, below: int | None = None) -> int:
    """The newest committed ledger version visible here (below ``below`` if given)."""
    if below is None:
        sql = "SELECT COALESCE(MAX(version), 0) FROM ledger_changes"
    else:
        sql = f"SELECT COALESCE(MAX(version), 0) FROM ledger_changes WHERE version < {int(below)}"
    return int(connection.exec_driver_sql(sql).scalar_one())


def current_version_of(engine: Engine) -> int:
    """The ledger's version now."""
    with read_transaction(engine) as connection:
        return current_version(connection)


def snapshot(
    engine: Engine, version: int | None = None, location: str | None = None, sku: str | None = None
) -> Snapshot:
    """A snapshot of the ledger, now or at an earlier ``version``; of one location's or one
    sku's positions if given (an unknown one gives an empty snapshot)."""
    with read_transaction(engine) as connection:
        location_ids = _ids_of(connection, "locations", location)
        sku_ids = _ids_of(connection, "skus", sku)
        return take_snapshot(
            connection, version=version, location_ids=location_ids, sku_ids=sku_ids
        )


def _ids_of(connection: Connection, table: str, code: str | None) -> list[int] | None:
    if code is None:
        return None
    mark = "?" if is_sqlite(connection) else "%s"
    found = connection.exec_driver_sql(
        f"SELECT id FROM {table} WHERE code = {mark}", (code,)
    ).scalar()
    return [] if found is None else [int(found)]


def take_snapshot(
    connection: Connection,
    version: int | None = None,
    location_ids: Sequence[int] | None = None,
    sku_ids: Sequence[int] | None = None,
    snapshot_version: int | None = None,
) -> Snapshot:
    """Read a snapshot on ``connection`` (in its transaction), optionally restricted to some
    locations or skus. ``version`` None: the state now; else the state at that version."""
    latest = snapshot_version if snapshot_version is not None else current_version(connection)
    catalog = load_catalog_arrays(connection)
    where = []
    locations = None if location_ids is None else [int(i) for i in location_ids]
    if locations is not None:
        where.append(f"location_id IN ({', '.join(map(str, locations)) or 'NULL'})")
    wanted_skus = None
    if sku_ids is not None and len(sku_ids) > SKUS_FILTERED_IN_SQL:
        # A brokering run's queue names thousands of skus: an IN list that long costs the
        # database a lookup per position, more than reading them all and masking in numpy.
        wanted_skus = np.unique(np.asarray(sku_ids, dtype=np.int64))
    elif sku_ids is not None:
        where.append(f"sku_id IN ({', '.join(str(int(i)) for i in sku_ids) or 'NULL'})")
    if version is None or version >= latest:
        arrays = _read_positions(connection, where)
        taken_version = latest
    else:
        # An earlier version: its positions and the settings as they were then.
        taken_version = int(version)
        settings = settings_as_of(connection, taken_version, catalog)
        catalog = settings.catalog
        arrays = _read_history(connection, taken_version, where, locations)
        if sku_ids is not None and wanted_skus is None:
            # The checkpoints are read per location: the few skus asked for are masked here.
            keep = np.isin(arrays[1], np.asarray(sku_ids, dtype=np.int64))
            arrays = tuple(a[keep] for a in arrays)
        _lay_position_settings(arrays, settings.position_safety_stock)
    if wanted_skus is not None:
        keep = np.isin(arrays[1], wanted_skus)
        arrays = tuple(a[keep] for a in arrays)
    return build_snapshot(taken_version, now_us(), catalog, *arrays)


# Up to this many skus a snapshot's sku filter goes to the database; more are masked in numpy.
SKUS_FILTERED_IN_SQL = 100

COLUMNS = ("location_id", "sku_id", "on_hand", "reserved", "safety_stock")


def _read_positions(connection: Connection, where: list[str]) -> tuple[np.ndarray, ...]:
    """Positions as int64 arrays. The database concatenates each location's column values into
    one text per location, which numpy parses in C: a few thousand rows cross the driver instead
    of millions (the difference between ~10 s and ~2 s for ten million positions)."""
    condition = f" WHERE {' AND '.join(where)}" if where else ""
    if not is_sqlite(connection):
        return _copy_positions(connection, condition)
    concat = "group_concat({}, ',')"
    # Without any position-level safety stock (the usual case) the column is not read at all.
    own_safety = connection.exec_driver_sql(
        "SELECT 1 FROM positions WHERE safety_stock IS NOT NULL LIMIT 1"
    ).first()
    columns = ["sku_id", "on_hand", "reserved"]
    if own_safety:
        columns.append(f"COALESCE(safety_stock, {UNSET})")
    sql = (
        f"SELECT location_id, COUNT(*), {', '.join(concat.format(c) for c in columns)}"
        f" FROM positions{condition} GROUP BY location_id ORDER BY location_id"
    )
    rows = connection.exec_driver_sql(sql).all()
    total = sum(int(r[1]) for r in rows)
    out = [np.empty(total, dtype=np.int64) for _ in COLUMNS]
    if not own_safety:
        out[4].fill(UNSET)
    start = 0
    for row in rows:
        count = int(row[1])
        end = start + count
        out[0][start:end] = row[0]
        for column in range(len(columns)):
            if count:
                out[column + 1][start:end] = np.fromstring(row[column + 2], dtype=np.int64, sep=",")
        start = end
    return tuple(out)


def _copy_positions(connection: Connection, condition: str) -> tuple[np.ndarray, ...]:
    """PostgreSQL: each location's positions packed by the server into one bytea (per position
    its sku, on_hand, reserved and safety stock as 8-byte big-endian integers), which numpy reads
    as an array. A COPY sends one message per position, and ten million messages cost the client
    ~8 s of Python; a thousand rows of packed bytes cost nothing to read."""
    # Without any position-level safety stock (the usual case) the column is not read at all.
    # The partial index answers at once; after a bulk load, before the statistics catch up,
    # the planner may scan the table instead (0.7 s for two million positions).
    with planner_settings(connection, enable_seqscan="off"):
        own_safety = connection.exec_driver_sql(
            "SELECT 1 FROM positions WHERE safety_stock IS NOT NULL LIMIT 1"
        ).first()
    safety = f" || int8send(COALESCE(safety_stock, {UNSET})::int8)" if own_safety else ""
    width = 4 if own_safety else 3
    sql = (
        "SELECT location_id, string_agg(int8send(sku_id::int8) || int8send(on_hand::int8)"
        f" || int8send(reserved::int8){safety}, ''::bytea) FROM positions{{}}"
        " GROUP BY location_id ORDER BY location_id"
    )
    if condition or not _sees_one_snapshot(connection):
        rows = _fetch_packed(connection, sql.format(condition))
    else:
        rows = _fetch_in_two(connection, sql)
    if not rows:
        return tuple(np.zeros(0, dtype=np.int64) for _ in COLUMNS)
    packed = [np.frombuffer(values, dtype=">i8").reshape(-1, width) for _, values in rows]
    sizes = [block.shape[0] for block in packed]
    location = np.repeat(np.array([int(loc) for loc, _ in rows], dtype=np.int64), sizes)
    # Each column written once, in native order, straight from the blocks (no 240 MB matrix
    # concatenated and converted first).
    columns = [np.empty(location.size, dtype=np.int64) for _ in range(width)]
    start = 0
    for block, size in zip(packed, sizes, strict=True):
        for i, column in enumerate(columns):
            column[start : start + size] = block[:, i]
        start += size
    if not own_safety:
        columns.append(np.full(location.size, UNSET, dtype=np.int64))
    return (location, *columns)


def _fetch_packed(connection: Connection, sql: str) -> list[tuple[int, bytes]]:
    cursor = connection.connection.driver_connection.cursor(binary=True)  # type: ignore[union-attr]
    cursor.execute(sql)
    rows = cursor.fetchall()
    cursor.close()
    return rows


def _sees_one_snapshot(connection: Connection) -> bool:
    """Whether every statement of the connection's transaction reads one snapshot (which a
    second connection can then share)."""
    level = connection.get_isolation_level()
    return level in ("REPEATABLE READ", "SERIALIZABLE")


def _fetch_in_two(connection: Connection, sql: str) -> list[tuple[int, bytes]]:
    """PostgreSQL: the packing of ``sql`` (a ``{}`` for its WHERE) split between this connection
    and a second one that imports this transaction's snapshot, so that the server packs on two
    cores (a string_agg has no parallel plan before PostgreSQL 16) and both halves read the same
    state. Half the locations each, by id."""
    exported = connection.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
    split = connection.exec_driver_sql(
        "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY id) FROM locations"
    ).scalar()
    if split is None:
        return _fetch_packed(connection, sql.format(""))

    def upper_half() -> list[tuple[int, bytes]]:
        with connection.engine.connect() as second:
            second = second.execution_options(isolation_level="REPEATABLE READ")
            with second.begin():
                # The first statement of its transaction, as PostgreSQL requires.
                second.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{exported}'")
                return _fetch_packed(second, sql.format(f" WHERE location_id > {int(split)}"))

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="snapshot-half") as pool:
        upper = pool.submit(upper_half)
        lower = _fetch_packed(connection, sql.format(f" WHERE location_id <= {int(split)}"))
        return lower + upper.result()


def _lay_position_settings(
    arrays: tuple[np.ndarray, ...], position_safety_stock: dict[tuple[int, int], int]
) -> None:
    """Write the per-position safety stock of an earlier version into the snapshot's arrays."""
    if not position_safety_stock or arrays[0].size == 0:
        return
    keys = (arrays[0] << 32) | arrays[1]  # rows come sorted by (location, sku)
    setting_keys = np.array([(loc << 32) | sku for loc, sku in position_safety_stock], np.int64)
    values = np.fromiter(position_safety_stock.values(), dtype=np.int64)
    at = np.minimum(np.searchsorted(keys, setting_keys), keys.size - 1)
    found = keys[at] == setting_keys
    arrays[4][at[found]] = values[found]


def _read_history(
    connection: Connection, version: int, where: list[str], location_ids: list[int] | None
) -> tuple[np.ndarray, ...]:
    """The state of each position at ``version``: its location's newest feed checkpoint at or
    before it, unless a change recorded after that checkpoint (a brokering run's or release's
    history row, an event's row) is newer; then the newest of those, by (version, place in the
    batch)."""
    base = read_checkpoints(connection, version, location_ids)
    condition = "".join(f" AND {clause}" for clause in where)
    since = f"LEFT JOIN ({newest_checkpoints_sql(version)}) n ON n.location_id = c.location_id"
    rows = connection.exec_driver_sql(
        "SELECT location_id, sku_id, on_hand, reserved FROM (SELECT c.location_id, c.sku_id,"
        " c.on_hand, c.reserved, ROW_NUMBER() OVER (PARTITION BY c.location_id, c.sku_id"
        " ORDER BY c.version DESC, c.seq DESC) AS newest FROM ("
        "  SELECT location_id, sku_id, version, 0 AS seq, on_hand, reserved FROM position_history"
        f"  WHERE version <= {version}{condition}"
        "  UNION ALL SELECT location_id, sku_id, version, seq, on_hand, reserved FROM events"
        f"  WHERE version <= {version} AND sku_id IS NOT NULL{condition}) c"
        f" {since} WHERE c.version > COALESCE(n.version, 0)) changes"
        " WHERE newest = 1"
    ).all()
    later = np.array(rows, dtype=np.int64).reshape(-1, 4)
    later_key = (later[:, 0] << 32) | later[:, 1]
    kept = ~np.isin(base.key, later_key)
    key = np.concatenate((base.key[kept], later_key))
    on_hand = np.concatenate((base.on_hand[kept], later[:, 2]))
    reserved = np.concatenate((base.reserved[kept], later[:, 3]))
    order = np.argsort(key, kind="stable")
    key = key[order]
    return (
        key >> 32,
        key & 0xFFFFFFFF,
        on_hand[order],
        reserved[order],
        np.full(key.size, UNSET, dtype=np.int64),
    )
