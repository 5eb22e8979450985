"""A proven upper bound on each priority's fill, and the relaxation's plan behind it.

Where the batch is too large for the stages' full MIPs, nothing proves the fill the search
reaches, and the search alone does not find every exchange that raises it: at 10,000 orders it
stopped 3-13 units of priority 0 under HiGHS' proven optimum. The units it misses take chains of
moves (a short line takes a unit from a store; the order holding it moves to a warehouse; an
order there gives up its slot), which a neighbourhood holds only when it holds the whole chain.

The LP relaxation of a priority's fill finds those chains: maximise the priority's units, every
higher priority held at the fill it has, over the rows of the cost bound
(:class:`engine.bound.RestrictedMaster`, here with a fill objective) by column generation. At M
it is tight (its optimum is the MIP's on seeds 1 and 3), and so it does two things:

- its Lagrangian value, at any duals, bounds the priority's units from above: when the
  allocation reaches it, the fill is proven;
- its plan differs from the allocation where units should move: each unit the plan keeps where
  the allocation has it earns a little (under a tenth of a unit in all), so the plan moves only
  what the extra fill needs, and the orders it moves are the neighbourhoods worth solving.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from engine.bound import Objective, RestrictedMaster, generate_columns
from engine.candidates import cheapness_rank
from engine.measures import fill_by_priority, fill_upper_bounds, short_lines
from engine.problem import BoolArray, FloatArray, IntArray, ProblemData

# What the plan's preference for the allocation's units may weigh in all, in units of fill:
# under one, so that the relaxation's fill (to the unit) is what it maximises.
KEEP_WEIGHT = 0.1


@dataclass(frozen=True)
class FillRelaxation:
    """The fill relaxation of one priority at an allocation's higher fills."""

    priority: int
    # no allocation with at least ``held`` units at each higher priority gives this one more
    upper: int
    held: dict[int, int]
    # the relaxation's units per candidate (the lower priorities' as in the allocation)
    plan: FloatArray = field(repr=False)
    converged: bool  # the LP solved to its optimum (not once its whole-unit bound settled)
    iterations: int
    seconds: float
    # a round was solved: ``upper`` and ``plan`` are the relaxation's (else the trivial bound
    # and the allocation itself)
    solved: bool = True

    def proves(self, fill: dict[int, int]) -> bool:
        """Does it prove ``fill`` of its priority the most there is, the higher ones held?"""
        return fill.get(self.priority, 0) >= self.upper and all(
            fill.get(p, 0) >= units for p, units in self.held.items()
        )


