"""Problem data: a validated request turned into integer indices and numpy arrays, once.

Everything the optimiser, the greedy baseline and the response builder need is here, vectorised:
locations, skus, orders and lines become indices; the *candidates* are every (line, location) pair
that may serve the line and holds its sku; the *pairs* are the distinct (order, location) shipments
those candidates could form, with their distance and shipment cost. No candidate is pruned for
distance or cost: fill counts every eligible location, however far (the contract's first goal).

Ids come back only when the response is written (:mod:`engine.result`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC

import numpy as np
import numpy.typing as npt

from engine.geo import EARTH_RADIUS_KM
from models.solve import SolveRequest

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

UNLIMITED = -1  # capacity sentinel: max_shipments / max_units null


@dataclass(frozen=True, eq=False)
class ProblemData:
    """Arrays of one solve request. Built by :func:`build_problem`; never mutated."""

    # locations (index l)
    location_ids: list[str]
    location_is_store: BoolArray
    location_lat: FloatArray
    location_lon: FloatArray
    location_ships: BoolArray
    location_pickup: BoolArray
    location_max_shipments: IntArray  # UNLIMITED or a count
    location_max_units: IntArray  # UNLIMITED or a count
    location_shipment_cost: FloatArray  # resolved: own cost or the policy's for its kind
    location_unit_cost: FloatArray

    # skus (index s)
    sku_ids: list[str]

    # inventory rows, in request order (index r): `remaining` answers row by row
    inventory_location: IntArray
    inventory_sku: IntArray
    inventory_quantity: IntArray

    # orders (index o)
    order_ids: list[str]
    order_priority: IntArray
    order_placed_at: FloatArray  # epoch seconds; nan when not given
    order_is_pickup: BoolArray
    order_lat: FloatArray  # ship_to; nan for pickup orders
    order_lon: FloatArray
    order_pickup_location: IntArray  # -1 for ship orders
    order_allow_split: BoolArray
    order_allow_partial: BoolArray
    order_max_distance_km: FloatArray  # inf = no limit

    # lines (index i), grouped by order in request order
    line_ids: list[str]
    line_order: IntArray
    line_sku: IntArray
    line_quantity: IntArray

    # candidates (index c): line i may take units from inventory row r at location l
    candidate_line: IntArray
    candidate_location: IntArray
    candidate_inventory: IntArray
    candidate_pair: IntArray  # index into pairs
    candidate_upper: IntArray  # min(line quantity, stock): no more can ever flow

    # pairs (index k): the distinct (order, location) shipments the candidates could form
    pair_order: IntArray
    pair_location: IntArray
    pair_distance_km: FloatArray  # 0 for pickup
    pair_cost: FloatArray  # shipment cost without unit costs; 0 for pickup

    # policy
    cost_per_km: float
    time_limit_s: float
    relative_gap: float
    strategy: str

    _cache: dict[str, object] = field(default_factory=dict, repr=False)

    @property
    def n_locations(self) -> int:
        return len(self.location_ids)

    @property
    def n_orders(self) -> int:
        return len(self.order_ids)

    @property
    def n_lines(self) -> int:
        return len(self.line_ids)

    @property
    def n_candidates(self) -> int:
        return int(self.candidate_line.size)

    @property
    def n_pairs(self) -> int:
        return int(self.pair_order.size)

    @property
    def line_priority(self) -> IntArray:
        return self.order_priority[self.line_order]

    @property
    def priorities(self) -> list[int]:
        """The distinct priorities of the batch, highest (most urgent) first."""
        return sorted({int(p) for p in np.unique(self.order_priority)}, reverse=True)

    def order_line_slices(self) -> IntArray:
        """Start offsets of each order's lines in the line arrays (length n_orders + 1)."""
        cached = self._cache.get("order_line_slices")
        if cached is None:
            counts = np.bincount(self.line_order, minlength=self.n_orders)
            cached = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
            self._cache["order_line_slices"] = cached
        return cached  # type: ignore[return-value]


