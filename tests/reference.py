"""Independent optima of tiny solve requests, to hold the optimiser's answers against.

Two answers, each written from the contract (``shared/contract/solve.md``) and nothing of the
optimiser's:

- :func:`reference_optimum`: a second formulation on a second solver, a MILP handed to
  ``scipy.optimize.milp`` (HiGHS through SciPy, not OR-Tools) and solved lexicographically as the
  contract states it: maximise the units filled at the highest priority, fix that fill, the next
  priority, ..., then minimise the cost. No big-M weighting of fill against cost, so nothing to
  get wrong about which constant dominates.
- :func:`exhaustive_optimum`: every allocation of a micro instance enumerated, the rules checked by
  hand. It holds the MILP itself to account (``tests/test_reference.py``).

Both return a :class:`ReferenceOptimum`: units filled per priority and the least cost at that fill.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import lil_array

from models.solve import Location, Order, SolveRequest

EARTH_RADIUS_KM = 6371.0
# Enumeration beyond this many candidate allocations is a mistake in the test, not a slow test.
MAX_CANDIDATES = 2_000_000


@dataclass(frozen=True)
class ReferenceOptimum:
    """The lexicographic optimum: units filled per priority (every priority of the request), then
    the least total cost (unrounded) at that fill, and one allocation reaching both."""

    fill_by_priority: dict[int, int]
    cost: float
    allocations: list[dict[str, object]] = field(default_factory=list, compare=False)


# --- the contract's data, by hand -----------------------------------------------------------------


def _haversine_km(a_lat: float, a_lon: float, b_lat: float, b_lon: float) -> float:
    phi1, phi2 = math.radians(a_lat), math.radians(b_lat)
    dphi, dlambda = phi2 - phi1, math.radians(b_lon - a_lon)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, h)))


def _distance_km(order: Order, location: Location) -> float:
    if order.delivery == "pickup" or order.ship_to is None:
        return 0.0
    return _haversine_km(location.lat, location.lon, order.ship_to.lat, order.ship_to.lon)


def _may_serve(request: SolveRequest, order: Order, location: Location) -> bool:
    if location.id in order.exclude_location_ids:
        return False
    if order.delivery == "pickup":
        return location.id == order.pickup_location_id
    if not location.ships:
        return False
    limit = order.max_distance_km
    if limit is None:
        limit = request.policy.max_distance_km
    return limit is None or _distance_km(order, location) <= limit


def _shipment_cost(request: SolveRequest, order: Order, location: Location) -> float:
    if order.delivery == "pickup":
        return 0.0
    base = location.shipment_cost
    if base is None:
        kinds = request.policy.shipment_cost
        base = kinds.warehouse if location.kind == "warehouse" else kinds.store
    return base + request.policy.cost_per_km * _distance_km(order, location)


@dataclass(frozen=True)
class _Candidate:
    """A line that may take units of its sku at a location: one variable of the MILP."""

    order: int
    line: int
    location: int
    upper: int


def _candidates(request: SolveRequest) -> list[_Candidate]:
    stock = {(row.location_id, row.sku): row.quantity for row in request.inventory}
    found = []
    for o, order in enumerate(request.orders):
        for li, line in enumerate(order.lines):
            for k, location in enumerate(request.locations):
                units = min(line.quantity, stock.get((location.id, line.sku), 0))
                if units > 0 and _may_serve(request, order, location):
                    found.append(_Candidate(o, li, k, units))
    return found


def _allocation_rows(
    request: SolveRequest, candidates: list[_Candidate], units: list[int]
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for candidate, quantity in zip(candidates, units, strict=True):
        if quantity > 0:
            order = request.orders[candidate.order]
            rows.append(
                {
                    "order_id": order.id,
                    "line_id": order.lines[candidate.line].id,
                    "location_id": request.locations[candidate.location].id,
                    "quantity": quantity,
                }
            )
    return rows


# --- the MILP -------------------------------------------------------------------------------------


def reference_optimum(request: SolveRequest) -> ReferenceOptimum:
    """The contract's lexicographic optimum by a MILP on SciPy's HiGHS, priority by priority.

    Meant for small requests (tests); raises RuntimeError if a stage is not solved to optimality.
    """
    orders, locations = request.orders, request.locations
    candidates = _candidates(request)
    pairs = sorted({(c.order, c.location) for c in candidates})
    pair_index = {pair: i for i, pair in enumerate(pairs)}
    whole_orders = [o for o, order in enumerate(orders) if not order.allow_partial]
    whole_index = {o: i for i, o in enumerate(whole_orders)}
    n_x, n_y = len(candidates), len(pairs)
    n = n_x + n_y + len(whole_orders)
    y0, z0 = n_x, n_x + n_y

    rows: list[dict[int, float]] = []
    lower: list[float] = []
    upper: list[float] = []

    def add(coefficients: dict[int, float], lo: float, hi: float) -> None:
        rows.append(coefficients)
        lower.append(lo)
        upper.append(hi)

    by_line: dict[tuple[int, int], dict[int, float]] = defaultdict(dict)
    by_stock: dict[tuple[int, str], dict[int, float]] = defaultdict(dict)
    by_location: dict[int, dict[int, float]] = defaultdict(dict)
    for j, c in enumerate(candidates):
        by_line[c.order, c.line][j] = 1.0
        by_stock[c.location, orders[c.order].lines[c.line].sku][j] = 1.0
        by_location[c.location][j] = 1.0
        # A unit from a location makes that (order, location) a shipment.
        quantity = orders[c.order].lines[c.line].quantity
        add({j: 1.0, y0 + pair_index[c.order, c.location]: -float(quantity)}, -math.inf, 0.0)
    for o, order in enumerate(orders):
        for li, line in enumerate(order.lines):
            terms = dict(by_line.get((o, li), {}))
            if order.allow_partial:
                add(terms, 0.0, line.quantity)
            else:
                # All or nothing: every line full exactly when the order is taken (z = 1).
                terms[z0 + whole_index[o]] = -float(line.quantity)
                add(terms, 0.0, 0.0)
    stock = {(row.location_id, row.sku): row.quantity for row in request.inventory}
    for (k, sku), terms in by_stock.items():
        add(terms, 0.0, stock[locations[k].id, sku])
    for k, location in enumerate(locations):
        if location.max_units is not None and k in by_location:
            add(by_location[k], 0.0, location.max_units)
        shipments = {y0 + i: 1.0 for (_, pk), i in pair_index.items() if pk == k}
        if location.max_shipments is not None and shipments:
            add(shipments, 0.0, location.max_shipments)
    for o, order in enumerate(orders):
        served_from = {y0 + i: 1.0 for (po, _), i in pair_index.items() if po == o}
        if not order.allow_split and served_from:
            add(served_from, 0.0, 1.0)

    lb = np.zeros(n)
    ub = np.ones(n)
    ub[:n_x] = [c.upper for c in candidates]
    integrality = np.ones(n)

    def solve(objective: np.ndarray) -> np.ndarray:
        if n == 0:
            return np.zeros(0)
        matrix = lil_array((len(rows), n))
        for r, coefficients in enumerate(rows):
            for j, value in coefficients.items():
                matrix[r, j] = value
        result = milp(
            objective,
            integrality=integrality,
            bounds=Bounds(lb, ub),
            constraints=LinearConstraint(matrix.tocsr(), np.array(lower), np.array(upper)),
            options={"mip_rel_gap": 0.0, "presolve": True},
        )
        if result.status != 0 or result.x is None:
            raise RuntimeError(f"reference MILP not solved: {result.message}")
        return np.asarray(result.x)

    fill: dict[int, int] = {}
    for priority in sorted({order.priority for order in orders}, reverse=True):
        of_priority = {
            j: 1.0 for j, c in enumerate(candidates) if orders[c.order].priority == priority
        }
        objective = np.zeros(n)
        for j in of_priority:
            objective[j] = -1.0
        x = solve(objective)
        # Fill is integral: round the solver's float, then hold every later stage to it.
        fill[priority] = round(float(-objective @ x)) if n else 0
        if of_priority:
            add(of_priority, fill[priority] - 0.5, math.inf)

    cost = np.zeros(n)
    for j, c in enumerate(candidates):
        cost[j] = locations[c.location].unit_cost
    for (o, k), i in pair_index.items():
        cost[y0 + i] = _shipment_cost(request, orders[o], locations[k])
    x = solve(cost)
    units = [round(float(v)) for v in x[:n_x]]
    allocations = _allocation_rows(request, candidates, units)
    return ReferenceOptimum(fill, _cost_of(request, allocations), allocations)


def _cost_of(request: SolveRequest, allocations: list[dict[str, object]]) -> float:
    """Total cost of allocation rows: the MILP's own objective may count an idle shipment."""
    orders = {order.id: order for order in request.orders}
    locations = {location.id: location for location in request.locations}
    shipments: set[tuple[str, str]] = set()
    total = 0.0
    for row in allocations:
        order, location = orders[str(row["order_id"])], locations[str(row["location_id"])]
        quantity = row["quantity"]
        assert isinstance(quantity, int)
        total += location.unit_cost * quantity
        if (order.id, location.id) not in shipments:
            shipments.add((order.id, location.id))
            total += _shipment_cost(request, order, location)
    return total


