"""The rules the inventory contract sharpened on 2026-11-30 (issue 10), each on a real database:
late cycle counts, limits, times ahead of the clock, the ``available`` feed's omitted rows, and
batches that change nothing."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import numpy as np
import pytest

from models.inventory import parse_catalog
from models.problems import InvalidInput
from services.brokering import run_brokering
from storage.catalog import apply_catalog
from storage.events import apply_event_batch
from storage.orders import submit_orders
from storage.positions import get_position
from storage.snapshots import current_version_of, snapshot
from tests.ledger_fixtures import batch, event, feed, ledger, ship_order

__all__ = ["ledger"]

T0 = "2026-11-27T01:00:00Z"


def on_hand(engine, location: str, sku: str) -> int:
    return get_position(engine, location, sku).on_hand


def count(event_id: str, at: str, quantity: int, location: str = "S-017") -> dict:
    return event(event_id, "variance", location, at, sku="TEE", quantity=quantity, reason="count")


def sale(event_id: str, at: str, quantity: int = 1, location: str = "S-017") -> dict:
    return event(event_id, "sale", location, at, sku="TEE", quantity=quantity)


# --- a count is a full feed of one position as of its occurred_at -----------------------------


@pytest.mark.parametrize("arrival", list(itertools.permutations(range(3))))
def test_count_is_a_one_position_feed_as_of_its_occurred_at_in_any_arrival_order(ledger, arrival):
    feed(ledger, [("S-017", "TEE", 10)], T0)
    events = [
        sale("early", "2026-11-27T01:30:00Z", 2),  # before the count: superseded by it
        count("c", "2026-11-27T02:00:00Z", 5),
        sale("late", "2026-11-27T03:00:00Z", 1),  # after the count: on top of it
    ]
    for k in arrival:
        apply_event_batch(ledger, batch(events[k]))
    assert on_hand(ledger, "S-017", "TEE") == 4


def test_late_count_keeps_a_later_sale_that_arrived_first(ledger):
    # The case: feed 10 at 01:00, sale of 1 at 03:00, then a count of 5 at 02:00.
    feed(ledger, [("S-017", "TEE", 10)], T0)
    apply_event_batch(ledger, batch(sale("s", "2026-11-27T03:00:00Z")))
    apply_event_batch(ledger, batch(count("c", "2026-11-27T02:00:00Z", 5)))
    assert on_hand(ledger, "S-017", "TEE") == 4


def test_late_count_in_one_batch_with_deltas_on_both_sides(ledger):
    feed(ledger, [("S-017", "TEE", 10)], T0)
    apply_event_batch(ledger, batch(sale("s1", "2026-11-27T04:00:00Z", 2)))
    apply_event_batch(
        ledger,
        batch(
            sale("s2", "2026-11-27T03:00:00Z", 1),
            count("c", "2026-11-27T02:00:00Z", 7),
            sale("s0", "2026-11-27T01:30:00Z", 3),
        ),
    )
    assert on_hand(ledger, "S-017", "TEE") == 7 - 1 - 2


def test_count_older_than_a_count_already_applied_is_superseded(ledger):
    feed(ledger, [("S-017", "TEE", 10)], T0)
    apply_event_batch(ledger, batch(count("c2", "2026-11-27T03:00:00Z", 6)))
    result = apply_event_batch(ledger, batch(count("c1", "2026-11-27T02:00:00Z", 2)))
    assert result.outcomes == {"ignored_before_feed": 1}
    assert on_hand(ledger, "S-017", "TEE") == 6


def test_count_of_zero_is_a_valid_count(ledger):
    feed(ledger, [("S-017", "TEE", 10)], T0)
    apply_event_batch(ledger, batch(count("c", "2026-11-27T02:00:00Z", 0)))
    assert on_hand(ledger, "S-017", "TEE") == 0


# --- the ledger's clock -----------------------------------------------------------------------


def test_event_more_than_24_hours_ahead_of_the_ledgers_clock_is_bad_input(ledger):
    feed(ledger, [("S-017", "TEE", 10)], T0)
    with pytest.raises(InvalidInput) as refused:
        apply_event_batch(
            ledger,
            batch(
                sale("ok", "2026-11-27T03:00:00Z"),
                sale("typo", "2062-11-27T03:00:00Z"),
                count("typo2", "2100-01-01T00:00:00Z", 3),
            ),
        )
    problems = refused.value.problems
    assert [p.type for p in problems] == ["future_time", "future_time"]
    assert [p.loc[:2] for p in problems] == [("events", 1), ("events", 2)]
    assert on_hand(ledger, "S-017", "TEE") == 10  # nothing of the batch applied


def test_feed_more_than_24_hours_ahead_of_the_ledgers_clock_is_bad_input(ledger):
    feed(ledger, [("S-017", "TEE", 10)], T0)
    with pytest.raises(InvalidInput) as refused:
        feed(ledger, [("S-017", "TEE", 3)], "2100-01-01T00:00:00Z")
    assert refused.value.problems[0].type == "future_time"
    assert on_hand(ledger, "S-017", "TEE") == 10
    # A later real event still applies: the mistyped feed silenced nothing.
    apply_event_batch(ledger, batch(sale("s", "2026-11-27T03:00:00Z")))
    assert on_hand(ledger, "S-017", "TEE") == 9


# --- the available feed's omitted rows ----------------------------------------------------------


def test_available_feed_that_omits_a_reserved_position_sets_on_hand_to_reserved(ledger):
    feed(ledger, [("WH-EAST", "TEE", 10), ("WH-EAST", "CAP", 4)], T0)
    submit_orders(ledger, ship_order("SO-1", "TEE", 3))
    run_brokering(ledger)
    # The feed's as_of lies before the run (a night feed arriving late): unlisted is still
    # "0 available", on_hand = reserved.
    feed(ledger, [("WH-EAST", "CAP", 4)], "2026-11-28T05:00:00Z", basis="available", source="wms")
    position = get_position(ledger, "WH-EAST", "TEE")
    assert (position.on_hand, position.reserved, position.atp) == (3, 3, 0)


def test_available_feed_after_a_run_that_omits_its_position_sets_on_hand_to_reserved(ledger):
    feed(ledger, [("WH-EAST", "TEE", 10), ("WH-EAST", "CAP", 4)], T0)
    submit_orders(ledger, ship_order("SO-1", "TEE", 3))
    run_brokering(ledger)
    # The WMS's availability as of a moment after the run: it knows the reservation.
    as_of = datetime.now(UTC).isoformat()
    feed(ledger, [("WH-EAST", "CAP", 4)], as_of, basis="available", source="wms")
    position = get_position(ledger, "WH-EAST", "TEE")
    assert (position.on_hand, position.reserved, position.atp) == (3, 3, 0)


# --- batches that change nothing --------------------------------------------------------------


def test_empty_event_batch_does_not_bump_the_ledger_version(ledger):
    before = current_version_of(ledger)
    result = apply_event_batch(ledger, b"[]")
    assert result.version == before == current_version_of(ledger)


def test_batch_of_only_duplicates_does_not_bump_the_ledger_version(ledger):
    feed(ledger, [("S-017", "TEE", 10)], T0)
    apply_event_batch(ledger, batch(sale("s", "2026-11-27T03:00:00Z")))
    before = current_version_of(ledger)
    result = apply_event_batch(ledger, batch(sale("s", "2026-11-27T03:00:00Z")))
    assert result.duplicates == ["s"]
    assert result.version == before == current_version_of(ledger)
    assert on_hand(ledger, "S-017", "TEE") == 9


# --- quantities bounded at 10^9 -------------------------------------------------------------------


def test_found_variances_that_would_take_on_hand_past_the_limit_are_refused(ledger):
    feed(ledger, [("S-017", "TEE", 1_000_000_000)], T0)
    found = event(
        "f", "variance", "S-017", "2026-11-27T03:00:00Z", sku="TEE", quantity=1, reason="found"
    )
    with pytest.raises(InvalidInput) as refused:
        apply_event_batch(
            ledger,
            batch(
                sale("s", "2026-11-27T02:00:00Z"),
                found,
                {**found, "id": "f2", "occurred_at": "2026-11-27T04:00:00Z"},
            ),
        )
    assert [p.type for p in refused.value.problems] == ["beyond_limit"]
    assert refused.value.problems[0].loc[:2] == ("events", 2)
    assert on_hand(ledger, "S-017", "TEE") == 1_000_000_000


def test_sales_that_would_take_on_hand_below_minus_the_limit_are_refused(ledger):
    feed(ledger, [("S-017", "TEE", 0)], T0)
    apply_event_batch(ledger, batch(sale("s1", "2026-11-27T02:00:00Z", 1_000_000_000)))
    with pytest.raises(InvalidInput) as refused:
        apply_event_batch(ledger, batch(sale("s2", "2026-11-27T03:00:00Z", 1)))
    assert refused.value.problems[0].type == "beyond_limit"
    assert on_hand(ledger, "S-017", "TEE") == -1_000_000_000


# --- snapshots of earlier versions read the settings as they were ----------------------------


@pytest.mark.parametrize(
    "setting",
    [
        {"skus": [{"sku": "TEE", "safety_stock": 2}]},
        {
            "locations": [
                {"id": "S-017", "kind": "store", "lat": 40.75, "lon": -73.99, "safety_stock": 2}
            ]
        },
        {"safety_stock_by_kind": {"store": 2}},
        {"position_safety_stock": [{"location_id": "S-017", "sku": "TEE", "safety_stock": 2}]},
    ],
    ids=["sku", "location", "kind", "position"],
)
def test_snapshot_of_an_earlier_version_reads_the_settings_as_they_were(ledger, setting):
    version = feed(ledger, [("S-017", "TEE", 12)], T0).version
    apply_catalog(ledger, parse_catalog(setting))
    then = snapshot(ledger, version=version).to_frame().set_index("sku").loc["TEE"]
    now = snapshot(ledger).to_frame().set_index("sku").loc["TEE"]
    assert (int(then["safety_stock"]), int(then["atp"])) == (0, 12)
    assert (int(now["safety_stock"]), int(now["atp"])) == (2, 10)


def test_snapshot_of_an_earlier_version_reads_the_online_thresholds_as_they_were(ledger):
    apply_catalog(ledger, parse_catalog({"skus": [{"sku": "TEE", "online_threshold": 1}]}))
    version = feed(ledger, [("S-017", "TEE", 12)], T0).version
    apply_catalog(ledger, parse_catalog({"skus": [{"sku": "TEE", "online_threshold": 5}]}))
    then = snapshot(ledger, version=version)
    now = snapshot(ledger)
    sku = int(np.flatnonzero(then.catalog.sku_code == "TEE")[0])
    assert then.catalog.sku_online_threshold[sku] == 1
    assert now.catalog.sku_online_threshold[sku] == 5


def test_available_feed_row_that_would_take_on_hand_past_the_limit_is_refused(ledger):
    feed(ledger, [("WH-EAST", "TEE", 10)], T0)
    submit_orders(ledger, ship_order("SO-1", "TEE", 3))
    run_brokering(ledger)
    as_of = datetime.now(UTC).isoformat()
    with pytest.raises(InvalidInput) as refused:
        feed(ledger, [("WH-EAST", "CAP", 1), ("WH-EAST", "TEE", 1_000_000_000)], as_of,
             basis="available", source="wms")  # fmt: skip
    assert [(p.loc, p.type) for p in refused.value.problems] == [(("line", 3), "beyond_limit")]
    assert on_hand(ledger, "WH-EAST", "TEE") == 10


def test_feed_listing_a_position_in_two_chunks_is_refused_with_both_lines(ledger):
    # Chunks of the CSV reader hold 500,000 rows: the repeat sits in the next chunk.
    rows = [("S-017", f"SKU-{k}", 1) for k in range(500_000)] + [("S-017", "SKU-7", 2)]
    with pytest.raises(InvalidInput) as refused:
        feed(ledger, rows, T0)
    assert [(p.loc, p.type) for p in refused.value.problems] == [
        (("line", 500_002), "duplicate_row")
    ]
    assert snapshot(ledger).positions == 0