def build_problem(request: SolveRequest) -> ProblemData:
    """Index a validated request and compute distances, eligibility and candidates, vectorised."""
    policy = request.policy
    locations = request.locations
    location_index = {location.id: index for index, location in enumerate(locations)}

    location_is_store = np.array([loc.kind == "store" for loc in locations], dtype=bool)
    kind_cost = np.where(
        location_is_store, policy.shipment_cost.store, policy.shipment_cost.warehouse
    )
    own_cost = np.array(
        [np.nan if loc.shipment_cost is None else loc.shipment_cost for loc in locations],
        dtype=np.float64,
    )

    sku_index: dict[str, int] = {}
    for row in request.inventory:
        sku_index.setdefault(row.sku, len(sku_index))
    for order in request.orders:
        for line in order.lines:
            sku_index.setdefault(line.sku, len(sku_index))

    orders = request.orders
    n_lines_per_order = np.array([len(order.lines) for order in orders], dtype=np.int64)
    line_ids = [line.id for order in orders for line in order.lines]
    line_order = np.repeat(np.arange(len(orders), dtype=np.int64), n_lines_per_order)
    line_sku = np.array(
        [sku_index[line.sku] for order in orders for line in order.lines], dtype=np.int64
    )
    line_quantity = np.array(
        [line.quantity for order in orders for line in order.lines], dtype=np.int64
    )

    default_max_km = np.inf if policy.max_distance_km is None else policy.max_distance_km

    data = ProblemData(
        location_ids=[loc.id for loc in locations],
        location_is_store=location_is_store,
        location_lat=np.array([loc.lat for loc in locations], dtype=np.float64),
        location_lon=np.array([loc.lon for loc in locations], dtype=np.float64),
        location_ships=np.array([loc.ships for loc in locations], dtype=bool),
        location_pickup=np.array([loc.serves_pickup for loc in locations], dtype=bool),
        location_max_shipments=np.array(
            [UNLIMITED if loc.max_shipments is None else loc.max_shipments for loc in locations],
            dtype=np.int64,
        ),
        location_max_units=np.array(
            [UNLIMITED if loc.max_units is None else loc.max_units for loc in locations],
            dtype=np.int64,
        ),
        location_shipment_cost=np.where(np.isnan(own_cost), kind_cost, own_cost).astype(np.float64),
        location_unit_cost=np.array([loc.unit_cost for loc in locations], dtype=np.float64),
        sku_ids=list(sku_index),
        inventory_location=np.array(
            [location_index[row.location_id] for row in request.inventory], dtype=np.int64
        ),
        inventory_sku=np.array([sku_index[row.sku] for row in request.inventory], dtype=np.int64),
        inventory_quantity=np.array([row.quantity for row in request.inventory], dtype=np.int64),
        order_ids=[order.id for order in orders],
        order_priority=np.array([order.priority for order in orders], dtype=np.int64),
        order_placed_at=np.array(
            [
                np.nan
                if order.placed_at is None
                else (
                    order.placed_at
                    if order.placed_at.tzinfo
                    else order.placed_at.replace(tzinfo=UTC)
                ).timestamp()
                for order in orders
            ],
            dtype=np.float64,
        ),
        order_is_pickup=np.array([order.delivery == "pickup" for order in orders], dtype=bool),
        order_lat=np.array(
            [order.ship_to.lat if order.ship_to is not None else np.nan for order in orders],
            dtype=np.float64,
        ),
        order_lon=np.array(
            [order.ship_to.lon if order.ship_to is not None else np.nan for order in orders],
            dtype=np.float64,
        ),
        order_pickup_location=np.array(
            [
                location_index[order.pickup_location_id]
                if order.delivery == "pickup" and order.pickup_location_id is not None
                else -1
                for order in orders
            ],
            dtype=np.int64,
        ),
        order_allow_split=np.array([order.allow_split for order in orders], dtype=bool),
        order_allow_partial=np.array([order.allow_partial for order in orders], dtype=bool),
        order_max_distance_km=np.array(
            [
                default_max_km if order.max_distance_km is None else order.max_distance_km
                for order in orders
            ],
            dtype=np.float64,
        ),
        line_ids=line_ids,
        line_order=line_order,
        line_sku=line_sku,
        line_quantity=line_quantity,
        candidate_line=np.empty(0, np.int64),
        candidate_location=np.empty(0, np.int64),
        candidate_inventory=np.empty(0, np.int64),
        candidate_pair=np.empty(0, np.int64),
        candidate_upper=np.empty(0, np.int64),
        pair_order=np.empty(0, np.int64),
        pair_location=np.empty(0, np.int64),
        pair_distance_km=np.empty(0, np.float64),
        pair_cost=np.empty(0, np.float64),
        cost_per_km=policy.cost_per_km,
        time_limit_s=policy.time_limit_s,
        relative_gap=policy.relative_gap,
        strategy=policy.strategy,
    )
    return _with_candidates(data)


