"""How fast this machine is, on fixed work that does not depend on the engine's code.

The bench's figures are wall times against time limits, so they move with the machine as much as
with the engine: on 2026-12-02 the same commit answered a single order in 13.1 ms (median) where
the run of 2026-12-01 12:27 had 3.9 ms, and M's first restricted master took 6 s instead of
about 2.5. Each run records these three timings beside its figures, so that two runs are compared
knowing what their machines could do. Each is the best of ``repeats`` (the least disturbed).

- ``python_s``: a pure Python loop (the engine's glue, parsing, responses);
- ``numpy_s``: sorting 10M floats (the engine's passes over candidates);
- ``highs_s``: HiGHS' dual simplex on a fixed transportation LP (the master, the stages' LPs).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import highspy
import numpy as np
from highspy._core import _Highs  # highspy.Highs() prints a banner


def _best_of(work: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def _python_loop() -> int:
    total = 0
    for i in range(10_000_000):
        total += i % 7
    return total


def _numpy_sort() -> None:
    values = np.random.default_rng(0).random(10_000_000)
    values.sort()


def _transportation_lp(sources: int = 200, sinks: int = 600) -> None:
    """min sum c x, each sink's demand met, each source's supply kept: a fixed instance."""
    rng = np.random.default_rng(1)
    cost = rng.uniform(1.0, 20.0, size=(sources, sinks))
    demand = rng.integers(1, 10, size=sinks).astype(np.float64)
    supply = np.full(sources, 1.2 * demand.sum() / sources)
    h = _Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("simplex_strategy", 1)  # dual, as the engine's masters
    n = sources * sinks
    h.addVars(n, np.zeros(n), np.full(n, highspy.kHighsInf))
    h.changeColsCost(n, np.arange(n, dtype=np.int32), cost.ravel())
    columns = np.arange(n, dtype=np.int32).reshape(sources, sinks)
    for j in range(sinks):
        h.addRow(demand[j], highspy.kHighsInf, sources, columns[:, j], np.ones(sources))
    for i in range(sources):
        h.addRow(-highspy.kHighsInf, supply[i], sinks, columns[i, :], np.ones(sinks))
    h.run()


def calibrate(repeats: int = 3) -> dict[str, float]:
    """Seconds for each fixed piece of work on this machine (best of ``repeats``)."""
    return {
        "python_s": round(_best_of(_python_loop, repeats), 3),
        "numpy_s": round(_best_of(_numpy_sort, repeats), 3),
        "highs_s": round(_best_of(_transportation_lp, repeats), 3),
    }
