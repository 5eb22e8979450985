"""A feed's history packed per (feed, location) (migration 0006): versioned snapshots and a
position's history read it as they read the history rows before, on both backends.

The contract: "a snapshot of an earlier version reads the positions and settings as they were
then"; the ledger's history lists every change of a position with its cause.
"""

from __future__ import annotations

import functools
import io
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from alembic import command
from sqlalchemy import Engine

import storage.feeds
from models.feed_reader import read_csv_feed
from models.inventory import parse_catalog, parse_feed_header
from services.brokering import run_brokering
from storage.catalog import apply_catalog
from storage.checkpoints import read_checkpoints, unpack
from storage.db import read_transaction
from storage.events import apply_event_batch
from storage.feeds import load_feed
from storage.migrate import alembic_config, upgrade
from storage.orders import submit_orders
from storage.positions import get_history
from storage.snapshots import snapshot, take_snapshot
from tests.ledger_fixtures import (
    BACKENDS,
    CATALOG,
    POSTGRES_URL,
    batch,
    event,
    feed,
    fresh_postgres,
    ledger,
    ship_order,
)

__all__ = ["ledger"]

LOCATIONS = ["WH-EAST", "S-017", "S-042", "S-AUTO"]
SKUS = ["TEE", "CAP", "HAT", "SOCK", "BELT"]
START = datetime(2026, 11, 20, tzinfo=UTC)


def frame_of(engine: Engine, version: int | None = None) -> list[tuple]:
    taken = snapshot(engine, version=version).to_frame()
    return sorted(
        (str(r.location_id), str(r.sku), int(r.on_hand), int(r.reserved), int(r.atp))
        for r in taken.itertuples()
    )


def at(hour: int) -> str:
    """A time ``hour`` hours after the first feed's day began (the clock is days later)."""
    return (START + timedelta(hours=hour)).isoformat()


def random_step(engine: Engine, rng: np.random.Generator, step: int) -> None:
    """One of: a physical or available feed of some locations, a batch of deltas (some older
    than the last feed, some cycle counts), or orders and a brokering run."""
    kind = rng.choice(["physical", "available", "events", "events", "run"])
    if kind in ("physical", "available"):
        locations = rng.choice(LOCATIONS, size=int(rng.integers(1, 4)), replace=False)
        rows = [
            (str(loc), sku, int(rng.integers(0, 12)))
            for loc in locations
            for sku in SKUS
            if rng.random() < 0.7
        ]
        # Now and then older than a location's last feed: refused for that location.
        feed(engine, rows, at(3 * step - int(rng.integers(0, 6))), basis=str(kind))
    elif kind == "events":
        events = []
        for k in range(int(rng.integers(1, 6))):
            what = rng.choice(["sale", "found", "lost", "count"])
            fields = {"sku": str(rng.choice(SKUS)), "quantity": int(rng.integers(1, 4))}
            if what != "sale":
                fields["reason"] = str(what)
                what = "variance"
            events.append(
                event(f"e{step}-{k}", str(what), str(rng.choice(LOCATIONS)),
                      at(3 * step - int(rng.integers(0, 8))), **fields)
            )  # fmt: skip
        apply_event_batch(engine, batch(*events))
    else:
        submit_orders(engine, ship_order(f"SO-{step}", str(rng.choice(SKUS)), 2))
        run_brokering(engine)


@pytest.mark.parametrize("seed", [1, 2])
def test_snapshot_of_every_earlier_version_is_the_snapshot_taken_then(ledger, seed):
    rng = np.random.default_rng(seed)
    taken = []
    for step in range(1, 25):
        random_step(ledger, rng, step)
        now = snapshot(ledger)
        taken.append((now.version, frame_of(ledger)))
    for version, then in taken:
        assert frame_of(ledger, version) == then, f"version {version}"


def test_snapshot_of_an_earlier_version_of_one_location_or_sku(ledger):
    first = feed(ledger, [("S-017", "TEE", 5), ("S-017", "CAP", 2), ("S-042", "TEE", 3)], at(1))
    feed(ledger, [("S-017", "TEE", 9)], at(2))
    then = snapshot(ledger, version=first.version, location="S-017").to_frame()
    assert sorted(zip(then["sku"].astype(str), then["on_hand"], strict=True)) == [
        ("CAP", 2),
        ("TEE", 5),
    ]
    then = snapshot(ledger, version=first.version, sku="TEE").to_frame()
    assert sorted(zip(then["location_id"].astype(str), then["on_hand"], strict=True)) == [
        ("S-017", 5),
        ("S-042", 3),
    ]


