"""The optimiser: the contract's lexicographic optimum, solved in stages with OR-Tools.

Stage 1..P: for each priority from the highest down, maximise the units allocated to that priority,
holding every higher priority at the fill it reached. Stage P+1: minimise total cost, holding every
priority's fill. Solving in stages keeps fill exact whatever the costs are (one weighted objective is
exact only when its constant provably dominates every cost, and a relative MIP gap on a huge weighted
objective would silently trade units for money).

A *floor* allocation (the greedy baseline) is always at hand: it skips fill stages it already
provably maximises (it reaches the trivial upper bound of the priority), and it is the answer when
the time limit leaves the solver with nothing better, so the optimiser never returns less than the
baseline and never returns nothing.

Backends are those of OR-Tools' ModelBuilder: SCIP (default), HiGHS and CP-SAT; see the README
for the measurements behind the default.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from ortools.linear_solver.python import model_builder as mb

from engine.backends import BACKENDS, DEFAULT_BACKEND
from engine.greedy import greedy_allocate
from engine.model import (
    FILL_TIE_BREAK,
    AllocationModel,
    ReducedModel,
    allocation_is_feasible,
    build_model,
    cost_objective,
    fill_objective,
    reduce_model,
)
from engine.polish import rehome_orders
from engine.problem import UNLIMITED, BoolArray, FloatArray, IntArray, ProblemData

# Leave this much of the time limit for writing the response after the last stage.
_RESPONSE_RESERVE_S = 0.05
# A fill stage's full MIP (run only when the LP-guided one did not prove the fill) may take this
# share of the time left; an unproven fill is held as found and the answer says "feasible".
_FILL_PROOF_TIME_SHARE = 0.25
# The fill stages together may use this share of the time limit; the rest is the cost stage's.
_FILL_STAGES_TIME_SHARE = 0.6
# Beyond this many candidates no model is built (memory: about 1 GiB per million candidates).
MAX_MODEL_CANDIDATES = 8_000_000
# No solve starts with less time than this left: building and presolving would outrun it.
_MIN_SOLVE_S = 0.2
# The full MIP is not attempted beyond this many columns: SCIP neither solves nor proves such a
# model in the seconds a batch allows; the restricted answers stand, reported as feasible.
_FULL_MIP_MAX_COLUMNS = 250_000
# How many of each line's cheapest candidates the cost stage tries.
_NEIGHBOURHOOD_PER_LINE = 2


@dataclass(frozen=True)
class StageReport:
    """One solve of the sequence: what it optimised, how it ended, what it cost."""

    name: str  # "fill:<priority>" or "cost"
    status: str  # "optimal", "feasible", "skipped", "no_solution"
    objective: float
    bound: float
    seconds: float


@dataclass(frozen=True)
class OptimiserResult:
    """An allocation with its cost, a proven lower bound on the cost at its fill, and the stages."""

    x: IntArray
    optimal: bool
    objective: float
    bound: float
    backend: str
    stages: list[StageReport] = field(default_factory=list)
    fill_optimal: bool = True

    @property
    def gap(self) -> float:
        return relative_gap(self.objective, self.bound)


def relative_gap(objective: float, bound: float) -> float:
    """The relative distance between a cost and its lower bound (0 when both are 0)."""
    if objective <= 1e-9:
        return 0.0
    return max(0.0, (objective - bound) / abs(objective))


def allocation_cost(data: ProblemData, x: IntArray) -> float:
    """Total cost of an allocation: used shipments plus unit handling, unrounded."""
    pair_units = np.bincount(data.candidate_pair, weights=x, minlength=data.n_pairs)
    units_cost = float(np.dot(x, data.location_unit_cost[data.candidate_location]))
    return float(data.pair_cost[pair_units > 0].sum()) + units_cost


def fill_by_priority(data: ProblemData, x: IntArray) -> dict[int, int]:
    """Units allocated per priority, for every priority of the batch."""
    line_units = np.bincount(data.candidate_line, weights=x, minlength=data.n_lines)
    priority = data.line_priority
    return {p: round(line_units[priority == p].sum()) for p in data.priorities}


def fill_upper_bounds(data: ProblemData) -> dict[int, int]:
    """Per priority, the units it could get if no other priority existed and nothing bound but
    line quantities and stock: ``sum over lines of min(quantity, eligible stock)``."""
    eligible_stock = np.bincount(
        data.candidate_line,
        weights=data.inventory_quantity[data.candidate_inventory],
        minlength=data.n_lines,
    )
    reachable = np.minimum(data.line_quantity, eligible_stock)
    priority = data.line_priority
    return {p: round(reachable[priority == p].sum()) for p in data.priorities}


def lexicographically_better(
    data: ProblemData, a: IntArray, b: IntArray, *, tolerance: float = 1e-6
) -> bool:
    """True when allocation ``a`` beats ``b`` by the contract: fill per priority, then cost."""
    fill_a, fill_b = fill_by_priority(data, a), fill_by_priority(data, b)
    for priority in data.priorities:
        if fill_a[priority] != fill_b[priority]:
            return fill_a[priority] > fill_b[priority]
    return allocation_cost(data, a) < allocation_cost(data, b) - tolerance


class _Stages:
    """Runs the stage sequence against one model, sharing the deadline."""

    def __init__(self, data: ProblemData, backend: str, deadline: float):
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        self.data = data
        self.backend = backend
        self.deadline = deadline
        self.model: AllocationModel = build_model(data)
        self.row_lower = self.model.row_lower.copy()
        self.reports: list[StageReport] = []

    def remaining_s(self) -> float:
        return self.deadline - time.perf_counter()

    def hold_fill(self, priority: int, units: int) -> None:
        self.row_lower[self.model.fill_rows[priority]] = float(units)

    def solve(
        self,
        name: str,
        objective: FloatArray,
        *,
        maximize: bool,
        gap: float,
        abs_gap: float,
        upper: FloatArray | None = None,
        time_limit_s: float | None = None,
        max_columns: int = 1 << 62,
    ) -> tuple[IntArray | None, float, float, bool]:
        """One MIP solve. Returns (x or None, objective, bound, proven within the gap).

        No warm start is passed: OR-Tools' HiGHS wrapper drops hints (it sizes its hint vector
        to zero), and with a hint its SCIP wrapper was seen returning fractional "solutions".
        :meth:`solve_guided` gets the same effect by keeping the start's support in the model.
        """
        started = time.perf_counter()
        model = self.model
        stage = "cost" if name.startswith("cost") else "fill"
        limit = self.remaining_s() if time_limit_s is None else time_limit_s
        reduced = reduce_model(
            self.data, model, objective, self.row_lower, model.upper if upper is None else upper
        )
        if limit < _MIN_SOLVE_S or reduced.columns.size > max_columns:
            # Building and presolving alone would outrun the time left: not worth starting.
            self.reports.append(StageReport(name, "skipped", float("nan"), float("nan"), 0.0))
            return None, float("nan"), float("nan"), False
        mb_model = _mb_model(reduced, model.integrality(stage)[reduced.columns], maximize)
        solver = mb.Solver(self.backend)
        solver.set_time_limit_in_seconds(_solver_time(limit, reduced))
        solver.set_solver_specific_parameters(_parameters(self.backend, gap, abs_gap))
        status = solver.solve(mb_model)
        seconds = time.perf_counter() - started
        if status not in (mb.SolveStatus.OPTIMAL, mb.SolveStatus.FEASIBLE):
            self.reports.append(
                StageReport(name, "no_solution", float("nan"), float("nan"), seconds)
            )
            return None, float("nan"), float("nan"), False
        values = reduced.expand(
            solver.values(mb_model.get_variables()).to_numpy(dtype=np.float64, na_value=0.0)
        )
        x = np.rint(values[: model.n_x]).astype(np.int64)
        if not allocation_is_feasible(self.data, model, x, self.row_lower) or (
            upper is not None and np.any(x > upper[: model.n_x] + 1e-9)
        ):
            # Seen with OR-Tools' SCIP when a hint is given: a "solution" with fractional
            # integers. Never promise it; the caller goes on without it.
            self.reports.append(
                StageReport(name, "invalid_solution", float("nan"), float("nan"), seconds)
            )
            return None, float("nan"), float("nan"), False
        optimal = status == mb.SolveStatus.OPTIMAL
        # The objective of the allocation actually returned (y and z derived from x).
        value = float(objective @ model.columns_of(self.data, x))
        bound = self._bound(solver, value, optimal, maximize, gap, abs_gap)
        self.reports.append(
            StageReport(name, "optimal" if optimal else "feasible", value, bound, seconds)
        )
        return x, value, bound, optimal

    def value_of(self, objective: FloatArray, x: IntArray) -> float:
        """An objective's value at allocation ``x`` (its shipments and served orders derived)."""
        return float(objective @ self.model.columns_of(self.data, x))

    def relax(
        self, objective: FloatArray, maximize: bool, upper: FloatArray
    ) -> tuple[FloatArray, float] | None:
        """The LP relaxation (HiGHS' simplex): column values and its optimum, a proven bound."""
        started = time.perf_counter()
        if self.remaining_s() < _MIN_SOLVE_S:
            self.reports.append(StageReport("lp", "skipped", float("nan"), float("nan"), 0.0))
            return None
        reduced = reduce_model(
            self.data,
            self.model,
            objective,
            self.row_lower,
            upper,
            substitute_single_shipments=True,
        )
        relaxed = _mb_model(reduced, None, maximize)
        solver = mb.Solver("highs")
        solver.set_time_limit_in_seconds(_solver_time(self.remaining_s(), reduced))
        # dual simplex: measured fastest here on these LPs (IPM and PDLP far slower)
        solver.set_solver_specific_parameters("output_flag=false\nsimplex_strategy=1")
        status = solver.solve(relaxed)
        seconds = time.perf_counter() - started
        if status != mb.SolveStatus.OPTIMAL:
            self.reports.append(
                StageReport("lp", "no_solution", float("nan"), float("nan"), seconds)
            )
            return None
        value = float(solver.objective_value)
        self.reports.append(StageReport("lp", "optimal", value, value, seconds))
        return reduced.expand(
            solver.values(relaxed.get_variables()).to_numpy(dtype=np.float64, na_value=0.0)
        ), value

    def solve_guided(
        self,
        name: str,
        objective: FloatArray,
        *,
        maximize: bool,
        gap: float,
        abs_gap: float,
        start: IntArray,
        upper: FloatArray | None = None,
        full_time_share: float = 1.0,
        lp_objective: FloatArray | None = None,
        neighbourhood: BoolArray | None = None,
    ) -> tuple[IntArray | None, float, float, bool]:
        """A stage solved from small models to the full one, each step only if still needed.

        1. The LP relaxation: a proven bound, and a support.
        2. A MIP over the LP's support and the start allocation's (so it is feasible): it
           usually meets the LP bound within the gap, which proves it.
        3. With a ``neighbourhood`` (candidates worth trying, e.g. each line's cheapest), the
           same MIP with those added, for a better answer.
        4. Only if still unproven, the full MIP, with ``full_time_share`` of the time left.

        (A MIP over a neighbourhood alone, before the LP, was tried: without a warm start,
        which OR-Tools' wrappers do not pass reliably, SCIP found no solution in time.)

        Nothing is pruned for good: the full model stays the reference for bound and proof.
        ``lp_objective`` (default: ``objective``) is what the LP and the full MIP optimise and
        what the proof compares; only the restricted MIPs carry a fill stage's cost tie-break,
        which would slow the LP and the proof down. Returns (x, value, bound, proven).
        """
        model = self.model
        full_upper = model.upper if upper is None else upper
        proof_objective = objective if lp_objective is None else lp_objective
        best: tuple[IntArray, float] | None = None

        def restricted(label: str, keep_x: BoolArray, time_share: float) -> None:
            nonlocal best, start
            x, _value, _bound, _optimal = self.solve(
                f"{name}:{label}",
                objective,
                maximize=maximize,
                gap=gap,
                abs_gap=abs_gap,
                upper=np.where(self._columns_of_candidates(keep_x | (start > 0)), full_upper, 0.0),
                time_limit_s=self.remaining_s() * time_share,
            )
            if x is not None:
                value = self.value_of(proof_objective, x)
                if best is None or _better(value, best[1], maximize):
                    best, start = (x, value), x

        relaxation = self.relax(proof_objective, maximize, full_upper)
        lp_bound = float("inf") if maximize else 0.0
        if relaxation is not None:
            values, lp_bound = relaxation
            lp_support = values[: model.n_x] > 1e-7
            restricted("lp-support", lp_support, 1.0)
            if best is not None and _within(best[1], lp_bound, maximize, gap, abs_gap):
                return best[0], best[1], lp_bound, True
            if neighbourhood is not None:
                restricted("lp-support+neighbourhood", lp_support | neighbourhood, 0.6)
                if best is not None and _within(best[1], lp_bound, maximize, gap, abs_gap):
                    return best[0], best[1], lp_bound, True
        x, value, bound, optimal = self.solve(
            name,
            proof_objective,
            maximize=maximize,
            gap=gap,
            abs_gap=abs_gap,
            upper=upper,
            time_limit_s=self.remaining_s() * full_time_share,
            max_columns=_FULL_MIP_MAX_COLUMNS,
        )
        if x is None or not np.isfinite(bound):
            bound = lp_bound
        else:
            bound = min(bound, lp_bound) if maximize else max(bound, lp_bound)
        # On a tie a restricted answer wins: its tie-break made it the cheaper one.
        if best is not None and (x is None or not _better(value, best[1], maximize)):
            return best[0], best[1], bound, _within(best[1], bound, maximize, gap, abs_gap)
        return x, value, bound, optimal

    def _columns_of_candidates(self, keep_x: BoolArray) -> BoolArray:
        """Columns to keep for a set of candidates: theirs, their shipments', every z."""
        model = self.model
        keep_pair = np.bincount(self.data.candidate_pair, weights=keep_x, minlength=model.n_y) > 0
        return np.concatenate([keep_x, keep_pair, np.ones(model.n_z, dtype=bool)])

    def _bound(
        self,
        solver: mb.Solver,
        value: float,
        optimal: bool,
        maximize: bool,
        gap: float,
        abs_gap: float,
    ) -> float:
        """A proven bound on the stage's objective, or nan when the solver proved none.

        SCIP and CP-SAT report their dual bound. OR-Tools' HiGHS wrapper reports the incumbent's
        value as the bound, which proves nothing, so for HiGHS the bound comes from HiGHS' own
        stopping rule when it proved optimality within the gap; otherwise the caller falls back
        on the LP relaxation's.
        """
        if self.backend != "highs":
            bound = float(solver.best_objective_bound)
            if np.isfinite(bound):
                return bound
        if optimal:
            slack = max(gap * abs(value), abs_gap) if maximize else gap * abs(value)
            return value + slack if maximize else value - slack
        return float("nan")


