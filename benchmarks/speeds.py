"""Wall times that used to be asserted in unit tests, measured and printed instead (a loaded
machine made those tests flake; a figure belongs in a benchmark). Nothing here passes or fails.

``python -m benchmarks.speeds [--repeat 3]`` prints the best of ``--repeat`` runs of:
- the greedy rules on the S instance (seed 3), once a budget of 1 s in tests/test_greedy.py;
- the checker on a greedy response to 10,000 orders (M, seed 3), once 5 s in tests/test_checker.py;
- each analyst notebook top to bottom, once 60 s each in tests/test_notebooks.py.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from engine.checker import check
from engine.generate import generate
from engine.greedy import greedy_allocate
from engine.problem import build_problem
from engine.solve import solve
from models.validation import parse_solve_request

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def best_of(repeat: int, work: Callable[[], object]) -> float:
    """The least wall time of ``repeat`` runs of ``work``, in seconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def notebook_seconds(name: str) -> float:
    import nbformat
    from nbclient import NotebookClient

    os.environ.setdefault("MPLBACKEND", "Agg")
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=600,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    return best_of(1, client.execute)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speeds")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-notebooks", action="store_true")
    args = parser.parse_args(argv)

    small = build_problem(parse_solve_request(generate("S", seed=3)))
    seconds = best_of(args.repeat, lambda: greedy_allocate(small))
    print(f"greedy, S ({small.n_candidates:,} candidates): {seconds:.3f} s")

    raw = generate("M", seed=3)
    raw["policy"] = {**raw.get("policy", {}), "strategy": "greedy"}
    request = parse_solve_request(raw)
    response = solve(request)
    seconds = best_of(args.repeat, lambda: check(request, response))
    print(f"checker, {len(request.orders):,} orders: {seconds:.3f} s")

    if not args.no_notebooks:
        for name in sorted(path.name for path in NOTEBOOKS.glob("*.ipynb")):
            print(f"notebook {name}: {notebook_seconds(name):.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