def test_a_feed_writes_one_packed_row_per_location_and_no_history_rows(ledger):
    rows = [(loc, sku, 4) for loc in ("S-017", "S-042") for sku in SKUS]
    result = feed(ledger, rows, at(1))
    with ledger.connect() as connection:
        packed = connection.exec_driver_sql(
            f"SELECT location_id, positions FROM feed_checkpoints WHERE version = {result.version}"
        ).all()
        history = connection.exec_driver_sql("SELECT COUNT(*) FROM position_history").scalar()
    assert len(packed) == 2 and history == 0
    assert all(unpack(positions)[:, 1].tolist() == [4] * len(SKUS) for _, positions in packed)


def test_a_checkpoint_holds_every_position_of_the_location_the_unchanged_too(ledger):
    feed(ledger, [("S-017", "TEE", 5), ("S-017", "CAP", 2), ("S-042", "TEE", 1)], at(1))
    second = feed(ledger, [("S-017", "TEE", 5)], at(2))  # TEE as it was, CAP unlisted: 0
    with ledger.connect() as connection:
        state = read_checkpoints(connection, second.version, [location_id(connection, "S-017")])
        codes = dict(connection.exec_driver_sql("SELECT id, code FROM skus").all())
    skus = (state.key & 0xFFFFFFFF).tolist()
    assert sorted(zip([codes[s] for s in skus], state.on_hand.tolist(), strict=True)) == [
        ("CAP", 0),
        ("TEE", 5),
    ]


def later_change(engine: Engine) -> None:
    """A change elsewhere, so that what came before is an earlier version."""
    apply_event_batch(engine, batch(event("later", "sale", "S-042", at(30), sku="CAP", quantity=1)))


def location_id(connection, code: str) -> int:
    return int(
        connection.exec_driver_sql(f"SELECT id FROM locations WHERE code = '{code}'").scalar_one()
    )


def test_a_position_protected_by_a_newer_count_keeps_its_value_in_the_checkpoint(ledger):
    feed(ledger, [("S-017", "TEE", 10)], at(1))
    apply_event_batch(
        ledger, batch(event("c", "variance", "S-017", at(5), sku="TEE", quantity=3, reason="count"))
    )
    late = feed(ledger, [("S-017", "TEE", 8)], at(3))  # older than the count: the count stands
    later_change(ledger)  # the feed's version is then an earlier one, read from the history
    assert frame_of(ledger, late.version) == [("S-017", "TEE", 3, 0, 3)]


def test_a_location_split_over_a_feeds_chunks_is_read_whole(ledger, monkeypatch):
    # Chunks of three rows: S-017's five skus come in two parts of its checkpoint, and the
    # unlisted position in a third.
    monkeypatch.setattr(
        storage.feeds, "read_csv_feed", functools.partial(read_csv_feed, chunk_rows=3)
    )
    feed(ledger, [("S-017", "BELT", 1)], at(1))
    result = feed(ledger, [("S-017", sku, n) for n, sku in enumerate(SKUS[:4], 2)], at(2))
    apply_event_batch(ledger, batch(event("s", "sale", "S-017", at(3), sku="TEE", quantity=1)))
    with ledger.connect() as connection:
        parts = connection.exec_driver_sql(
            f"SELECT COUNT(*) FROM feed_checkpoints WHERE version = {result.version}"
        ).scalar()
    assert parts == 3
    assert [(sku, on_hand) for _, sku, on_hand, _, _ in frame_of(ledger, result.version)] == [
        ("BELT", 0), ("CAP", 3), ("HAT", 4), ("SOCK", 5), ("TEE", 2),
    ]  # fmt: skip


def test_position_history_lists_a_feed_only_where_it_changed_the_position(ledger):
    feed(ledger, [("S-017", "TEE", 10)], at(1))
    feed(ledger, [("S-017", "TEE", 10), ("S-017", "CAP", 1)], at(2))  # TEE unchanged
    apply_event_batch(ledger, batch(event("s", "sale", "S-017", at(3), sku="TEE", quantity=1)))
    feed(ledger, [("S-017", "TEE", 9)], at(4))  # as the sale left it
    last = feed(ledger, [("S-017", "TEE", 7)], at(5))
    history = get_history(ledger, "S-017", "TEE").changes
    assert [(c.cause, c.on_hand) for c in history] == [("feed", 10), ("sale", 9), ("feed", 7)]
    assert history[-1].ref == f"feed:{last.feed_id}"
    assert history[-1].at is not None and history[-1].at.hour == 5


def test_position_history_keeps_the_last_changes_up_to_its_limit(ledger):
    for hour, quantity in enumerate([3, 4, 5, 6], 1):
        feed(ledger, [("S-017", "TEE", quantity)], at(hour))
    assert [c.on_hand for c in get_history(ledger, "S-017", "TEE", limit=2).changes] == [5, 6]


# --- migration 0006: feed rows of position_history become checkpoints ------------------------


@pytest.fixture(params=BACKENDS)
def ledger_at_0005(request, tmp_path):
    if request.param == "postgres":
        assert POSTGRES_URL is not None
        engine = fresh_postgres(POSTGRES_URL)
    else:
        from storage.db import make_engine

        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0005")
    yield engine
    engine.dispose()


