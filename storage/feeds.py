"""Full feeds: streamed in and applied chunk by chunk inside one write transaction, so a refused
or interrupted feed leaves the ledger exactly as it was (the transaction never commits).

Each chunk (up to a million rows) is validated with vectorised checks, its positions are read
in one query, the new values are computed with numpy (the feed's basis, what happened after its
``as_of``, a newer cycle count) and only positions that change are written; every position of a
covered location goes into the feed's checkpoint (storage/checkpoints.py), its history. Of every
row only an 8-byte key is kept to the end: to find duplicate rows and the skus a location no
longer lists (they drop to zero). PostgreSQL does the same on the server (see
``_FeedApplier._write_on_server``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from queue import Empty, Queue
from typing import IO, Any, TypeVar

import numpy as np
import orjson
import pandas as pd
from sqlalchemy import Connection, Engine

from ledger.rules import (
    QUANTITY_LIMIT,
    beyond_limits,
    feed_is_stale,
    feed_reserved_factor,
    too_far_ahead,
)
from models.feed_reader import FeedChunk, JsonFeedStream, read_csv_feed
from models.inventory import FeedHeader, FeedResult, to_us
from models.problems import InvalidInput, Problem
from storage.catalog import location_id_map, register_new_skus, sku_id_map
from storage.checkpoints import packed_sql, write_checkpoint
from storage.db import (
    Progress,
    bulk_insert,
    bulk_update,
    copy_arrays,
    is_sqlite,
    planner_settings,
    write_transaction,
)

T = TypeVar("T")


def feed_format(path: Path) -> str:
    """``csv`` or ``json`` from the file name."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return "csv"
    if suffix == ".json":
        return "json"
    raise InvalidInput(
        [Problem((), f"{path.name}: a feed is a .csv or .json file", "format")], what="feed"
    )


def load_feed_file(
    engine: Engine,
    path: Path,
    header: FeedHeader | None = None,
    progress: Progress | None = None,
) -> FeedResult:
    """Load a feed file (CSV needs ``header``: source, basis, as_of; JSON carries its own)."""
    with open(path, "rb") as source:
        return load_feed(engine, source, feed_format(path), header, progress, name=path.name)


def load_feed(
    engine: Engine,
    source: IO[bytes],
    fmt: str,
    header: FeedHeader | None = None,
    progress: Progress | None = None,
    name: str = "",
) -> FeedResult:
    """Apply one full feed, whole or not at all.

    Raises :class:`InvalidInput` listing every bad row (nothing applied). Locations whose last
    applied feed is newer than this one are left out and named in ``refused_locations``.
    """
    started = time.perf_counter()
    with write_transaction(engine, "feed") as write:
        connection = write.connection
        locations = location_id_map(connection)
        if fmt == "csv":
            if header is None:
                raise InvalidInput(
                    [Problem((), "a CSV feed needs its source, basis and as_of", "missing")],
                    what="feed",
                )
            chunks: Iterator[tuple[FeedChunk, list[Problem]]] = read_csv_feed(source, locations)
        elif fmt == "json":
            # A JSON feed names its own source, basis and as_of; they win over any given.
            header, chunks = _json_feed(source, locations)
        else:
            raise InvalidInput([Problem((), f"unknown feed format {fmt!r}", "format")], what="feed")
        as_of_us = to_us(header.as_of)
        if too_far_ahead(as_of_us, write.recorded_us):
            raise InvalidInput(
                [Problem(("as_of",), f"as_of {header.as_of.isoformat()} is more than 24 hours"
                         " ahead of the ledger's clock", "future_time")],
                what="feed",
            )  # fmt: skip
        feed_id = connection.exec_driver_sql(
            "INSERT INTO feeds (source, basis, as_of_us, version, rows, locations, recorded_us)"
            f" VALUES ({_marks(connection, 7)}) RETURNING id",
            (header.source, header.basis, as_of_us, write.version, 0, 0, write.recorded_us),
        ).scalar_one()
        ref = f"feed:{feed_id}"
        connection.exec_driver_sql(
            f"UPDATE ledger_changes SET ref = {_marks(connection, 1)} WHERE version = {int(write.version)}",
            (ref,),
        )
        applier = _FeedApplier(
            connection, header.basis, as_of_us, write.version, ref, sku_id_map(connection)
        )
        problems: list[Problem] = []
        read = 0
        for chunk, chunk_problems in prefetch(chunks):
            read += int(chunk.line.size)
            problems.extend(chunk_problems)
            # After a problem the feed will be refused: rows are only checked from then on.
            applier.add(chunk, apply=not problems)
            problems.extend(applier.take_problems())
            if progress:
                progress(f"feed {name}: {read:,} rows read, {applier.rows:,} applied")
        problems.extend(applier.duplicate_rows())
        if problems:
            raise InvalidInput(problems, what="feed")
        applier.drop_unlisted()
        problems.extend(applier.take_problems())
        if problems:
            raise InvalidInput(problems, what="feed")
        code_of = {v: k for k, v in locations.items()}
        refused = sorted(code_of[loc] for loc in applier.refused)
        connection.exec_driver_sql(
            f"UPDATE feeds SET rows = {applier.rows}, locations = {len(applier.covered)},"
            f" refused_locations = {_marks(connection, 1)} WHERE id = {int(feed_id)}",
            (orjson.dumps(refused).decode(),),
        )
        if applier.covered:
            connection.exec_driver_sql(
                f"UPDATE locations SET feed_as_of_us = {as_of_us}, feed_basis = {_marks(connection, 1)},"
                f" feed_source = {_marks(connection, 1)} WHERE id IN ({', '.join(map(str, sorted(applier.covered)))})",
                (header.basis, header.source),
            )
    return FeedResult(
        feed_id=int(feed_id),
        version=write.version,
        source=header.source,
        basis=header.basis,
        as_of=header.as_of,
        rows=applier.rows,
        locations=len(applier.covered),
        refused_locations=refused,
        seconds=round(time.perf_counter() - started, 3),
    )


