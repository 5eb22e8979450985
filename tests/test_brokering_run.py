"""engine/brokering_run.py: the queue split into solve requests around excluded locations, the
responses merged into one, no unit or capacity promised twice across the parts."""

from __future__ import annotations

import numpy as np

from engine.brokering_run import QueuedOrder, broker, plan_parts
from engine.solve import solve
from tests.ledger_fixtures import ledger

__all__ = ["ledger"]

LOCATIONS = [
    {"id": "WH", "kind": "warehouse", "lat": 40.73, "lon": -74.17},
    {"id": "S1", "kind": "store", "lat": 40.75, "lon": -73.99, "max_units": 1},
]


def ship(order_id: str, quantity: int = 1, priority: int = 0) -> dict:
    return {"id": order_id, "priority": priority, "delivery": "ship", "ship_to": {"lat": 40.7, "lon": -74.0},
            "lines": [{"id": "1", "sku": "TEE", "quantity": quantity}]}  # fmt: skip


def test_orders_with_exclusions_are_planned_first_and_apart():
    queue = [
        QueuedOrder(ship("A")),
        QueuedOrder(ship("B"), frozenset({"WH"})),
        QueuedOrder(ship("C", priority=5), frozenset({"S1"})),
    ]
    parts = plan_parts(queue)
    assert [(sorted(p.excluded_location_ids), [o["id"] for o in p.orders]) for p in parts] == [
        (["S1"], ["C"]),
        (["WH"], ["B"]),
        ([], ["A"]),
    ]


def test_an_excluded_location_never_serves_the_order_and_no_unit_is_promised_twice():
    inventory = [
        {"location_id": "WH", "sku": "TEE", "quantity": 1},
        {"location_id": "S1", "sku": "TEE", "quantity": 1},
    ]
    queue = [
        QueuedOrder(ship("A")),
        QueuedOrder(ship("B"), frozenset({"WH"})),
        QueuedOrder(ship("C")),
    ]
    result = broker(LOCATIONS, inventory, queue, None, solve)
    served = {(a["order_id"], a["location_id"]): a["quantity"] for a in result["allocations"]}
    assert served[("B", "S1")] == 1
    assert ("B", "WH") not in served
    assert sum(served.values()) == 2  # two units in stock, three orders
    assert result["remaining"] == [{"location_id": "WH", "sku": "TEE", "quantity": 0},
                                   {"location_id": "S1", "sku": "TEE", "quantity": 0}]  # fmt: skip
    assert result["summary"]["units_allocated"] == 2
    assert result["summary"]["orders"] == 3


def test_capacity_used_by_an_earlier_part_is_not_offered_again():
    inventory = [{"location_id": "S1", "sku": "TEE", "quantity": 5}]
    queue = [QueuedOrder(ship("B"), frozenset({"WH"})), QueuedOrder(ship("A"))]
    result = broker(LOCATIONS, inventory, queue, None, solve)
    # S1 may give one unit in the batch (max_units 1): B took it.
    assert [(a["order_id"], a["quantity"]) for a in result["allocations"]] == [("B", 1)]
    assert [u["order_id"] for u in result["unallocated"]] == ["A"]


def test_pickup_order_rejected_by_its_store_has_no_eligible_location():
    pickup = {
        "id": "P",
        "delivery": "pickup",
        "pickup_location_id": "S1",
        "lines": [{"id": "1", "sku": "TEE", "quantity": 1}],
    }
    inventory = [{"location_id": "S1", "sku": "TEE", "quantity": 1}]
    result = broker(LOCATIONS, inventory, [QueuedOrder(pickup, frozenset({"S1"}))], None, solve)
    assert result["allocations"] == []
    assert result["unallocated"] == [
        {"order_id": "P", "line_id": "1", "quantity": 1, "reason": "no_eligible_location"}
    ]


def test_large_network_offers_nearest_and_largest_stocks_only():
    from engine.brokering_run import candidate_rows

    # Locations 0 (at the customer), 1 (near, small stock), 2 (far, large stock); skus 0 and 1.
    lat, lon = np.array([40.0, 40.1, 45.0]), np.array([-74.0, -74.0, -70.0])
    rows = {"location": [0, 1, 2, 0, 1], "sku": [0, 0, 0, 1, 1], "atp": [1, 1, 100, 5, 5]}
    offered = candidate_rows(
        np.array(rows["location"]), np.array(rows["sku"]), np.array(rows["atp"]), lat, lon,
        np.array([True, True, True]),
        line_sku=np.array([0]), line_quantity=np.array([1]), line_lat=np.array([40.0]),
        line_lon=np.array([-74.0]), line_pickup_location=np.array([-1]), nearest=1, cover=1.0,
    )  # fmt: skip
    # The nearest location and the largest stock of sku 0; nothing of sku 1 (nobody asks for it).
    assert offered.tolist() == [True, False, True, False, False]


def test_run_over_a_large_network_still_brokers_and_reserves(ledger, monkeypatch):
    from storage import runs
    from storage.orders import submit_orders
    from storage.positions import get_position
    from tests.ledger_fixtures import feed, ship_order

    monkeypatch.setattr(runs, "EXACT_UP_TO_ROWS", 0)  # take the large-network path here
    feed(
        ledger,
        [("WH-EAST", "TEE", 4), ("S-017", "TEE", 1), ("S-042", "CAP", 9)],
        "2026-11-27T05:00:00Z",
    )
    submit_orders(ledger, {"orders": [ship_order("SO-1", "TEE", 3), ship_order("SO-2", "TEE", 2)]})
    run = runs.run_brokering(ledger)
    assert run.result["summary"]["units_allocated"] == 5
    assert [r["sku"] for r in run.result["remaining"]] == ["TEE", "TEE"]  # CAP was not offered
    assert (
        get_position(ledger, "WH-EAST", "TEE").reserved
        + get_position(ledger, "S-017", "TEE").reserved
        == 5
    )
