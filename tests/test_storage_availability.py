"""The outbound availability feed: online per sku, pickup per store, in full or since a cursor."""

from __future__ import annotations

import io

from models.inventory import parse_catalog
from storage.availability import export_csv, publish, read_feed
from storage.catalog import apply_catalog
from storage.events import apply_event_batch
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
