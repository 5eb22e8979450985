"""The contract's "Bad input": refused whole, every problem listed with the path of its field."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from models.problems import InvalidInput
from models.validation import parse_solve_request, parse_solve_request_json

EXAMPLE = json.loads((Path(__file__).parent / "data" / "contract_example_request.json").read_text())


def example() -> dict[str, Any]:
    return copy.deepcopy(EXAMPLE)


def problems(raw: Any) -> list[tuple[str, str]]:
    """(path, type) of every problem found; fails the test when the request is accepted."""
    with pytest.raises(InvalidInput) as caught:
        parse_solve_request(raw)
    return [(".".join(map(str, p.loc)), p.type) for p in caught.value.problems]


def test_contract_example_is_accepted() -> None:
    parse_solve_request(example())


def test_unknown_inventory_location_is_refused() -> None:
    raw = example()
    raw["inventory"][0]["location_id"] = "NOWHERE"
    assert problems(raw) == [("inventory.0.location_id", "unknown_id")]


def test_unknown_pickup_location_is_refused() -> None:
    raw = example()
    raw["orders"][1]["pickup_location_id"] = "NOWHERE"
    assert problems(raw) == [("orders.1.pickup_location_id", "unknown_id")]


def test_unknown_excluded_location_is_refused() -> None:
    raw = example()
    raw["orders"][0]["exclude_location_ids"] = ["S-017", "NOWHERE"]
    assert problems(raw) == [("orders.0.exclude_location_ids.1", "unknown_id")]


def test_duplicate_location_id_is_refused() -> None:
    raw = example()
    raw["locations"].append(dict(raw["locations"][0]))
    assert problems(raw) == [("locations.2.id", "duplicate_id")]


def test_duplicate_order_id_is_refused() -> None:
    raw = example()
    raw["orders"][1]["id"] = "SO-1001"
    assert problems(raw) == [("orders.1.id", "duplicate_id")]


def test_duplicate_line_id_within_an_order_is_refused() -> None:
    raw = example()
    raw["orders"][0]["lines"].append({"id": "1", "sku": "X", "quantity": 1})
    assert problems(raw) == [("orders.0.lines.1.id", "duplicate_id")]


def test_same_line_id_in_two_orders_is_accepted() -> None:
    parse_solve_request(example())  # both orders of the example have a line "1"


def test_inventory_pair_listed_twice_is_refused() -> None:
    raw = example()
    raw["inventory"].append({"location_id": "S-017", "sku": "TSHIRT-BLUE-XL", "quantity": 4})
    assert problems(raw) == [("inventory.2", "duplicate_id")]


def test_pickup_order_at_a_location_that_does_not_serve_pickup_is_refused() -> None:
    raw = example()
    raw["orders"][1]["pickup_location_id"] = "WH-EAST"  # warehouses default to pickup false
    assert problems(raw) == [("orders.1.pickup_location_id", "pickup_not_served")]


def test_store_with_pickup_false_refuses_pickup_orders() -> None:
    raw = example()
    raw["locations"][1]["pickup"] = False
    assert problems(raw) == [("orders.1.pickup_location_id", "pickup_not_served")]


def test_warehouse_with_pickup_true_serves_pickup_orders() -> None:
    raw = example()
    raw["locations"][0]["pickup"] = True
    raw["orders"][1]["pickup_location_id"] = "WH-EAST"
    parse_solve_request(raw)


@pytest.mark.parametrize("quantity", [-1, 2.0, "2", True, None])
def test_inventory_quantity_must_be_an_integer_at_least_zero(quantity: Any) -> None:
    raw = example()
    raw["inventory"][0]["quantity"] = quantity
    assert [path for path, _ in problems(raw)] == ["inventory.0.quantity"]


@pytest.mark.parametrize("quantity", [0, -3, 1.5, 2.0, "2"])
def test_line_quantity_must_be_an_integer_at_least_one(quantity: Any) -> None:
    raw = example()
    raw["orders"][0]["lines"][0]["quantity"] = quantity
    assert [path for path, _ in problems(raw)] == ["orders.0.lines.0.quantity"]


@pytest.mark.parametrize(
    ("field", "value"), [("lat", 90.5), ("lat", -91), ("lon", 180.01), ("lon", "40")]
)
def test_coordinates_out_of_range_are_refused(field: str, value: Any) -> None:
    raw = example()
    raw["locations"][0][field] = value
    assert [path for path, _ in problems(raw)] == [f"locations.0.{field}"]


def test_ship_to_out_of_range_is_refused() -> None:
    raw = example()
    raw["orders"][0]["ship_to"]["lat"] = 100
    assert [path for path, _ in problems(raw)] == ["orders.0.ship_to.lat"]


def test_ship_order_without_ship_to_is_refused() -> None:
    raw = example()
    del raw["orders"][0]["ship_to"]
    assert problems(raw) == [("orders.0.ship_to", "missing")]


def test_pickup_order_without_pickup_location_is_refused() -> None:
    raw = example()
    del raw["orders"][1]["pickup_location_id"]
    assert problems(raw) == [("orders.1.pickup_location_id", "missing")]


def test_order_without_lines_is_refused() -> None:
    raw = example()
    raw["orders"][0]["lines"] = []
    assert [path for path, _ in problems(raw)] == ["orders.0.lines"]


def test_unknown_location_kind_is_refused() -> None:
    raw = example()
    raw["locations"][0]["kind"] = "depot"
    assert [path for path, _ in problems(raw)] == ["locations.0.kind"]


def test_unknown_delivery_is_refused() -> None:
    raw = example()
    raw["orders"][0]["delivery"] = "drone"
    assert [path for path, _ in problems(raw)] == ["orders.0.delivery"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("cost_per_km", -0.1), ("time_limit_s", 0), ("relative_gap", 1.5), ("max_distance_km", -5)],
)
def test_policy_values_out_of_range_are_refused(field: str, value: Any) -> None:
    raw = example()
    raw["policy"][field] = value
    assert [path for path, _ in problems(raw)] == [f"policy.{field}"]


def test_negative_costs_are_refused() -> None:
    raw = example()
    raw["locations"][1]["unit_cost"] = -1
    raw["locations"][1]["shipment_cost"] = -2
    raw["policy"]["shipment_cost"]["store"] = -3
    assert sorted(path for path, _ in problems(raw)) == [
        "locations.1.shipment_cost",
        "locations.1.unit_cost",
        "policy.shipment_cost.store",
    ]


def test_capacities_must_be_integers_at_least_zero() -> None:
    raw = example()
    raw["locations"][1]["max_shipments"] = -1
    raw["locations"][1]["max_units"] = 2.5
    assert sorted(path for path, _ in problems(raw)) == [
        "locations.1.max_shipments",
        "locations.1.max_units",
    ]


def test_every_problem_is_listed_at_once() -> None:
    raw = example()
    raw["locations"][0]["lat"] = 95  # schema
    raw["inventory"][0]["location_id"] = "NOWHERE"  # cross-reference
    raw["orders"][1]["id"] = "SO-1001"  # duplicate
    raw["orders"][0]["lines"][0]["quantity"] = "2"  # type
    del raw["orders"][0]["ship_to"]  # delivery rule
    assert problems(raw) == [
        ("inventory.0.location_id", "unknown_id"),
        ("locations.0.lat", "less_than_equal"),
        ("orders.0.lines.0.quantity", "int_type"),
        ("orders.0.ship_to", "missing"),
        ("orders.1.id", "duplicate_id"),
    ]


def test_missing_top_level_fields_are_refused() -> None:
    assert problems({}) == [
        ("inventory", "missing"),
        ("locations", "missing"),
        ("orders", "missing"),
    ]


def test_a_body_that_is_not_an_object_is_refused() -> None:
    assert problems([1, 2]) == [("", "model_type")]


def test_malformed_json_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_solve_request_json(b'{"locations": [')
    assert caught.value.problems[0].type == "json_invalid"


def test_unknown_fields_are_ignored() -> None:
    raw = example()
    raw["orders"][0]["channel"] = "web"
    raw["retailer"] = "ACME"
    parse_solve_request(raw)


def test_policy_strategy_is_an_extension_with_a_closed_set() -> None:
    raw = example()
    raw["policy"]["strategy"] = "random"
    assert [path for path, _ in problems(raw)] == ["policy.strategy"]