def _mb_model(reduced: ReducedModel, integer: np.ndarray | None, maximize: bool) -> mb.Model:
    """The model handed to OR-Tools in one call from the sparse arrays."""
    mb_model = mb.Model()
    # OR-Tools' stubs type these arrays wrongly (ndarray[float64, ...]); the call takes float64 arrays.
    helper: Any = mb_model.helper
    helper.fill_model_from_sparse_data(
        reduced.lower,
        reduced.upper,
        reduced.objective,
        reduced.row_lower,
        reduced.row_upper,
        reduced.matrix,
    )
    if integer is not None:
        for column in np.flatnonzero(integer).tolist():
            helper.set_var_integrality(column, True)
    helper.set_maximize(maximize)
    return mb_model


def _parameters(backend: str, gap: float, abs_gap: float) -> str:
    if backend == "highs":
        # HiGHS writes a banner to stdout unless told not to; stdout is the CLI's JSON.
        return f"output_flag=false\nmip_rel_gap={gap}\nmip_abs_gap={abs_gap}\nthreads=1"
    if backend == "scip":
        return f"limits/gap = {gap}\nlimits/absgap = {abs_gap}\ndisplay/verblevel = 0"
    return f"relative_gap_limit: {gap}, absolute_gap_limit: {abs_gap}, num_workers: 2"


