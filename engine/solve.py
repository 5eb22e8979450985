"""``solve(request, params) -> response``: the one call of the contract, as a pure function.

The pipeline, in the order it runs:

1. **Floor**: the greedy rules, ranking locations by distance and by cost; the better one is
   the answer the rest must beat (and the answer of ``strategy: greedy`` by itself).
2. **Bound, prices and fill plans**: the LP relaxation by column generation
   (:mod:`engine.bound`), in a thread beside the rest (:mod:`engine.background`): a proven lower
   bound on the cost at a fill, and the prices of stock and capacity that guide the search; and
   where no stage proves the fill, the fill relaxation (:mod:`engine.fill_bound`), whose plan
   says which orders to move for more fill and whose bound proves a fill that reaches it.
3. **Construction**: where a model of the whole batch fits, the lexicographic stages
   (:mod:`engine.optimizer`: fill per priority, then cost, each LP-guided and proven where the
   time allows).
4. **Improvement**: the neighbourhood search (:mod:`engine.lns`) from the best allocation so
   far, each neighbourhood solved by the same stages, favouring what the prices favour, with a
   neighbourhood of its own for each fill plan.
5. **Response**: the bound moved to the final fill, and the order bound
   (:mod:`engine.order_bound`) at the relaxation's best duals, each order's shipments whole; the
   status (``optimal`` only when the fill
   is proven, by the stages or a fill plan, and the cost within ``relative_gap`` of the bound),
   the contract's response.

Every step keeps to one deadline that counts from ``started`` (the caller's clock, from before the
request was parsed) and leaves time for writing the response.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from engine.background import BackgroundBound
from engine.bound import CostBound, Duals
from engine.candidates import cheapness_rank
from engine.explain import explain
from engine.fill_bound import FillPlan, FillPlanner
from engine.greedy import greedy_allocate
from engine.line_bound import line_bound
from engine.lns import SearchReport, improve_by_neighbourhoods
from engine.measures import (
    allocation_cost,
    fill_by_priority,
    fill_upper_bounds,
    lexicographically_better,
)
from engine.measures import relative_gap as gap_between
from engine.optimizer import StagesResult, solve_neighbourhood, solve_stages
from engine.order_bound import order_bound
from engine.params import SolveParams
from engine.problem import IntArray, ProblemData, build_problem
from engine.result import SolverInfo, build_response
from models.solve import SolveRequest

# The final bound (the master moved to the answer's fill) gets this share of the time limit.
_FINAL_BOUND_SHARE = 0.08


@dataclass(frozen=True)
class PipelineResult:
    """What the pipeline found and what it proved, before it becomes a response."""

    x: IntArray
    objective: float
    bound: float
    fill_proven: bool
    optimal: bool
    stages: StagesResult | None
    search: SearchReport | None
    cost_bound: CostBound | None

    @property
    def gap(self) -> float:
        return gap_between(self.objective, self.bound)


def solve(
    request: SolveRequest,
    params: SolveParams | None = None,
    *,
    backend: str | None = None,
    started: float | None = None,
) -> dict[str, Any]:
    """Allocate a validated request; returns the contract's response as a JSON-ready dict.

    ``params`` default to :class:`SolveParams`'s; ``backend`` is a shorthand for its backend.
    ``started`` is the ``time.perf_counter()`` at which the caller received the request: the
    time limit counts from there, parsing included. Raises ``ValueError`` for an unknown
    backend.
    """
    started = time.perf_counter() if started is None else started
    return solve_problem(build_problem(request), params, backend=backend, started=started)


def solve_problem(
    data: ProblemData,
    params: SolveParams | None = None,
    *,
    backend: str | None = None,
    started: float | None = None,
) -> dict[str, Any]:
    """As :func:`solve`, for problem data already built (what-if variants, benchmarks)."""
    params = SolveParams() if params is None else params
    if backend is not None:
        params = replace(params, backend=backend)
    started = time.perf_counter() if started is None else started
    floor = greedy_allocate(data)  # the OMS rules: nearest location first
    if data.strategy == "greedy":
        return greedy_response(data, floor, "omnibroker/greedy", started)
    found = optimise(data, params, floor=floor, started=started)
    info = SolverInfo(
        name=f"or-tools/{params.backend}",
        optimal=found.optimal,
        objective=found.objective,
        bound=found.bound,
        gap=found.gap,
        seconds=time.perf_counter() - started,
        strategy="optimal",
    )
    return build_response(data, found.x, info, explanations=_explanations(data, found.x))


def _explanations(data: ProblemData, x: IntArray) -> dict[str, Any] | None:
    """The response's explanations, only when the request's policy asks for them."""
    return explain(data, x) if data.explain else None


def deadline_of(data: ProblemData, params: SolveParams, started: float) -> float:
    """When the last solve must end: the time limit less what writing the response takes."""
    per_candidate = params.response_reserve_s_per_candidate + (
        params.explain_reserve_s_per_candidate if data.explain else 0.0
    )
    reserve_s = (
        params.response_reserve_s
        + per_candidate * data.n_candidates
        + params.response_reserve_s_per_inventory_row * data.inventory_quantity.size
    )
    return started + max(0.01, data.time_limit_s - reserve_s)


def optimise(
    data: ProblemData,
    params: SolveParams,
    *,
    floor: IntArray | None = None,
    started: float | None = None,
) -> PipelineResult:
    """Floor, bound and prices, construction, improvement: the allocation and its proof."""
    started = time.perf_counter() if started is None else started
    deadline = deadline_of(data, params, started)
    x = greedy_allocate(data) if floor is None else floor
    # The optimiser's floor: the better of the rules ranking locations by distance and by cost;
    # the second only while more than half the time is left (parse, build and the first floor
    # took the rest, and the second costs about what the first did).
    if params.deterministic or _time_left(deadline) > 0.5 * (deadline - started):
        by_cost = greedy_allocate(data, preference="cheapest")
        if lexicographically_better(data, by_cost, x):
            x = by_cost
        del by_cost  # one allocation per candidate held from here on, not two
    if data.n_candidates == 0:
        return PipelineResult(x, 0.0, 0.0, True, True, None, None, None)
    whole = data.n_candidates <= params.search_above_candidates and not params.deterministic
    # (a model is what the floor's proof saves; past the whole-batch size its two passes over
    # every candidate would only add to the batch's fixed work, at XL a 290 MB array)
    proven = _floor_proven(data, x) if data.n_candidates <= params.search_above_candidates else None
    if proven is not None:
        return proven
    # Past the deadline already (a batch whose fixed passes took the time), nothing more starts:
    # the floor is the answer.
    late = not params.deterministic and _time_left(deadline) < params.min_solve_s
    # The bound needs a master small enough for HiGHS to solve in a batch's seconds (by the
    # simplex, or by PDLP above a size); the time for moving it to the answer's fill at the
    # end is kept back from the search only for the simplex's.
    master_size = _first_master_size(data, x, params)
    bounded = whole or (not late and master_size <= params.bound_max_candidates)
    first_order = not whole and master_size > params.bound_simplex_max_candidates
    span = max(deadline - time.perf_counter(), 0.0)
    if bounded and not first_order:
        final_bound_s = min(_FINAL_BOUND_SHARE * data.time_limit_s, 0.5 * span)
    else:  # the one-pass bound only (a PDLP master is not solved again at the end)
        final_bound_s = min(params.line_bound_s_per_candidate * data.n_candidates, 0.5 * span)
    # ... and the order bound's, where there will be duals for it (a relaxation) and it fits in
    # its share of the time
    order_bound_s = _order_bound_s(data, params, span - final_bound_s) if bounded else 0.0
    search_deadline = deadline - final_bound_s - order_bound_s

    # Bound and prices beside the rest; in deterministic mode first, for a fixed number of
    # rounds, so that the search sees the same prices every time. Fill plans (the fill
    # relaxation, by the simplex like the master's) where the fill is not proven by the stages.
    may_plan = params.fill_plans and bounded and not first_order
    bound = BackgroundBound(
        data,
        x,
        deadline=search_deadline,
        per_line=params.bound_candidates_per_line,
        max_iterations=params.bound_iterations if params.deterministic else None,
        first_order_tolerance=params.bound_first_order_tolerance if first_order else None,
        fill_plans=may_plan and not params.deterministic,
    )
    bound_started = False

    # Construction: the stages, where a model of the whole batch fits, with the master on the
    # other core from the floor's fill on. Their LPs come from column generation: the fill
    # relaxations' masters, and the cost master moved to their fill (their own LPs over the
    # whole model took 2 s of S's 5 s on a slow machine and left their MIPs too little time).
    stages: StagesResult | None = None
    if whole and not late:
        bound.start()
        bound_started = True
        try:
            stages = solve_stages(
                data, x, deadline=search_deadline, params=params, relaxations=bound
            )
        except BaseException:
            bound.stop(search_deadline)
            raise
        x = stages.x
    planning = may_plan and not (stages is not None and stages.fill_proven)
    plans: list[FillPlan] = []

    def plan_fill(at: IntArray | None) -> FillPlan | None:
        """The search asks for a fill plan (at ``at``; None: where it last asked): in the
        background, the latest one finished; in deterministic mode, one at ``at``, now, for a
        fixed number of rounds."""
        if not params.deterministic:
            plan = bound.plan_for(at)
        elif at is not None:
            plan = FillPlanner(data).plan(
                at, deadline=search_deadline, max_iterations=params.bound_iterations
            )
        else:
            plan = None
        if plan is not None and (not plans or plans[-1] is not plan):
            plans.append(plan)
        return plan

    search: SearchReport | None = None
    searching = params.deterministic or _time_left(search_deadline) >= params.min_solve_s
    if (stages is None or not stages.optimal) and searching:
        if bounded and not bound_started:
            bound.start(in_background=not params.deterministic)
        x, search = improve_by_neighbourhoods(
            data,
            x,
            deadline=search_deadline,
            solve_neighbourhood=solve_neighbourhood,
            params=params,
            prices=bound.prices,
            spare_core=lambda: not bound.busy(),
            publish=bound.publish,
            fill_proven=stages is not None and stages.fill_proven,
            fill_plan=plan_fill if planning else None,
        )

    cost = allocation_cost(data, x)
    # (the order bound's time kept for it: it is stronger than the master's last rounds)
    moved = bound.at_fill_of(x, deadline=deadline - order_bound_s)
    proven_bound = moved.value if moved is not None else 0.0
    fill = fill_by_priority(data, x)
    fill_proven = False
    if stages is not None and fill_by_priority(data, stages.x) == fill:
        # the stages proved (or not) this very fill; their cost bound holds at it too
        fill_proven = stages.fill_proven
        proven_bound = max(proven_bound, stages.bound)
    # a fill plan at this fill that proves it
    fill_proven |= any(plan.proven and plan.fill == fill for plan in plans)
    # the relaxation's duals at hand, the master's at the answer's fill first, then the latest
    # round's and each earlier bound's
    duals = ([moved.duals] if moved is not None and moved.duals is not None else []) + [
        d for d in bound.duals() if moved is None or d is not moved.duals
    ]
    if moved is None or not moved.converged:
        # No relaxation (a batch too large for its master), or one the clock cut short, whose
        # first rounds' Lagrangian bounds can be far weaker: the one-pass bound too (a linear
        # pass), plain and priced by the relaxation's latest duals
        proven_bound = max(proven_bound, _one_pass_bound(data, params, x, deadline, duals))
    # whole orders at the best of those duals (stronger than the LP itself), in the time kept
    # for them (in deterministic mode, always)
    timed = order_bound_s > 0 and _time_left(deadline) > 0
    if duals and (timed or (params.deterministic and bounded)):
        # (its search of the fill prices while the deadline allows: none at M and L, where
        # the master's own are as good; in deterministic mode all of it)
        until = None if params.deterministic else deadline
        proven_bound = max(proven_bound, order_bound(data, x, duals=duals[0], deadline=until))
    proven_bound = min(proven_bound, cost)
    optimal = fill_proven and gap_between(cost, proven_bound) <= data.relative_gap + 1e-12
    return PipelineResult(x, cost, proven_bound, fill_proven, optimal, stages, search, moved)


def _floor_proven(data: ProblemData, x: IntArray) -> PipelineResult | None:
    """The floor as the proven optimum, when it is one without a model: every priority at its
    trivial fill bound, and its cost within the policy's gap of the one-pass bound. That is a
    checkout's single order served whole from its cheapest location (189 of the bench's 200
    single orders): the stages' model, LP and MIP took two thirds of its latency."""
    if fill_by_priority(data, x) != fill_upper_bounds(data):
        return None  # (the linear bound below is computed only for a full floor)
    cost = allocation_cost(data, x)
    bound = min(line_bound(data, x), cost)
    if gap_between(cost, bound) > data.relative_gap + 1e-12:
        return None
    return PipelineResult(x, cost, bound, True, True, None, None, None)