# --- exhaustive enumeration -----------------------------------------------------------------------


def _line_options(upper_by_location: list[int], quantity: int) -> Iterator[tuple[int, ...]]:
    """Every split of at most ``quantity`` units over locations, each within its own upper."""
    for split in itertools.product(*(range(u + 1) for u in upper_by_location)):
        if sum(split) <= quantity:
            yield split


def _every_line_option(request: SolveRequest) -> list[list[tuple[int, ...]]]:
    """For each line (in batch order), every split of it over the locations that may serve it."""
    orders, locations = request.orders, request.locations
    stock = {(row.location_id, row.sku): row.quantity for row in request.inventory}
    options = []
    for order in orders:
        for line in order.lines:
            uppers = [
                min(line.quantity, stock.get((location.id, line.sku), 0))
                if _may_serve(request, order, location)
                else 0
                for location in locations
            ]
            options.append(list(_line_options(uppers, line.quantity)))
    return options


def enumeration_size(request: SolveRequest) -> int:
    """How many candidate allocations :func:`exhaustive_optimum` would try."""
    return math.prod(len(choices) for choices in _every_line_option(request))


def exhaustive_optimum(request: SolveRequest) -> ReferenceOptimum:
    """The lexicographic optimum by trying every allocation. Micro requests only (a few lines,
    a few locations, quantities of 1 to 3): raises ValueError beyond ``MAX_CANDIDATES``."""
    orders, locations = request.orders, request.locations
    stock = {(row.location_id, row.sku): row.quantity for row in request.inventory}
    lines = [(o, li) for o, order in enumerate(orders) for li in range(len(order.lines))]
    options = _every_line_option(request)
    count = math.prod(len(choices) for choices in options)
    if count > MAX_CANDIDATES:
        raise ValueError(f"{count} candidate allocations: too many to enumerate")
    priorities = sorted({order.priority for order in orders}, reverse=True)

    best_key: tuple[tuple[int, ...], float] | None = None
    best: tuple[tuple[int, ...], ...] | None = None
    for choice in itertools.product(*options):
        if not _feasible(request, stock, lines, choice):
            continue
        filled: dict[int, int] = defaultdict(int)
        for (o, _), split in zip(lines, choice, strict=True):
            filled[orders[o].priority] += sum(split)
        cost = 0.0
        for o, order in enumerate(orders):
            for k, location in enumerate(locations):
                units = sum(
                    split[k] for (lo, _), split in zip(lines, choice, strict=True) if lo == o
                )
                if units:
                    cost += _shipment_cost(request, order, location) + location.unit_cost * units
        # Higher fill first, priority by priority; then lower cost.
        key = (tuple(-filled[p] for p in priorities), cost)
        if best_key is None or key < best_key:
            best_key, best = key, choice
    assert best_key is not None and best is not None  # the empty allocation is always feasible
    fill = {p: -f for p, f in zip(priorities, best_key[0], strict=True)}
    allocations = [
        {
            "order_id": orders[o].id,
            "line_id": orders[o].lines[li].id,
            "location_id": locations[k].id,
            "quantity": units,
        }
        for (o, li), split in zip(lines, best, strict=True)
        for k, units in enumerate(split)
        if units
    ]
    return ReferenceOptimum(fill, best_key[1], allocations)


