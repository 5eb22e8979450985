"""The instance generator: valid contract requests, the sizes asked for, deterministic per seed."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import orjson
import pytest

from cli import generate as generate_command
from engine.generate import SIZES, Size, generate, resolve_size, warehouse_count
from engine.geo import haversine_km
from models.validation import parse_solve_request

TINY = Size(orders=40, locations=6, skus=25)


def test_small_instance_is_a_valid_request_of_the_size_asked_for() -> None:
    raw = generate("S", seed=1)
    request = parse_solve_request(orjson.loads(orjson.dumps(raw)))
    size = SIZES["S"]
    assert len(request.orders) == size.orders
    assert len(request.locations) == size.locations
    assert {row.sku for row in request.inventory} <= {
        f"SKU-{k:06d}" for k in range(1, size.skus + 1)
    }
    # Most of the catalog is listed somewhere; the generator does not shrink the catalog.
    assert len({row.sku for row in request.inventory}) > 0.9 * size.skus


def test_custom_tiny_size_is_valid() -> None:
    request = parse_solve_request(generate(TINY, seed=5))
    assert len(request.orders) == TINY.orders
    assert len(request.locations) == TINY.locations
    assert sum(loc.kind == "warehouse" for loc in request.locations) == warehouse_count(
        TINY.locations
    )


def test_same_seed_same_bytes_other_seed_other_instance() -> None:
    assert orjson.dumps(generate(TINY, seed=3)) == orjson.dumps(generate(TINY, seed=3))
    assert orjson.dumps(generate(TINY, seed=3)) != orjson.dumps(generate(TINY, seed=4))


def test_unknown_or_degenerate_size_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown size"):
        resolve_size("XXL")
    with pytest.raises(ValueError):
        resolve_size(Size(orders=1, locations=1, skus=1))
    assert resolve_size("xl") == SIZES["XL"]


def test_instance_looks_like_a_retail_network() -> None:
    request = parse_solve_request(generate("S", seed=2))
    warehouses = [loc for loc in request.locations if loc.kind == "warehouse"]
    stores = [loc for loc in request.locations if loc.kind == "store"]
    assert 2 <= len(warehouses) <= 6 and len(stores) > 10 * len(warehouses)
    # Everything in the contiguous US.
    for point in [*request.locations, *(o.ship_to for o in request.orders if o.ship_to)]:
        assert 24.0 < point.lat < 50.0 and -125.0 < point.lon < -66.0
    # Stock deep in warehouses and thin in stores.
    kind = {loc.id: loc.kind for loc in request.locations}
    depth = {
        k: np.mean(
            [
                row.quantity
                for row in request.inventory
                if kind[row.location_id] == k and row.quantity > 0
            ]
        )
        for k in ("warehouse", "store")
    }
    assert depth["warehouse"] > 2 * depth["store"] and depth["store"] < 3
    # Long tail: the 10% best-selling skus take far more than 10% of the ordered lines.
    lines = [line.sku for order in request.orders for line in order.lines]
    _, counts = np.unique(lines, return_counts=True)
    top = np.sort(counts)[::-1][: SIZES["S"].skus // 10]
    assert top.sum() > 0.3 * len(lines)
    # The order mix: some pickup, mostly priority 0, some no-split and all-or-nothing orders.
    n = len(request.orders)
    pickup = sum(order.delivery == "pickup" for order in request.orders)
    assert 0.08 * n < pickup < 0.18 * n
    priorities = [order.priority for order in request.orders]
    assert (
        priorities.count(0) > 0.75 * n
        and priorities.count(2) > 0
        and priorities.count(1) > priorities.count(2)
    )
    assert 0 < sum(not order.allow_split for order in request.orders) < 0.2 * n
    assert 0 < sum(not order.allow_partial for order in request.orders) < 0.2 * n
    assert all(order.placed_at is not None for order in request.orders)
    # Store capacities on most stores; warehouses unlimited.
    assert sum(loc.max_shipments is not None for loc in stores) > 0.5 * len(stores)
    assert all(loc.max_shipments is None for loc in warehouses)
    # Customers live near stores: most ship orders have a store within 100 km.
    lat = np.array([loc.lat for loc in stores])
    lon = np.array([loc.lon for loc in stores])
    near = [
        haversine_km(o.ship_to.lat, o.ship_to.lon, lat, lon).min() < 100.0
        for o in request.orders
        if o.ship_to
    ]
    assert np.mean(near) > 0.45  # 46 stores; a uniform spread over the map gives about 0.15


def test_pickup_orders_mostly_name_skus_their_store_lists() -> None:
    request = parse_solve_request(generate("S", seed=4))
    listed = {(row.location_id, row.sku) for row in request.inventory}
    pickup_lines = [
        (order.pickup_location_id, line.sku)
        for order in request.orders
        if order.delivery == "pickup"
        for line in order.lines
    ]
    assert np.mean([pair in listed for pair in pickup_lines]) > 0.7


def test_command_writes_the_request(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    generate_command.register(parser.add_subparsers())
    out = tmp_path / "tiny.json"
    args = parser.parse_args(
        [
            "generate",
            "--orders",
            "30",
            "--locations",
            "5",
            "--skus",
            "20",
            "--seed",
            "9",
            "-o",
            str(out),
        ]
    )
    assert args.handler(args) == 0
    raw = orjson.loads(out.read_bytes())
    assert raw == orjson.loads(
        orjson.dumps(generate(Size(orders=30, locations=5, skus=20), seed=9))
    )
    parse_solve_request(raw)
