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

import numpy as np

from engine.backends import BACKENDS, DEFAULT_BACKEND
from engine.greedy import greedy_allocate
from engine.lns import cheapest_candidates, improve_by_neighbourhoods
from engine.measures import (
    allocation_cost,
    fill_by_priority,
    fill_upper_bounds,
    lexicographic_key,
    lexicographically_better,
    relative_gap,
)
from engine.model import (
    FILL_TIE_BREAK,
    AllocationModel,
    cost_objective,
    fill_objective,
)
from engine.polish import rehome_orders
from engine.problem import FloatArray, IntArray, ProblemData
from engine.stages import MIN_SOLVE_S, StageReport, StageSolver
from engine.usage import Usage, capacity_left

# Re-exported: callers compare allocations and pick backends through the optimiser's module.
__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "OptimiserResult",
    "StageReport",
    "allocation_cost",
    "fill_by_priority",
    "fill_upper_bounds",
    "lexicographically_better",
    "optimise",
    "relative_gap",
    "searched_whole",
]

# Leave this much of the time limit for writing the response after the last stage, plus this
# much per candidate (measured: XL's 36M candidates overran a 240 s limit by 5.8 s without it).
_RESPONSE_RESERVE_S = 0.05
_RESPONSE_RESERVE_S_PER_CANDIDATE = 2e-7
# A fill stage's full MIP (run only when the LP-guided one did not prove the fill) may take this
# share of the time left; an unproven fill is held as found and the answer says "feasible".
_FILL_PROOF_TIME_SHARE = 0.25
# The fill stages together may use this share of the time limit; the rest is the cost stage's.
_FILL_STAGES_TIME_SHARE = 0.6
# How many of each line's cheapest candidates the cost stage tries.
_NEIGHBOURHOOD_PER_LINE = 2
# The share of the time left after the fill stages that the cost stage leaves to the search.
_SEARCH_TIME_SHARE = 0.4
# Beyond this many candidates even the LP over all of them outruns a batch's seconds (HiGHS took
# 100 s at 10k orders x 200 locations, 0.73M candidates; a scope of each line's cheapest
# candidates 3 s, and the MIP over its support 5 s more): the neighbourhood search does the work.
SEARCH_ABOVE_CANDIDATES = 150_000


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
    searched: bool = False  # the neighbourhood search ran (it covers the polish's moves)

    @property
    def gap(self) -> float:
        return relative_gap(self.objective, self.bound)


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
    # No size is refused: above SEARCH_ABOVE_CANDIDATES no model of the whole batch is built
    # (the search works a few hundred orders at a time), so XL's 36M candidates fit in memory.
    result = _optimise(
        data, floor=floor, backend=backend, time_limit_s=time_limit_s, relative_gap=relative_gap
    )
    if result.optimal or result.searched:
        # The search's neighbourhoods include every move the polish makes; polishing after it
        # would only spend time (its set-up alone is 2.7 s at 6M candidates) past the limit.
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
    neighbourhood: bool = False,
) -> OptimiserResult:
    """The stages themselves; :func:`optimise` polishes what they could not prove.

    ``neighbourhood``: ``data`` is a neighbourhood of the search (a few hundred orders, the rest
    fixed): no proofs by full MIP and no search of its own, just the LP-guided stages.
    """
    time_limit = data.time_limit_s if time_limit_s is None else time_limit_s
    gap = data.relative_gap if relative_gap is None else relative_gap
    floor_x = np.zeros(data.n_candidates, np.int64) if floor is None else floor
    if data.n_candidates == 0:
        return OptimiserResult(floor_x, True, 0.0, 0.0, backend)

    started = time.perf_counter()
    reserve_s = _RESPONSE_RESERVE_S + _RESPONSE_RESERVE_S_PER_CANDIDATE * data.n_candidates
    deadline = started + max(0.01, time_limit - reserve_s)
    if searched_whole(data) and not neighbourhood:
        # Too large to solve or even relax whole in a batch's seconds: the neighbourhood search
        # takes the floor to a better fill and a lower cost, a few hundred orders at a time.
        found, report = _search(data, floor_x, deadline, backend)
        return OptimiserResult(
            found,
            False,
            report.objective,
            0.0,
            backend,
            [report],
            fill_optimal=False,
            searched=True,
        )

    # The fill stages answer to an earlier deadline, so the cost stage always gets its share.
    stages = StageSolver(data, backend, started + (deadline - started) * _FILL_STAGES_TIME_SHARE)
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
            # proving a fill must leave time for the cost stage and the lower priorities (a
            # neighbourhood proves nothing for the batch: no time goes to proofs)
            full_time_share=0.0 if neighbourhood else _FILL_PROOF_TIME_SHARE,
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
            last_x = min((completed, floor_x), key=lambda a: lexicographic_key(data, a))
            reached = fill_by_priority(data, last_x)
            for lower in data.priorities:
                if lower <= priority:
                    stages.hold_fill(lower, reached[lower])
            fill_proven = False
            break
        fill_proven &= optimal
        stages.hold_fill(priority, fill_by_priority(data, x)[priority])
        last_x = x

    # Cost stage, every fill held. In a batch (not a neighbourhood) it leaves a share of the
    # time to the search, which improves whatever the stage could not prove: at 2,000 orders x
    # 100 locations the cost LP alone outran the time and the fill stage's answer cost twice
    # the search's.
    now = time.perf_counter()
    stages.deadline = (
        deadline if neighbourhood else now + (deadline - now) * (1.0 - _SEARCH_TIME_SHARE)
    )
    start_x = last_x if last_x is not None else floor_x
    x, _value, bound, optimal = stages.solve_guided(
        "cost",
        cost_objective(data, stages.model),
        maximize=False,
        gap=gap,
        abs_gap=1e-6,
        start=start_x,
        # a neighbourhood's candidates are chosen already; its second MIP measured slower
        # than the LP-support one, for less
        neighbourhood=(
            None if neighbourhood else cheapest_candidates(data, _NEIGHBOURHOOD_PER_LINE)
        ),
        full_time_share=0.0 if neighbourhood else 1.0,
    )
    if x is None:
        # No allocation found within the time left: the last fill stage's allocation reaches
        # the optimal fill; the floor may too, and may be cheaper.
        x, bound, optimal = (
            min(
                [a for a in (last_x, floor_x) if a is not None],
                key=lambda a: lexicographic_key(data, a),
            ),
            0.0,
            False,
        )
    optimal = optimal and fill_proven
    if lexicographically_better(data, floor_x, x):
        # A time-limited MIP can lose to the baseline; never return worse. At the same fill the
        # bound still holds (and the floor, being cheaper, is as proven); at another, it does not.
        same_fill = fill_by_priority(data, floor_x) == fill_by_priority(data, x)
        x, bound, optimal = floor_x, (bound if same_fill else 0.0), optimal and same_fill
    searched = False
    if not optimal and not neighbourhood and deadline - time.perf_counter() > MIN_SOLVE_S:
        # Unproven: the time left goes to re-solving neighbourhoods of orders exactly.
        searched = True
        x, report = _search(data, x, deadline, backend)
        stages.reports.append(report)
    cost = allocation_cost(data, x)
    return OptimiserResult(
        x, optimal, cost, min(bound, cost), backend, stages.reports, fill_proven, searched
    )