def optimise(
    data: ProblemData,
    *,
    floor: IntArray | None = None,
    backend: str = DEFAULT_BACKEND,
    time_limit_s: float | None = None,
    relative_gap: float | None = None,
) -> OptimiserResult:
    """The lexicographic optimum of the contract, or the best allocation found in the time limit.

    ``floor`` is a feasible allocation (the greedy baseline) that the result never falls below.
    Raises ``ValueError`` for an unknown backend.
    """
    started = time.perf_counter()
    time_limit = data.time_limit_s if time_limit_s is None else time_limit_s
    if data.n_candidates > MAX_MODEL_CANDIDATES:
        # A model over this many candidates does not fit the machine (45M at 200k orders x 1,000
        # locations ran a 24 GiB machine out of memory): the floor, polished, is the answer.
        floor_x = np.zeros(data.n_candidates, np.int64) if floor is None else floor
        report = StageReport("model", "skipped", float("nan"), float("nan"), 0.0)
        result = OptimiserResult(
            floor_x, False, allocation_cost(data, floor_x), 0.0, backend, [report], False
        )
    else:
        result = _optimise(
            data, floor=floor, backend=backend, time_limit_s=time_limit_s, relative_gap=relative_gap
        )
    if result.optimal:
        return result
    # Not proven: moving whole orders to a cheaper single location never costs fill, often money.
    polished = rehome_orders(data, result.x, deadline=started + max(time_limit, 1.0))
    cost = allocation_cost(data, polished)
    if cost >= result.objective - 1e-9:
        return result
    return replace(result, x=polished, objective=cost, bound=min(result.bound, cost))


