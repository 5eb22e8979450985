"""Problem data: a validated request turned into integer indices and numpy arrays, once.

Everything the optimiser, the greedy baseline and the response builder need is here, vectorised:
locations, skus, orders and lines become indices; the *candidates* are every (line, location) pair
that may serve the line and holds its sku; the *pairs* are the distinct (order, location) shipments
those candidates could form, with their distance and shipment cost. No candidate is pruned for
distance or cost: fill counts every eligible location, however far (the contract's first goal).

Ids come back only when the response is written (:mod:`engine.result`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC
from itertools import chain
from operator import attrgetter
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from engine.geo import EARTH_RADIUS_KM
from models.collector import collector_paused
from models.solve import SolveRequest
from models.validation import parse_solve_request_json

# Integer columns: int64, or int32 for the per-candidate and per-pair index columns where every
# index fits (see _with_candidates); arithmetic that can outgrow int32 casts to int64 first.
IntArray = npt.NDArray[np.signedinteger[Any]]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_T = TypeVar("_T")

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
        return self._cached(
            "order_line_slices",
            lambda: group_offsets(np.bincount(self.line_order, minlength=self.n_orders)),
        )

    def candidates_grouped_by_line(self) -> bool:
        """Are the candidates grouped by line, lines in index order (as the builder emits them)?"""
        line = self.candidate_line
        return self._cached(
            "candidates_grouped_by_line", lambda: bool(np.all(line[1:] >= line[:-1]))
        )

    def line_candidate_start(self) -> IntArray:
        """Where each line's candidates start in line order (length n_lines + 1): their
        positions in the candidate arrays when :meth:`candidates_grouped_by_line`."""
        return self._cached(
            "line_candidate_start",
            lambda: group_offsets(np.bincount(self.candidate_line, minlength=self.n_lines)),
        )

    def _cached(self, name: str, compute: Callable[[], _T]) -> _T:
        """What ``compute`` returns, computed once per problem (the data never changes)."""
        if name not in self._cache:
            self._cache[name] = compute()
        return self._cache[name]  # type: ignore[return-value]

    def candidates_of_lines(self, lines: IntArray) -> IntArray:
        """The candidates of the given lines (distinct, ascending), as candidate indices in
        ascending order."""
        if not self.candidates_grouped_by_line():
            return np.flatnonzero(np.isin(self.candidate_line, lines))
        start = self.line_candidate_start()
        return concatenated_ranges(start[lines], start[lines + 1])


def group_offsets(counts: npt.NDArray[np.signedinteger[Any]]) -> IntArray:
    """Start offsets of consecutive groups of the given sizes, plus the end (length n + 1)."""
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def concatenated_ranges(starts: IntArray, ends: IntArray) -> IntArray:
    """The concatenation of ``arange(s, e)`` for each pair, vectorised."""
    lengths = ends - starts
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    return offsets + np.arange(total, dtype=np.int64)


def problem_from_json(body: bytes | str) -> ProblemData:
    """A request body parsed, validated and built into its arrays, as the command line and the
    API take it. Raises :class:`models.problems.InvalidInput` for a refused request.

    The cyclic garbage collector stays paused until the validated request has been let go of:
    resumed while the request is alive, its first collection would traverse every object of
    it once more (0.3-0.6 s at M, see :mod:`models.collector`); once it is gone, only the
    arrays' few objects are left. At M, parse and build took 1.05-1.11 s so against 1.70-1.93 s
    with the collector running; and at 200k orders the request's objects hold about 0.8 GB
    that the solve does not need."""
    with collector_paused():
        return build_problem(parse_solve_request_json(body))


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

    # Inventory rows are millions at a national network's morning run: each column is read
    # with C-level map/attrgetter, not a Python loop per row.
    inventory = request.inventory
    row_location_ids = list(map(attrgetter("location_id"), inventory))
    row_skus = list(map(attrgetter("sku"), inventory))
    # skus numbered in order of first appearance: the inventory's, then the lines'
    sku_index = {
        sku: index
        for index, sku in enumerate(
            dict.fromkeys(
                chain(row_skus, (line.sku for order in request.orders for line in order.lines))
            )
        )
    }

    inventory_location = np.fromiter(
        map(location_index.__getitem__, row_location_ids), np.int64, len(inventory)
    )
    inventory_sku = np.fromiter(map(sku_index.__getitem__, row_skus), np.int64, len(inventory))
    del row_location_ids, row_skus

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
        inventory_location=inventory_location,
        inventory_sku=inventory_sku,
        inventory_quantity=np.fromiter(
            map(attrgetter("quantity"), inventory), np.int64, len(inventory)
        ),
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
    stock = _StockBySku.of(data)
    per_line = stock.rows_per_line(data.line_sku)
    columns = _Columns.for_join(data, joined=int(per_line.sum()))
    geometry = _Geometry.of(data)
    line_start = data.order_line_slices()
    for first_order, last_order in _order_chunks(per_line, data.line_order, line_start):
        first_line, last_line = int(line_start[first_order]), int(line_start[last_order])
        joined = stock.join(data, first_line, last_line, per_line[first_line:last_line])
        joined = joined.where(_eligible_before_distance(data, joined))
        distance_km = geometry.distance_km(joined.order, joined.location)
        distance_km[data.order_is_pickup[joined.order]] = 0.0
        if geometry.limited:
            within = _within_distance(data, joined.order, distance_km)
            joined, distance_km = joined.where(within), distance_km[within]
        columns.append(data, joined, distance_km)
        del joined, distance_km
    built = columns.cut()
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


@dataclass(frozen=True)
class _StockBySku:
    """The inventory rows with stock, grouped by sku: rows of sku s are
    ``rows[start[s]:start[s + 1]]``."""

    rows: IntArray
    start: IntArray

    @classmethod
    def of(cls, data: ProblemData) -> _StockBySku:
        stocked = np.flatnonzero(data.inventory_quantity > 0)
        sku = data.inventory_sku[stocked]
        if len(data.sku_ids) <= _RADIX_SORTED_KEYS:
            sku = sku.astype(np.uint16)  # numpy's stable sort of 16-bit keys is a radix sort
        rows = stocked[np.argsort(sku, kind="stable")]
        del sku
        counts = np.bincount(data.inventory_sku[rows], minlength=len(data.sku_ids))
        return cls(rows, group_offsets(counts))

    def rows_per_line(self, line_sku: IntArray) -> IntArray:
        return self.start[line_sku + 1] - self.start[line_sku]

    def join(
        self, data: ProblemData, first_line: int, last_line: int, per_line: IntArray
    ) -> _Joined:
        """Every (line, stocked row of its sku) of the lines ``first_line:last_line``."""
        line = np.repeat(np.arange(first_line, last_line, dtype=np.int64), per_line)
        # offset of each candidate within its line's run of rows
        run_start = np.repeat(np.cumsum(per_line) - per_line, per_line)
        offset = np.arange(line.size, dtype=np.int64) - run_start
        del run_start
        inventory = self.rows[self.start[data.line_sku[line]] + offset]
        del offset
        return _Joined(
            line=line,
            inventory=inventory,
            location=data.inventory_location[inventory],
            order=data.line_order[line],
        )


@dataclass(frozen=True)
class _Joined:
    """Candidates of one chunk: line, inventory row, location and order of each."""

    line: IntArray
    inventory: IntArray
    location: IntArray
    order: IntArray

    def where(self, keep: BoolArray) -> _Joined:
        return _Joined(self.line[keep], self.inventory[keep], self.location[keep], self.order[keep])


def _eligible_before_distance(data: ProblemData, joined: _Joined) -> BoolArray:
    """The eligibility that needs no distance, checked before any trigonometry: a pickup order
    only at its store, a ship order only where the location ships, never where the order
    excludes the location (one that rejected it, say)."""
    pickup_at = data.order_pickup_location[joined.order]
    keep = np.where(
        pickup_at >= 0, joined.location == pickup_at, data.location_ships[joined.location]
    )
    del pickup_at
    if data.excluded_pair_keys.size:
        keep &= ~np.isin(
            joined.order.astype(np.int64) * max(data.n_locations, 1) + joined.location,
            data.excluded_pair_keys,
            assume_unique=False,
        )
    return keep


def _within_distance(data: ProblemData, order: IntArray, distance_km: FloatArray) -> BoolArray:
    """Candidates within their order's ``max_distance_km`` (pickup ones always)."""
    return data.order_is_pickup[order] | (distance_km <= data.order_max_distance_km[order])


