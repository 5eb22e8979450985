"""Engines and transactions: SQLite (default) or PostgreSQL, and the ledger's write lock.

Every change to the ledger happens in a *write transaction*, and write transactions are serialised:
the contract's order rules (a feed's watermark, an event seen once, a run promising each unit
once) are then decided against a state no other writer is changing. On SQLite that is
``BEGIN IMMEDIATE`` (the database's single writer lock, taken at the start, not at the first
write); on PostgreSQL a transaction-scoped advisory lock, so readers are never blocked.
"""

from __future__ import annotations

import gc
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, NoReturn

import numpy as np
from sqlalchemy import Connection, Engine, create_engine, event, insert

from storage import tables

# Told how long work is getting on ("feed x.csv: 3,200,000 rows read, 3,000,000 applied"); the
# command line shows it on a terminal (cli.progress), other callers pass None.
Progress = Callable[[str], None]

# pg_advisory_xact_lock key of the ledger's write lock (any constant; "OMNI" in ASCII).
LEDGER_LOCK_KEY = 0x4F4D4E49
# SQLite page cache per connection (KiB): 256 MiB, and 2 GiB while a write transaction runs
# (ten million positions and their history are ~1.5 GB; the cache grows only as pages are used).
READ_CACHE_KIB = 262_144
WRITE_CACHE_KIB = 2_097_152


def now_us() -> int:
    return time.time_ns() // 1000


@contextmanager
def gc_paused() -> Iterator[None]:
    """Hold off Python's cyclic garbage collector while a bulk step builds millions of tuples.

    Every few hundred allocations of container objects the collector runs, and its full passes
    walk every object alive: over a batch of a million events that is seconds spent finding no
    garbage (rows and tuples form no cycles). Process-wide: a concurrent step may turn it back on
    early, which costs only speed."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def make_engine(url: str, busy_timeout_s: float = 300.0) -> Engine:
    """An engine for ``url`` with the settings the ledger relies on."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": busy_timeout_s})
        _configure_sqlite(engine, busy_timeout_s)
        return engine
    engine = create_engine(url, pool_pre_ping=True)
    _configure_postgres(engine)
    return engine


# PostgreSQL session memory for temporary tables (default 8 MB): a feed's chunk of half a million
# rows joined to its positions is ~40 MB, which would otherwise go to disk and back.
TEMP_BUFFERS = "256MB"