def fill_relaxation(
    data: ProblemData,
    x: IntArray,
    priority: int,
    *,
    deadline: float,
    per_line: int = 2,
    max_iterations: int | None = None,
    master: RestrictedMaster | None = None,
    trivial: int | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> tuple[FillRelaxation, RestrictedMaster]:
    """The LP relaxation of ``priority``'s fill, every higher priority held at ``x``'s fill, by
    column generation from ``x``'s candidates, each line's ``per_line`` cheapest and every
    candidate of a line ``x`` leaves short, until ``deadline`` or ``max_iterations``. Its
    ``upper`` is proven whenever it stops. ``master``: the one an earlier call returned for
    this priority, re-solved from its basis (a tenth of the time of a new one at M).
    ``trivial``: the priority's trivial bound (:func:`fill_upper_bounds`), when the caller has
    it already. ``stop()`` ends the rounds early (the bound so far stands)."""
    started = time.perf_counter()
    fill = fill_by_priority(data, x)
    held = {p: units for p, units in fill.items() if p > priority}
    line_priority = data.line_priority[data.candidate_line]
    # lower priorities only take stock away from this one: their columns never join
    allowed = line_priority >= priority
    kept = allowed & (x > 0)
    keep = KEEP_WEIGHT / max(1.0, float(data.candidate_upper[kept].sum()))
    objective = Objective(
        candidate=-(line_priority == priority).astype(np.float64) - keep * kept,
        pair=np.zeros(data.n_pairs),
    )
    offered = (x > 0) | short_lines(data, x)[data.candidate_line]
    if master is None:
        master = RestrictedMaster(data, held, objective=objective)
        offered |= cheapness_rank(data) < per_line
    else:
        master.hold_fill(held)
        master.change_objective(objective)
    master.add(np.flatnonzero(allowed & offered))
    generated = generate_columns(
        master,
        deadline=deadline,
        max_iterations=max_iterations,
        stop=stop,
        settled=integer_bound_settled,
    )
    if trivial is None:
        trivial = fill_upper_bounds(data)[priority]
    # -LB >= units + the keep weight of any allocation: a bound on the units alone (the
    # trivial bound when no round was solved)
    finite = np.isfinite(generated.best)
    upper = _whole(-generated.best) if finite else trivial
    # (never above the trivial bound, never below a reached fill: solver noise)
    upper = max(min(upper, trivial), fill[priority])
    # (the lower priorities' units are not the plan's to move: they stay as in x)
    plan = np.where(allowed, master.candidate_values(), x) if finite else x
    relaxation = FillRelaxation(
        priority=priority,
        upper=upper,
        held=held,
        plan=plan.astype(np.float64),
        converged=generated.converged,
        iterations=generated.iterations,
        seconds=time.perf_counter() - started,
        solved=bool(finite),
    )
    return relaxation, master


def _whole(units: float) -> int:
    """The whole units a relaxation's units bound (1e-6: the solver's noise)."""
    return int(np.floor(units + 1e-6))


def integer_bound_settled(best: float, master_value: float) -> bool:
    """Can no further round of the fill relaxation lower its whole-unit bound?

    The master (a minimum over some of the columns) lies at or above the full LP, and every
    Lagrangian bound at or below it: ``-best >= -LP >= -master_value``. Once ``-best`` and
    ``-master_value`` floor to the same whole unit, the rounds left could only close the gap
    within that unit (at M-seed3 they were four of p0's eight, 0.1 s each, the bound
    unchanged). The master's plan then holds the bound's units, to within the keep weight."""
    return _whole(-best) <= _whole(-master_value)


@dataclass(frozen=True)
class FillPlan:
    """The fill relaxations of an allocation's priorities, highest first: every priority whose
    fill the trivial bound does not prove already."""

    x: IntArray = field(repr=False)  # the allocation planned for
    fill: dict[int, int]  # its fill
    relaxations: tuple[FillRelaxation, ...]
    complete: bool  # a relaxation for every priority the trivial bound leaves open
    seconds: float

    @property
    def proven(self) -> bool:
        """Is every priority's fill at ``fill`` proven the most there is?"""
        return self.complete and all(r.proves(self.fill) for r in self.relaxations)

    def moves(self) -> PlannedMoves:
        """What the plans of the priorities it leaves unproven would change in ``x``."""
        x = self.x
        moves = PlannedMoves(
            changed=np.zeros(x.size, dtype=bool),
            takes_more=np.zeros(x.size, dtype=bool),
            used=np.zeros(x.size, dtype=bool),
        )
        for relaxation in self.relaxations:
            if relaxation.proves(self.fill):
                continue
            moves.changed[np.abs(relaxation.plan - x) > 1e-6] = True
            moves.takes_more[relaxation.plan > x + 1e-6] = True
            moves.used[relaxation.plan > 1e-6] = True
        return moves


@dataclass(frozen=True)
class PlannedMoves:
    """Per candidate, against an allocation: does a plan give it other units, more units, any?"""

    changed: BoolArray
    takes_more: BoolArray
    used: BoolArray


class FillPlanner:
    """Fill plans at the search's successive allocations. Each priority's master is kept from
    one plan to the next and re-solved from its basis at the new allocation."""

    def __init__(self, data: ProblemData, *, per_line: int = 2):
        self.data = data
        self.per_line = per_line
        self._masters: dict[int, RestrictedMaster] = {}

    def plan(
        self,
        x: IntArray,
        *,
        deadline: float,
        max_iterations: int | None = None,
        stop: Callable[[], bool] = lambda: False,
    ) -> FillPlan:
        """The fill relaxation of each of ``x``'s priorities that the trivial bound leaves
        open, highest first, each at the higher ones' fill in ``x``, while ``deadline``
        allows and until ``stop()``."""
        data = self.data
        started = time.perf_counter()
        fill = fill_by_priority(data, x)
        trivial = fill_upper_bounds(data)
        relaxations = []
        for priority in data.priorities:
            if fill[priority] >= trivial[priority]:
                continue
            if deadline - time.perf_counter() <= 0.05 or stop():
                break
            relaxations.append(
                self.relaxation(
                    x,
                    priority,
                    deadline=deadline,
                    max_iterations=max_iterations,
                    trivial=trivial[priority],
                    stop=stop,
                )
            )
        # cut short by the deadline, it proves nothing of the priorities it did not reach
        complete = len(relaxations) == sum(fill[p] < trivial[p] for p in data.priorities)
        return FillPlan(x, fill, tuple(relaxations), complete, time.perf_counter() - started)

    def relaxation(
        self,
        x: IntArray,
        priority: int,
        *,
        deadline: float,
        max_iterations: int | None = None,
        trivial: int | None = None,
        stop: Callable[[], bool] = lambda: False,
    ) -> FillRelaxation:
        """The fill relaxation of one priority at ``x``'s higher fills, from the master kept
        for that priority (:func:`fill_relaxation`)."""
        relaxation, self._masters[priority] = fill_relaxation(
            self.data,
            x,
            priority,
            deadline=deadline,
            per_line=self.per_line,
            max_iterations=max_iterations,
            master=self._masters.get(priority),
            trivial=trivial,
            stop=stop,
        )
        return relaxation
