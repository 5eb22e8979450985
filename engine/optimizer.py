"""The optimiser's stages: the contract's lexicographic optimum over a model of the whole batch.

Stage 1..P: for each priority from the highest down, maximise the units allocated to that priority,
holding every higher priority at the fill it reached. Stage P+1: minimise total cost, holding every
priority's fill. Solving in stages keeps fill exact whatever the costs are (one weighted objective is
exact only when its constant provably dominates every cost, and a relative MIP gap on a huge weighted
objective would silently trade units for money).

A *floor* allocation (the greedy baseline) is always at hand: it skips fill stages it already
provably maximises (it reaches the trivial upper bound of the priority), and it is the answer when
the time limit leaves the solver with nothing better, so the stages never return less than the
baseline and never return nothing. The same stages solve each neighbourhood of the search
(:func:`solve_neighbourhood`); the pipeline that chains them is :mod:`engine.solve`.

Backends are those of OR-Tools' ModelBuilder: SCIP (default), HiGHS and CP-SAT; see the README
for the measurements behind the default.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Protocol

import numpy as np

from engine.backends import BACKENDS, DEFAULT_BACKEND
from engine.candidates import cheapest_candidates
from engine.greedy import greedy_allocate
from engine.measures import (
    allocation_cost,
    fill_by_priority,
    fill_upper_bounds,
    lexicographic_key,
    lexicographically_better,
)
from engine.model import (
    FILL_TIE_BREAK,
    AllocationModel,
    cost_objective,
    fill_objective,
)
from engine.params import SolveParams
from engine.problem import FloatArray, IntArray, ProblemData
from engine.stages import StageReport, StageSolver
from engine.usage import Usage, capacity_left

# Re-exported: the scenarios pick backends through the optimiser's module.
__all__ = ["BACKENDS", "DEFAULT_BACKEND", "StagesResult", "solve_neighbourhood", "solve_stages"]


@dataclass(frozen=True)
class StagesResult:
    """What the stages reached: an allocation, whether its fill and its cost are proven, and a
    proven lower bound on the cost at its fill (0 when none was proven)."""

    x: IntArray
    fill_proven: bool
    cost_proven: bool
    bound: float
    reports: list[StageReport] = field(default_factory=list)

    @property
    def optimal(self) -> bool:
        return self.fill_proven and self.cost_proven


class Relaxations(Protocol):
    """The stages' LP relaxations solved elsewhere (the batch's column-generated masters,
    :class:`engine.background.BackgroundBound`): each gives its units per candidate at its
    optimum and a proven bound on the stage's objective, or None (the stage then solves its
    own LP over the whole model)."""

    def fill_relaxation(
        self, x: IntArray, priority: int, deadline: float
    ) -> tuple[FloatArray, float] | None:
        """Most units of ``priority``, its higher priorities held at ``x``'s fill."""
        ...

    def cost_relaxation(self, x: IntArray, deadline: float) -> tuple[FloatArray, float] | None:
        """Least cost, every priority held at ``x``'s fill."""
        ...


