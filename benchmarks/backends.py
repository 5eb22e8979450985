"""Which OR-Tools backend behind the optimiser: SCIP, HiGHS and CP-SAT on the same instances.

``python -m benchmarks.backends [--orders 2000 --locations 100 --skus 2000 --seeds 1,2
--time-limit 30]`` generates the instances, solves each with each backend in the same run, and
prints a Markdown table: wall seconds end to end (request in, response out), status, units
allocated per priority, total cost, the bound and the gap, and the cost against the best answer
of the run. Every response is checked by the independent checker.
"""

from __future__ import annotations

import argparse
import time

from engine.checker import assert_valid
from engine.generate import Size, generate
from engine.optimizer import BACKENDS
from engine.solve import solve
from models.validation import parse_solve_request


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--locations", type=int, default=100)
    parser.add_argument("--skus", type=int, default=2000)
    parser.add_argument("--seeds", default="1,2")
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    args = parser.parse_args(argv)

    size = Size(orders=args.orders, locations=args.locations, skus=args.skus)
    print(f"instances: {size}, seeds {args.seeds}, time limit {args.time_limit} s\n")
    print(
        "| seed | backend | wall s | status | units by priority | total cost | bound | gap | vs best |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for seed in (int(s) for s in args.seeds.split(",")):
        raw = generate(size, seed)
        raw["policy"]["time_limit_s"] = args.time_limit
        rows = []
        for backend in args.backends.split(","):
            started = time.perf_counter()
            request = parse_solve_request(raw)
            response = solve(request, backend=backend)
            wall = time.perf_counter() - started
            assert_valid(request, response)
            rows.append((backend, wall, response))
        best = min(r["summary"]["total_cost"] for _, _, r in rows)
        for backend, wall, response in rows:
            summary, solver = response["summary"], response["solver"]
            fill = "/".join(str(p["units_allocated"]) for p in summary["by_priority"])
            print(
                f"| {seed} | {backend} | {wall:.1f} | {solver['status']} | {fill} | "
                f"{summary['total_cost']:,.2f} | {solver['bound']:,.2f} | {solver['gap']:.2%} | "
                f"{summary['total_cost'] / best - 1:+.2%} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