def _optimise(
    data: ProblemData,
    *,
    floor: IntArray | None = None,
    backend: str = DEFAULT_BACKEND,
    time_limit_s: float | None = None,
    relative_gap: float | None = None,
) -> OptimiserResult:
    """The stages themselves; :func:`optimise` polishes what they could not prove."""
    time_limit = data.time_limit_s if time_limit_s is None else time_limit_s
    gap = data.relative_gap if relative_gap is None else relative_gap
    floor_x = np.zeros(data.n_candidates, np.int64) if floor is None else floor
    if data.n_candidates == 0:
        return OptimiserResult(floor_x, True, 0.0, 0.0, backend)

    started = time.perf_counter()
    deadline = started + max(0.01, time_limit - _RESPONSE_RESERVE_S)
    # The fill stages answer to an earlier deadline, so the cost stage always gets its share.
    stages = _Stages(data, backend, started + (deadline - started) * _FILL_STAGES_TIME_SHARE)
    upper = fill_upper_bounds(data)
    floor_fill = fill_by_priority(data, floor_x)

    # Fill stages. While the floor reaches a priority's trivial bound, that fill is optimal
    # without a solve; from the first priority it does not, the MIP decides.
    last_x: IntArray | None = None
    floor_is_optimal_so_far = True
    fill_proven = True
    for priority in data.priorities:
        if upper[priority] == 0:
            stages.hold_fill(priority, 0)
            continue
        if floor_is_optimal_so_far and floor_fill[priority] == upper[priority]:
            stages.hold_fill(priority, upper[priority])
            stages.reports.append(
                StageReport(
                    f"fill:{priority}",
                    "skipped",
                    float(upper[priority]),
                    float(upper[priority]),
                    0.0,
                )
            )
            continue
        floor_is_optimal_so_far = False
        x, _value, _bound, optimal = stages.solve_guided(
            f"fill:{priority}",
            fill_objective(data, stages.model, priority),
            lp_objective=fill_objective(data, stages.model, priority, tie_break=False),
            maximize=True,
            gap=0.0,
            # fill is integral and the cost tie-break weighs under FILL_TIE_BREAK of a unit:
            # a gap under one unit, less the tie-break's share, proves the fill
            abs_gap=1.0 - 2 * FILL_TIE_BREAK,
            start=_without_lower_priorities(
                data, last_x if last_x is not None else floor_x, priority
            ),
            # lower priorities cannot raise this one's fill: keep them out of the model
            upper=_upper_without_lower_priorities(data, stages.model, priority),
            # proving a fill must leave time for the cost stage and the lower priorities
            full_time_share=_FILL_PROOF_TIME_SHARE,
        )
        if x is None:
            # Out of fill time before any allocation for this priority: keep what the higher
            # priorities reached, let the greedy rules serve this one and the lower ones, hold
            # the better of that and the floor, and go on to the cost stage.
            served = (
                _without_lower_priorities(data, last_x, priority + 1)
                if last_x is not None
                else None
            )
            completed = complete_greedily(data, served, priority)
            last_x = min((completed, floor_x), key=lambda a: _lexicographic_key(data, a))
            reached = fill_by_priority(data, last_x)
            for lower in data.priorities:
                if lower <= priority:
                    stages.hold_fill(lower, reached[lower])
            fill_proven = False
            break
        fill_proven &= optimal
        stages.hold_fill(priority, fill_by_priority(data, x)[priority])
        last_x = x

    # Cost stage, every fill held.
    stages.deadline = deadline
    start_x = last_x if last_x is not None else floor_x
    x, _value, bound, optimal = stages.solve_guided(
        "cost",
        cost_objective(data, stages.model),
        maximize=False,
        gap=gap,
        abs_gap=1e-6,
        start=start_x,
        neighbourhood=cheapest_candidates(data, _NEIGHBOURHOOD_PER_LINE),
    )
    if x is None:
        # No allocation found within the time left: the last fill stage's allocation reaches
        # the optimal fill; the floor may too, and may be cheaper.
        candidates = [a for a in (last_x, floor_x) if a is not None]
        best = min(candidates, key=lambda a: _lexicographic_key(data, a))
        return OptimiserResult(
            best, False, allocation_cost(data, best), 0.0, backend, stages.reports, fill_proven
        )
    optimal = optimal and fill_proven
    if lexicographically_better(data, floor_x, x):
        # A time-limited MIP can lose to the baseline; never return worse. At the same fill the
        # bound still holds (and the floor, being cheaper, is as proven); at another, it does not.
        same_fill = fill_by_priority(data, floor_x) == fill_by_priority(data, x)
        x, bound, optimal = floor_x, (bound if same_fill else 0.0), optimal and same_fill
    cost = allocation_cost(data, x)
    return OptimiserResult(x, optimal, cost, min(bound, cost), backend, stages.reports, fill_proven)


