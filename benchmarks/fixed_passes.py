"""The solve's fixed passes over every candidate, timed one by one: prints figures, asserts nothing.

    python -m benchmarks.fixed_passes                   # 1.2M and 12M candidates
    python -m benchmarks.fixed_passes --locations 100 --repeat 5   # 1.2M only, best of 5
    python -m benchmarks.fixed_passes --locations 1000 --solve 10  # and a whole 10 s solve

The instance is the ledger's morning run (benchmarks/inventory_bench.py): every location stocks
every sku a few units deep and is offered to every line, 10,000 orders of one or two lines, so a
batch over 1,000 locations has about 12 million candidates and 9 million inventory rows. The
request is built as a brokering run builds it (validated orders and locations, inventory rows as
plain tuples), not timed.

Each pass runs on its own after the ones it needs; "peak" is the resident memory it added at its
highest over what the process held when it started (sampled every few milliseconds), "held"
what it left behind; with ``--repeat N`` the best time of N runs (the machine is shared: CPU
time is the steadier figure). Run the same script against another checkout's engine to compare: as a
file, from outside the tree, ``PYTHONPATH=/old/checkout python /this/tree/benchmarks/fixed_passes.py``.
Figures: benchmarks/fixed_passes.md.
"""

from __future__ import annotations

import argparse
import gc
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks import inventory_bench
from engine.candidates import cheapness_rank
from engine.greedy import greedy_allocate
from engine.lns import _Index
from engine.problem import ProblemData, build_problem
from engine.result import SolverInfo, build_response
from engine.solve import solve
from ledger.brokering_run import OfferedRow
from models.solve import Location, Order, Policy, SolveRequest

_PAGE = 4096


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE


class _PeakSampler:
    """The highest resident memory seen while a pass runs, sampled in a thread."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_bytes())
            self._stop.wait(0.003)

    def __enter__(self) -> _PeakSampler:
        self.peak = _rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())


def timed(
    name: str, work: Callable[[], Any], repeat: int = 1, data: ProblemData | None = None
) -> Any:
    """Run one pass ``repeat`` times; print its best wall and CPU time, its highest peak over
    the start and what it left resident. With ``data``, each run starts from the cache the
    first found (what the passes before it computed, not what it computed itself)."""
    cache = dict(data._cache) if data is not None else {}
    walls, cpus, peaks = [], [], []
    for _ in range(repeat):
        if data is not None:
            data._cache.clear()
            data._cache.update(cache)
        out = None
        gc.collect()
        before = _rss_bytes()
        started, cpu_started = time.perf_counter(), time.process_time()
        with _PeakSampler() as sampler:
            out = work()
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu_started)
        peaks.append(sampler.peak - before)
    after = _rss_bytes()
    mib = 1 << 20
    print(
        f"  {name:<28} {min(walls):7.2f} s  (CPU {min(cpus):6.2f} s)"
        f"   peak +{max(peaks) / mib:7.0f} MiB   held +{(after - before) / mib:7.0f} MiB",
        flush=True,
    )
    return out


def morning_request(locations: int, skus: int, orders: int, seed: int) -> SolveRequest:
    """The morning run's request: the ledger benchmark's network and queued orders, every
    location stocking every sku (0-19 units, a store keeps 1 back), stores shipping at most 200
    orders; a fifth of the orders may not split and a tenth are all or nothing."""
    rng = np.random.default_rng(seed)
    location_rows = inventory_bench.catalog(locations)["locations"]
    for row in location_rows:
        row["max_shipments"] = None if row["kind"] == "warehouse" else 200
    quantity = rng.integers(0, 20, size=(locations, skus))
    quantity[[row["kind"] == "store" for row in location_rows]] -= 1
    location_of, sku_of = np.nonzero(quantity > 0)
    location_codes = [row["id"] for row in location_rows]
    codes = [f"SKU-{j:06d}" for j in range(skus)]
    inventory = [
        OfferedRow(location_codes[loc], codes[sku], q)
        for loc, sku, q in zip(
            location_of.tolist(),
            sku_of.tolist(),
            quantity[location_of, sku_of].tolist(),
            strict=True,
        )
    ]
    queued = inventory_bench.orders(orders, locations, skus, rng)
    split = rng.random(orders) < 0.8
    partial = rng.random(orders) < 0.9
    return SolveRequest.model_construct(
        locations=[Location.model_validate(row) for row in location_rows],
        inventory=inventory,  # type: ignore[arg-type]  # OfferedRow: InventoryRow's fields
        orders=[
            Order.model_validate({**order, "allow_split": bool(s), "allow_partial": bool(p)})
            for order, s, p in zip(queued, split.tolist(), partial.tolist(), strict=True)
        ],
        policy=Policy.model_validate({"time_limit_s": 10}),
    )


def run(
    locations: int,
    skus: int,
    orders: int,
    seed: int,
    repeat: int = 1,
    solve_limit_s: float | None = None,
) -> None:
    request = morning_request(locations, skus, orders, seed)
    print(
        f"\n{orders:,} orders x {locations:,} locations, {len(request.inventory):,} inventory rows",
        flush=True,
    )
    data: ProblemData = timed("problem build", lambda: build_problem(request), repeat)
    print(f"  ({data.n_candidates:,} candidates, {data.n_pairs:,} pairs)")
    nearest = timed("greedy, nearest", lambda: greedy_allocate(data), repeat, data)
    timed("greedy, cheapest", lambda: greedy_allocate(data, preference="cheapest"), repeat, data)
    timed("cheapness ranks", lambda: cheapness_rank(data), repeat, data)
    timed("search index", lambda: _Index(data, nearest), repeat, data)
    info = SolverInfo("bench", False, 0.0, 0.0, 1.0, 0.0, "optimal")
    response = timed("response", lambda: build_response(data, nearest, info), repeat, data)
    print(f"  ({len(response['allocations']):,} allocations)")
    if solve_limit_s is not None:
        del response, nearest, data  # the solve builds its own
        policy = request.policy.model_copy(update={"time_limit_s": solve_limit_s})
        request = request.model_copy(update={"policy": policy})
        started = time.perf_counter()
        answer = timed(f"solve, {solve_limit_s:g} s limit", lambda: solve(request, started=started))
        print(
            f"  (status {answer['solver']['status']}, units"
            f" {answer['summary']['units_allocated']:,}, cost {answer['summary']['total_cost']:,},"
            f" solver.seconds {answer['solver']['seconds']})"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--locations", type=int, nargs="+", default=[100, 1000], help="one run per count"
    )
    parser.add_argument("--skus", type=int, default=10_000)
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--solve",
        type=float,
        metavar="LIMIT_S",
        help="then the whole solve with this time limit, from the request (the build again)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of each pass; the best time is printed"
    )
    args = parser.parse_args(argv)
    for locations in args.locations:
        run(locations, args.skus, args.orders, args.seed, args.repeat, args.solve)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