def _feasible(
    request: SolveRequest,
    stock: dict[tuple[str, str], int],
    lines: list[tuple[int, int]],
    choice: tuple[tuple[int, ...], ...],
) -> bool:
    """The contract's four rules on one enumerated allocation (eligibility and line quantity are
    already built into the options)."""
    orders, locations = request.orders, request.locations
    taken: dict[tuple[str, str], int] = defaultdict(int)
    units_at: dict[int, int] = defaultdict(int)
    served: dict[int, set[int]] = defaultdict(set)  # order -> locations
    filled: dict[int, int] = defaultdict(int)
    for (o, li), split in zip(lines, choice, strict=True):
        sku = orders[o].lines[li].sku
        for k, units in enumerate(split):
            if units:
                taken[locations[k].id, sku] += units
                units_at[k] += units
                served[o].add(k)
                filled[o] += units
    if any(units > stock.get(key, 0) for key, units in taken.items()):
        return False
    for o, order in enumerate(orders):
        if not order.allow_split and len(served[o]) > 1:
            return False
        requested = sum(line.quantity for line in order.lines)
        if not order.allow_partial and filled[o] not in (0, requested):
            return False
    for k, location in enumerate(locations):
        if location.max_units is not None and units_at[k] > location.max_units:
            return False
        shipments = sum(k in locs for locs in served.values())
        if location.max_shipments is not None and shipments > location.max_shipments:
            return False
    return True