def _configure_postgres(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Only settable before the session's first temporary table: at connect.
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET temp_buffers = '{TEMP_BUFFERS}'")
        dbapi_connection.commit()
        # Packed arrays (checkpoints, published availability, their staging tables) are
        # compressed as they are stored; pglz, the default, took 17 s to store one
        # publication's ten million pickup rows, lz4 a tenth of that. A server built without
        # lz4 keeps pglz.
        try:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET default_toast_compression = 'lz4'")
            dbapi_connection.commit()
        except Exception:  # the server refuses the value: it has no lz4
            dbapi_connection.rollback()


def _configure_sqlite(engine: Engine, busy_timeout_s: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transactions out of the driver's hands so we can say BEGIN IMMEDIATE ourselves.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL: readers see a consistent snapshot while a writer works, and a killed writer
        # leaves the file as of its last commit.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.execute(f"PRAGMA cache_size=-{READ_CACHE_KIB}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get("ledger_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def is_sqlite(connection: Connection) -> bool:
    return connection.dialect.name == "sqlite"


@contextmanager
def write_transaction(engine: Engine, kind: str, ref: str | None = None) -> Iterator[WriteContext]:
    """One serialised write transaction of the ledger, with its new version number.

    Commits when the block ends, rolls everything back if it raises (or the process dies).
    """
    with engine.connect() as connection:
        connection = connection.execution_options(ledger_write=True)
        sqlite = is_sqlite(connection)
        try:
            with connection.begin() as transaction:
                if sqlite:
                    # A feed or a batch dirties most pages of ``positions`` and its history:
                    # with the readers' cache those pages spill to the WAL mid-transaction and
                    # are written again when touched again. Durability is the same (WAL,
                    # synchronous=NORMAL); only memory is traded, and given back below.
                    connection.exec_driver_sql(f"PRAGMA cache_size=-{WRITE_CACHE_KIB}")
                else:
                    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({LEDGER_LOCK_KEY})")
                recorded_us = now_us()
                version = connection.execute(
                    insert(tables.ledger_changes)
                    .values(kind=kind, ref=ref, recorded_us=recorded_us)
                    .returning(tables.ledger_changes.c.version)
                ).scalar_one()
                write = WriteContext(connection, int(version), recorded_us)
                try:
                    yield write
                except _Discarded:
                    # Nothing to record: the transaction (and its version number) rolls back,
                    # and the caller reads the version the ledger stays at.
                    write.version = current_version_below(connection, write.version)
                    write.discarded = True
                    transaction.rollback()
        finally:
            if sqlite:
                # Outside any transaction, on the driver's connection: the pages over the
                # readers' size are freed. (A connection that broke is discarded anyway.)
                with suppress(sqlite3.Error, AttributeError):
                    connection.connection.driver_connection.execute(  # type: ignore[union-attr]
                        f"PRAGMA cache_size=-{READ_CACHE_KIB}"
                    )


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction whose reads all see the same committed state."""
    with engine.connect() as connection:
        if not is_sqlite(connection):
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            yield connection


class _Discarded(Exception):
    """Raised by :meth:`WriteContext.discard` to end a write transaction that changed nothing."""


class WriteContext:
    """The connection of a write transaction, its ledger version and its time."""

    def __init__(self, connection: Connection, version: int, recorded_us: int) -> None:
        self.connection = connection
        self.version = version
        self.recorded_us = recorded_us
        self.discarded = False

    def discard(self) -> NoReturn:
        """End the transaction without a trace: no new ledger version (an empty batch, a batch
        of duplicates). Afterwards ``version`` is the ledger's version as it stays."""
        raise _Discarded


def current_version_below(connection: Connection, below: int) -> int:
    """The newest ledger version under ``below`` (the one a discarded write leaves current)."""
    return int(
        connection.exec_driver_sql(
            f"SELECT COALESCE(MAX(version), 0) FROM ledger_changes WHERE version < {int(below)}"
        ).scalar_one()
    )


def bulk_insert(
    connection: Connection,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    types: Sequence[str] | None = None,
) -> None:
    """Insert many rows fast: one prepared statement executed over the rows on SQLite, COPY on
    PostgreSQL. ``rows`` may be any iterable of tuples (it is consumed once). ``types`` (the
    columns' PostgreSQL types) make the COPY binary: packed arrays then cross as bytes, not as
    hex text twice their size escaped in Python."""
    if is_sqlite(connection):
        placeholders = ", ".join("?" for _ in columns)
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})", rows
        )
        cursor.close()
        return
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    binary = " WITH (FORMAT binary)" if types else ""
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN{binary}") as copy:
        if types:
            copy.set_types(list(types))
        for row in rows:
            copy.write_row(row)
    cursor.close()


PG_BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags 0, no extension
PG_BINARY_TRAILER = b"\xff\xff"


def copy_arrays(connection: Connection, table: str, columns: dict[str, np.ndarray]) -> None:
    """PostgreSQL: COPY aligned numpy columns into ``table`` in the binary format, built by numpy
    in one buffer (no Python per row). int32 arrays go to ``integer`` columns, int64 to
    ``bigint``."""
    n = int(next(iter(columns.values())).size)
    fields: list[tuple[str, str]] = [("count", ">i2")]
    for name, values in columns.items():
        fields += [(f"{name}_size", ">i4"), (name, ">i8" if values.dtype.itemsize == 8 else ">i4")]
    rows = np.empty(n, dtype=np.dtype(fields))
    rows["count"] = len(columns)
    for name, values in columns.items():
        rows[f"{name}_size"] = values.dtype.itemsize
        rows[name] = values
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(
        f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT binary)"
    ) as copy:
        copy.write(PG_BINARY_HEADER)
        copy.write(rows.tobytes())
        copy.write(PG_BINARY_TRAILER)
    cursor.close()


