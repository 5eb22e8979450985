"""The plain full MIP a first attempt would write: the benchmark's straw man, kept out of the engine.

Every order x every eligible location in one OR-Tools MIP (``pywraplp``, SCIP by default), built
with a Python loop per variable and per constraint, and the contract's lexicographic goal folded
into one weighted objective: each unit of priority p is worth more than any cost difference and
any amount of lower-priority fill (weights grow by a factor above the largest possible cost). It
is correct in principle, and the benchmark shows what it does at retail scale under a time limit.

Variables: ``x[c]`` integer units per candidate (line, location); ``y[k]`` binary shipment per
(order, location) pair; ``z[o]`` binary "served" per all-or-nothing order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import ortools.linear_solver.pywraplp as pywraplp

from engine.problem import UNLIMITED, IntArray, ProblemData

UNIT_WEIGHT = 1_000.0


@dataclass
class NaiveMipResult:
    """What the naive MIP gives back: an allocation, or none when it found nothing in time."""

    allocation: IntArray | None
    status: str
    build_seconds: float
    solve_seconds: float
    objective: float | None
    n_variables: int
    n_constraints: int


def priority_weights(data: ProblemData) -> dict[int, float]:
    """Weight of a unit filled at each priority, as a first attempt picks them.

    1,000 per unit at the lowest priority (more than any one unit's cost: a shipment is about
    10 plus 0.002 per km), and 1,000 times more per priority above. Big enough in practice, not a
    proof of lexicographic order; weights that were (a factor above all lower fill per level) would
    reach 1e18 and wreck the solver's numerics, which is the trouble with weighted objectives.
    """
    return {
        priority: UNIT_WEIGHT * UNIT_WEIGHT**rank
        for rank, priority in enumerate(sorted(data.priorities))  # lowest first
    }


def solve_naive_mip(
    data: ProblemData, time_limit_s: float, solver_id: str = "SCIP"
) -> NaiveMipResult:
    """Build and solve the full MIP. Raises RuntimeError if OR-Tools lacks ``solver_id``."""
    started = time.perf_counter()
    solver = pywraplp.Solver.CreateSolver(solver_id)
    if solver is None:
        raise RuntimeError(f"OR-Tools has no {solver_id} solver here")
    weights = priority_weights(data)
    line_priority = data.line_priority

    x = [solver.IntVar(0, int(data.candidate_upper[c]), f"x{c}") for c in range(data.n_candidates)]
    y = [solver.BoolVar(f"y{k}") for k in range(data.n_pairs)]
    objective = solver.Objective()
    for c in range(data.n_candidates):
        location = int(data.candidate_location[c])
        gain = weights[int(line_priority[data.candidate_line[c]])]
        objective.SetCoefficient(x[c], float(data.location_unit_cost[location]) - gain)
    for k in range(data.n_pairs):
        objective.SetCoefficient(y[k], float(data.pair_cost[k]))
    objective.SetMinimization()

    # Stock per inventory row, quantity per line, linking per pair: one constraint each.
    by_row: dict[int, list[int]] = {}
    by_line: dict[int, list[int]] = {}
    by_pair: dict[int, list[int]] = {}
    for c in range(data.n_candidates):
        by_row.setdefault(int(data.candidate_inventory[c]), []).append(c)
        by_line.setdefault(int(data.candidate_line[c]), []).append(c)
        by_pair.setdefault(int(data.candidate_pair[c]), []).append(c)
    for row, cands in by_row.items():
        solver.Add(sum(x[c] for c in cands) <= int(data.inventory_quantity[row]))
    for line, cands in by_line.items():
        solver.Add(sum(x[c] for c in cands) <= int(data.line_quantity[line]))
    for k, cands in by_pair.items():
        for c in cands:
            solver.Add(x[c] <= int(data.candidate_upper[c]) * y[k])

    # Split, all-or-nothing.
    pairs_of_order: dict[int, list[int]] = {}
    for k in range(data.n_pairs):
        pairs_of_order.setdefault(int(data.pair_order[k]), []).append(k)
    slices = data.order_line_slices()
    for order, pairs in pairs_of_order.items():
        if not data.order_allow_split[order]:
            solver.Add(sum(y[k] for k in pairs) <= 1)
        if not data.order_allow_partial[order]:
            served = solver.BoolVar(f"z{order}")
            for line in range(int(slices[order]), int(slices[order + 1])):
                cands = by_line.get(line, [])
                solver.Add(sum(x[c] for c in cands) == int(data.line_quantity[line]) * served)

    # Location capacities.
    for location in range(data.n_locations):
        max_shipments = int(data.location_max_shipments[location])
        max_units = int(data.location_max_units[location])
        if max_shipments != UNLIMITED:
            pairs = np.flatnonzero(data.pair_location == location).tolist()
            if pairs:
                solver.Add(sum(y[k] for k in pairs) <= max_shipments)
        if max_units != UNLIMITED:
            cands = np.flatnonzero(data.candidate_location == location).tolist()
            if cands:
                solver.Add(sum(x[c] for c in cands) <= max_units)
    build_seconds = time.perf_counter() - started

    solver.SetTimeLimit(int(max(time_limit_s, 0.001) * 1000))
    solve_started = time.perf_counter()
    status = solver.Solve()
    solve_seconds = time.perf_counter() - solve_started
    names = {
        pywraplp.Solver.OPTIMAL: "optimal",
        pywraplp.Solver.FEASIBLE: "feasible",
        pywraplp.Solver.INFEASIBLE: "infeasible",
        pywraplp.Solver.NOT_SOLVED: "no solution in time",
        pywraplp.Solver.ABNORMAL: "abnormal",
    }
    has_solution = status in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE)
    allocation = (
        np.array([round(v.solution_value()) for v in x], dtype=np.int64) if has_solution else None
    )
    return NaiveMipResult(
        allocation=allocation,
        status=names.get(status, f"status {status}"),
        build_seconds=build_seconds,
        solve_seconds=solve_seconds,
        objective=solver.Objective().Value() if has_solution else None,
        n_variables=solver.NumVariables(),
        n_constraints=solver.NumConstraints(),
    )
