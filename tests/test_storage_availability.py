"""The outbound availability feed: online per sku, pickup per store, in full or since a cursor."""

from __future__ import annotations

import io

import numpy as np

from ledger.availability import Availability, changes
from models.inventory import parse_catalog
from storage.availability import export_csv, publish, read_feed
from storage.catalog import apply_catalog
from storage.db import make_engine
from storage.events import apply_event_batch
from storage.migrate import upgrade
from tests.ledger_fixtures import batch, event, feed, ledger

__all__ = ["ledger"]


def test_online_is_atp_over_shipping_locations_less_threshold_and_pickup_is_per_store(ledger):
    apply_catalog(ledger, parse_catalog({"skus": [{"sku": "TEE", "category": "apparel"}, {"sku": "CAP", "online_threshold": 50}],
                                         "categories": [{"category": "apparel", "online_threshold": 2}]}))  # fmt: skip
    feed(
        ledger,
        [("WH-EAST", "TEE", 10), ("S-017", "TEE", 3), ("S-042", "CAP", 4)],
        "2026-11-27T05:00:00Z",
    )
    publish(ledger)
    full = read_feed(ledger)
    assert {r.sku: r.quantity for r in full.online} == {"TEE": 13 - 2}  # CAP: 4 - 50, floored at 0
    assert {(r.location_id, r.sku): r.quantity for r in full.pickup} == {
        ("S-017", "TEE"): 3,
        ("S-042", "CAP"): 4,
    }


def test_changes_since_a_cursor_give_each_changed_rows_last_value(ledger):
    feed(ledger, [("S-017", "TEE", 5), ("S-042", "TEE", 5)], "2026-11-27T05:00:00Z")
    first = publish(ledger)
    assert publish(ledger).rows_changed == 0  # nothing changed, nothing published
    apply_event_batch(
        ledger, batch(event("p1", "sale", "S-017", "2026-11-27T09:00:00Z", sku="TEE", quantity=2))
    )
    publish(ledger)
    apply_event_batch(
        ledger, batch(event("p2", "sale", "S-017", "2026-11-27T09:05:00Z", sku="TEE", quantity=3))
    )
    last = publish(ledger)
    since = read_feed(ledger, since=first.cursor)
    assert since.cursor == last.cursor
    assert {(r.location_id, r.quantity) for r in since.pickup} == {("S-017", 0)}  # the zero is news
    assert [(r.sku, r.quantity) for r in since.online] == [("TEE", 5)]
    assert read_feed(ledger, since=last.cursor).pickup == []
    out = io.StringIO()
    assert export_csv(ledger, out) == last.cursor
    assert out.getvalue().splitlines() == [
        "scope,location_id,sku,quantity",
        "online,,TEE,5",
        "pickup,S-042,TEE,5",
    ]


def test_changes_are_the_rows_whose_quantity_differs_whatever_keys_come_and_go():
    # The sorted-merge diff against the plain definition: the union of keys, 0 where absent.
    rng = np.random.default_rng(7)
    for _ in range(200):
        published = _random_scope(rng)
        current = (
            _random_scope(rng)
            if rng.random() < 0.7
            else Availability(published.key, rng.integers(0, 3, published.key.size))
        )
        everything = sorted(set(published.key.tolist()) | set(current.key.tolist()))
        before = dict(zip(published.key.tolist(), published.quantity.tolist(), strict=True))
        after = dict(zip(current.key.tolist(), current.quantity.tolist(), strict=True))
        expected = [(k, after.get(k, 0)) for k in everything if before.get(k, 0) != after.get(k, 0)]
        delta = changes(published, current)
        assert list(zip(delta.key.tolist(), delta.quantity.tolist(), strict=True)) == expected


def _random_scope(rng: np.random.Generator) -> Availability:
    key = np.unique(rng.integers(0, 40, rng.integers(0, 30)).astype(np.int64))
    return Availability(key, rng.integers(0, 3, key.size).astype(np.int64))


def test_changes_published_before_migration_0002_are_still_read_since_a_cursor(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0001")
    with engine.begin() as connection:
        # The catalog as schema 0001 held it (apply_catalog writes today's schema).
        connection.exec_driver_sql(
            "INSERT INTO locations (id, code, kind, lat, lon, ships, unit_cost,"
            " receipts_count_at_once, returns_auto_approved, active)"
            " VALUES (1, 'S-1', 'store', 1, 1, 1, 0, 0, 0, 1)"
        )
        connection.exec_driver_sql("INSERT INTO skus (id, code) VALUES (1, 'A'), (2, 'B')")
        connection.exec_driver_sql(
            "INSERT INTO availability_publications (seq, version, published_us, rows_changed,"
            " last_change_id) VALUES (1, 1, 0, 2, 2), (2, 1, 0, 2, 4)"
        )
        connection.exec_driver_sql(
            "INSERT INTO availability_changes (seq, scope, location_id, sku_id, quantity) VALUES"
            " (1, 'online', 0, 1, 5), (1, 'pickup', 1, 2, 3), (2, 'online', 0, 1, 4), (2, 'pickup', 1, 1, 7)"
        )
    upgrade(engine)
    since_0, since_1 = read_feed(engine, since=0), read_feed(engine, since=1)
    assert [(r.sku, r.quantity) for r in since_0.online] == [("A", 4)]
    assert [(r.location_id, r.sku, r.quantity) for r in since_0.pickup] == [
        ("S-1", "A", 7),
        ("S-1", "B", 3),
    ]
    assert [(r.location_id, r.sku, r.quantity) for r in since_1.pickup] == [("S-1", "A", 7)]
    engine.dispose()