def complete_greedily(data: ProblemData, served: IntArray | None, priority: int) -> IntArray:
    """``served`` (units of the priorities above ``priority``), completed by the greedy rules for
    ``priority`` and below, with what stock and capacity ``served`` left."""
    if served is None:
        served = np.zeros(data.n_candidates, dtype=np.int64)
    used_stock = np.bincount(
        data.candidate_inventory, weights=served, minlength=data.inventory_quantity.size
    ).astype(np.int64)
    used_units = np.bincount(
        data.candidate_location, weights=served, minlength=data.n_locations
    ).astype(np.int64)
    pair_units = np.bincount(data.candidate_pair, weights=served, minlength=data.n_pairs)
    used_shipments = np.bincount(
        data.pair_location, weights=pair_units > 0, minlength=data.n_locations
    ).astype(np.int64)

    def left(cap: IntArray, used: IntArray) -> IntArray:
        return np.where(cap == UNLIMITED, UNLIMITED, np.maximum(cap - used, 0))

    rest = replace(
        data,
        inventory_quantity=data.inventory_quantity - used_stock,
        location_max_units=left(data.location_max_units, used_units),
        location_max_shipments=left(data.location_max_shipments, used_shipments),
        # the lines above `priority` are served already: nothing more for them
        line_quantity=np.where(data.line_priority > priority, 0, data.line_quantity),
        _cache={},
    )
    return served + greedy_allocate(rest, preference="cheapest")


