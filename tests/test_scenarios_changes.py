"""Change-sets: each kind applied as documented, to a new request, the baseline never touched."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from models.validation import parse_solve_request
from scenarios.changes import ChangeSetError, apply_changes, describe_changes
from scenarios.schema import ChangeSet
from tests.builders import location, pickup_order, request, ship_order, stock

NEWARK = (40.73, -74.17)
PROVIDENCE = (41.82, -71.41)


def baseline() -> dict[str, Any]:
    return request(
        [
            location("WH-01-NEWARK", "warehouse", NEWARK),
            location("S-0001", "store", max_shipments=4, max_units=9),
            location("S-0002", "store", PROVIDENCE, unit_cost=1.2),
        ],
        [
            stock("WH-01-NEWARK", "SKU-A", 10),
            stock("WH-01-NEWARK", "SKU-B", 3),
            stock("S-0001", "SKU-A", 3),
            stock("S-0002", "SKU-A", 1),
            stock("S-0002", "SKU-B", 5),
        ],
        [
            ship_order("SO-1", ("SKU-A", 1), priority=1),
            ship_order("SO-2", ("SKU-A", 2), ("SKU-B", 1)),
            pickup_order("SO-3", "S-0001", ("SKU-A", 1)),
            ship_order("SO-4", ("SKU-B", 1), priority=2),
        ],
    )


def changed(changes: dict[str, Any], seed: int = 0) -> tuple[dict[str, Any], dict[str, Any]]:
    """The baseline and the changed request; asserts the baseline was not written to and the
    changed request is one the solve contract accepts."""
    base = baseline()
    pristine = copy.deepcopy(base)
    new = apply_changes(base, ChangeSet.model_validate(changes), seed=seed)
    assert base == pristine, "the baseline was mutated"
    parse_solve_request(new)
    return base, new


def by_id(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in items}


def quantities(req: dict[str, Any]) -> dict[tuple[str, str], int]:
    return {(r["location_id"], r["sku"]): r["quantity"] for r in req["inventory"]}


# --- locations -------------------------------------------------------------------------------


def test_location_override_by_id_writes_only_the_given_fields() -> None:
    base, new = changed({"locations": [{"ids": ["S-0001"], "max_shipments": 40, "unit_cost": 2.0}]})
    store = by_id(new["locations"])["S-0001"]
    assert store["max_shipments"] == 40 and store["unit_cost"] == 2.0
    assert store["max_units"] == 9  # untouched
    assert by_id(new["locations"])["S-0002"] == by_id(base["locations"])["S-0002"]


def test_location_override_by_kind_reaches_every_store_and_no_warehouse() -> None:
    _, new = changed({"locations": [{"kind": "store", "ships": False}]})
    ships = {loc["id"]: loc.get("ships", True) for loc in new["locations"]}
    assert ships == {"WH-01-NEWARK": True, "S-0001": False, "S-0002": False}


def test_location_override_by_pattern() -> None:
    _, new = changed({"locations": [{"pattern": "S-*2", "shipment_cost": 14.0}]})
    costs = {loc["id"]: loc.get("shipment_cost") for loc in new["locations"]}
    assert costs == {"WH-01-NEWARK": None, "S-0001": None, "S-0002": 14.0}


def test_null_lifts_a_cap() -> None:
    _, new = changed({"locations": [{"ids": ["S-0001"], "max_shipments": None}]})
    store = by_id(new["locations"])["S-0001"]
    assert "max_shipments" not in store and store["max_units"] == 9


def test_closed_store_serves_nothing_and_its_pickups_ship_home() -> None:
    _, new = changed({"locations": [{"ids": ["S-0001"], "closed": True}]})
    store = by_id(new["locations"])["S-0001"]
    assert store["ships"] is False and store["pickup"] is False
    rerouted = by_id(new["orders"])["SO-3"]
    assert rerouted["delivery"] == "ship"
    assert rerouted["ship_to"] == {"lat": store["lat"], "lon": store["lon"]}
    assert "pickup_location_id" not in rerouted
    assert quantities(new)[("S-0001", "SKU-A")] == 3  # still on hand, just not promised


def test_closed_store_can_cancel_its_pickups() -> None:
    _, new = changed(
        {"locations": [{"ids": ["S-0001"], "closed": True, "orphaned_pickup": "cancel"}]}
    )
    assert [o["id"] for o in new["orders"]] == ["SO-1", "SO-2", "SO-4"]


def test_pickup_turned_off_reroutes_only_that_stores_orders() -> None:
    _, new = changed({"locations": [{"ids": ["S-0002"], "pickup": False}]})
    assert by_id(new["orders"])["SO-3"]["delivery"] == "pickup"


# --- inventory and safety stock --------------------------------------------------------------


def test_inventory_factor_rounds_down_on_selected_rows_only() -> None:
    _, new = changed({"inventory": [{"kind": "store", "factor": 0.5}]})
    assert quantities(new) == {
        ("WH-01-NEWARK", "SKU-A"): 10,
        ("WH-01-NEWARK", "SKU-B"): 3,
        ("S-0001", "SKU-A"): 1,
        ("S-0002", "SKU-A"): 0,
        ("S-0002", "SKU-B"): 2,
    }


def test_inventory_set_and_add_by_sku() -> None:
    _, new = changed(
        {
            "inventory": [
                {"skus": ["SKU-B"], "set": 7},
                {"ids": ["WH-01-NEWARK"], "sku_pattern": "SKU-A", "add": -15},
            ]
        }
    )
    got = quantities(new)
    assert got[("WH-01-NEWARK", "SKU-B")] == 7 and got[("S-0002", "SKU-B")] == 7
    assert got[("WH-01-NEWARK", "SKU-A")] == 0  # never below zero
    assert got[("S-0001", "SKU-A")] == 3


def test_inventory_set_adds_a_pair_the_baseline_does_not_list() -> None:
    base, new = changed({"inventory": [{"ids": ["S-0001"], "skus": ["SKU-B"], "set": 4}]})
    assert quantities(new)[("S-0001", "SKU-B")] == 4
    assert len(new["inventory"]) == len(base["inventory"]) + 1


def test_safety_stock_withholds_units_per_row() -> None:
    _, new = changed(
        {"safety_stock": [{"kind": "store", "units": 2}, {"kind": "warehouse", "units": 5}]}
    )
    assert quantities(new) == {
        ("WH-01-NEWARK", "SKU-A"): 5,
        ("WH-01-NEWARK", "SKU-B"): 0,
        ("S-0001", "SKU-A"): 1,
        ("S-0002", "SKU-A"): 0,
        ("S-0002", "SKU-B"): 3,
    }


# --- demand ----------------------------------------------------------------------------------


def test_demand_x2_copies_every_order_once_near_its_address() -> None:
    base, new = changed({"demand": {"scale": 2}})
    assert len(new["orders"]) == 2 * len(base["orders"])
    orders = by_id(new["orders"])
    for original in base["orders"]:
        copy_ = orders[f"{original['id']}~2"]
        assert copy_["lines"] == original["lines"]
        assert copy_.get("priority", 0) == original.get("priority", 0)
        if original["delivery"] == "ship":
            assert abs(copy_["ship_to"]["lat"] - original["ship_to"]["lat"]) < 0.5
            assert copy_["ship_to"] != original["ship_to"]
        else:
            assert copy_["pickup_location_id"] == original["pickup_location_id"]


def test_fractional_demand_scale_is_deterministic_per_seed() -> None:
    _, first = changed({"demand": {"scale": 1.5}}, seed=7)
    _, again = changed({"demand": {"scale": 1.5}}, seed=7)
    assert first == again
    assert len(first["orders"]) == 6  # 4 orders + round(0.5 x 4) copies
    seeds = {tuple(o["id"] for o in changed({"demand": {"scale": 1.5}}, seed=s)[1]["orders"])
             for s in range(10)}  # fmt: skip
    assert len(seeds) > 1  # the seed decides which orders are copied


def test_demand_below_one_keeps_a_sample() -> None:
    _, new = changed({"demand": {"scale": 0.5}}, seed=1)
    assert len(new["orders"]) == 2


def test_demand_filter_keeps_matching_orders() -> None:
    _, new = changed({"demand": {"filter": {"delivery": "ship", "min_priority": 1}}})
    assert [o["id"] for o in new["orders"]] == ["SO-1", "SO-4"]


def test_demand_filter_that_keeps_nothing_is_refused() -> None:
    with pytest.raises(ChangeSetError) as caught:
        changed({"demand": {"filter": {"priorities": [9]}}})
    assert caught.value.problems == [(("demand", "filter"), "the filter keeps no order")]


# --- policy ----------------------------------------------------------------------------------


def test_policy_override_merges_into_the_baseline_policy() -> None:
    base, new = changed(
        {
            "policy": {
                "shipment_cost": {"store": 14.0},
                "strategy": "greedy",
                "max_distance_km": 500.0,
                "time_limit_s": 3,
            }
        }
    )
    assert new["policy"]["shipment_cost"] == {"store": 14.0}
    assert new["policy"]["strategy"] == "greedy"
    assert new["policy"]["max_distance_km"] == 500.0
    assert new["policy"]["time_limit_s"] == 3
    assert new["policy"]["relative_gap"] == base["policy"]["relative_gap"]
    parsed = parse_solve_request(new)
    assert parsed.policy.shipment_cost.warehouse == 8.0  # the other kind keeps its default


def test_policy_null_max_distance_lifts_the_limit() -> None:
    base = baseline()
    base["policy"]["max_distance_km"] = 100.0
    new = apply_changes(base, ChangeSet.model_validate({"policy": {"max_distance_km": None}}))
    assert new["policy"]["max_distance_km"] is None
    assert base["policy"]["max_distance_km"] == 100.0


# --- refusals and words ----------------------------------------------------------------------


def test_every_misfit_is_listed_with_its_path() -> None:
    with pytest.raises(ChangeSetError) as caught:
        changed(
            {
                "locations": [{"ids": ["S-0404"], "ships": False}],
                "inventory": [{"skus": ["SKU-Z"], "factor": 2}],
                "safety_stock": [{"pattern": "DC-*", "units": 1}],
            }
        )
    paths = [path for path, _ in caught.value.problems]
    assert ("locations", 0, "ids", 0) in paths
    assert ("inventory", 0, "skus", 0) in paths
    assert ("safety_stock", 0) in paths


def test_changes_are_described_in_words() -> None:
    changes = ChangeSet.model_validate(
        {
            "locations": [{"ids": ["S-0001"], "closed": True}],
            "safety_stock": [{"kind": "store", "units": 2}],
            "demand": {"scale": 2},
            "policy": {"strategy": "greedy"},
        }
    )
    assert describe_changes(changes) == [
        "S-0001: closed (pickup orders re-routed to delivery)",
        "stores: safety stock 2 per sku",
        "demand x2",
        "policy: strategy greedy",
    ]


def test_safety_stock_is_remembered_on_the_row() -> None:
    _, new = changed({"safety_stock": [{"ids": ["S-0002"], "units": 2}]})
    rows = {(r["location_id"], r["sku"]): r for r in new["inventory"]}
    assert rows[("S-0002", "SKU-A")]["safety_stock"] == 1  # only 1 on hand
    assert rows[("S-0002", "SKU-B")]["safety_stock"] == 2
    assert "safety_stock" not in rows[("S-0001", "SKU-A")]