def _time_left(deadline: float) -> float:
    return deadline - time.perf_counter()


# The one-pass bound is priced by at most this many of the relaxation's duals (the latest:
# each round's are better than the one's before, M-seed3 88,184 / 88,435 / 88,589 / 88,690).
_PRICED_ONE_PASS = 2


def _one_pass_bound(
    data: ProblemData, params: SolveParams, x: IntArray, deadline: float, duals: list[Duals]
) -> float:
    """The one-pass bound at ``x``'s fill, plain and priced by each of the first
    ``_PRICED_ONE_PASS`` of ``duals``, each pass while there is time for it (0 when there is
    none)."""
    found = 0.0
    for priced_by in [None, *duals[:_PRICED_ONE_PASS]]:
        if not _line_bound_fits(data, params, deadline):
            break
        found = max(found, line_bound(data, x, duals=priced_by))
    return found


def _order_bound_s(data: ProblemData, params: SolveParams, span: float) -> float:
    """The time kept back for the order bound (:mod:`engine.order_bound`): its estimate, or 0
    where that would take more than its share of the time left (then it is not computed)."""
    if params.deterministic:
        return 0.0
    estimate_s = params.order_bound_s_per_candidate * data.n_candidates
    return estimate_s if estimate_s <= params.order_bound_share * span else 0.0