def _search(
    data: ProblemData, x: IntArray, deadline: float, backend: str
) -> tuple[IntArray, StageReport]:
    """The neighbourhood search from ``x`` until ``deadline``, each neighbourhood solved by
    :func:`solve_neighbourhood`; the allocation found and the stage report saying so."""
    found, search = improve_by_neighbourhoods(
        data, x, deadline=deadline, backend=backend, solve_neighbourhood=solve_neighbourhood
    )
    report = StageReport(
        f"neighbourhoods:{search.improved}/{search.neighbourhoods}",
        "feasible",
        allocation_cost(data, found),
        float("nan"),
        search.seconds,
    )
    return found, report


def searched_whole(data: ProblemData) -> bool:
    """Is this batch too large to model whole, so that the neighbourhood search does it all?"""
    return data.n_candidates > SEARCH_ABOVE_CANDIDATES


def solve_neighbourhood(
    data: ProblemData, start: IntArray, backend: str, time_limit_s: float
) -> IntArray:
    """A neighbourhood of the search solved by the same stages as a batch: fill per priority
    first (in a few LPs where stock is left for a short line; skipped where none is), then cost.
    Never lexicographically worse than ``start``."""
    return _optimise(
        data, floor=start, backend=backend, time_limit_s=time_limit_s, neighbourhood=True
    ).x


def complete_greedily(data: ProblemData, served: IntArray | None, priority: int) -> IntArray:
    """``served`` (units of the priorities above ``priority``), completed by the greedy rules for
    ``priority`` and below, with what stock and capacity ``served`` left."""
    if served is None:
        served = np.zeros(data.n_candidates, dtype=np.int64)
    used = Usage.of(data, served)
    rest = replace(
        data,
        inventory_quantity=data.inventory_quantity - used.stock,
        location_max_units=capacity_left(data.location_max_units, used.units),
        location_max_shipments=capacity_left(data.location_max_shipments, used.shipments),
        # the lines above `priority` are served already: nothing more for them
        line_quantity=np.where(data.line_priority > priority, 0, data.line_quantity),
        _cache={},
    )
    return served + greedy_allocate(rest, preference="cheapest")


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