@dataclass(frozen=True)
class _Geometry:
    """Per-order and per-location radians and cosines, once; gathered per candidate."""

    order_phi: FloatArray
    order_lam: FloatArray
    order_cos_phi: FloatArray
    location_phi: FloatArray
    location_lam: FloatArray
    location_cos_phi: FloatArray
    limited: bool  # some order has a distance limit

    @classmethod
    def of(cls, data: ProblemData) -> _Geometry:
        order_phi = np.radians(np.nan_to_num(data.order_lat))
        location_phi = np.radians(data.location_lat)
        return cls(
            order_phi=order_phi,
            order_lam=np.radians(np.nan_to_num(data.order_lon)),
            order_cos_phi=np.cos(order_phi),
            location_phi=location_phi,
            location_lam=np.radians(data.location_lon),
            location_cos_phi=np.cos(location_phi),
            limited=bool(np.isfinite(data.order_max_distance_km).any()),
        )

    def distance_km(self, order: IntArray, location: IntArray) -> FloatArray:
        """Haversine per candidate (the formula of engine.geo.haversine_km, equal to 1e-11 km)."""
        a = np.sin((self.location_phi[location] - self.order_phi[order]) * 0.5) ** 2
        a += (
            self.order_cos_phi[order]
            * self.location_cos_phi[location]
            * np.sin((self.location_lam[location] - self.order_lam[order]) * 0.5) ** 2
        )
        return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