def solve_stages(
    data: ProblemData,
    floor: IntArray,
    *,
    deadline: float,
    params: SolveParams,
    neighbourhood: bool = False,
    prove_fill: bool = False,
    relaxations: Relaxations | None = None,
) -> StagesResult:
    """The lexicographic optimum, or the best allocation the stages reach by ``deadline`` (a
    ``time.perf_counter()`` value); never lexicographically worse than ``floor``.

    In a batch the cost stage leaves ``params.search_share`` of its time to the search that
    follows. ``neighbourhood``: ``data`` is a neighbourhood of the search (a few hundred orders,
    the rest fixed): no proofs by full MIP, just the LP-guided stages, until ``deadline``;
    unless ``prove_fill``, where the fill stages may go on to their full MIPs (the search's
    neighbourhoods planned by the fill relaxation, whose units only a proof finds).
    ``relaxations``: the stages' LPs solved elsewhere, in place of their own (see
    :class:`Relaxations`).
    """
    # The policy's gap is what the answer must be proven within; a neighbourhood's MIP is small
    # and its saving is the search's progress, so it is solved tight whatever the policy allows.
    gap = (
        min(data.relative_gap, params.neighbourhood_relative_gap)
        if neighbourhood
        else data.relative_gap
    )
    floor_x = floor
    if data.n_candidates == 0:
        return StagesResult(floor_x, True, True, 0.0)

    started = time.perf_counter()
    backend = params.backend
    # The fill stages answer to an earlier deadline, so the cost stage always gets its share.
    stages = StageSolver(
        data,
        backend,
        started + (deadline - started) * params.fill_stages_share,
        min_solve_s=params.min_solve_s,
    )
    upper = fill_upper_bounds(data)
    floor_fill = fill_by_priority(data, floor_x)
    cheap = None if neighbourhood else cheapest_candidates(data, params.stage_candidates_per_line)

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
        if last_x is None or neighbourhood:
            start = _without_lower_priorities(
                data, last_x if last_x is not None else floor_x, priority
            )
        else:
            # The stage before left this priority's lines empty: the greedy rules serve them
            # from what it left, a start of this priority's own (its support joins the
            # restricted MIPs, and the fill relaxation's columns are then only the short
            # lines', where every line of the priority was short: at S-seed1 priority 0's
            # ran out of its 1.4-2.1 s, against 0.14-0.26 s from this start).
            start = _without_lower_priorities(
                data, complete_greedily(data, last_x, priority), priority
            )
        x, _value, _bound, optimal = stages.solve_guided(
            f"fill:{priority}",
            fill_objective(data, stages.model, priority),
            lp_objective=fill_objective(data, stages.model, priority, tie_break=False),
            maximize=True,
            gap=0.0,
            # fill is integral and the cost tie-break weighs under FILL_TIE_BREAK of a unit:
            # a gap under one unit, less the tie-break's share, proves the fill
            abs_gap=1.0 - 2 * FILL_TIE_BREAK,
            # the restricted MIPs are small: they can afford the cheapest of the fullest
            restricted_abs_gap=0.01 * FILL_TIE_BREAK,
            with_support=cheap,
            start=start,
            # lower priorities cannot raise this one's fill: keep them out of the model
            upper=_upper_without_lower_priorities(data, stages.model, priority),
            # proving a fill must leave time for the cost stage and the lower priorities (a
            # neighbourhood proves nothing for the batch: no time goes to proofs, unless it
            # was formed for fill)
            full_time_share=(0.0 if neighbourhood and not prove_fill else params.fill_proof_share),
            relaxation=(
                None
                if relaxations is None
                else partial(relaxations.fill_relaxation, start, priority, stages.deadline)
            ),
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
    # Its MIPs get that share of the time the LP left, and the LP half the search's share
    # more: on a machine a third as fast the LP took 1 s of the stage's 1.1 s at S-seed1 (or
    # ran out of it), and its restricted MIP (0.5-0.8 s, within 0.25% of the optimum) never
    # ran: the search, from the fill stage's allocation, ended 6% over the optimum.
    now = time.perf_counter()
    share = 1.0 - params.search_share
    stages.deadline = (
        deadline if neighbourhood else now + (deadline - now) * (1.0 - params.search_share / 2)
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
        neighbourhood=cheap,
        full_time_share=0.0 if neighbourhood else 1.0,
        share_after_relaxation=None if neighbourhood else (share, deadline),
        relaxation=(
            None
            if relaxations is None
            else partial(relaxations.cost_relaxation, start_x, stages.deadline)
        ),
    )
    if x is None:
        # No allocation found within the time left: the last fill stage's allocation reaches
        # the optimal fill; the floor may too, and may be cheaper. The cost LP's bound, if it
        # was solved, holds at the fill it held, which is the start's.
        x = min(
            [a for a in (last_x, floor_x) if a is not None],
            key=lambda a: lexicographic_key(data, a),
        )
        held = fill_by_priority(data, x) == fill_by_priority(data, start_x)
        bound, optimal = (bound if held and np.isfinite(bound) else 0.0), False
    if lexicographically_better(data, floor_x, x):
        # A time-limited MIP can lose to the baseline; never return worse. At the same fill the
        # bound still holds (and the floor, being cheaper, is as proven); at another, it does not.
        same_fill = fill_by_priority(data, floor_x) == fill_by_priority(data, x)
        x, bound, optimal = floor_x, (bound if same_fill else 0.0), optimal and same_fill
    cost = allocation_cost(data, x)
    return StagesResult(
        x,
        fill_proven,
        optimal,  # the cost, within the gap at the fill held
        min(bound, cost) if np.isfinite(bound) else 0.0,
        stages.reports,
    )


def solve_neighbourhood(
    data: ProblemData,
    start: IntArray,
    params: SolveParams,
    time_limit_s: float,
    *,
    prove_fill: bool = False,
) -> IntArray:
    """A neighbourhood of the search solved by the same stages as a batch: fill per priority
    first (in a few LPs where stock is left for a short line; skipped where none is), then cost.
    ``prove_fill``: the fill stages may run their full MIPs. Never lexicographically worse than
    ``start``."""
    deadline = time.perf_counter() + time_limit_s
    return solve_stages(
        data, start, deadline=deadline, params=params, neighbourhood=True, prove_fill=prove_fill
    ).x


def complete_greedily(data: ProblemData, served: IntArray | None, priority: int) -> IntArray:
    """``served`` (units of the priorities above ``priority``), completed by the greedy rules for
    ``priority`` and below, with what stock and capacity ``served`` left."""
    if served is None:
        served = np.zeros(data.n_candidates, dtype=np.int64)
    used = Usage.of(data, served)
    stock_left = data.inventory_quantity - used.stock
    # the lines above `priority` are served already: nothing more for them
    quantity_left = np.where(data.line_priority > priority, 0, data.line_quantity)
    rest = replace(
        data,
        inventory_quantity=stock_left,
        location_max_units=capacity_left(data.location_max_units, used.units),
        location_max_shipments=capacity_left(data.location_max_shipments, used.shipments),
        line_quantity=quantity_left,
        # what may still flow, kept true of the rest (the greedy does not read it; others may)
        candidate_upper=np.minimum(
            data.candidate_upper,
            np.minimum(stock_left[data.candidate_inventory], quantity_left[data.candidate_line]),
        ),
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