def cheapest_candidates(data: ProblemData, per_line: int) -> BoolArray:
    """Each line's ``per_line`` cheapest candidates, by what a unit would cost from there if the
    line shipped alone: the shipment's cost spread over the line's units, plus handling."""
    unit_cost = (
        data.pair_cost[data.candidate_pair] / data.line_quantity[data.candidate_line]
        + data.location_unit_cost[data.candidate_location]
    )
    order = np.lexsort((unit_cost, data.candidate_line))
    line_start = np.searchsorted(data.candidate_line[order], data.candidate_line[order])
    rank = np.empty(data.n_candidates, dtype=np.int64)
    rank[order] = np.arange(data.n_candidates, dtype=np.int64) - line_start
    return rank < per_line


def _solver_time(limit_s: float, reduced: ReducedModel) -> float:
    """The solver's own limit: what is left less the time to hand it the model, which its clock
    does not count (measured: about a second per million nonzeros, from Python to OR-Tools to
    the solver)."""
    handover_s = 1e-6 * reduced.matrix.nnz
    return max(0.01, limit_s - handover_s)


def _within(value: float, bound: float, maximize: bool, gap: float, abs_gap: float) -> bool:
    """Is ``value`` proven within the gap of ``bound`` (relative, or absolute ``abs_gap``)?"""
    distance = (bound - value) if maximize else (value - bound)
    return distance <= max(abs_gap, gap * abs(value)) + 1e-9


def _better(a: float, b: float, maximize: bool) -> bool:
    return a > b if maximize else a < b


def _without_lower_priorities(data: ProblemData, x: IntArray, priority: int) -> IntArray:
    """An allocation with the units of lower priorities taken back (still feasible)."""
    return np.where(data.line_priority[data.candidate_line] >= priority, x, 0)


def _upper_without_lower_priorities(
    data: ProblemData, model: AllocationModel, priority: int
) -> FloatArray:
    upper = model.upper.copy()
    lower_candidates = data.line_priority[data.candidate_line] < priority
    upper[: model.n_x][lower_candidates] = 0.0
    lower_pairs = data.order_priority[data.pair_order] < priority
    upper[model.n_x : model.n_x + model.n_y][lower_pairs] = 0.0
    lower_orders = data.order_priority[model.partial_free_orders] < priority
    upper[model.n_x + model.n_y :][lower_orders] = 0.0
    return upper


def _lexicographic_key(data: ProblemData, x: IntArray) -> tuple[float, ...]:
    fill = fill_by_priority(data, x)
    return (*(-fill[p] for p in data.priorities), allocation_cost(data, x))