@contextmanager
def planner_settings(connection: Connection, **settings: str) -> Iterator[None]:
    """PostgreSQL: planner settings (``enable_nestloop="off"``...) for the statements run in the
    block, inside the transaction only. For bulk statements whose best plan the planner cannot
    see from a freshly filled staging table's (absent) statistics."""
    for name, value in settings.items():
        connection.exec_driver_sql(f"SET LOCAL {name} = {value}")
    try:
        yield
    finally:
        for name in settings:
            connection.exec_driver_sql(f"RESET {name}")


def executemany(connection: Connection, sql: str, rows: Iterable[Sequence[Any]]) -> None:
    """Run one statement with ``?`` placeholders over many parameter rows, on either database."""
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    if not is_sqlite(connection):
        sql = sql.replace("?", "%s")
        rows = list(rows)
        if not rows:
            cursor.close()
            return
    cursor.executemany(sql, rows)
    cursor.close()


def _staged_copy(
    connection: Connection,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    types: Sequence[str] | None = None,
) -> str:
    """PostgreSQL: COPY rows into an empty temporary twin of ``table``'s columns; its name."""
    staging = f"_bulk_{table}"
    connection.exec_driver_sql(
        f"CREATE TEMP TABLE IF NOT EXISTS {staging} AS SELECT {', '.join(columns)} FROM {table} WITH NO DATA"
    )
    connection.exec_driver_sql(f"TRUNCATE {staging}")
    bulk_insert(connection, staging, columns, rows, types)
    return staging


def bulk_update(
    connection: Connection,
    table: str,
    keys: Sequence[str],
    values: Sequence[str],
    rows: Iterable[Sequence[Any]],
    within: str | None = None,
) -> None:
    """Update many rows by key; each row is ``(*values, *keys)``. SQLite: one prepared UPDATE over
    the rows; PostgreSQL: COPY to a temporary table and one ``UPDATE ... FROM`` (a row-by-row
    UPDATE over the network would take minutes for millions of rows). ``within``, a condition on
    the table's columns that every updated row meets, lets PostgreSQL read only those rows: without
    it the planner hashes the whole table to join a million staged rows."""
    if is_sqlite(connection):
        assignments = ", ".join(f"{column} = ?" for column in values)
        condition = " AND ".join(f"{column} = ?" for column in keys)
        executemany(connection, f"UPDATE {table} SET {assignments} WHERE {condition}", rows)
        return
    staging = _staged_copy(connection, table, [*values, *keys], rows)
    assignments = ", ".join(f"{column} = s.{column}" for column in values)
    condition = " AND ".join(f"t.{column} = s.{column}" for column in keys)
    if within:
        condition += f" AND ({within})"
    connection.exec_driver_sql(
        f"UPDATE {table} AS t SET {assignments} FROM {staging} s WHERE {condition}"
    )


def bulk_upsert(
    connection: Connection,
    table: str,
    keys: Sequence[str],
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    types: Sequence[str] | None = None,
) -> None:
    """Insert rows (every column given), replacing the non-key columns of rows whose key exists
    (``types``: as for :func:`bulk_insert`)."""
    updates = ", ".join(f"{column} = excluded.{column}" for column in columns if column not in keys)
    conflict = f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
    if is_sqlite(connection):
        marks = ", ".join("?" for _ in columns)
        executemany(
            connection,
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) {conflict}",
            rows,
        )
        return
    staging = _staged_copy(connection, table, columns, rows, types)
    connection.exec_driver_sql(
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(columns)} FROM {staging} {conflict}"
    )