class _Columns:
    """The candidate and pair columns, allocated for every joined row and filled chunk by
    chunk. Pages never written are never resident, so only what the filters keep costs
    memory; :meth:`cut` cuts them to length at the end."""

    def __init__(self, dtypes: dict[str, np.dtype[Any]], joined: int):
        self.columns: dict[str, npt.NDArray[Any]] = {
            name: np.empty(joined, dtype) for name, dtype in dtypes.items()
        }
        self.n_candidates = 0
        self.n_pairs = 0

    @classmethod
    def for_join(cls, data: ProblemData, joined: int) -> _Columns:
        # Index columns in int32 when every index fits (half the memory of int64, and faster to
        # gather); int64 otherwise.
        column = index_dtype(max(joined, data.n_lines, data.inventory_quantity.size))
        upper = index_dtype(int(data.line_quantity.max(initial=0)))
        real = np.dtype(np.float64)
        return cls(
            {
                "candidate_line": column,
                "candidate_location": column,
                "candidate_inventory": column,
                "candidate_pair": column,
                "candidate_upper": upper,
                "pair_order": column,
                "pair_location": column,
                "pair_distance_km": real,
                "pair_cost": real,
            },
            joined,
        )

    def append(self, data: ProblemData, joined: _Joined, distance_km: FloatArray) -> None:
        """A chunk's eligible candidates, and the pairs they form (sorted by order, location)."""
        stride = max(data.n_locations, 1)
        unique_keys, candidate_pair, pair_distance_km = _pairs_of_chunk(
            joined.order, joined.location, distance_km, stride
        )
        pairs = slice(self.n_pairs, self.n_pairs + unique_keys.size)
        pair_order = unique_keys // stride
        pair_location = unique_keys % stride
        del unique_keys
        self.columns["pair_order"][pairs] = pair_order
        self.columns["pair_location"][pairs] = pair_location
        self.columns["pair_distance_km"][pairs] = pair_distance_km
        self.columns["pair_cost"][pairs] = np.where(
            data.order_is_pickup[pair_order],
            0.0,
            data.location_shipment_cost[pair_location] + data.cost_per_km * pair_distance_km,
        )
        del pair_order, pair_location, pair_distance_km
        candidates = slice(self.n_candidates, self.n_candidates + joined.line.size)
        self.columns["candidate_pair"][candidates] = candidate_pair.reshape(-1) + self.n_pairs
        del candidate_pair
        self.columns["candidate_upper"][candidates] = _candidate_upper(data, joined)
        self.columns["candidate_line"][candidates] = joined.line
        self.columns["candidate_location"][candidates] = joined.location
        self.columns["candidate_inventory"][candidates] = joined.inventory
        self.n_pairs = pairs.stop
        self.n_candidates = candidates.stop

    def cut(self) -> dict[str, npt.NDArray[Any]]:
        """The columns cut to length, one at a time (a copy, so the unused tail's address space
        goes too)."""
        built: dict[str, npt.NDArray[Any]] = {}
        for name in list(self.columns):
            column = self.columns.pop(name)
            length = self.n_pairs if name.startswith("pair_") else self.n_candidates
            built[name] = column[:length].copy()
            del column
        return built


def _pairs_of_chunk(
    order: IntArray, location: IntArray, distance_km: FloatArray, stride: int
) -> tuple[IntArray, IntArray, FloatArray]:
    """The distinct (order, location) keys ``order * stride + location`` of a chunk, ascending;
    each candidate's index among them; each key's distance (the same for all its candidates).

    A chunk's orders are consecutive, so its keys span a small range: marking them in a dense
    table finds them in key order without sorting the chunk (``np.unique`` sorts; several
    times slower at millions of candidates). A sparse chunk (few candidates per key of its
    range) takes ``np.unique``."""
    if order.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64)
    base = int(order.min()) * stride
    span = (int(order.max()) + 1) * stride - base
    if span > _DENSE_KEYS_PER_CANDIDATE * order.size:
        unique_keys, first, inverse = np.unique(
            order * stride + location, return_index=True, return_inverse=True
        )
        return unique_keys, inverse.reshape(-1), distance_km[first]
    local = order * stride
    local += location
    local -= base
    present = np.zeros(span, dtype=bool)
    present[local] = True
    keys = np.flatnonzero(present)
    del present
    index_of_key = np.full(span, -1, dtype=index_dtype(keys.size))
    index_of_key[keys] = np.arange(keys.size, dtype=index_of_key.dtype)
    candidate_pair = index_of_key[local]
    del index_of_key, local
    pair_distance_km = np.empty(keys.size, dtype=np.float64)
    pair_distance_km[candidate_pair] = distance_km
    keys += base
    return keys, candidate_pair, pair_distance_km


# Keys below this sort stably in linear time (as 16-bit integers).
_RADIX_SORTED_KEYS = 1 << 16

# A chunk's key range may be this many times its candidates for the dense table of pairs.
_DENSE_KEYS_PER_CANDIDATE = 6


def _candidate_upper(data: ProblemData, joined: _Joined) -> IntArray:
    """No more can ever flow than the line asks, the row holds and the location's unit cap."""
    upper = np.minimum(data.line_quantity[joined.line], data.inventory_quantity[joined.inventory])
    units_cap = data.location_max_units[joined.location]
    return np.where(units_cap != UNLIMITED, np.minimum(upper, units_cap), upper)


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