def test_feed_history_written_before_migration_0006_is_read_the_same_after(ledger_at_0005):
    engine = ledger_at_0005
    with engine.begin() as connection:
        run = connection.exec_driver_sql
        run(
            "INSERT INTO locations (id, code, kind, lat, lon, ships, unit_cost,"
            " receipts_count_at_once, returns_auto_approved, active)"
            " VALUES (1, 'S-1', 'store', 1, 1, true, 0, false, false, true)"
        )
        run("INSERT INTO skus (id, code) VALUES (1, 'A'), (2, 'B')")
        run(
            "INSERT INTO ledger_changes (version, kind, ref, recorded_us) VALUES"
            " (1, 'feed', 'feed:1', 0), (2, 'events', NULL, 0), (3, 'feed', 'feed:2', 0)"
        )
        run(
            "INSERT INTO feeds (id, source, basis, as_of_us, version, rows, locations,"
            " recorded_us) VALUES (1, 'erp', 'physical', 1000, 1, 2, 1, 0),"
            " (2, 'erp', 'physical', 3000, 3, 2, 1, 0)"
        )
        # Feed 1 sets A 5, B 2; a sale of A; feed 2 changes B only (A's row was not written).
        run(
            "INSERT INTO position_history (location_id, sku_id, version, on_hand, reserved, held)"
            " VALUES (1, 1, 1, 5, 0, 0), (1, 2, 1, 2, 0, 0), (1, 2, 3, 7, 0, 0)"
        )
        run(
            "INSERT INTO events (id, kind, location_id, sku_id, quantity, occurred_us, version,"
            " outcome, on_hand_delta, reserved_delta, seq, on_hand, reserved, held)"
            " VALUES ('s1', 'sale', 1, 1, 1, 2000, 2, 'applied', -1, 0, 0, 4, 0, 0)"
        )
        run(
            "INSERT INTO positions (location_id, sku_id, on_hand, reserved, held, version)"
            " VALUES (1, 1, 4, 0, 0, 2), (1, 2, 7, 0, 0, 3)"
        )
    upgrade(engine)
    on_hand = {v: [(s, n) for _, s, n, _, _ in frame_of(engine, v)] for v in (1, 2, 3)}
    assert on_hand == {1: [("A", 5), ("B", 2)], 2: [("A", 4), ("B", 2)], 3: [("A", 4), ("B", 7)]}
    assert [(c.cause, c.on_hand) for c in get_history(engine, "S-1", "A").changes] == [
        ("feed", 5),
        ("sale", 4),
    ]
    with engine.connect() as connection:
        left = connection.exec_driver_sql("SELECT COUNT(*) FROM position_history").scalar()
    assert left == 0


def test_a_feed_applied_after_migration_0006_reads_on_from_the_migrated_checkpoints(
    ledger_at_0005,
):
    upgrade(ledger_at_0005)
    apply_catalog(ledger_at_0005, parse_catalog(CATALOG))
    header = parse_feed_header({"source": "erp", "basis": "physical", "as_of": at(1)})
    body = io.BytesIO(b"location_id,sku,quantity\nS-017,TEE,3\n")
    result = load_feed(ledger_at_0005, body, "csv", header)
    later_change(ledger_at_0005)
    assert frame_of(ledger_at_0005, result.version) == [("S-017", "TEE", 3, 0, 3)]


def test_a_snapshot_read_in_a_transaction_does_not_see_changes_committed_after_it_began(ledger):
    # On PostgreSQL the positions are read in two halves by two connections sharing one
    # snapshot: a change committed in between shows in neither.
    feed(ledger, [(loc, "TEE", 1) for loc in LOCATIONS], at(1))
    with read_transaction(ledger) as connection:
        before = take_snapshot(connection).to_frame()["on_hand"].tolist()
        feed(ledger, [(loc, "TEE", 2) for loc in LOCATIONS], at(2))
        again = take_snapshot(connection).to_frame()["on_hand"].tolist()
    assert before == again == [1, 1, 1, 1]
    assert snapshot(ledger).to_frame()["on_hand"].tolist() == [2, 2, 2, 2]


def test_migration_0006_undone_and_done_again_keeps_every_earlier_snapshot(ledger):
    first = feed(ledger, [("S-017", "TEE", 5), ("S-017", "CAP", 2)], at(1))
    apply_event_batch(ledger, batch(event("s", "sale", "S-017", at(2), sku="TEE", quantity=1)))
    second = feed(ledger, [("S-017", "TEE", 7)], at(3))
    later_change(ledger)
    before = {v: frame_of(ledger, v) for v in (first.version, first.version + 1, second.version)}
    command.downgrade(alembic_config(ledger), "0005")
    upgrade(ledger)
    assert {v: frame_of(ledger, v) for v in before} == before
