"""The greedy baseline: every allocation rule of the contract, and the routing rules it stands for.

Feasibility is checked against the request itself (ids, stock, coordinates), not against the
problem arrays the greedy works on, so that an indexing slip in either cannot hide the other's.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Literal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.generate import Size, generate
from engine.greedy import greedy_allocate, order_sequence
from engine.problem import ProblemData, build_problem
from models.solve import SolveRequest
from models.validation import parse_solve_request

Preference = Literal["nearest", "cheapest"]

# --- helpers ----------------------------------------------------------------------------------


def _haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((phi2 - phi1) / 2) ** 2
        + math.cos(phi1) * math.cos(phi2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(min(1.0, a)))


def allocate(
    raw: dict[str, Any], preference: Preference = "nearest"
) -> tuple[SolveRequest, ProblemData, dict[tuple[str, str, str], int]]:
    """Run the greedy on a raw request; the allocation keyed by (order id, line id, location id)."""
    request = parse_solve_request(raw)
    data = build_problem(request)
    x = greedy_allocate(data, preference)
    assert x.dtype == np.int64 and x.shape == (data.n_candidates,)
    assert (x >= 0).all()
    units: dict[tuple[str, str, str], int] = {}
    for c in np.flatnonzero(x).tolist():
        line = int(data.candidate_line[c])
        key = (
            data.order_ids[int(data.line_order[line])],
            data.line_ids[line],
            data.location_ids[int(data.candidate_location[c])],
        )
        units[key] = units.get(key, 0) + int(x[c])
    check_feasible(request, units)
    return request, data, units


def check_feasible(request: SolveRequest, units: dict[tuple[str, str, str], int]) -> None:
    """Raise AssertionError on any broken allocation rule of the contract (rules 1-4)."""
    locations = {loc.id: loc for loc in request.locations}
    stock = {(row.location_id, row.sku): row.quantity for row in request.inventory}
    policy_km = request.policy.max_distance_km
    taken_stock: dict[tuple[str, str], int] = defaultdict(int)
    shipments: dict[str, set[str]] = defaultdict(set)
    units_at: dict[str, int] = defaultdict(int)
    orders = {order.id: order for order in request.orders}
    for (order_id, line_id, location_id), quantity in units.items():
        assert quantity > 0
        order = orders[order_id]
        line = next(line for line in order.lines if line.id == line_id)
        location = locations[location_id]
        taken_stock[(location_id, line.sku)] += quantity
        shipments[location_id].add(order_id)
        units_at[location_id] += quantity
        if order.delivery == "pickup":
            assert location_id == order.pickup_location_id, (order_id, location_id)
        else:
            assert location.ships, (order_id, location_id)
            assert order.ship_to is not None
            limit = order.max_distance_km if order.max_distance_km is not None else policy_km
            if limit is not None:
                distance = _haversine_km(
                    order.ship_to.lat, order.ship_to.lon, location.lat, location.lon
                )
                assert distance <= limit + 1e-9, (order_id, location_id, distance)
    for key, quantity in taken_stock.items():
        assert quantity <= stock.get(key, 0), f"stock of {key} exceeded"
    for order in request.orders:
        got = {line.id: 0 for line in order.lines}
        served_by = set()
        for (order_id, line_id, location_id), quantity in units.items():
            if order_id == order.id:
                got[line_id] += quantity
                served_by.add(location_id)
        for line in order.lines:
            assert got[line.id] <= line.quantity, (order.id, line.id)
        if not order.allow_split:
            assert len(served_by) <= 1, (order.id, served_by)
        if not order.allow_partial and any(got.values()):
            assert all(got[line.id] == line.quantity for line in order.lines), order.id
    for location_id, location in locations.items():
        if location.max_shipments is not None:
            assert len(shipments[location_id]) <= location.max_shipments, location_id
        if location.max_units is not None:
            assert units_at[location_id] <= location.max_units, location_id


def warehouse(location_id: str, lat: float, lon: float, **extra: Any) -> dict[str, Any]:
    return {"id": location_id, "kind": "warehouse", "lat": lat, "lon": lon, **extra}


def store(location_id: str, lat: float, lon: float, **extra: Any) -> dict[str, Any]:
    return {"id": location_id, "kind": "store", "lat": lat, "lon": lon, **extra}


def stock(location_id: str, sku: str, quantity: int) -> dict[str, Any]:
    return {"location_id": location_id, "sku": sku, "quantity": quantity}


def ship_order(
    order_id: str, lat: float, lon: float, *lines: tuple[str, int], **extra: Any
) -> dict[str, Any]:
    return {
        "id": order_id,
        "delivery": "ship",
        "ship_to": {"lat": lat, "lon": lon},
        "lines": [
            {"id": str(i + 1), "sku": sku, "quantity": q} for i, (sku, q) in enumerate(lines)
        ],
        **extra,
    }


def request(
    locations: list[dict[str, Any]],
    inventory: list[dict[str, Any]],
    orders: list[dict[str, Any]],
    **policy: Any,
) -> dict[str, Any]:
    return {
        "locations": locations,
        "inventory": inventory,
        "orders": orders,
        "policy": {"strategy": "greedy", **policy},
    }


# Boston area customer; a store in Boston, a warehouse in New Jersey, one in Los Angeles.
BOSTON = (42.36, -71.06)
S_BOSTON = store("S-BOS", 42.35, -71.07)
WH_EAST = warehouse("WH-EAST", 40.73, -74.17)
WH_WEST = warehouse("WH-WEST", 34.05, -118.24)


# --- the routing rules ------------------------------------------------------------------------


def test_single_line_order_goes_to_the_nearest_location_with_stock() -> None:
    _, _, units = allocate(
        request(
            [WH_WEST, WH_EAST, S_BOSTON],
            [stock("WH-WEST", "A", 5), stock("WH-EAST", "A", 5), stock("S-BOS", "A", 5)],
            [ship_order("O1", *BOSTON, ("A", 2))],
        )
    )
    assert units == {("O1", "1", "S-BOS"): 2}


def test_nearest_location_that_serves_the_order_complete_beats_a_nearer_partial_one() -> None:
    _, _, units = allocate(
        request(
            [S_BOSTON, WH_EAST, WH_WEST],
            [
                stock("S-BOS", "A", 5),
                stock("WH-EAST", "A", 5),
                stock("WH-EAST", "B", 1),
                stock("WH-WEST", "A", 9),
                stock("WH-WEST", "B", 9),
            ],
            [ship_order("O1", *BOSTON, ("A", 1), ("B", 1))],
        )
    )
    assert units == {("O1", "1", "WH-EAST"): 1, ("O1", "2", "WH-EAST"): 1}


def test_without_a_complete_location_lines_go_to_their_nearest_sources() -> None:
    _, _, units = allocate(
        request(
            [S_BOSTON, WH_EAST, WH_WEST],
            [
                stock("S-BOS", "A", 1),
                stock("WH-EAST", "A", 1),
                stock("WH-WEST", "A", 5),
                stock("WH-EAST", "B", 5),
            ],
            [ship_order("O1", *BOSTON, ("A", 3), ("B", 1))],
        )
    )
    # A: the Boston store's unit, then New Jersey's, then Los Angeles for the third; B: New Jersey.
    assert units == {
        ("O1", "1", "S-BOS"): 1,
        ("O1", "1", "WH-EAST"): 1,
        ("O1", "1", "WH-WEST"): 1,
        ("O1", "2", "WH-EAST"): 1,
    }


def test_higher_priority_order_is_served_first_even_if_newer() -> None:
    _, _, units = allocate(
        request(
            [S_BOSTON],
            [stock("S-BOS", "A", 1)],
            [
                ship_order("OLD", *BOSTON, ("A", 1), placed_at="2026-11-01T00:00:00Z"),
                ship_order(
                    "URGENT", *BOSTON, ("A", 1), priority=1, placed_at="2026-11-27T00:00:00Z"
                ),
            ],
        )
    )
    assert units == {("URGENT", "1", "S-BOS"): 1}


def test_within_a_priority_the_oldest_order_is_served_first_and_undated_ones_last() -> None:
    orders = [
        ship_order("UNDATED", *BOSTON, ("A", 1)),
        ship_order("NEW", *BOSTON, ("A", 1), placed_at="2026-11-27T08:00:00Z"),
        ship_order("OLD", *BOSTON, ("A", 1), placed_at="2026-11-26T08:00:00+00:00"),
    ]
    _, data, units = allocate(request([S_BOSTON], [stock("S-BOS", "A", 2)], orders))
    assert units == {("OLD", "1", "S-BOS"): 1, ("NEW", "1", "S-BOS"): 1}
    assert [data.order_ids[o] for o in order_sequence(data)] == ["OLD", "NEW", "UNDATED"]


def test_ties_in_priority_and_age_keep_request_order() -> None:
    orders = [
        ship_order(f"O{i}", *BOSTON, ("A", 1), placed_at="2026-11-27T08:00:00Z") for i in range(5)
    ]
    _, data, units = allocate(request([S_BOSTON], [stock("S-BOS", "A", 2)], orders))
    assert set(units) == {("O0", "1", "S-BOS"), ("O1", "1", "S-BOS")}
    assert order_sequence(data).tolist() == [0, 1, 2, 3, 4]


def test_all_or_nothing_order_that_cannot_be_completed_is_rolled_back() -> None:
    _, _, units = allocate(
        request(
            [S_BOSTON, WH_EAST],
            [stock("S-BOS", "A", 1), stock("WH-EAST", "B", 1)],
            [
                ship_order("AON", *BOSTON, ("A", 1), ("B", 2), allow_partial=False, priority=1),
                ship_order("LATER", *BOSTON, ("A", 1), ("B", 1)),
            ],
        )
    )
    # The all-or-nothing order gives its units back; the later order gets them.
    assert units == {("LATER", "1", "S-BOS"): 1, ("LATER", "2", "WH-EAST"): 1}


def test_all_or_nothing_order_that_can_be_completed_by_splitting_is_split() -> None:
    _, _, units = allocate(
        request(
            [S_BOSTON, WH_EAST],
            [stock("S-BOS", "A", 1), stock("WH-EAST", "B", 1)],
            [ship_order("AON", *BOSTON, ("A", 1), ("B", 1), allow_partial=False)],
        )
    )
    assert units == {("AON", "1", "S-BOS"): 1, ("AON", "2", "WH-EAST"): 1}


def test_no_split_order_without_a_complete_location_takes_the_one_serving_most_units() -> None:
    _, _, units = allocate(
        request(
            [S_BOSTON, WH_EAST, WH_WEST],
            [
                stock("S-BOS", "A", 1),
                stock("WH-EAST", "A", 2),
                stock("WH-EAST", "B", 1),
                stock("WH-WEST", "B", 3),
            ],
            [ship_order("NS", *BOSTON, ("A", 3), ("B", 3), allow_split=False)],
        )
    )
    # Boston serves 1 unit, New Jersey 3, Los Angeles 3: the nearer of the two best.
    assert units == {("NS", "1", "WH-EAST"): 2, ("NS", "2", "WH-EAST"): 1}


def test_no_split_all_or_nothing_order_without_a_complete_location_gets_nothing() -> None:
    _, _, units = allocate(
        request(
            [S_BOSTON, WH_EAST],
            [stock("S-BOS", "A", 1), stock("WH-EAST", "B", 1)],
            [ship_order("NS", *BOSTON, ("A", 1), ("B", 1), allow_split=False, allow_partial=False)],
        )
    )
    assert units == {}


def test_pickup_order_only_served_by_its_store() -> None:
    _, _, units = allocate(
        request(
            [S_BOSTON, store("S-NYC", 40.75, -73.99), WH_EAST],
            [stock("S-BOS", "A", 1), stock("S-NYC", "A", 5), stock("WH-EAST", "A", 5)],
            [
                {
                    "id": "P1",
                    "delivery": "pickup",
                    "pickup_location_id": "S-BOS",
                    "lines": [{"id": "1", "sku": "A", "quantity": 3}],
                },
            ],
        )
    )
    assert units == {("P1", "1", "S-BOS"): 1}


def test_store_shipment_and_unit_caps_send_later_orders_elsewhere() -> None:
    _, _, units = allocate(
        request(
            [store("S-BOS", 42.35, -71.07, max_shipments=1, max_units=3), WH_EAST],
            [stock("S-BOS", "A", 10), stock("WH-EAST", "A", 10)],
            [
                ship_order("O1", *BOSTON, ("A", 1), placed_at="2026-11-27T01:00:00Z"),
                ship_order("O2", *BOSTON, ("A", 1), placed_at="2026-11-27T02:00:00Z"),
            ],
        )
    )
    assert units == {("O1", "1", "S-BOS"): 1, ("O2", "1", "WH-EAST"): 1}
    _, _, units = allocate(
        request(
            [store("S-BOS", 42.35, -71.07, max_units=3), WH_EAST],
            [stock("S-BOS", "A", 10), stock("WH-EAST", "A", 10)],
            [ship_order("O1", *BOSTON, ("A", 2)), ship_order("O2", *BOSTON, ("A", 2))],
        )
    )
    # O2 does not fit complete in Boston's last unit: it goes whole to New Jersey.
    assert units == {("O1", "1", "S-BOS"): 2, ("O2", "1", "WH-EAST"): 2}


def test_distance_limit_and_non_shipping_locations_are_respected() -> None:
    _, _, units = allocate(
        request(
            [store("S-BOS", 42.35, -71.07, ships=False), WH_EAST, WH_WEST],
            [stock("S-BOS", "A", 5), stock("WH-EAST", "A", 1), stock("WH-WEST", "A", 5)],
            [ship_order("O1", *BOSTON, ("A", 3), max_distance_km=500.0)],
        )
    )
    assert units == {("O1", "1", "WH-EAST"): 1}


def test_lines_of_one_sku_share_the_location_stock() -> None:
    _, _, units = allocate(
        request(
            [S_BOSTON, WH_EAST],
            [stock("S-BOS", "A", 1), stock("WH-EAST", "A", 2)],
            [ship_order("O1", *BOSTON, ("A", 1), ("A", 1))],
        )
    )
    assert units == {("O1", "1", "WH-EAST"): 1, ("O1", "2", "WH-EAST"): 1}


def test_empty_and_unservable_batches() -> None:
    _, _, units = allocate(request([S_BOSTON], [], [ship_order("O1", *BOSTON, ("A", 1))]))
    assert units == {}
    _, _, units = allocate(
        request([S_BOSTON], [stock("S-BOS", "A", 0)], [ship_order("O1", *BOSTON, ("A", 1))])
    )
    assert units == {}


# --- properties over random instances ---------------------------------------------------------


@st.composite
def small_requests(draw: st.DrawFn) -> dict[str, Any]:
    n_locations = draw(st.integers(1, 4))
    skus = ["A", "B", "C"]
    locations = []
    for index in range(n_locations):
        kind = draw(st.sampled_from(["warehouse", "store"]))
        location: dict[str, Any] = {
            "id": f"L{index}",
            "kind": kind,
            "lat": draw(st.floats(25.0, 48.0)),
            "lon": draw(st.floats(-124.0, -67.0)),
            "ships": draw(st.booleans()),
            "pickup": True,
        }
        if draw(st.booleans()):
            location["max_shipments"] = draw(st.integers(0, 2))
        if draw(st.booleans()):
            location["max_units"] = draw(st.integers(0, 6))
        locations.append(location)
    inventory = [
        stock(loc["id"], sku, draw(st.integers(0, 4)))
        for loc in locations
        for sku in skus
        if draw(st.booleans())
    ]
    orders = []
    for index in range(draw(st.integers(1, 8))):
        lines = [
            (draw(st.sampled_from(skus)), draw(st.integers(1, 3)))
            for _ in range(draw(st.integers(1, 3)))
        ]
        extra: dict[str, Any] = {
            "priority": draw(st.integers(0, 2)),
            "allow_split": draw(st.booleans()),
            "allow_partial": draw(st.booleans()),
        }
        if draw(st.booleans()):
            extra["placed_at"] = f"2026-11-2{draw(st.integers(0, 7))}T08:00:00Z"
        if draw(st.integers(0, 3)) == 0:
            extra["max_distance_km"] = draw(st.floats(0.0, 3000.0))
        if draw(st.integers(0, 4)) == 0:
            order = {
                "id": f"O{index}",
                "delivery": "pickup",
                "pickup_location_id": draw(st.sampled_from([loc["id"] for loc in locations])),
                "lines": [
                    {"id": str(i + 1), "sku": s, "quantity": q} for i, (s, q) in enumerate(lines)
                ],
                **extra,
            }
        else:
            order = ship_order(
                f"O{index}",
                draw(st.floats(25.0, 48.0)),
                draw(st.floats(-124.0, -67.0)),
                *lines,
                **extra,
            )
        orders.append(order)
    return request(locations, inventory, orders)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_requests())
def test_greedy_allocation_is_feasible_and_leaves_no_reachable_stock_unused(
    raw: dict[str, Any],
) -> None:
    req, data, units = allocate(raw)  # allocate() checks the contract's rules
    # Stock only ever shrinks, so stock and capacity still free at the end were free when each
    # order was routed: an order that may be split and served in part cannot have missed them.
    left = {(row.location_id, row.sku): row.quantity for row in req.inventory}
    ships: dict[str, set[str]] = defaultdict(set)
    units_at: dict[str, int] = defaultdict(int)
    for (order_id, line_id, location_id), quantity in units.items():
        order = next(o for o in req.orders if o.id == order_id)
        sku = next(line.sku for line in order.lines if line.id == line_id)
        left[(location_id, sku)] -= quantity
        ships[location_id].add(order_id)
        units_at[location_id] += quantity
    for c in range(data.n_candidates):
        line = int(data.candidate_line[c])
        order = req.orders[int(data.line_order[line])]
        if not (order.allow_split and order.allow_partial):
            continue
        location = req.locations[int(data.candidate_location[c])]
        got = sum(
            q for (o, li, _), q in units.items() if o == order.id and li == data.line_ids[line]
        )
        if got == data.line_quantity[line]:
            continue
        has_stock = left[(location.id, data.sku_ids[int(data.line_sku[line])])] > 0
        ships_free = (
            location.max_shipments is None
            or len(ships[location.id]) < location.max_shipments
            or order.id in ships[location.id]
        )
        units_free = location.max_units is None or units_at[location.id] < location.max_units
        assert not (has_stock and ships_free and units_free), (
            order.id,
            data.line_ids[line],
            location.id,
        )


def test_generated_instance_is_feasible() -> None:
    raw = generate(Size(orders=300, locations=12, skus=80), seed=7)
    _, data, units = allocate(raw)
    assert sum(units.values()) > 0.5 * int(data.line_quantity.sum())


def test_a_split_order_skips_sources_that_reached_their_shipment_cap() -> None:
    capped_store = store("S-BOS", 42.35, -71.07, max_shipments=1)
    _, _, units = allocate(
        request(
            [capped_store, WH_EAST, WH_WEST],
            [
                stock("S-BOS", "A", 5),
                stock("S-BOS", "B", 5),
                stock("WH-EAST", "A", 5),
                stock("WH-WEST", "B", 5),
            ],
            [
                ship_order("FIRST", *BOSTON, ("A", 1), placed_at="2026-11-27T01:00:00Z"),
                # No location has A and C; the store has stock of A and B but no shipment left.
                ship_order(
                    "SPLIT", *BOSTON, ("A", 1), ("B", 1), ("C", 1), placed_at="2026-11-27T02:00:00Z"
                ),
                ship_order(
                    "NOSPLIT",
                    *BOSTON,
                    ("A", 2),
                    ("B", 2),
                    ("C", 1),
                    allow_split=False,
                    placed_at="2026-11-27T03:00:00Z",
                ),
            ],
        )
    )
    assert units == {
        ("FIRST", "1", "S-BOS"): 1,
        ("SPLIT", "1", "WH-EAST"): 1,
        ("SPLIT", "2", "WH-WEST"): 1,
        ("NOSPLIT", "1", "WH-EAST"): 2,
    }


def test_a_split_order_stops_at_a_source_unit_cap() -> None:
    _, _, units = allocate(
        request(
            [store("S-BOS", 42.35, -71.07, max_units=2), WH_EAST],
            [stock("S-BOS", "A", 5), stock("WH-EAST", "A", 5)],
            [ship_order("O1", *BOSTON, ("A", 5), allow_split=True)],
        )
    )
    # New Jersey serves it complete; without that, the store's cap of 2 would bind.
    assert units == {("O1", "1", "WH-EAST"): 5}
    _, _, units = allocate(
        request(
            [store("S-BOS", 42.35, -71.07, max_units=2), WH_EAST],
            [stock("S-BOS", "A", 5), stock("WH-EAST", "A", 2)],
            [ship_order("O1", *BOSTON, ("A", 5))],
        )
    )
    assert units == {("O1", "1", "S-BOS"): 2, ("O1", "1", "WH-EAST"): 2}


# --- the rules, written out plainly, as an independent answer ----------------------------------


def reference_greedy(
    req: SolveRequest, preference: str = "nearest"
) -> dict[tuple[str, str, str], int]:
    """The greedy rules of the module docstring, over the request's objects, one loop per rule.

    Slow and obvious on purpose: the vectorised greedy must give exactly this allocation (ties in
    distance go to the location listed first, as there).
    """
    stock = {(row.location_id, row.sku): row.quantity for row in req.inventory}
    ships_left = {loc.id: loc.max_shipments for loc in req.locations}
    units_left = {loc.id: loc.max_units for loc in req.locations}
    policy_km = req.policy.max_distance_km

    def has(capacity: dict[str, int | None], location_id: str, amount: int) -> bool:
        left = capacity[location_id]
        return left is None or left >= amount

    def spend(capacity: dict[str, int | None], location_id: str, amount: int) -> None:
        left = capacity[location_id]
        if left is not None:
            capacity[location_id] = left - amount

    def units_cap(location_id: str) -> int:
        left = units_left[location_id]
        return 10**9 if left is None else left

    shipment_cost = req.policy.shipment_cost

    def nearest_first(order: Any) -> list[str]:
        if order.delivery == "pickup":
            return [order.pickup_location_id]
        limit = order.max_distance_km if order.max_distance_km is not None else policy_km
        units = sum(line.quantity for line in order.lines)
        ranked = []
        for index, loc in enumerate(req.locations):
            distance = _haversine_km(order.ship_to.lat, order.ship_to.lon, loc.lat, loc.lon)
            if loc.ships and (limit is None or distance <= limit):
                if preference == "nearest":
                    measure = distance
                else:  # what shipping the whole order from here would cost
                    fixed = loc.shipment_cost
                    if fixed is None:
                        fixed = (
                            shipment_cost.store if loc.kind == "store" else shipment_cost.warehouse
                        )
                    measure = fixed + req.policy.cost_per_km * distance + units * loc.unit_cost
                ranked.append((measure, index, loc.id))
        return [location_id for _, _, location_id in sorted(ranked)]

    def sort_key(item: tuple[int, Any]) -> tuple[Any, ...]:
        index, order = item
        placed = order.placed_at.timestamp() if order.placed_at is not None else 0.0
        return (-order.priority, order.placed_at is None, placed, index)

    units: dict[tuple[str, str, str], int] = {}
    for _, order in sorted(enumerate(req.orders), key=sort_key):
        locations = nearest_first(order)
        order_units = sum(line.quantity for line in order.lines)
        demand: dict[str, int] = defaultdict(int)
        for line in order.lines:
            demand[line.sku] += line.quantity
        complete = next(
            (
                loc
                for loc in locations
                if has(ships_left, loc, 1)
                and has(units_left, loc, order_units)
                and all(stock.get((loc, sku), 0) >= need for sku, need in demand.items())
            ),
            None,
        )
        if complete is not None:
            for line in order.lines:
                stock[(complete, line.sku)] -= line.quantity
                units[(order.id, line.id, complete)] = line.quantity
            spend(ships_left, complete, 1)
            spend(units_left, complete, order_units)
            continue
        if order.allow_split:
            saved = (dict(stock), dict(ships_left), dict(units_left))
            taken: dict[tuple[str, str, str], int] = {}
            used: set[str] = set()
            for line in order.lines:
                need = line.quantity
                for loc in locations:
                    take = min(need, stock.get((loc, line.sku), 0), units_cap(loc))
                    if take <= 0:
                        continue
                    if loc not in used:
                        if not has(ships_left, loc, 1):
                            continue
                        spend(ships_left, loc, 1)
                        used.add(loc)
                    stock[(loc, line.sku)] -= take
                    spend(units_left, loc, take)
                    taken[(order.id, line.id, loc)] = take
                    need -= take
                    if need == 0:
                        break
            if sum(taken.values()) < order_units and not order.allow_partial:
                stock, ships_left, units_left = saved
                continue
            units.update(taken)
            continue
        if not order.allow_partial:
            continue
        best, best_units = None, 0
        for loc in locations:
            if not has(ships_left, loc, 1):
                continue
            left = {sku: stock.get((loc, sku), 0) for sku in demand}
            servable = 0
            for line in order.lines:
                got = min(line.quantity, left[line.sku])
                left[line.sku] -= got
                servable += got
            servable = min(servable, units_cap(loc))
            if servable > best_units:
                best, best_units = loc, servable
        if best is None:
            continue
        spend(ships_left, best, 1)
        for line in order.lines:
            take = min(line.quantity, stock.get((best, line.sku), 0), units_cap(best))
            if take > 0:
                stock[(best, line.sku)] -= take
                spend(units_left, best, take)
                units[(order.id, line.id, best)] = take
    return units


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_requests())
def test_greedy_gives_exactly_the_allocation_of_the_plain_rules(raw: dict[str, Any]) -> None:
    req, _, units = allocate(raw)
    assert units == reference_greedy(req)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_requests())
def test_cheapest_first_greedy_gives_exactly_the_allocation_of_the_plain_rules(
    raw: dict[str, Any],
) -> None:
    req, _, units = allocate(raw, preference="cheapest")
    assert units == reference_greedy(req, preference="cheapest")


@pytest.mark.parametrize("preference", ["nearest", "cheapest"])
def test_greedy_matches_the_plain_rules_on_a_generated_batch(preference: Preference) -> None:
    raw = generate(Size(orders=400, locations=15, skus=60), seed=11)
    req, _, units = allocate(raw, preference=preference)
    assert units == reference_greedy(req, preference=preference)


def test_cheapest_first_prefers_a_farther_warehouse_to_a_dear_nearby_store() -> None:
    raw = request(
        [store("S-BOS", 42.35, -71.07, unit_cost=2.0), WH_EAST],
        [stock("S-BOS", "A", 5), stock("WH-EAST", "A", 5)],
        [ship_order("O1", *BOSTON, ("A", 2))],
    )
    # Store: 10 + 2 x 2.0 = 14; New Jersey: 8 + 0.002 x 300 km = 8.6.
    assert allocate(raw)[2] == {("O1", "1", "S-BOS"): 2}
    assert allocate(raw, preference="cheapest")[2] == {("O1", "1", "WH-EAST"): 2}


def test_unknown_preference_is_refused() -> None:
    raw = request([S_BOSTON], [], [ship_order("O1", *BOSTON, ("A", 1))])
    data = build_problem(parse_solve_request(raw))
    with pytest.raises(ValueError, match="unknown preference"):
        greedy_allocate(data, "farthest")  # type: ignore[arg-type]
