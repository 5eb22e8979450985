"""Problem data: a validated request turned into integer indices and numpy arrays, once.

Everything the optimiser, the greedy baseline and the response builder need is here, vectorised:
locations, skus, orders and lines become indices; the *candidates* are every (line, location) pair
that may serve the line and holds its sku; the *pairs* are the distinct (order, location) shipments
those candidates could form, with their distance and shipment cost. No candidate is pruned for
distance or cost: fill counts every eligible location, however far (the contract's first goal).

Ids come back only when the response is written (:mod:`engine.result`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.geo import EARTH_RADIUS_KM
from models.solve import SolveRequest

# Integer columns: int64, or int32 for the per-candidate and per-pair index columns where every
# index fits (see _with_candidates); arithmetic that can outgrow int32 casts to int64 first.
IntArray = npt.NDArray[np.signedinteger[Any]]
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
    # (order, location) pairs an order excludes, as sorted keys order * n_locations + location
    excluded_pair_keys: IntArray

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
    explain: bool = False  # policy.explain: the response carries explanations

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

    def candidates_grouped_by_line(self) -> bool:
        """Are the candidates grouped by line, lines in index order (as the builder emits them)?"""
        cached = self._cache.get("candidates_grouped_by_line")
        if cached is None:
            line = self.candidate_line
            cached = bool(np.all(line[1:] >= line[:-1]))
            self._cache["candidates_grouped_by_line"] = cached
        return cached  # type: ignore[return-value]

    def line_candidate_start(self) -> IntArray:
        """Where each line's candidates start in line order (length n_lines + 1): their
        positions in the candidate arrays when :meth:`candidates_grouped_by_line`."""
        cached = self._cache.get("line_candidate_start")
        if cached is None:
            counts = np.bincount(self.candidate_line, minlength=self.n_lines)
            cached = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
            self._cache["line_candidate_start"] = cached
        return cached  # type: ignore[return-value]

    def candidates_of_lines(self, lines: IntArray) -> IntArray:
        """The candidates of the given lines (distinct, ascending), as candidate indices in
        ascending order."""
        if not self.candidates_grouped_by_line():
            return np.flatnonzero(np.isin(self.candidate_line, lines))
        start = self.line_candidate_start()
        return concatenated_ranges(start[lines], start[lines + 1])


def concatenated_ranges(starts: IntArray, ends: IntArray) -> IntArray:
    """The concatenation of ``arange(s, e)`` for each pair, vectorised."""
    lengths = ends - starts
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    return offsets + np.arange(total, dtype=np.int64)


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
        excluded_pair_keys=np.unique(
            np.array(
                [
                    order_index * len(locations) + location_index[location_id]
                    for order_index, order in enumerate(orders)
                    for location_id in order.exclude_location_ids
                ],
                dtype=np.int64,
            )
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
        explain=policy.explain,
    )
    return _with_candidates(data)


def _with_candidates(data: ProblemData) -> ProblemData:
    """Join lines to the inventory rows of their sku, keep the eligible ones, form the pairs.

    Built in chunks of whole orders, so that no temporary spans every (line, row) join at once
    (at 200k orders x 1,000 locations the join has about 45M rows, and each whole-array int64 or
    float64 temporary of it 360 MB). A pair belongs to one order, so pairs found chunk by chunk,
    each chunk's sorted by (order, location), are the pairs of the whole batch in that order.
    """
    stocked = np.flatnonzero(data.inventory_quantity > 0)
    # inventory rows with stock, grouped by sku: rows of sku s are by_sku[start[s]:start[s + 1]]
    by_sku = stocked[np.argsort(data.inventory_sku[stocked], kind="stable")]
    n_skus = len(data.sku_ids)
    start = np.concatenate(
        [[0], np.cumsum(np.bincount(data.inventory_sku[by_sku], minlength=n_skus))]
    ).astype(np.int64)
    per_line = start[data.line_sku + 1] - start[data.line_sku]

    # Index columns in int32 when every index fits (half the memory of int64, and faster to
    # gather); int64 otherwise.
    joined = int(per_line.sum())
    column_dtype = index_dtype(max(joined, data.n_lines, data.inventory_quantity.size))
    upper_dtype = index_dtype(int(data.line_quantity.max(initial=0)))

    # Per-order and per-location trigonometry once; gathered per candidate in the chunks.
    order_phi = np.radians(np.nan_to_num(data.order_lat))
    order_lam = np.radians(np.nan_to_num(data.order_lon))
    order_cos_phi = np.cos(order_phi)
    location_phi = np.radians(data.location_lat)
    location_lam = np.radians(data.location_lon)
    location_cos_phi = np.cos(location_phi)
    limited = bool(np.isfinite(data.order_max_distance_km).any())
    stride = max(data.n_locations, 1)

    # The output columns, allocated for every joined row and filled chunk by chunk. Pages never
    # written are never resident, so only what the filters keep costs memory; the columns are
    # cut to length at the end.
    dtypes = {
        "candidate_line": column_dtype,
        "candidate_location": column_dtype,
        "candidate_inventory": column_dtype,
        "candidate_pair": column_dtype,
        "candidate_upper": upper_dtype,
        "pair_order": column_dtype,
        "pair_location": column_dtype,
        "pair_distance_km": np.dtype(np.float64),
        "pair_cost": np.dtype(np.float64),
    }
    columns: dict[str, npt.NDArray[Any]] = {
        name: np.empty(joined, dtype) for name, dtype in dtypes.items()
    }
    n_candidates = 0
    n_pairs = 0
    line_start = data.order_line_slices()
    for first_order, last_order in _order_chunks(per_line, data.line_order, line_start):
        first_line, last_line = int(line_start[first_order]), int(line_start[last_order])
        chunk_per_line = per_line[first_line:last_line]
        candidate_line = np.repeat(np.arange(first_line, last_line, dtype=np.int64), chunk_per_line)
        # offset of each candidate within its line's run of rows
        run_start = np.repeat(np.cumsum(chunk_per_line) - chunk_per_line, chunk_per_line)
        offset = np.arange(candidate_line.size, dtype=np.int64) - run_start
        del run_start
        candidate_inventory = by_sku[start[data.line_sku[candidate_line]] + offset]
        del offset
        candidate_location = data.inventory_location[candidate_inventory]
        candidate_order = data.line_order[candidate_line]

        # Eligibility that needs no distance first: a pickup order's other locations and
        # locations that do not ship go before any trigonometry.
        pickup_of = data.order_pickup_location[candidate_order]
        keep = np.where(
            pickup_of >= 0,
            candidate_location == pickup_of,
            data.location_ships[candidate_location],
        )
        del pickup_of
        if data.excluded_pair_keys.size:
            # An order's exclude_location_ids (a location that rejected it, say) never serve it.
            keep &= ~np.isin(
                candidate_order.astype(np.int64) * stride + candidate_location,
                data.excluded_pair_keys,
                assume_unique=False,
            )
        candidate_line = candidate_line[keep]
        candidate_inventory = candidate_inventory[keep]
        candidate_location = candidate_location[keep]
        candidate_order = candidate_order[keep]
        del keep

        # Haversine from per-order and per-location radians and cosines, gathered per candidate
        # (the formula of engine.geo.haversine_km, equal to 1e-11 km).
        a = np.sin((location_phi[candidate_location] - order_phi[candidate_order]) * 0.5) ** 2
        a += (
            order_cos_phi[candidate_order]
            * location_cos_phi[candidate_location]
            * np.sin((location_lam[candidate_location] - order_lam[candidate_order]) * 0.5) ** 2
        )
        distance_km = 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
        del a
        is_pickup = data.order_is_pickup[candidate_order]
        distance_km[is_pickup] = 0.0
        if limited:
            eligible = is_pickup | (distance_km <= data.order_max_distance_km[candidate_order])
            candidate_line = candidate_line[eligible]
            candidate_inventory = candidate_inventory[eligible]
            candidate_location = candidate_location[eligible]
            candidate_order = candidate_order[eligible]
            distance_km = distance_km[eligible]
        del is_pickup

        pair_key = candidate_order * stride + candidate_location
        del candidate_order
        unique_keys, first, candidate_pair = np.unique(
            pair_key, return_index=True, return_inverse=True
        )
        del pair_key
        new_pairs = slice(n_pairs, n_pairs + unique_keys.size)
        pair_order = unique_keys // stride
        pair_location = unique_keys % stride
        pair_distance_km = distance_km[first]
        del unique_keys, first, distance_km
        columns["pair_order"][new_pairs] = pair_order
        columns["pair_location"][new_pairs] = pair_location
        columns["pair_distance_km"][new_pairs] = pair_distance_km
        columns["pair_cost"][new_pairs] = np.where(
            data.order_is_pickup[pair_order],
            0.0,
            data.location_shipment_cost[pair_location] + data.cost_per_km * pair_distance_km,
        )
        del pair_order, pair_location, pair_distance_km
        n_new = candidate_line.size
        new = slice(n_candidates, n_candidates + n_new)
        columns["candidate_pair"][new] = candidate_pair.reshape(-1) + n_pairs
        n_pairs = new_pairs.stop
        del candidate_pair

        candidate_upper = np.minimum(
            data.line_quantity[candidate_line], data.inventory_quantity[candidate_inventory]
        )
        units_cap = data.location_max_units[candidate_location]
        columns["candidate_upper"][new] = np.where(
            units_cap != UNLIMITED, np.minimum(candidate_upper, units_cap), candidate_upper
        )
        del units_cap, candidate_upper
        columns["candidate_line"][new] = candidate_line
        columns["candidate_location"][new] = candidate_location
        columns["candidate_inventory"][new] = candidate_inventory
        n_candidates += n_new
        del candidate_line, candidate_location, candidate_inventory

    # Cut to length one column at a time (a copy, so the unused tail's address space goes too).
    built: dict[str, npt.NDArray[Any]] = {}
    for name in list(columns):
        column = columns.pop(name)
        length = n_pairs if name.startswith("pair_") else n_candidates
        built[name] = column[:length].copy()
        del column

    return replace(
        data,
        candidate_line=built["candidate_line"],
        candidate_location=built["candidate_location"],
        candidate_inventory=built["candidate_inventory"],
        candidate_pair=built["candidate_pair"],
        candidate_upper=built["candidate_upper"],
        pair_order=built["pair_order"],
        pair_location=built["pair_location"],
        pair_distance_km=built["pair_distance_km"],
        pair_cost=built["pair_cost"],
        _cache={},
    )


# Joined (line, inventory row) pairs per chunk of the candidate build: about 30 MB per int64
# temporary, a few dozen of them at once.
_JOIN_CHUNK = 4_000_000
_INT32_MAX = np.iinfo(np.int32).max


def index_dtype(largest: int) -> np.dtype[np.signedinteger[Any]]:
    """int32 when every value up to ``largest`` fits in it, else int64."""
    return np.dtype(np.int32) if largest < _INT32_MAX else np.dtype(np.int64)


def _order_chunks(
    per_line: IntArray, line_order: IntArray, line_start: IntArray
) -> Iterator[tuple[int, int]]:
    """Consecutive ranges of whole orders, each joining about ``_JOIN_CHUNK`` rows or fewer
    (an order alone may join more)."""
    n_orders = line_start.size - 1
    per_order = np.bincount(line_order, weights=per_line, minlength=n_orders)
    ends = np.cumsum(per_order)
    first = 0
    while first < n_orders:
        base = ends[first - 1] if first > 0 else 0.0
        last = int(np.searchsorted(ends, base + _JOIN_CHUNK, side="right"))
        last = min(max(last, first + 1), n_orders)
        yield first, last
        first = last
