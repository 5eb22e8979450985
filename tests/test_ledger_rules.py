"""Each rule of the inventory contract (shared/contract/inventory.md), on a real database."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import orjson
import pytest

from models.inventory import parse_catalog
from models.problems import InvalidInput
from services.brokering import run_brokering
from storage.catalog import apply_catalog
from storage.events import apply_event_batch
from storage.feeds import load_feed
from storage.orders import get_order, submit_orders
from storage.positions import get_history, get_position
from storage.snapshots import snapshot
from tests.ledger_fixtures import batch, event, feed, ledger, ship_order

__all__ = ["ledger"]

T0 = "2026-11-27T05:00:00Z"


def on_hand(engine, location: str, sku: str) -> int:
    return get_position(engine, location, sku).on_hand


# --- events -----------------------------------------------------------------------------------


def test_sale_takes_units_off_on_hand(ledger):
    feed(ledger, [("S-017", "TEE", 5)], T0)
    apply_event_batch(
        ledger, batch(event("p1", "sale", "S-017", "2026-11-27T09:00:00Z", sku="TEE", quantity=2))
    )
    assert on_hand(ledger, "S-017", "TEE") == 3


def test_sale_beyond_records_takes_on_hand_negative_and_atp_floors_at_zero(ledger):
    feed(ledger, [("S-017", "TEE", 1)], T0)
    apply_event_batch(
        ledger, batch(event("p1", "sale", "S-017", "2026-11-27T09:00:00Z", sku="TEE", quantity=3))
    )
    position = get_position(ledger, "S-017", "TEE")
    assert position.on_hand == -2
    assert position.atp == 0


@pytest.mark.parametrize(
    ("reason", "expected"),
    [("lost", 7), ("damaged", 7), ("defective", 7), ("found", 13), ("count", 3)],
)
def test_variance_moves_or_sets_on_hand_by_reason(ledger, reason, expected):
    feed(ledger, [("S-017", "TEE", 10)], T0)
    apply_event_batch(
        ledger,
        batch(
            event(
                "v1",
                "variance",
                "S-017",
                "2026-11-27T09:00:00Z",
                sku="TEE",
                quantity=3,
                reason=reason,
            )
        ),
    )
    assert on_hand(ledger, "S-017", "TEE") == expected


def test_cycle_count_is_a_reset_for_late_deltas(ledger):
    feed(ledger, [("S-017", "TEE", 10)], T0)
    apply_event_batch(
        ledger,
        batch(
            event(
                "c1",
                "variance",
                "S-017",
                "2026-11-27T10:00:00Z",
                sku="TEE",
                quantity=6,
                reason="count",
            )
        ),
    )
    # A sale rung up before the count arrives after it: the count already saw its effect.
    result = apply_event_batch(
        ledger, batch(event("p1", "sale", "S-017", "2026-11-27T09:30:00Z", sku="TEE", quantity=2))
    )
    assert result.outcomes == {"ignored_before_feed": 1}
    assert on_hand(ledger, "S-017", "TEE") == 6


def test_duplicate_event_is_ignored(ledger):
    feed(ledger, [("S-017", "TEE", 5)], T0)
    sale = event("p1", "sale", "S-017", "2026-11-27T09:00:00Z", sku="TEE", quantity=1)
    first = apply_event_batch(ledger, batch(sale))
    again = apply_event_batch(ledger, batch(sale, sale))
    assert first.duplicates == []
    assert again.duplicates == ["p1", "p1"]
    assert again.applied == 0
    assert on_hand(ledger, "S-017", "TEE") == 4


def test_duplicate_within_one_batch_counts_once(ledger):
    feed(ledger, [("S-017", "TEE", 5)], T0)
    sale = event("p1", "sale", "S-017", "2026-11-27T09:00:00Z", sku="TEE", quantity=1)
    result = apply_event_batch(ledger, batch(sale, sale))
    assert result.duplicates == ["p1"]
    assert on_hand(ledger, "S-017", "TEE") == 4


def test_delta_older_than_last_feed_is_ignored(ledger):
    feed(ledger, [("S-017", "TEE", 5)], "2026-11-27T06:00:00Z")
    result = apply_event_batch(
        ledger,
        batch(
            event("p1", "sale", "S-017", "2026-11-27T05:59:00Z", sku="TEE", quantity=1),
            event(
                "p2", "sale", "S-017", "2026-11-27T06:00:00Z", sku="TEE", quantity=1
            ),  # "at": ignored
        ),
    )
    assert result.outcomes == {"ignored_before_feed": 2}
    assert on_hand(ledger, "S-017", "TEE") == 5


def test_late_delta_after_feed_is_applied(ledger):
    feed(ledger, [("S-017", "TEE", 5)], "2026-11-27T06:00:00Z")
    # Delivered long after, but it occurred after the feed's as_of: the feed did not count it.
    apply_event_batch(
        ledger, batch(event("p1", "sale", "S-017", "2026-11-27T06:00:01Z", sku="TEE", quantity=2))
    )
    assert on_hand(ledger, "S-017", "TEE") == 3


def test_delta_applied_before_an_older_feed_arrives_is_kept(ledger):
    feed(ledger, [("S-017", "TEE", 5)], T0)
    apply_event_batch(
        ledger, batch(event("p1", "sale", "S-017", "2026-11-27T06:30:00Z", sku="TEE", quantity=2))
    )
    # The 06:00 feed arrives at 07:00: it counts up to 06:00, the 06:30 sale comes on top.
    feed(ledger, [("S-017", "TEE", 9)], "2026-11-27T06:00:00Z")
    assert on_hand(ledger, "S-017", "TEE") == 7


def test_events_apply_in_the_order_they_occurred(ledger):
    feed(ledger, [("S-017", "TEE", 5)], T0)
    apply_event_batch(
        ledger,
        batch(
            event("p1", "sale", "S-017", "2026-11-27T09:10:00Z", sku="TEE", quantity=1),
            event(
                "c1",
                "variance",
                "S-017",
                "2026-11-27T09:00:00Z",
                sku="TEE",
                quantity=20,
                reason="count",
            ),
        ),
    )
    assert on_hand(ledger, "S-017", "TEE") == 19


def test_store_receipt_is_held_until_approved(ledger):
    feed(ledger, [("S-017", "TEE", 1)], T0)
    apply_event_batch(
        ledger,
        batch(event("rc-1", "receipt", "S-017", "2026-11-27T09:00:00Z", sku="TEE", quantity=4)),
    )
    held = get_position(ledger, "S-017", "TEE")
    assert (held.on_hand, held.held, held.atp) == (1, 4, 1)
    apply_event_batch(
        ledger, batch(event("ap-1", "approve", "S-017", "2026-11-27T09:30:00Z", held_id="rc-1"))
    )
    approved = get_position(ledger, "S-017", "TEE")
    assert (approved.on_hand, approved.held, approved.atp) == (5, 0, 5)


def test_store_return_is_held_until_approved(ledger):
    apply_event_batch(
        ledger,
        batch(
            event("rt-1", "return", "S-042", "2026-11-27T09:00:00Z", sku="TEE", quantity=1),
            event("ap-1", "approve", "S-042", "2026-11-27T09:05:00Z", held_id="rt-1"),
        ),
    )
    position = get_position(ledger, "S-042", "TEE")
    assert (position.on_hand, position.held) == (1, 0)


def test_receipt_counts_at_once_where_the_location_says_so(ledger):
    apply_event_batch(
        ledger,
        batch(event("rc-1", "receipt", "S-AUTO", "2026-11-27T09:00:00Z", sku="TEE", quantity=4)),
    )
    position = get_position(ledger, "S-AUTO", "TEE")
    assert (position.on_hand, position.held) == (4, 0)


def test_return_is_not_held_where_returns_are_approved_automatically(ledger):
    apply_event_batch(
        ledger,
        batch(event("rt-1", "return", "S-AUTO", "2026-11-27T09:00:00Z", sku="TEE", quantity=1)),
    )
    assert on_hand(ledger, "S-AUTO", "TEE") == 1


def test_approval_of_an_unknown_hold_is_refused(ledger):
    with pytest.raises(InvalidInput) as refused:
        apply_event_batch(
            ledger, batch(event("ap-1", "approve", "S-017", "2026-11-27T09:00:00Z", held_id="nope"))
        )
    assert refused.value.problems[0].type == "unknown_hold"


def test_a_hold_is_approved_once(ledger):
    apply_event_batch(
        ledger,
        batch(
            event("rc-1", "receipt", "S-017", "2026-11-27T09:00:00Z", sku="TEE", quantity=2),
            event("ap-1", "approve", "S-017", "2026-11-27T09:01:00Z", held_id="rc-1"),
        ),
    )
    with pytest.raises(InvalidInput) as refused:
        apply_event_batch(
            ledger, batch(event("ap-2", "approve", "S-017", "2026-11-27T09:02:00Z", held_id="rc-1"))
        )
    assert refused.value.problems[0].type == "hold_approved"
    assert on_hand(ledger, "S-017", "TEE") == 2


def test_warehouse_receipt_counts_from_next_feed(ledger):
    feed(ledger, [("WH-EAST", "TEE", 10)], T0)
    result = apply_event_batch(
        ledger,
        batch(event("asn-1", "receipt", "WH-EAST", "2026-11-27T09:00:00Z", sku="TEE", quantity=50)),
    )
    assert result.outcomes == {"recorded_until_next_feed": 1}
    position = get_position(ledger, "WH-EAST", "TEE")
    assert (position.on_hand, position.held) == (10, 0)
    # After inspection and put-away the WMS's next feed counts the units.
    feed(ledger, [("WH-EAST", "TEE", 60)], "2026-11-28T05:00:00Z", source="wms")
    assert on_hand(ledger, "WH-EAST", "TEE") == 60
    history = get_history(ledger, "WH-EAST", "TEE")
    assert [c.cause for c in history.changes] == ["feed", "receipt", "feed"]


# --- full feeds -------------------------------------------------------------------------------


def test_feed_sets_listed_skus_and_drops_unlisted_to_zero(ledger):
    feed(ledger, [("S-017", "TEE", 5), ("S-017", "CAP", 2), ("S-042", "TEE", 7)], T0)
    feed(ledger, [("S-017", "TEE", 4)], "2026-11-28T05:00:00Z")
    assert on_hand(ledger, "S-017", "TEE") == 4
    assert on_hand(ledger, "S-017", "CAP") == 0
    # A location absent from the feed is not touched.
    assert on_hand(ledger, "S-042", "TEE") == 7


def test_feed_older_than_last_is_refused(ledger):
    feed(ledger, [("S-017", "TEE", 5)], "2026-11-27T06:00:00Z")
    result = feed(ledger, [("S-017", "TEE", 1), ("S-042", "TEE", 3)], "2026-11-27T05:00:00Z")
    assert result.refused_locations == ["S-017"]
    assert on_hand(ledger, "S-017", "TEE") == 5
    assert on_hand(ledger, "S-042", "TEE") == 3


def test_physical_basis_feed_keeps_reservations_deducted(ledger):
    feed(ledger, [("WH-EAST", "TEE", 10)], T0)
    submit_orders(ledger, ship_order("SO-1", "TEE", 4))
    run_brokering(ledger)
    feed(ledger, [("WH-EAST", "TEE", 10)], "2026-11-28T05:00:00Z", basis="physical")
    position = get_position(ledger, "WH-EAST", "TEE")
    assert (position.on_hand, position.reserved, position.atp) == (10, 4, 6)


def test_available_basis_feed_does_not_deduct_reservations_twice(ledger):
    feed(ledger, [("WH-EAST", "TEE", 10)], T0)
    submit_orders(ledger, ship_order("SO-1", "TEE", 4))
    run_brokering(ledger)
    # The WMS knows the order: its availability is 10 - 4 = 6, already net of the reservation.
    as_of = datetime.now(UTC).isoformat()  # after the run: the WMS knows the order
    feed(ledger, [("WH-EAST", "TEE", 6)], as_of, basis="available", source="wms")
    position = get_position(ledger, "WH-EAST", "TEE")
    assert (position.on_hand, position.reserved, position.atp) == (10, 4, 6)


def test_batch_with_bad_row_is_refused_whole(ledger):
    feed(ledger, [("S-017", "TEE", 5)], T0)
    lines = [
        orjson.dumps(event("p1", "sale", "S-017", "2026-11-27T09:00:00Z", sku="TEE", quantity=1)),
        orjson.dumps(event("p2", "sale", "S-999", "2026-11-27T09:00:00Z", sku="TEE", quantity=1)),
        orjson.dumps(event("p3", "sale", "S-017", "2026-11-27T09:00:00Z", sku="TEE", quantity=0)),
        orjson.dumps(event("p4", "sale", "S-017", "yesterday", sku="TEE", quantity=1)),
        orjson.dumps(
            {
                "id": "p5",
                "kind": "sale",
                "location_id": "S-017",
                "occurred_at": "2026-11-27T09:00:00Z",
            }
        ),
    ]
    with pytest.raises(InvalidInput) as refused:
        apply_event_batch(ledger, b"\n".join(lines))
    problems = refused.value.problems
    assert sorted({p.loc[1] for p in problems}) == [2, 3, 4, 5]
    assert all(p.loc[0] == "line" for p in problems)
    assert {p.type for p in problems} >= {"unknown_location", "greater_than_equal", "missing"}
    assert on_hand(ledger, "S-017", "TEE") == 5
    # Nothing of it was recorded: the good event still applies when sent again.
    apply_event_batch(ledger, lines[0])
    assert on_hand(ledger, "S-017", "TEE") == 4


def test_feed_with_bad_row_is_refused_whole(ledger):
    feed(ledger, [("S-017", "TEE", 5)], T0)
    body = b"location_id,sku,quantity\nS-017,TEE,1\nS-999,TEE,1\nS-017,CAP,-1\nS-017,HAT,2.0\nS-017,TEE,3\n"
    from models.inventory import parse_feed_header

    header = parse_feed_header(
        {"source": "erp", "basis": "physical", "as_of": "2026-11-28T05:00:00Z"}
    )
    with pytest.raises(InvalidInput) as refused:
        load_feed(ledger, io.BytesIO(body), "csv", header)
    lines = sorted({p.loc[1] for p in refused.value.problems})
    assert lines == [3, 4, 5, 6]  # 6: the same location and sku as line 2
    assert on_hand(ledger, "S-017", "TEE") == 5


def test_json_feed_with_bad_row_is_refused_whole(ledger):
    document = {
        "source": "sim", "basis": "available", "as_of": "2026-11-28T05:00:00Z",
        "rows": [{"location_id": "S-017", "sku": "TEE", "quantity": 1}, {"location_id": "S-017", "sku": "TEE"}],
    }  # fmt: skip
    with pytest.raises(InvalidInput) as refused:
        load_feed(ledger, io.BytesIO(orjson.dumps(document)), "json")
    assert [p.loc for p in refused.value.problems] == [("rows", 1, "quantity")]


def test_json_feed_is_applied(ledger):
    document = {
        "rows": [{"location_id": "S-017", "sku": "TEE", "quantity": 3}],
        "source": "sim", "basis": "physical", "as_of": "2026-11-28T05:00:00Z",  # header after rows
    }  # fmt: skip
    result = load_feed(ledger, io.BytesIO(orjson.dumps(document)), "json")
    assert (result.source, result.rows) == ("sim", 1)
    assert on_hand(ledger, "S-017", "TEE") == 3


# --- shipments and rejections -----------------------------------------------------------------


def test_shipped_settles_the_reservation_and_takes_on_hand(ledger):
    feed(ledger, [("WH-EAST", "TEE", 10)], T0)
    submit_orders(ledger, ship_order("SO-1", "TEE", 4))
    run_brokering(ledger)
    apply_event_batch(
        ledger,
        batch(
            event(
                "sh-1",
                "shipped",
                "WH-EAST",
                "2026-11-27T12:00:00Z",
                sku="TEE",
                quantity=4,
                order_id="SO-1",
                line_id="1",
            )
        ),
    )
    position = get_position(ledger, "WH-EAST", "TEE")
    assert (position.on_hand, position.reserved, position.atp) == (6, 0, 6)


def test_shipment_of_a_line_never_brokered_there_is_refused(ledger):
    with pytest.raises(InvalidInput) as refused:
        apply_event_batch(
            ledger,
            batch(
                event(
                    "sh-1",
                    "shipped",
                    "WH-EAST",
                    "2026-11-27T12:00:00Z",
                    sku="TEE",
                    quantity=1,
                    order_id="X",
                    line_id="1",
                )
            ),
        )
    assert refused.value.problems[0].type == "unknown_reservation"


def test_rejected_line_is_requeued_away_from_rejecting_location(ledger):
    # The store is nearer the customer? No: give the warehouse the stock first, then reject there.
    feed(ledger, [("WH-EAST", "TEE", 5), ("S-017", "TEE", 5)], T0)
    submit_orders(ledger, ship_order("SO-1", "TEE", 2))
    first = run_brokering(ledger)
    rejecting = first.result["allocations"][0]["location_id"]
    apply_event_batch(
        ledger,
        batch(
            event(
                "rj-1",
                "rejected",
                rejecting,
                "2026-11-27T12:00:00Z",
                sku="TEE",
                quantity=2,
                order_id="SO-1",
                line_id="1",
            )
        ),
    )
    order = get_order(ledger, "SO-1")
    assert order.status == "queued"
    assert order.excluded_location_ids == [rejecting]
    assert get_position(ledger, rejecting, "TEE").reserved == 0
    second = run_brokering(ledger)
    assert second.result["allocations"]
    assert {a["location_id"] for a in second.result["allocations"]} == {"WH-EAST", "S-017"} - {
        rejecting
    }
    assert get_order(ledger, "SO-1").status == "brokered"
    # And if every other location rejects too, it stays queued: never back to a rejecting one.
    other = second.result["allocations"][0]["location_id"]
    apply_event_batch(
        ledger,
        batch(
            event(
                "rj-2",
                "rejected",
                other,
                "2026-11-27T13:00:00Z",
                sku="TEE",
                quantity=2,
                order_id="SO-1",
                line_id="1",
            )
        ),
    )
    feed(ledger, [("S-042", "TEE", 0)], T0)
    third = run_brokering(ledger)
    assert third.result["allocations"] == []
    assert get_order(ledger, "SO-1").status == "queued"


def test_rejected_not_found_drops_on_hand(ledger):
    feed(ledger, [("WH-EAST", "TEE", 5)], T0)
    submit_orders(ledger, ship_order("SO-1", "TEE", 2))
    run_brokering(ledger)
    apply_event_batch(
        ledger,
        batch(
            event("rj-1", "rejected", "WH-EAST", "2026-11-27T12:00:00Z", sku="TEE", quantity=2,
                  order_id="SO-1", line_id="1", not_found=True)
        ),
    )  # fmt: skip
    position = get_position(ledger, "WH-EAST", "TEE")
    assert (position.on_hand, position.reserved) == (3, 0)


# --- safety stock, snapshots, history ---------------------------------------------------------


def test_safety_stock_most_specific_setting_wins(ledger):
    apply_catalog(
        ledger,
        parse_catalog(
            {
                "locations": [
                    {"id": "S-042", "kind": "store", "lat": 40.71, "lon": -74.01, "safety_stock": 2}
                ],
                "skus": [{"sku": "CAP", "safety_stock": 3}],
                "safety_stock_by_kind": {"store": 1},
                "position_safety_stock": [
                    {"location_id": "S-042", "sku": "HAT", "safety_stock": 4}
                ],
            }
        ),
    )
    feed(
        ledger,
        [(loc, sku, 10) for loc in ("S-017", "S-042", "WH-EAST") for sku in ("TEE", "CAP", "HAT")],
        T0,
    )
    frame = snapshot(ledger).to_frame().set_index(["location_id", "sku"])["safety_stock"]
    assert frame[("WH-EAST", "TEE")] == 0  # no setting for warehouses
    assert frame[("S-017", "TEE")] == 1  # kind
    assert frame[("S-042", "TEE")] == 2  # location over kind
    assert frame[("S-042", "CAP")] == 3  # sku over location
    assert frame[("S-042", "HAT")] == 4  # (location, sku) over all
    assert get_position(ledger, "S-042", "HAT").atp == 6


def test_snapshot_is_versioned_and_an_earlier_version_can_be_read(ledger):
    first = feed(ledger, [("S-017", "TEE", 5)], T0)
    apply_event_batch(
        ledger, batch(event("p1", "sale", "S-017", "2026-11-27T09:00:00Z", sku="TEE", quantity=2))
    )
    now = snapshot(ledger)
    before = snapshot(ledger, version=first.version)
    assert now.version > before.version == first.version
    assert now.to_frame()["atp"].tolist() == [3]
    assert before.to_frame()["atp"].tolist() == [5]


def test_snapshot_gives_the_inventory_of_a_solve_request(ledger):
    feed(ledger, [("S-017", "TEE", 5), ("S-042", "TEE", 0)], T0)
    assert snapshot(ledger).inventory() == [{"location_id": "S-017", "sku": "TEE", "quantity": 5}]


def test_position_history_records_every_change(ledger):
    feed(ledger, [("WH-EAST", "TEE", 10)], T0)
    apply_event_batch(
        ledger, batch(event("p1", "sale", "WH-EAST", "2026-11-27T09:00:00Z", sku="TEE", quantity=1))
    )
    submit_orders(ledger, ship_order("SO-1", "TEE", 2))
    run = run_brokering(ledger)
    history = get_history(ledger, "WH-EAST", "TEE").changes
    assert [(c.cause, c.on_hand, c.reserved) for c in history] == [
        ("feed", 10, 0),
        ("sale", 9, 0),
        ("reservation", 9, 2),
    ]
    assert history[-1].ref == f"run:{run.id}"
    assert [c.version for c in history] == sorted(c.version for c in history)
