"""Hypothesis strategies: random tiny solve requests, as the raw JSON an OMS would send.

Small enough for an exact answer by enumeration or a MILP, varied enough to hit every rule: a few
locations in a ~55 x 50 km box (so distance limits of 5-60 km cut some of them off), two or three
skus, optional capacities, pickup and ship orders, split and partial flags, and costs that make
ties likely (``cost_per_km`` 0, equal shipment costs) as well as ones that make them unlikely.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# The property tests' settings: reproducible (derandomized, no example database), no deadline
# (a solve of a tiny batch may take a tenth of a second on a busy machine).
REPRODUCIBLE = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

SKUS = ("A", "B", "C")
# The box: about 55 km north-south and 50 km east-west, around New York.
LAT = st.floats(40.0, 40.5, allow_nan=False).map(lambda v: round(v, 4))
LON = st.floats(-74.0, -73.4, allow_nan=False).map(lambda v: round(v, 4))
MONEY = st.sampled_from([0.0, 0.5, 1.25, 3.0, 7.5, 8.0, 10.0])


@st.composite
def locations(draw: st.DrawFn, max_locations: int) -> list[dict[str, Any]]:
    count = draw(st.integers(1, max_locations))
    found = []
    for k in range(count):
        location: dict[str, Any] = {
            "id": f"L{k}",
            "kind": draw(st.sampled_from(["warehouse", "store"])),
            "lat": draw(LAT),
            "lon": draw(LON),
        }
        if _sometimes(draw, 5):
            location["ships"] = False
        if _sometimes(draw, 2):
            location["pickup"] = draw(st.booleans())
        if _sometimes(draw, 4):
            location["max_shipments"] = draw(st.integers(0, 3))
        if _sometimes(draw, 4):
            location["max_units"] = draw(st.integers(0, 4))
        if _sometimes(draw, 3):
            location["shipment_cost"] = draw(MONEY)
        if _sometimes(draw, 2):
            location["unit_cost"] = draw(st.sampled_from([0.0, 0.25, 0.5, 1.25]))
        found.append(location)
    return found


def _sometimes(draw: st.DrawFn, one_in: int) -> bool:
    """True about once in ``one_in`` draws. Hypothesis shrinks towards False, i.e. towards the
    contract's defaults, so a counterexample keeps only the departures that matter."""
    return draw(st.integers(0, one_in - 1)) == one_in - 1


def _mostly_high(low: int, high: int) -> st.SearchStrategy[int]:
    # Hypothesis favours small integers; stock should be there more often than not.
    return st.integers(0, high - low).map(lambda v: high - v)


def _serves_pickup(location: dict[str, Any]) -> bool:
    return bool(location.get("pickup", location["kind"] == "store"))


@st.composite
def solve_requests(
    draw: st.DrawFn,
    max_locations: int = 4,
    max_orders: int = 4,
    max_lines: int = 2,
    max_quantity: int = 3,
    skus: tuple[str, ...] = SKUS,
) -> dict[str, Any]:
    """A valid raw request within the given sizes, with ``relative_gap`` 0 (answers are exact)."""
    places = draw(locations(max_locations))
    inventory = [
        {"location_id": place["id"], "sku": sku, "quantity": draw(_mostly_high(0, max_quantity))}
        for place in places
        for sku in skus
        if not _sometimes(draw, 3)
    ]
    pickup_ids = [place["id"] for place in places if _serves_pickup(place)]
    orders = []
    for o in range(draw(st.integers(1, max_orders))):
        order: dict[str, Any] = {"id": f"O{o}", "priority": draw(st.integers(0, 2))}
        if pickup_ids and _sometimes(draw, 4):
            order["delivery"] = "pickup"
            order["pickup_location_id"] = draw(st.sampled_from(pickup_ids))
        else:
            order["delivery"] = "ship"
            order["ship_to"] = {"lat": draw(LAT), "lon": draw(LON)}
            if _sometimes(draw, 4):
                order["max_distance_km"] = float(draw(st.integers(5, 60)))
        if _sometimes(draw, 3):
            order["allow_split"] = False
        if _sometimes(draw, 3):
            order["allow_partial"] = False
        order["lines"] = [
            {
                "id": str(li + 1),
                "sku": draw(st.sampled_from(skus)),
                "quantity": draw(st.integers(1, max_quantity)),
            }
            for li in range(draw(st.integers(1, max_lines)))
        ]
        orders.append(order)
    policy: dict[str, Any] = {
        "shipment_cost": {"warehouse": draw(MONEY), "store": draw(MONEY)},
        "cost_per_km": draw(st.sampled_from([0.0, 0.002, 0.05, 0.5])),
        "relative_gap": 0.0,
        "time_limit_s": 10.0,
    }
    if _sometimes(draw, 4):
        policy["max_distance_km"] = float(draw(st.integers(10, 60)))
    return {"locations": places, "inventory": inventory, "orders": orders, "policy": policy}