def _with_candidates(data: ProblemData) -> ProblemData:
    """Join lines to the inventory rows of their sku, keep the eligible ones, form the pairs."""
    stocked = np.flatnonzero(data.inventory_quantity > 0)
    # inventory rows with stock, grouped by sku: rows of sku s are by_sku[start[s]:start[s + 1]]
    by_sku = stocked[np.argsort(data.inventory_sku[stocked], kind="stable")]
    n_skus = len(data.sku_ids)
    start = np.concatenate(
        [[0], np.cumsum(np.bincount(data.inventory_sku[by_sku], minlength=n_skus))]
    ).astype(np.int64)

    per_line = start[data.line_sku + 1] - start[data.line_sku]
    candidate_line = np.repeat(np.arange(data.n_lines, dtype=np.int64), per_line)
    # offset of each candidate within its line's run of rows
    run_start = np.repeat(np.cumsum(per_line) - per_line, per_line)
    offset = np.arange(candidate_line.size, dtype=np.int64) - run_start
    candidate_inventory = by_sku[start[data.line_sku[candidate_line]] + offset]
    candidate_location = data.inventory_location[candidate_inventory]
    candidate_order = data.line_order[candidate_line]

    # Eligibility that needs no distance first: a pickup order's other locations and locations
    # that do not ship go before any trigonometry (a third of the rows at 10k orders).
    pickup_of = data.order_pickup_location[candidate_order]
    keep = np.where(
        pickup_of >= 0, candidate_location == pickup_of, data.location_ships[candidate_location]
    )
    candidate_line = candidate_line[keep]
    candidate_inventory = candidate_inventory[keep]
    candidate_location = candidate_location[keep]
    candidate_order = candidate_order[keep]

    # Haversine from per-order and per-location radians and cosines, gathered per candidate (the
    # formula of engine.geo.haversine_km, equal to 1e-11 km), without per-candidate radians.
    order_phi = np.radians(np.nan_to_num(data.order_lat))
    order_lam = np.radians(np.nan_to_num(data.order_lon))
    location_phi = np.radians(data.location_lat)
    location_lam = np.radians(data.location_lon)
    a = np.sin((location_phi[candidate_location] - order_phi[candidate_order]) * 0.5) ** 2
    a += (
        np.cos(order_phi)[candidate_order]
        * np.cos(location_phi)[candidate_location]
        * np.sin((location_lam[candidate_location] - order_lam[candidate_order]) * 0.5) ** 2
    )
    distance_km = 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    del a
    is_pickup = data.order_is_pickup[candidate_order]
    distance_km[is_pickup] = 0.0
    if np.isfinite(data.order_max_distance_km).any():
        eligible = is_pickup | (distance_km <= data.order_max_distance_km[candidate_order])
        candidate_line = candidate_line[eligible]
        candidate_inventory = candidate_inventory[eligible]
        candidate_location = candidate_location[eligible]
        candidate_order = candidate_order[eligible]
        distance_km = distance_km[eligible]

    pair_key = candidate_order * data.n_locations + candidate_location
    unique_keys, first, candidate_pair = np.unique(pair_key, return_index=True, return_inverse=True)
    pair_order = unique_keys // max(data.n_locations, 1)
    pair_location = unique_keys % max(data.n_locations, 1)
    pair_distance_km = distance_km[first]
    pair_cost = np.where(
        data.order_is_pickup[pair_order],
        0.0,
        data.location_shipment_cost[pair_location] + data.cost_per_km * pair_distance_km,
    )
    candidate_upper = np.minimum(
        data.line_quantity[candidate_line], data.inventory_quantity[candidate_inventory]
    )
    units_cap = data.location_max_units[candidate_location]
    candidate_upper = np.where(
        units_cap != UNLIMITED, np.minimum(candidate_upper, units_cap), candidate_upper
    )

    return replace(
        data,
        candidate_line=candidate_line,
        candidate_location=candidate_location,
        candidate_inventory=candidate_inventory,
        candidate_pair=candidate_pair.astype(np.int64).reshape(-1),
        candidate_upper=candidate_upper.astype(np.int64),
        pair_order=pair_order.astype(np.int64),
        pair_location=pair_location.astype(np.int64),
        pair_distance_km=pair_distance_km.astype(np.float64),
        pair_cost=pair_cost.astype(np.float64),
        _cache={},
    )