def _json_feed(
    source: IO[bytes], locations: dict[str, int]
) -> tuple[FeedHeader, Iterator[tuple[FeedChunk, list[Problem]]]]:
    """The header first, then the rows. A document with its header after ``rows`` is read twice
    (once for the header, streaming past the rows), as rows cannot apply before ``as_of`` is known."""
    stream = JsonFeedStream(source, locations, chunk_rows=200_000)
    header = stream.leading_header()
    if header is not None:
        return header, stream.chunks()
    for _ in stream.chunks():
        pass
    header = stream.header()
    source.seek(0)
    again = JsonFeedStream(source, locations, chunk_rows=200_000)
    again.leading_header()
    return header, again.chunks()


def _marks(connection: Connection, n: int) -> str:
    mark = "?" if is_sqlite(connection) else "%s"
    return ", ".join([mark] * n)


def _concat(connection: Connection, column: str) -> str:
    if is_sqlite(connection):
        return f"group_concat({column}, ',')"
    return f"string_agg(({column})::text, ',' ORDER BY sku_id)"


def _has_repeats(keys: np.ndarray) -> bool:
    ordered = np.sort(keys)
    return bool((ordered[1:] == ordered[:-1]).any())


def _contains(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Which of ``keys`` are in ``sorted_keys`` (binary search; no hashing of millions of keys)."""
    if sorted_keys.size == 0:
        return np.zeros(keys.size, dtype=bool)
    at = np.minimum(np.searchsorted(sorted_keys, keys), sorted_keys.size - 1)
    return sorted_keys[at] == keys


def prefetch(chunks: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Read and validate the next chunks in a thread while this one is written: the parser
    (pandas, numpy) and SQLite each release the GIL for much of their work, so on two cores the
    file is read while the database writes."""
    queue: Queue[tuple[bool, Any]] = Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for chunk in chunks:
                if stop.is_set():
                    return
                queue.put((True, chunk))
            queue.put((False, None))
        except BaseException as error:  # handed to the consumer, raised there
            queue.put((False, error))

    worker = threading.Thread(target=produce, name="feed-reader", daemon=True)
    worker.start()
    try:
        while True:
            more, item = queue.get()
            if not more:
                if item is not None:
                    raise item
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():
            try:
                queue.get_nowait()
            except Empty:
                worker.join(timeout=0.05)


def replay_sql(as_of_us: int) -> str:
    """Per position, what the ledger applied that occurred after ``as_of``: on_hand moved,
    reserved moved (events and runs), reserved by runs."""
    return (
        "SELECT location_id, sku_id, SUM(on_hand_delta), SUM(reserved_delta), SUM(run_reserved)"
        " FROM (SELECT location_id, sku_id, on_hand_delta, reserved_delta, 0 AS run_reserved"
        f" FROM events WHERE occurred_us > {int(as_of_us)} AND sku_id IS NOT NULL"
        " UNION ALL SELECT r.location_id, r.sku_id, 0, r.quantity, r.quantity FROM reservations r"
        f" JOIN brokering_runs b ON b.id = r.run_id WHERE b.finished_us > {int(as_of_us)}"
        ") later GROUP BY location_id, sku_id ORDER BY location_id, sku_id"
    )


def _stage_replay_on_server(connection: Connection, as_of_us: int) -> None:
    """PostgreSQL: the replay of a feed aggregated into a temporary table by the server, the
    (empty) staging table its chunks are copied to, and the table of a chunk's rows joined to
    their positions (temporary tables write no WAL)."""
    connection.exec_driver_sql(
        "CREATE TEMP TABLE IF NOT EXISTS feed_replay (location_id integer, sku_id integer,"
        " on_hand bigint, reserved bigint, runs bigint, PRIMARY KEY (location_id, sku_id))"
    )
    connection.exec_driver_sql("TRUNCATE feed_replay")
    connection.exec_driver_sql(f"INSERT INTO feed_replay {replay_sql(as_of_us)}")
    connection.exec_driver_sql("ANALYZE feed_replay")
    connection.exec_driver_sql(
        "CREATE TEMP TABLE IF NOT EXISTS feed_stage (line bigint, location_id integer,"
        " sku_id integer, quantity bigint)"
    )
    connection.exec_driver_sql(
        "CREATE TEMP TABLE IF NOT EXISTS feed_rows (tid tid, line bigint, location_id integer,"
        " sku_id integer, present boolean, old bigint, reserved bigint, held bigint,"
        " newer boolean, new bigint)"
    )


def _beyond_limit_problem(line: int, location: int, sku: int, new: int) -> Problem:
    where = f"line {line}" if line >= 0 else f"unlisted position {location}/{sku}"
    return Problem(
        ("line", line) if line >= 0 else (),
        f"{where}: would set on_hand to {new}, beyond the ledger's limit of {QUANTITY_LIMIT:,}",
        "beyond_limit",
    )


def _parse(text: str | None) -> np.ndarray:
    return np.fromstring(text, dtype=np.int64, sep=",") if text else np.zeros(0, dtype=np.int64)


class _FeedApplier:
    """Applies a feed's chunks: the listed rows as they come, the unlisted at the end."""

    def __init__(
        self,
        connection: Connection,
        basis: str,
        as_of_us: int,
        version: int,
        ref: str,
        skus: dict[str, int],
    ) -> None:
        self.connection = connection
        self.factor = feed_reserved_factor(basis)
        self.as_of_us = as_of_us
        self.version = version
        self.ref = ref
        self.skus = skus
        self.sku_index = pd.Index(list(skus.keys()), dtype=object)
        self.sku_values = np.fromiter(skus.values(), dtype=np.int64, count=len(skus))
        last_feed: dict[int, int | None] = dict(
            connection.exec_driver_sql("SELECT id, feed_as_of_us FROM locations").all()
        )
        self.stale = {loc for loc, last in last_feed.items() if feed_is_stale(as_of_us, last)}
        self.covered: set[int] = set()
        self.refused: set[int] = set()
        self.keys: list[np.ndarray] = []
        self.lines: list[np.ndarray] = []
        self.rows = 0
        self.problems: list[Problem] = []
        self.parts = 0  # parts of the feed's checkpoints written so far
        self.repeated = False  # a row repeats a key listed before: the feed will be refused
        self.postgres = not is_sqlite(connection)
        if self.postgres:
            # PostgreSQL computes the new values itself: the replay stays on the server.
            _stage_replay_on_server(connection, as_of_us)
            empty = np.zeros(0, dtype=np.int64)
            self.replay_key = self.replay_on_hand = self.replay_reserved = self.replay_runs = empty
        else:
            self.replay_key, self.replay_on_hand, self.replay_reserved, self.replay_runs = (
                self._replay()
            )

    def _replay(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per position, what the ledger applied that occurred after ``as_of`` (events that
        arrived before this feed, reservations of later brokering runs): it goes on top of the
        feed's values, which count only what happened up to ``as_of``. Per position: key,
        on_hand moved, reserved moved (events and runs), reserved by runs."""
        rows = self.connection.exec_driver_sql(replay_sql(self.as_of_us)).all()
        if not rows:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty, empty
        matrix = np.array(rows, dtype=np.int64)
        return (matrix[:, 0] << 32) | matrix[:, 1], matrix[:, 2], matrix[:, 3], matrix[:, 4]

    # -- listed rows --------------------------------------------------------------------------

    def add(self, chunk: FeedChunk, apply: bool) -> None:
        if chunk.line.size == 0:
            return
        stale = (
            np.isin(chunk.location_id, list(self.stale))
            if self.stale
            else np.zeros(chunk.line.size, dtype=bool)
        )
        if stale.any():
            self.refused.update(pd.unique(chunk.location_id[stale]).tolist())
        keep = ~stale
        location = chunk.location_id[keep]
        sku = self._sku_ids(chunk.sku[keep])
        key = (location << 32) | sku
        # A key listed twice would break the positions' unique index mid-write (an insert,
        # or a second part of a checkpoint holding it); the feed is refused by
        # duplicate_rows() anyway, so from the first repeat on nothing more is written.
        if not self.repeated:
            self.repeated = _has_repeats(key) or self._listed_before(location, key)
        self.keys.append(key)
        self.lines.append(chunk.line[keep])
        self.covered.update(pd.unique(location).tolist())
        self.rows += int(key.size)
        if apply and key.size and not self.repeated:
            if self.postgres:
                self._write_on_server(location, sku, chunk.quantity[keep], chunk.line[keep])
            else:
                self._write(key, chunk.quantity[keep], chunk.line[keep])

    def _listed_before(self, location: np.ndarray, key: np.ndarray) -> bool:
        """Whether an earlier chunk listed one of ``key``: only a location that earlier chunks
        covered can repeat a key (one or two per chunk border in a feed sorted by location)."""
        again = np.array([loc for loc in pd.unique(location).tolist() if loc in self.covered])
        if again.size == 0 or not self.keys:
            return False
        earlier = np.concatenate(self.keys)
        earlier = np.sort(earlier[np.isin(earlier >> 32, again)])
        return bool(_contains(earlier, key[np.isin(location, again)]).any())

    def take_problems(self) -> list[Problem]:
        """Problems found while writing (positions the feed would take past the limits)."""
        found, self.problems = self.problems, []
        return found

    def _sku_ids(self, codes: np.ndarray) -> np.ndarray:
        """Codes to ids through a hash index; new skus are registered on the way."""
        found = self.sku_index.get_indexer(codes)
        if (found < 0).any():
            register_new_skus(self.connection, pd.unique(codes[found < 0]).tolist(), self.skus)
            self.sku_index = pd.Index(list(self.skus.keys()), dtype=object)
            self.sku_values = np.fromiter(self.skus.values(), dtype=np.int64, count=len(self.skus))
            found = self.sku_index.get_indexer(codes)
        return self.sku_values[found]

    def _concat(self, column: str) -> str:
        return _concat(self.connection, column)

    def _current(self, locations: np.ndarray) -> tuple[np.ndarray, ...]:
        """Sorted keys and on_hand, reserved, held, counted_at of the locations' positions."""
        rows = self.connection.exec_driver_sql(
            f"SELECT location_id, {self._concat('sku_id')}, {self._concat('on_hand')},"
            f" {self._concat('reserved')}, {self._concat('held')},"
            f" {self._concat('COALESCE(counted_at_us, -1)')} FROM positions"
            f" WHERE location_id IN ({', '.join(map(str, locations.tolist()))}) GROUP BY location_id"
        ).all()
        parts: list[list[np.ndarray]] = [[], [], [], [], []]
        for location, *columns in rows:
            sku = _parse(columns[0])
            parts[0].append((np.int64(location) << 32) | sku)
            for i in range(1, 5):
                parts[i].append(_parse(columns[i]))
        if not rows:
            return tuple(np.zeros(0, dtype=np.int64) for _ in range(5))
        key, on_hand, reserved, held, counted = (np.concatenate(p) for p in parts)
        order = np.argsort(key, kind="stable")
        return key[order], on_hand[order], reserved[order], held[order], counted[order]

    def _current_keys(self, locations: np.ndarray) -> np.ndarray:
        """Sorted keys of the locations' positions (only the keys cross the wire)."""
        listing = ", ".join(map(str, locations.tolist()))
        if self.postgres:
            cursor = self.connection.connection.driver_connection.cursor(binary=True)  # type: ignore[union-attr]
            cursor.execute(
                "SELECT location_id, string_agg(int8send(sku_id::int8), ''::bytea) FROM positions"
                f" WHERE location_id IN ({listing}) GROUP BY location_id"
            )
            rows = cursor.fetchall()
            cursor.close()
            parts = [(np.int64(loc) << 32) | np.frombuffer(skus, dtype=">i8").astype(np.int64)
                     for loc, skus in rows]  # fmt: skip
        else:
            rows = self.connection.exec_driver_sql(
                f"SELECT location_id, {self._concat('sku_id')} FROM positions"
                f" WHERE location_id IN ({listing}) GROUP BY location_id"
            ).all()
            parts = [(np.int64(loc) << 32) | _parse(skus) for loc, skus in rows]
        if not parts:
            return np.zeros(0, dtype=np.int64)
        return np.sort(np.concatenate(parts))

    def _write(self, key: np.ndarray, quantity: np.ndarray, line: np.ndarray | None = None) -> None:
        """Set the positions of ``key`` from the feed (``quantity``; 0 for unlisted ones, which
        have no ``line``). A position the feed would take past the limits is a problem (the
        feed is refused then) and is not written."""
        current_key, on_hand, reserved, held, counted = self._current(np.sort(pd.unique(key >> 32)))
        at = np.minimum(np.searchsorted(current_key, key), max(current_key.size - 1, 0))
        exists = (current_key[at] == key) if current_key.size else np.zeros(key.size, dtype=bool)

        def pick(values: np.ndarray, missing: int = 0) -> np.ndarray:
            if values.size == 0:
                return np.full(key.size, missing, dtype=np.int64)
            return np.where(exists, values[at], missing)

        old_on_hand, old_reserved, old_held = pick(on_hand), pick(reserved), pick(held)
        old_counted = pick(counted, missing=-1)
        later_on_hand, later_reserved, later_runs = self._replayed(key)
        if line is None:
            # An unlisted row of an ``available`` feed is 0 available: on_hand = reserved, the
            # reservations of runs after as_of included (the sender lists nothing to back them).
            later_reserved = later_reserved - later_runs
        # on_hand as of now = the feed's value as of as_of + what happened since; an available
        # basis adds back the reservations open at as_of (the sender already deducted them).
        new = quantity + later_on_hand + self.factor * (old_reserved - later_reserved)
        newer_count = old_counted > self.as_of_us
        past_limits = ~newer_count & beyond_limits(new)
        for k in np.flatnonzero(past_limits).tolist():
            self.problems.append(
                _beyond_limit_problem(
                    -1 if line is None else int(line[k]),
                    int(key[k] >> 32), int(key[k] & 0xFFFFFFFF), int(new[k]),
                )
            )  # fmt: skip
        # The checkpoint: every position as the feed leaves it (a newer count's stays).
        kept = ~past_limits
        write_checkpoint(
            self.connection, self.version, self.parts, key[kept],
            np.where(newer_count, old_on_hand, new)[kept], old_reserved[kept], old_held[kept],
        )  # fmt: skip
        self.parts += 1
        changed = ~newer_count & ~past_limits & (~exists | (old_on_hand != new))
        if not changed.any():
            return
        location, sku = key[changed] >> 32, key[changed] & 0xFFFFFFFF
        new, old_reserved, old_held, inserted = (
            new[changed],
            old_reserved[changed],
            old_held[changed],
            ~exists[changed],
        )
        v = self.version
        if inserted.any():
            bulk_insert(
                self.connection,
                "positions",
                ("location_id", "sku_id", "on_hand", "reserved", "held", "version"),
                zip(location[inserted].tolist(), sku[inserted].tolist(), new[inserted].tolist(),
                    [0] * int(inserted.sum()), [0] * int(inserted.sum()), [v] * int(inserted.sum()), strict=True),
            )  # fmt: skip
        updated = ~inserted
        if updated.any():
            bulk_update(
                self.connection,
                "positions",
                ("location_id", "sku_id"),
                ("on_hand", "version"),
                zip(
                    new[updated].tolist(),
                    [v] * int(updated.sum()),
                    location[updated].tolist(),
                    sku[updated].tolist(),
                    strict=True,
                ),
                # A chunk holds whole locations: their key range is all PostgreSQL need read.
                within="t.location_id IN ({})".format(
                    ", ".join(map(str, np.unique(location[updated]).tolist()))
                ),
            )

    def _write_on_server(
        self, location: np.ndarray, sku: np.ndarray, quantity: np.ndarray, line: np.ndarray
    ) -> None:
        """PostgreSQL: the rows go to a staging table by binary COPY and the server does the rest
        (no position crosses the wire). ``line`` -1 marks unlisted positions.

        First the rows are joined to their positions and to the replay by hash joins (a
        nested loop of ten million index probes took twice as long) into ``feed_rows``, with
        each position's new value and its row's address (``ctid``); then the positions that
        change are updated through their addresses (no second index probe), new ones inserted,
        and the chunk's part of the checkpoint packed, all from ``feed_rows``. The ledger's
        write lock keeps every other writer out, so the addresses stay valid in between; the
        update still checks each row's key, and its count."""
        connection = self.connection
        connection.exec_driver_sql("TRUNCATE feed_stage, feed_rows")
        copy_arrays(
            connection,
            "feed_stage",
            {"line": line.astype(np.int64), "location_id": location.astype(np.int32),
             "sku_id": sku.astype(np.int32), "quantity": quantity.astype(np.int64)},
        )  # fmt: skip
        chunk_locations = ", ".join(map(str, np.unique(location).tolist()))
        params = {"as_of": int(self.as_of_us), "f": int(self.factor), "v": int(self.version),
                  "limit": QUANTITY_LIMIT, "part": self.parts}  # fmt: skip
        self.parts += 1
        # A position the feed changes: neither protected by a newer count nor past the limits.
        changes = "present AND NOT newer AND abs(new) <= %(limit)s AND old <> new"
        with planner_settings(connection, enable_nestloop="off"):
            expected = connection.exec_driver_sql(
                "WITH joined AS (INSERT INTO feed_rows"
                " SELECT p.ctid, s.line, s.location_id, s.sku_id, p.location_id IS NOT NULL,"
                "  p.on_hand, COALESCE(p.reserved, 0), COALESCE(p.held, 0),"
                "  COALESCE(p.counted_at_us, -1) > %(as_of)s,"
                # on_hand as of now = the feed's value as of as_of + what happened since; an
                # available basis adds back the reservations open at as_of (see _write).
                "  s.quantity + COALESCE(r.on_hand, 0) + %(f)s * (COALESCE(p.reserved, 0)"
                "   - COALESCE(r.reserved, 0) + CASE WHEN s.line < 0 THEN COALESCE(r.runs, 0)"
                "   ELSE 0 END)"
                " FROM feed_stage s"
                " LEFT JOIN positions p ON p.location_id = s.location_id AND p.sku_id = s.sku_id"
                f"  AND p.location_id IN ({chunk_locations})"
                " LEFT JOIN feed_replay r ON r.location_id = s.location_id AND r.sku_id = s.sku_id"
                " RETURNING present, newer, old, new)"
                f" SELECT count(*) FROM joined WHERE {changes}",
                params,
            ).scalar_one()
        with planner_settings(connection, enable_hashjoin="off", enable_mergejoin="off"):
            # The keys are compared in RETURNING, not in WHERE: there the planner would take
            # them for an index probe per row instead of going to the address.
            updated, elsewhere = connection.exec_driver_sql(
                "WITH updated AS (UPDATE positions t SET on_hand = f.new, version = %(v)s"
                " FROM feed_rows f WHERE t.ctid = f.tid"
                f" AND {changes.replace('present', 'f.present')}"
                " RETURNING (t.location_id, t.sku_id) = (f.location_id, f.sku_id) AS same)"
                " SELECT count(*), count(*) FILTER (WHERE NOT same) FROM updated",
                params,
            ).one()
        if updated != expected or elsewhere:
            raise RuntimeError(
                f"feed: {updated} positions updated of {expected}, {elsewhere} of them not the"
                " row's (rolled back)"
            )
        beyond = connection.exec_driver_sql(
            "WITH ins AS (INSERT INTO positions (location_id, sku_id, on_hand, reserved, held,"
            "  version) SELECT location_id, sku_id, new, 0, 0, %(v)s FROM feed_rows"
            "  WHERE NOT present AND abs(new) <= %(limit)s),"
            # Every position as the feed leaves it (a newer count's stays), past the limits
            # excepted (they refuse the feed).
            " checkpoint AS (INSERT INTO feed_checkpoints (location_id, version, part, positions)"
            "  SELECT location_id, %(v)s, %(part)s,"
            f"  {packed_sql('sku_id', 'CASE WHEN newer THEN old ELSE new END', 'reserved', 'held')}"
            "  FROM feed_rows WHERE newer OR abs(new) <= %(limit)s GROUP BY location_id)"
            " SELECT line, location_id, sku_id, new FROM feed_rows"
            " WHERE abs(new) > %(limit)s AND NOT newer ORDER BY line",
            params,
        ).all()
        for row_line, row_location, row_sku, new in beyond:
            self.problems.append(_beyond_limit_problem(row_line, row_location, row_sku, new))

    def _replayed(self, key: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.replay_key.size == 0:
            zero = np.zeros(key.size, dtype=np.int64)
            return zero, zero, zero
        at = np.minimum(np.searchsorted(self.replay_key, key), self.replay_key.size - 1)
        found = self.replay_key[at] == key
        return (
            np.where(found, self.replay_on_hand[at], 0),
            np.where(found, self.replay_reserved[at], 0),
            np.where(found, self.replay_runs[at], 0),
        )

    # -- the whole feed -----------------------------------------------------------------------

    def _all_keys(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.keys:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate(self.keys), np.concatenate(self.lines)

    def duplicate_rows(self) -> list[Problem]:
        """Rows naming a (location, sku) an earlier row named."""
        key, line = self._all_keys()
        order = np.lexsort((line, key))
        key, line = key[order], line[order]
        repeat = np.flatnonzero(key[1:] == key[:-1]) + 1
        if repeat.size == 0:
            return []
        first = np.maximum.accumulate(
            np.where(np.append(True, key[1:] != key[:-1]), np.arange(key.size), 0)
        )
        return sorted(
            (
                Problem(
                    ("line", int(line[i])),
                    f"line {line[i]}: the same location and sku as line {line[first[i]]}",
                    "duplicate_row",
                )
                for i in repeat.tolist()
            ),
            key=lambda p: p.loc[1],
        )

    def drop_unlisted(self) -> None:
        """Positions of the covered locations that the feed does not list drop to zero (plus
        what happened after ``as_of``)."""
        if not self.covered:
            return
        listed = np.sort(self._all_keys()[0])
        # Every listed key is a position by now: a location with no more positions than the
        # feed lists has none unlisted, and its keys need not be read (a full feed listing
        # every sku reads ten million keys for nothing otherwise).
        location, listed_count = np.unique(listed >> 32, return_counts=True)
        stored = self.connection.exec_driver_sql(
            "SELECT location_id, COUNT(*) FROM positions WHERE location_id IN"
            f" ({', '.join(map(str, sorted(self.covered)))}) GROUP BY location_id"
        ).all()
        listed_at = dict(zip(location.tolist(), listed_count.tolist(), strict=True))
        covered = np.array(
            sorted(loc for loc, n in stored if n > listed_at.get(loc, 0)), dtype=np.int64
        )
        for start in range(0, covered.size, 200):
            current_key = self._current_keys(covered[start : start + 200])
            unlisted = current_key[~_contains(listed, current_key)]
            if unlisted.size == 0:
                continue
            zeros = np.zeros(unlisted.size, dtype=np.int64)
            if self.postgres:
                self._write_on_server(
                    unlisted >> 32, unlisted & 0xFFFFFFFF, zeros, np.full(unlisted.size, -1)
                )
            else:
                self._write(unlisted, zeros)