def _line_bound_fits(data: ProblemData, params: SolveParams, deadline: float) -> bool:
    """Is there time for the one-pass bound? Its estimate was kept back from the search, but
    neighbourhoods in flight may end past their deadline: it may run into 5% of the time limit
    beyond the deadline (the contract's answer comes within 10% of the limit), never a bound of
    0 for want of a few tenths of a second."""
    estimate_s = params.line_bound_s_per_candidate * data.n_candidates
    return params.deterministic or _time_left(deadline) + 0.05 * data.time_limit_s >= estimate_s


def _first_master_size(data: ProblemData, x: IntArray, params: SolveParams) -> int:
    """Candidates the bound's first master would hold: the allocation's and each line's
    cheapest few."""
    cheap = cheapness_rank(data) < params.bound_candidates_per_line
    return int(np.count_nonzero((x > 0) | cheap))


def greedy_response(data: ProblemData, x: IntArray, name: str, started: float) -> dict[str, Any]:
    """The response for a greedy allocation: feasible, proving nothing."""
    cost = allocation_cost(data, x)
    # The baseline proves nothing: its bound is the trivial one, costs are never negative.
    info = SolverInfo(
        name=name,
        optimal=False,
        objective=cost,
        bound=0.0,
        gap=1.0 if cost > 0 else 0.0,
        seconds=time.perf_counter() - started,
        strategy="greedy",
    )
    return build_response(data, x, info, explanations=_explanations(data, x))
