"""Digests of what the fixed passes compute, on random instances: to show two versions agree.

    python benchmarks/passes_digest.py > new.txt
    PYTHONPATH=/path/to/old/checkout python benchmarks/passes_digest.py > old.txt
    diff old.txt new.txt          # no output: the same allocations, ranks and responses

Run as a file (not ``-m``), so that ``PYTHONPATH`` decides which ``engine`` is imported. Each
instance is small and random, and mixes every rule the greedy and the builder know: ship and
pickup orders, split or not, all-or-nothing, exclusions, location capacities, distance limits,
two lines of one sku, ties in distance and cost. Per instance, one line per pass: the greedy's
allocation for both preferences, the cheapness ranks, the candidates and pairs, the response.
"""

from __future__ import annotations

import argparse
import hashlib
from typing import Any

import numpy as np
import orjson

from engine.candidates import cheapness_rank
from engine.greedy import greedy_allocate
from engine.problem import ProblemData, build_problem
from engine.result import SolverInfo, build_response
from models.validation import parse_solve_request


def random_request(seed: int) -> dict[str, Any]:
    """A small request drawing on every rule of the contract the fixed passes handle."""
    rng = np.random.default_rng(seed)
    n_locations = int(rng.integers(1, 12))
    n_skus = int(rng.integers(1, 8))
    n_orders = int(rng.integers(1, 40))
    # a few coordinates shared by several locations and orders: ties in distance
    grid = rng.uniform([30.0, -120.0], [45.0, -75.0], size=(4, 2)).round(3)
    locations = []
    for i in range(n_locations):
        lat, lon = _place(rng, grid, shared=0.4)
        location: dict[str, Any] = {
            "id": f"L{i}",
            "kind": "warehouse" if rng.random() < 0.3 else "store",
            "lat": float(lat),
            "lon": float(lon),
            "ships": bool(rng.random() < 0.9),
            "pickup": bool(rng.random() < 0.7),
        }
        if rng.random() < 0.3:
            location["max_shipments"] = int(rng.integers(0, 6))
        if rng.random() < 0.3:
            location["max_units"] = int(rng.integers(0, 12))
        if rng.random() < 0.3:
            location["shipment_cost"] = float(rng.choice([0.0, 2.5, 7.0]))
        if rng.random() < 0.3:
            location["unit_cost"] = float(rng.choice([0.0, 0.5, 1.25]))
        locations.append(location)
    inventory = [
        {"location_id": f"L{i}", "sku": f"S{s}", "quantity": int(rng.integers(0, 6))}
        for i in range(n_locations)
        for s in range(n_skus)
        if rng.random() < 0.7
    ]
    pickup_at = [loc["id"] for loc in locations if loc["pickup"]]
    orders = []
    for k in range(n_orders):
        lines = [
            {"id": str(j), "sku": f"S{int(rng.integers(0, n_skus))}", "quantity": int(q)}
            for j, q in enumerate(rng.integers(1, 5, size=int(rng.integers(1, 4))))
        ]
        order: dict[str, Any] = {
            "id": f"O{k}",
            "priority": int(rng.choice([0, 0, 1, 2])),
            "lines": lines,
            "allow_split": bool(rng.random() < 0.6),
            "allow_partial": bool(rng.random() < 0.6),
        }
        if rng.random() < 0.5:
            order["placed_at"] = (
                f"2026-11-2{int(rng.integers(5, 8))}T0{int(rng.integers(0, 9))}:00:00Z"
            )
        if pickup_at and rng.random() < 0.2:
            order.update(delivery="pickup", pickup_location_id=str(rng.choice(pickup_at)))
        else:
            lat, lon = _place(rng, grid, shared=0.3)
            order.update(delivery="ship", ship_to={"lat": float(lat), "lon": float(lon)})
            if rng.random() < 0.15:
                order["max_distance_km"] = float(rng.choice([300.0, 1500.0]))
        if rng.random() < 0.2:
            excluded = rng.choice(n_locations, size=int(rng.integers(1, 3)), replace=True)
            order["exclude_location_ids"] = sorted({f"L{int(i)}" for i in excluded})
        orders.append(order)
    return {
        "locations": locations,
        "inventory": inventory,
        "orders": orders,
        "policy": {"cost_per_km": float(rng.choice([0.0, 0.01, 0.002])), "time_limit_s": 5},
    }


def _place(rng: np.random.Generator, grid: np.ndarray, shared: float) -> tuple[float, float]:
    """A point: one of the grid's (with probability ``shared``) or anywhere in the box."""
    if rng.random() < shared:
        lat, lon = grid[rng.integers(0, len(grid))]
        return float(lat), float(lon)
    return float(rng.uniform(30, 45)), float(rng.uniform(-120, -75))


def _digest(*arrays: Any) -> str:
    sha = hashlib.sha256()
    for array in arrays:
        if isinstance(array, np.ndarray):
            sha.update(np.ascontiguousarray(array.astype(np.float64)).tobytes())
        else:
            sha.update(orjson.dumps(array, option=orjson.OPT_SORT_KEYS))
        sha.update(b"|")
    return sha.hexdigest()[:16]


def digests(data: ProblemData) -> dict[str, str]:
    nearest = greedy_allocate(data)
    cheapest = greedy_allocate(data, preference="cheapest")
    info = SolverInfo("digest", False, 0.0, 0.0, 1.0, 0.0, "greedy")
    return {
        "candidates": _digest(
            data.candidate_line,
            data.candidate_location,
            data.candidate_inventory,
            data.candidate_pair,
            data.candidate_upper,
        ),
        "pairs": _digest(
            data.pair_order, data.pair_location, data.pair_distance_km, data.pair_cost
        ),
        "greedy_nearest": _digest(nearest),
        "greedy_cheapest": _digest(cheapest),
        "cheapness_rank": _digest(cheapness_rank(data)),
        "response_nearest": _digest(build_response(data, nearest, info)),
        "response_cheapest": _digest(build_response(data, cheapest, info)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=400)
    parser.add_argument("--first-seed", type=int, default=0)
    args = parser.parse_args(argv)
    for seed in range(args.first_seed, args.first_seed + args.instances):
        data = build_problem(parse_solve_request(random_request(seed)))
        for name, value in digests(data).items():
            print(f"{seed} {name} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
