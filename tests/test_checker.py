"""The checker catches every broken rule of the solve contract, and passes the contract's example.

Each test takes the contract's example (request and response), breaks one thing, and expects that
rule's violation; where the break touches nothing else, it expects that violation alone, so a
checker that cries wolf fails too.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.checker import (
    ResponseInvalid,
    Violation,
    assert_valid,
    check,
    check_allocations,
    fill_by_priority,
    haversine_km,
    total_cost,
)
from models.problems import InvalidInput
from models.solve import SolveRequest, UnallocatedReason
from models.validation import parse_solve_request

DATA = Path(__file__).parent / "data"
EXAMPLE_REQUEST: dict[str, Any] = json.loads((DATA / "contract_example_request.json").read_text())
EXAMPLE_RESPONSE: dict[str, Any] = json.loads((DATA / "contract_example_response.json").read_text())
SKU = "TSHIRT-BLUE-XL"

Raw = dict[str, Any]


def request_with(change: Callable[[Raw], Any] | None = None) -> SolveRequest:
    raw = copy.deepcopy(EXAMPLE_REQUEST)
    if change is not None:
        change(raw)
    return parse_solve_request(raw)


def response_with(change: Callable[[Raw], Any] | None = None) -> Raw:
    raw = copy.deepcopy(EXAMPLE_RESPONSE)
    if change is not None:
        change(raw)
    return raw


def rules(request: SolveRequest, response: Raw) -> set[str]:
    return {violation.rule for violation in check(request, response)}


def of_rule(rule: str, request: SolveRequest, response: Raw) -> list[Violation]:
    return [violation for violation in check(request, response) if violation.rule == rule]


def location(raw: Raw, location_id: str) -> Raw:
    return next(loc for loc in raw["locations"] if loc["id"] == location_id)


def order(raw: Raw, order_id: str) -> Raw:
    return next(o for o in raw["orders"] if o["id"] == order_id)


# --- the example ----------------------------------------------------------------------------------


def test_contract_example_passes() -> None:
    assert check(request_with(), response_with()) == []
    assert_valid(request_with(), response_with())


def test_free_fields_and_extra_fields_are_not_checked() -> None:
    def change(raw: Raw) -> None:
        raw["solver"].update(name="cp-sat 9.12", seconds=42.0, strategy="optimal")
        raw["summary"]["by_priority"] = [
            {"priority": 1, "units_requested": 2, "units_allocated": 2},
            {"priority": 0, "units_requested": 1, "units_allocated": 1},
        ]
        raw["request_id"] = "abc"
        raw["allocations"][0]["note"] = "nearest warehouse"

    assert check(request_with(), response_with(change)) == []


def test_rows_may_come_in_any_order() -> None:
    def change(raw: Raw) -> None:
        for key in ("allocations", "remaining", "shipments"):
            raw[key].reverse()

    assert check(request_with(), response_with(change)) == []


def test_rounding_within_a_cent_passes() -> None:
    def change(raw: Raw) -> None:
        raw["shipments"][0]["cost"] = 8.64
        raw["shipments"][0]["distance_km"] = 315.95
        raw["summary"]["total_cost"] = 20.23  # the sum of the rounded costs
        raw["solver"].update(objective=20.23, bound=20.23)

    assert check(request_with(), response_with(change)) == []


# --- rule 1: stock and line quantity ----------------------------------------------------------------


def test_stock_exceeded() -> None:
    request = request_with(lambda raw: raw["inventory"][1].update(quantity=1))
    [violation] = of_rule("stock_exceeded", request, response_with())
    assert violation.where == f"location S-017 / sku {SKU}"
    assert "2 unit(s) allocated, 1 in stock" in violation.message


def test_a_pair_not_in_inventory_has_no_stock() -> None:
    request = request_with(lambda raw: raw["inventory"].pop(0))
    [violation] = of_rule("stock_exceeded", request, response_with())
    assert violation.where == f"location WH-EAST / sku {SKU}"


def test_line_overfilled() -> None:
    request = request_with(lambda raw: order(raw, "SO-1001")["lines"][0].update(quantity=1))
    [violation] = of_rule("line_overfilled", request, response_with())
    assert violation.where == "order SO-1001 / line 1"


# --- rule 2: eligibility --------------------------------------------------------------------------


def test_pickup_order_only_served_by_its_pickup_location() -> None:
    def change(raw: Raw) -> None:
        raw["locations"].append({"id": "S-020", "kind": "store", "lat": 40.7, "lon": -74.0})
        order(raw, "SO-1002")["pickup_location_id"] = "S-020"

    assert rules(request_with(change), response_with()) == {"pickup_wrong_location"}


def test_no_order_served_by_a_location_it_excludes() -> None:
    request = request_with(lambda raw: order(raw, "SO-1001").update(exclude_location_ids=["S-017"]))
    [violation] = check(request, response_with())
    assert (violation.rule, violation.where) == (
        "excluded_location",
        "order SO-1001 / location S-017",
    )


def test_location_that_does_not_ship_serves_no_ship_order() -> None:
    request = request_with(lambda raw: location(raw, "S-017").update(ships=False))
    # The pickup order is still served there: `ships` is about shipping to customers.
    [violation] = check(request, response_with())
    assert (violation.rule, violation.where) == ("ships_false", "order SO-1001 / location S-017")


def test_beyond_policy_max_distance() -> None:
    request = request_with(lambda raw: raw["policy"].update(max_distance_km=310.0))
    [violation] = check(request, response_with())
    assert violation.rule == "beyond_max_distance"
    assert violation.where == "order SO-1001 / location WH-EAST"  # 315.94 km; S-017 is 302.44


def test_distance_limit_never_applies_to_pickup_orders() -> None:
    request = request_with(lambda raw: raw["policy"].update(max_distance_km=1.0))
    wheres = {v.where for v in of_rule("beyond_max_distance", request, response_with())}
    assert wheres == {"order SO-1001 / location WH-EAST", "order SO-1001 / location S-017"}


def test_order_max_distance_overrides_a_tighter_policy() -> None:
    def change(raw: Raw) -> None:
        raw["policy"]["max_distance_km"] = 1.0
        order(raw, "SO-1001")["max_distance_km"] = 400.0

    assert check(request_with(change), response_with()) == []


def test_order_max_distance_overrides_a_looser_policy() -> None:
    def change(raw: Raw) -> None:
        raw["policy"]["max_distance_km"] = 1000.0
        order(raw, "SO-1001")["max_distance_km"] = 310.0

    assert rules(request_with(change), response_with()) == {"beyond_max_distance"}


def test_distance_limit_is_inclusive() -> None:
    wh, to = EXAMPLE_REQUEST["locations"][0], order(EXAMPLE_REQUEST, "SO-1001")["ship_to"]
    exact_km = haversine_km(wh["lat"], wh["lon"], to["lat"], to["lon"])
    request = request_with(lambda raw: order(raw, "SO-1001").update(max_distance_km=exact_km))
    assert check(request, response_with()) == []
    nearer = request_with(
        lambda raw: order(raw, "SO-1001").update(max_distance_km=exact_km - 0.001)
    )
    assert rules(nearer, response_with()) == {"beyond_max_distance"}


def test_haversine_uses_earth_radius_6371() -> None:
    # One degree of latitude is 6371 * pi / 180 km.
    assert haversine_km(0.0, 10.0, 1.0, 10.0) == pytest.approx(111.19492664455873, rel=1e-12)
    assert haversine_km(40.73, -74.17, 42.36, -71.06) == pytest.approx(315.94, abs=0.005)


# --- rule 3: split and partial --------------------------------------------------------------------


def test_split_not_allowed() -> None:
    request = request_with(lambda raw: order(raw, "SO-1001").update(allow_split=False))
    [violation] = check(request, response_with())
    assert (violation.rule, violation.where) == ("split_not_allowed", "order SO-1001")


def test_partial_not_allowed() -> None:
    def change(raw: Raw) -> None:
        order(raw, "SO-1001")["allow_partial"] = False
        order(raw, "SO-1001")["lines"].append({"id": "2", "sku": "SOCKS", "quantity": 1})

    def report_short_line(raw: Raw) -> None:
        raw["unallocated"].append(
            {"order_id": "SO-1001", "line_id": "2", "quantity": 1, "reason": "out_of_stock"}
        )
        raw["summary"].update(units_requested=4, orders_fully_allocated=1)

    [violation] = check(request_with(change), response_with(report_short_line))
    assert (violation.rule, violation.where) == ("partial_not_allowed", "order SO-1001")


def test_all_or_nothing_order_given_nothing_passes() -> None:
    def change(raw: Raw) -> None:
        order(raw, "SO-1002")["allow_partial"] = False
        order(raw, "SO-1002")["lines"][0]["quantity"] = 2

    def give_nothing(raw: Raw) -> None:
        raw["allocations"].pop()
        raw["shipments"].pop()
        raw["remaining"][1]["quantity"] = 1
        raw["unallocated"].append(
            {"order_id": "SO-1002", "line_id": "1", "quantity": 2, "reason": "all_or_nothing"}
        )
        raw["summary"].update(
            units_requested=4, units_allocated=2, orders_fully_allocated=1, shipments=2
        )
        raw["summary"]["total_cost"] = raw["solver"]["objective"] = 19.74
        raw["solver"]["bound"] = 19.74

    assert check(request_with(change), response_with(give_nothing)) == []


# --- rule 4: capacity -----------------------------------------------------------------------------


def test_max_shipments_exceeded_counting_pickup_orders() -> None:
    request = request_with(lambda raw: location(raw, "S-017").update(max_shipments=1))
    [violation] = check(request, response_with())
    assert (violation.rule, violation.where) == ("max_shipments_exceeded", "location S-017")


def test_max_units_exceeded() -> None:
    request = request_with(lambda raw: location(raw, "S-017").update(max_units=1))
    [violation] = check(request, response_with())
    assert (violation.rule, violation.where) == ("max_units_exceeded", "location S-017")


def test_capacity_reached_exactly_passes() -> None:
    def change(raw: Raw) -> None:
        location(raw, "S-017").update(max_shipments=2, max_units=2)

    assert check(request_with(change), response_with()) == []


# --- allocation rows ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [("order_id", "SO-9999"), ("line_id", "7"), ("location_id", "WH-WEST")],
)
def test_allocation_with_unknown_id(field: str, value: str) -> None:
    response = response_with(lambda raw: raw["allocations"][2].update({field: value}))
    assert any(v.where == "allocations.2" for v in of_rule("unknown_id", request_with(), response))


@pytest.mark.parametrize("quantity", [0, -1])
def test_zero_quantity_allocation(quantity: int) -> None:
    def change(raw: Raw) -> None:
        raw["allocations"].append(
            {"order_id": "SO-1002", "line_id": "1", "location_id": "WH-EAST", "quantity": quantity}
        )

    assert rules(request_with(), response_with(change)) == {"zero_quantity_allocation"}


def test_duplicate_allocation_row() -> None:
    def change(raw: Raw) -> None:
        raw["allocations"].append(dict(raw["allocations"][0]))

    assert "duplicate_allocation" in rules(request_with(), response_with(change))


# --- shipments ------------------------------------------------------------------------------------


def test_shipment_cost_mismatch() -> None:
    response = response_with(lambda raw: raw["shipments"][0].update(cost=8.65))
    [violation] = check(request_with(), response)
    assert (violation.rule, violation.where) == ("shipment_cost_mismatch", "shipments.0")
    assert "expected 8.63" in violation.message


def test_shipment_cost_uses_the_location_cost_over_the_policy() -> None:
    request = request_with(lambda raw: location(raw, "WH-EAST").update(shipment_cost=5.0))
    [violation] = of_rule("shipment_cost_mismatch", request, response_with())
    assert "expected 5.63" in violation.message


def test_policy_cost_naming_one_kind_keeps_the_default_for_the_other() -> None:
    request = request_with(lambda raw: raw["policy"].update(shipment_cost={"store": 10.0}))
    assert check(request, response_with()) == []


def test_pickup_shipment_costs_nothing() -> None:
    response = response_with(lambda raw: raw["shipments"][2].update(cost=10.0))
    assert rules(request_with(), response) == {"shipment_cost_mismatch"}


def test_distance_mismatch() -> None:
    response = response_with(lambda raw: raw["shipments"][1].update(distance_km=300.0))
    [violation] = check(request_with(), response)
    assert (violation.rule, violation.where) == ("distance_mismatch", "shipments.1")


def test_pickup_shipment_distance_is_zero() -> None:
    response = response_with(lambda raw: raw["shipments"][2].update(distance_km=0.1))
    assert rules(request_with(), response) == {"distance_mismatch"}


def test_shipment_row_missing() -> None:
    response = response_with(lambda raw: raw["shipments"].pop(1))
    [violation] = check(request_with(), response)
    assert (violation.rule, violation.where) == (
        "shipments_mismatch",
        "order SO-1001 / location S-017",
    )


def test_shipment_row_without_units() -> None:
    def change(raw: Raw) -> None:
        raw["shipments"].append(
            {"order_id": "SO-1002", "location_id": "WH-EAST", "distance_km": 0.0, "cost": 0.0}
        )

    [violation] = check(request_with(), response_with(change))
    assert (violation.rule, violation.where) == ("shipments_mismatch", "shipments.3")


def test_shipment_row_twice() -> None:
    response = response_with(lambda raw: raw["shipments"].append(dict(raw["shipments"][0])))
    assert rules(request_with(), response) == {"shipments_mismatch"}


def test_shipment_with_unknown_id() -> None:
    response = response_with(lambda raw: raw["shipments"][0].update(location_id="WH-WEST"))
    assert "unknown_id" in rules(request_with(), response)


# --- remaining ------------------------------------------------------------------------------------


def test_remaining_quantity_mismatch() -> None:
    response = response_with(lambda raw: raw["remaining"][1].update(quantity=1))
    [violation] = check(request_with(), response)
    assert (violation.rule, violation.where) == ("remaining_mismatch", "remaining.1")


def test_remaining_row_missing() -> None:
    response = response_with(lambda raw: raw["remaining"].pop(0))
    [violation] = check(request_with(), response)
    assert violation.rule == "remaining_mismatch"
    assert violation.where == f"location WH-EAST / sku {SKU}"


def test_remaining_row_not_in_the_request() -> None:
    def change(raw: Raw) -> None:
        raw["remaining"].append({"location_id": "WH-EAST", "sku": "SOCKS", "quantity": 0})

    assert rules(request_with(), response_with(change)) == {"remaining_mismatch"}


def test_remaining_row_twice() -> None:
    response = response_with(lambda raw: raw["remaining"].append(dict(raw["remaining"][0])))
    assert rules(request_with(), response) == {"remaining_mismatch"}


def test_remaining_keeps_inventory_rows_with_no_stock() -> None:
    def change(raw: Raw) -> None:
        raw["inventory"].append({"location_id": "WH-EAST", "sku": "SOCKS", "quantity": 0})

    assert rules(request_with(change), response_with()) == {"remaining_mismatch"}


# --- unallocated ----------------------------------------------------------------------------------


def short_pickup(raw: Raw) -> None:
    """Request change: the pickup order asks 2; S-017 has 2, one goes to SO-1001 first."""
    order(raw, "SO-1002")["lines"][0]["quantity"] = 2


def report_short_pickup(reason: str, quantity: int = 1) -> Callable[[Raw], None]:
    def change(raw: Raw) -> None:
        raw["unallocated"].append(
            {"order_id": "SO-1002", "line_id": "1", "quantity": quantity, "reason": reason}
        )
        raw["summary"].update(units_requested=4, orders_fully_allocated=1)

    return change


def test_short_line_reported_passes() -> None:
    assert check(request_with(short_pickup), response_with(report_short_pickup("outranked"))) == []


def test_short_line_without_unallocated_row() -> None:
    def change(raw: Raw) -> None:
        raw["summary"].update(units_requested=4, orders_fully_allocated=1)

    [violation] = check(request_with(short_pickup), response_with(change))
    assert (violation.rule, violation.where) == ("unallocated_mismatch", "order SO-1002 / line 1")


def test_unallocated_row_with_the_wrong_missing_quantity() -> None:
    response = response_with(report_short_pickup("outranked", quantity=2))
    [violation] = check(request_with(short_pickup), response)
    assert (violation.rule, violation.where) == ("unallocated_mismatch", "unallocated.0")


def test_unallocated_row_for_a_full_line() -> None:
    def change(raw: Raw) -> None:
        raw["unallocated"].append(
            {"order_id": "SO-1001", "line_id": "1", "quantity": 1, "reason": "outranked"}
        )

    assert rules(request_with(), response_with(change)) == {"unallocated_mismatch"}


def test_unallocated_row_twice() -> None:
    def change(raw: Raw) -> None:
        report_short_pickup("outranked")(raw)
        raw["unallocated"].append(dict(raw["unallocated"][0]))

    assert rules(request_with(short_pickup), response_with(change)) == {"unallocated_mismatch"}


def test_unknown_reason() -> None:
    response = response_with(report_short_pickup("sold_out"))
    [violation] = check(request_with(short_pickup), response)
    assert (violation.rule, violation.where) == ("unknown_reason", "unallocated.0")


def test_unallocated_row_with_unknown_id() -> None:
    def change(raw: Raw) -> None:
        report_short_pickup("outranked")(raw)
        raw["unallocated"][0]["line_id"] = "9"

    assert "unknown_id" in rules(request_with(short_pickup), response_with(change))


# The pickup order misses 1 unit because SO-1001 (priority 1) took one of S-017's two; WH-EAST
# holds the sku but cannot serve a pickup at S-017; no capacity is reached; status is optimal.
REASON_FITS = {
    UnallocatedReason.OUT_OF_STOCK: False,  # its pickup store holds 2, all it asks
    UnallocatedReason.NO_ELIGIBLE_LOCATION: True,  # WH-EAST has the sku but may not serve
    UnallocatedReason.OUTRANKED: True,
    UnallocatedReason.ALLOCATED_TO_OTHER_ORDERS: False,  # no order of priority <= 0 got any
    UnallocatedReason.CAPACITY: False,
    UnallocatedReason.CANNOT_SPLIT: False,  # it may split
    UnallocatedReason.ALL_OR_NOTHING: False,  # it may be partial
    UnallocatedReason.TIME_LIMIT: False,  # the solver says optimal
}


@pytest.mark.parametrize("reason", list(UnallocatedReason))
def test_reason_contradicted_by_the_request(reason: UnallocatedReason) -> None:
    found = rules(request_with(short_pickup), response_with(report_short_pickup(reason.value)))
    assert found == (set() if REASON_FITS[reason] else {"reason_inconsistent"})


def test_out_of_stock_counts_only_locations_that_may_serve() -> None:
    # S-017 holds 1 of the 2 the pickup order asks; the warehouse's unit cannot serve a pickup
    # there. SO-1001 (priority 1) takes both units, so the pickup order gets nothing.
    def change(raw: Raw) -> None:
        short_pickup(raw)
        raw["inventory"][1]["quantity"] = 1

    def response(reason: str) -> Raw:
        def give_nothing(raw: Raw) -> None:
            raw["allocations"].pop()
            raw["shipments"].pop()
            raw["unallocated"] = [
                {"order_id": "SO-1002", "line_id": "1", "quantity": 2, "reason": reason}
            ]
            raw["summary"].update(
                units_requested=4, units_allocated=2, orders_fully_allocated=1, shipments=2
            )
            raw["summary"]["total_cost"] = raw["solver"]["objective"] = 19.74
            raw["solver"]["bound"] = 19.74

        return response_with(give_nothing)

    request = request_with(change)
    assert check(request, response("out_of_stock")) == []
    assert check(request, response("outranked")) == []
    assert rules(request, response("allocated_to_other_orders")) == {"reason_inconsistent"}


def test_unit_taken_by_a_sibling_line_may_be_allocated_to_other_orders() -> None:
    # The closed list has no closer reason for a line that lost the last unit to another line
    # of its own order; the checker accepts 'allocated_to_other_orders' for it.
    def change(raw: Raw) -> None:
        order(raw, "SO-1002")["lines"].append({"id": "2", "sku": SKU, "quantity": 1})

    def report(raw: Raw) -> None:
        raw["unallocated"].append(
            {
                "order_id": "SO-1002",
                "line_id": "2",
                "quantity": 1,
                "reason": "allocated_to_other_orders",
            }
        )
        raw["summary"].update(units_requested=4, orders_fully_allocated=1)

    assert check(request_with(change), response_with(report)) == []


def test_capacity_reason_needs_a_capacity_reached() -> None:
    def change(raw: Raw) -> None:
        short_pickup(raw)
        location(raw, "S-017")["max_units"] = 2

    response = response_with(report_short_pickup("capacity"))
    assert check(request_with(change), response) == []


def test_time_limit_reason_fits_a_stopped_solver() -> None:
    def change(raw: Raw) -> None:
        report_short_pickup("time_limit")(raw)
        raw["solver"].update(status="feasible", bound=15.0, gap=0.2589)

    assert check(request_with(short_pickup), response_with(change)) == []


# --- summary --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field",
    [
        "orders",
        "orders_fully_allocated",
        "units_requested",
        "units_allocated",
        "shipments",
        "split_orders",
    ],
)
def test_summary_count_mismatch(field: str) -> None:
    response = response_with(lambda raw: raw["summary"].update({field: raw["summary"][field] - 1}))
    [violation] = check(request_with(), response)
    assert (violation.rule, violation.where) == ("summary_mismatch", f"summary.{field}")


def test_total_cost_mismatch() -> None:
    response = response_with(lambda raw: raw["summary"].update(total_cost=20.3))
    [violation] = check(request_with(), response)
    assert (violation.rule, violation.where) == ("total_cost_mismatch", "summary.total_cost")


def test_total_cost_counts_unit_costs() -> None:
    # Without S-017's 2 x 0.5 the shipments alone come to 19.24.
    def change(raw: Raw) -> None:
        raw["summary"]["total_cost"] = 19.24
        raw["solver"].update(objective=19.24, bound=19.24)

    assert rules(request_with(), response_with(change)) == {
        "total_cost_mismatch",
        "objective_mismatch",
    }


def test_by_priority_must_list_highest_first() -> None:
    def change(raw: Raw) -> None:
        raw["summary"]["by_priority"] = [
            {"priority": 0, "units_requested": 1, "units_allocated": 1},
            {"priority": 1, "units_requested": 2, "units_allocated": 2},
        ]

    [violation] = check(request_with(), response_with(change))
    assert (violation.rule, violation.where) == ("summary_mismatch", "summary.by_priority")


def test_by_priority_fill_mismatch() -> None:
    def change(raw: Raw) -> None:
        raw["summary"]["by_priority"] = [
            {"priority": 1, "units_requested": 2, "units_allocated": 1},
            {"priority": 0, "units_requested": 1, "units_allocated": 1},
        ]

    assert rules(request_with(), response_with(change)) == {"summary_mismatch"}


# --- solver ---------------------------------------------------------------------------------------


def test_objective_mismatch() -> None:
    response = response_with(lambda raw: raw["solver"].update(objective=21.0, bound=21.0))
    [violation] = check(request_with(), response)
    assert (violation.rule, violation.where) == ("objective_mismatch", "solver.objective")


def test_bound_above_objective() -> None:
    response = response_with(lambda raw: raw["solver"].update(bound=25.0))
    assert rules(request_with(), response) == {"bound_above_objective"}


def test_gap_inconsistent_with_objective_and_bound() -> None:
    response = response_with(lambda raw: raw["solver"].update(status="feasible", gap=0.5))
    [violation] = check(request_with(), response)
    assert (violation.rule, violation.where) == ("gap_mismatch", "solver.gap")


def test_optimal_status_needs_a_gap_within_relative_gap() -> None:
    def change(raw: Raw) -> None:
        raw["solver"].update(bound=18.0, gap=round((20.24 - 18.0) / 20.24, 6))

    assert rules(request_with(), response_with(change)) == {"gap_mismatch"}
    response = response_with(change)
    response["solver"]["status"] = "feasible"
    assert check(request_with(), response) == []


def test_solver_status_outside_the_list() -> None:
    response = response_with(lambda raw: raw["solver"].update(status="timeout"))
    assert rules(request_with(), response) == {"solver_status_invalid"}


def test_nothing_allocated_costs_nothing() -> None:
    def change(raw: Raw) -> None:
        raw["inventory"] = []

    def empty(raw: Raw) -> None:
        raw["allocations"], raw["shipments"], raw["remaining"] = [], [], []
        raw["unallocated"] = [
            {"order_id": "SO-1001", "line_id": "1", "quantity": 2, "reason": "out_of_stock"},
            {"order_id": "SO-1002", "line_id": "1", "quantity": 1, "reason": "out_of_stock"},
        ]
        raw["summary"].update(
            orders_fully_allocated=0, units_allocated=0, shipments=0, split_orders=0, total_cost=0.0
        )
        raw["solver"].update(objective=0.0, bound=0.0, gap=0.0)

    assert check(request_with(change), response_with(empty)) == []


# --- malformed responses and the public helpers -----------------------------------------------------


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        (lambda raw: raw["allocations"][0].update(quantity="1"), ("allocations", 0, "quantity")),
        (lambda raw: raw["allocations"][0].update(quantity=1.0), ("allocations", 0, "quantity")),
        (lambda raw: raw["remaining"][0].update(quantity=True), ("remaining", 0, "quantity")),
        (lambda raw: raw.pop("summary"), ("summary",)),
        (lambda raw: raw["shipments"][0].pop("cost"), ("shipments", 0, "cost")),
        (lambda raw: raw["solver"].update(objective="20.24"), ("solver", "objective")),
        (lambda raw: raw.update(unallocated={}), ("unallocated",)),
    ],
)
def test_malformed_response_is_refused_with_the_path(
    change: Callable[[Raw], Any], loc: tuple[str | int, ...]
) -> None:
    with pytest.raises(InvalidInput) as refused:
        check(request_with(), response_with(change))
    assert refused.value.what == "response"
    assert loc in [problem.loc for problem in refused.value.problems]


def test_response_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidInput):
        check(request_with(), [])  # type: ignore[arg-type]


def test_assert_valid_lists_every_violation() -> None:
    def change(raw: Raw) -> None:
        raw["shipments"][0]["cost"] = 1.0
        raw["summary"]["shipments"] = 7

    with pytest.raises(ResponseInvalid) as raised:
        assert_valid(request_with(), response_with(change))
    assert {v.rule for v in raised.value.violations} == {
        "shipment_cost_mismatch",
        "summary_mismatch",
    }
    assert "2 violation(s)" in str(raised.value)
    assert "[summary_mismatch] summary.shipments: 7, expected 3" in str(raised.value)


def test_fill_by_priority_and_total_cost() -> None:
    assert fill_by_priority(request_with(), response_with()) == {1: 2, 0: 1}
    assert total_cost(request_with(), response_with()) == pytest.approx(20.2368, abs=1e-4)
    # A priority whose orders got nothing is still listed, with 0.
    emptied = response_with(lambda raw: raw["allocations"].pop())
    assert fill_by_priority(request_with(), emptied) == {1: 2, 0: 0}


def test_check_allocations_on_bare_rows() -> None:
    rows = EXAMPLE_RESPONSE["allocations"]
    assert check_allocations(request_with(), rows) == []
    over = [*rows, {"order_id": "SO-1002", "line_id": "1", "location_id": "S-017", "quantity": 1}]
    found = {v.rule for v in check_allocations(request_with(), over)}
    assert found == {"duplicate_allocation", "stock_exceeded", "line_overfilled"}


# --- scale ----------------------------------------------------------------------------------------


def test_ten_thousand_orders_are_checked() -> None:
    # How long it takes is a figure of benchmarks/speeds.py, not a verdict of a unit test.
    request, response = _large_batch(orders=10_000, locations=100)
    assert check(request, response) == []


def _large_batch(orders: int, locations: int) -> tuple[SolveRequest, Raw]:
    """A valid response built by hand: order i ships line 1 from location i mod N in full; every
    tenth order also asks a sku nobody holds, reported out of stock."""
    places = [
        {"id": f"L{k}", "kind": "store", "lat": 30.0 + k * 0.1, "lon": -90.0 + k * 0.1}
        for k in range(locations)
    ]
    inventory = [
        {"location_id": place["id"], "sku": f"SKU-{s}", "quantity": 10_000}
        for place in places
        for s in range(5)
    ]
    raw_orders = []
    for i in range(orders):
        lines = [{"id": "1", "sku": f"SKU-{i % 5}", "quantity": 1 + i % 3}]
        if i % 10 == 0:
            lines.append({"id": "2", "sku": "GONE", "quantity": 1})
        raw_orders.append(
            {
                "id": f"O{i}",
                "priority": i % 3,
                "delivery": "ship",
                "ship_to": {"lat": 35.0 + (i % 97) * 0.05, "lon": -85.0 - (i % 89) * 0.05},
                "lines": lines,
            }
        )
    request = parse_solve_request(
        {"locations": places, "inventory": inventory, "orders": raw_orders}
    )
    allocations, shipments, unallocated = [], [], []
    taken: dict[tuple[str, str], int] = {}
    cost = 0.0
    for i, o in enumerate(request.orders):
        place = request.locations[i % locations]
        line = o.lines[0]
        allocations.append(
            {"order_id": o.id, "line_id": "1", "location_id": place.id, "quantity": line.quantity}
        )
        taken[place.id, line.sku] = taken.get((place.id, line.sku), 0) + line.quantity
        assert o.ship_to is not None
        distance = haversine_km(place.lat, place.lon, o.ship_to.lat, o.ship_to.lon)
        shipment_cost = 10.0 + 0.002 * distance
        cost += shipment_cost
        shipments.append(
            {
                "order_id": o.id,
                "location_id": place.id,
                "distance_km": round(distance, 2),
                "cost": round(shipment_cost, 2),
            }
        )
        if len(o.lines) > 1:
            unallocated.append(
                {"order_id": o.id, "line_id": "2", "quantity": 1, "reason": "out_of_stock"}
            )
    remaining = [
        {
            "location_id": row.location_id,
            "sku": row.sku,
            "quantity": row.quantity - taken.get((row.location_id, row.sku), 0),
        }
        for row in request.inventory
    ]
    units = sum(a["quantity"] for a in allocations)
    requested = sum(line.quantity for o in request.orders for line in o.lines)
    response = {
        "allocations": allocations,
        "unallocated": unallocated,
        "remaining": remaining,
        "shipments": shipments,
        "summary": {
            "orders": orders,
            "orders_fully_allocated": orders - len(unallocated),
            "units_requested": requested,
            "units_allocated": units,
            "shipments": len(shipments),
            "split_orders": 0,
            "total_cost": round(cost, 2),
        },
        "solver": {
            "name": "hand",
            "status": "feasible",
            "objective": round(cost, 2),
            "bound": 0.0,
            "gap": 1.0,
            "seconds": 0.0,
        },
    }
    return request, response
