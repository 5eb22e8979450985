"""The bound and the fill plans computed beside the search, each in a thread of its own.

HiGHS releases the GIL while it solves, so the relaxation's master (:mod:`engine.bound`) and the
fill relaxations (:mod:`engine.fill_bound`) take the second core while the neighbourhood search
(:mod:`engine.lns`) goes on, which reads their prices and plans as they come.

A plan never pauses the master (it did when both shared one thread: on a machine a third as
fast, M's master then kept its first round's bound, 2% of the LP's value, and the answer the
one-pass bound's 9.6% gap), and none starts before the master's first round has ended.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from engine.bound import CostBound, Duals, Prices, RestrictedMaster, cost_bound
from engine.fill_bound import FillPlan, FillPlanner
from engine.measures import fill_by_priority
from engine.problem import FloatArray, IntArray, ProblemData


class BackgroundBound:
    """The bound computed in a thread beside the search (HiGHS releases the GIL), following the
    search: whenever the search publishes a better allocation at another fill, the master moves
    to that fill from its basis. At the end it moves to the answer's fill.

    Its prices are readable while it runs. In deterministic mode it runs in the caller's thread
    for a fixed number of rounds instead, so that the search sees the same prices every time.
    A master solved by PDLP (``first_order_tolerance``) converges at its first fill, never cut
    short, and stops there: the answer's fill gets its bound by the fill prices. Its prices are
    not offered to the search: at L-seed2 the search guided by them ended one unit of priority
    1 short in all four runs (13,262-13,263 against 13,264 in the three without), however many
    more units of priority 0 it placed.
    """

    def __init__(
        self,
        data: ProblemData,
        x: IntArray,
        *,
        deadline: float,
        per_line: int,
        max_iterations: int | None = None,
        first_order_tolerance: float | None = None,
        fill_plans: bool = False,
    ):
        self.data = data
        self._start = x
        # between moves of the cost master, fill plans at the search's allocations (its
        # masters also give the stages their fill LPs, :meth:`fill_relaxation`, before)
        self._fill_plans = fill_plans
        self._planner = FillPlanner(data)
        self._planner_lock = threading.Lock()
        self._plan: FillPlan | None = None
        self._replan_s = 0.0  # what the next plan is expected to take
        self._plan_wanted: tuple[IntArray, dict[int, int]] | None = None  # and its fill
        self._first_order_tolerance = first_order_tolerance
        self._deadline = deadline
        self._per_line = per_line
        self._max_iterations = max_iterations
        self._prices: Prices | None = None
        self._round_duals: Duals | None = None  # the latest round's
        self._results: list[CostBound] = []
        self._master: RestrictedMaster | None = None
        self._thread: threading.Thread | None = None
        self._plan_thread: threading.Thread | None = None
        self._planning = False
        self._latest: IntArray | None = None  # the search's latest allocation
        self._stopping = threading.Event()
        self._solving = False
        # the master is solved by one thread at a time: its own, or a stage asking for the LP
        # at its fill (:meth:`cost_relaxation`), which also stops the thread's rounds
        self._master_lock = threading.Lock()
        self._asked = threading.Event()
        # the master follows the search at most this often: each move costs the search a core
        self._follow_every_s = 0.3 * max(0.0, deadline - time.perf_counter())
        self._moved_at = time.perf_counter()

    def start(self, *, in_background: bool = True) -> BackgroundBound:
        if in_background:
            self._thread = threading.Thread(target=self._run, name="bound", daemon=True)
            self._thread.start()
            if self._fill_plans:
                self._plan_thread = threading.Thread(
                    target=self._plan_when_asked, name="fill-plans", daemon=True
                )
                self._plan_thread.start()
        else:
            self._run()
        return self

    def publish(self, x: IntArray) -> None:
        """The search's latest allocation (a copy the search no longer changes)."""
        self._latest = x

    def _moved_on(self, fill: dict[int, int]) -> bool:
        if self._stopping.is_set():
            return True
        if (
            self._first_order_tolerance is not None
            and self._solving
            and not any(b.converged for b in self._results)
        ):
            # A PDLP master starts cold at each fill: cut short to follow the search, it would
            # never converge at L. It converges first; its fill prices carry it meanwhile.
            return False
        latest = self._latest
        if latest is None or time.perf_counter() - self._moved_at < self._follow_every_s:
            return False
        return fill_by_priority(self.data, latest) != fill

    def _run(self) -> None:
        x = self._start
        while True:
            fill = fill_by_priority(self.data, x)
            with self._master_lock:
                self._solving = True
                self._solve_master(
                    x,
                    self._deadline,
                    stop=lambda fill=fill: (  # type: ignore[misc]
                        self._asked.is_set() or self._moved_on(fill)
                    ),
                )
                self._solving = False
            if self._thread is None:
                return  # deterministic: one bound, in the caller's thread
            if self._first_order_tolerance is not None:
                # another cold PDLP round would take the search's second core for what the
                # fill prices already carry: the search has both from here
                return
            # wait for the search to publish an allocation at another fill, or the end
            while True:
                if time.perf_counter() >= self._deadline - 0.05 or self._stopping.is_set():
                    return
                if self._moved_on(fill):
                    break
                self._stopping.wait(0.05)
            if self._stopping.is_set() or self._latest is None:
                return
            x = self._latest
            self._moved_at = time.perf_counter()

    def _solve_master(
        self, x: IntArray, deadline: float, stop: Callable[[], bool] = lambda: False
    ) -> CostBound:
        """The master at ``x``'s fill by column generation (its own thread's or a stage's,
        holding the master's lock); the bound found is kept."""
        found, self._master = cost_bound(
            self.data,
            x,
            deadline=deadline,
            per_line=self._per_line,
            max_iterations=self._max_iterations,
            master=self._master,
            first_order_tolerance=self._first_order_tolerance,
            on_round=self._keep,
            stop=stop,
        )
        self._results.append(found)
        return found

    # --- the stages' LPs (engine.optimizer.Relaxations) ---------------------------------------
    # The stages would otherwise solve each LP over every candidate of the batch from scratch:
    # at S on a slow machine 0.85-1.0 s for priority 0's fill and 0.7-1.1 s for the cost, of
    # the 5 s; by column generation 0.17-0.22 s, and the cost master, converged at the floor's
    # fill on the other core while the fill stages ran, moves to their fill in 0.04-0.05 s.

    def fill_relaxation(
        self, x: IntArray, priority: int, deadline: float
    ) -> tuple[FloatArray, float] | None:
        """The LP relaxation of ``priority``'s fill at ``x``'s higher fills (lower priorities
        out): its units per candidate and its whole-unit bound; None if no round was solved by
        ``deadline``."""
        with self._planner_lock:
            relaxation = self._planner.relaxation(x, priority, deadline=deadline)
        return (relaxation.plan, float(relaxation.upper)) if relaxation.solved else None

    def cost_relaxation(self, x: IntArray, deadline: float) -> tuple[FloatArray, float] | None:
        """The LP relaxation of the cost at ``x``'s fill (a copy the caller no longer changes):
        units per candidate at its optimum and its proven bound; None when the master is not
        at that optimum by ``deadline``. The master's rounds at another fill stop for it."""
        self._asked.set()
        try:
            if not self._master_lock.acquire(timeout=max(0.0, deadline - time.perf_counter())):
                return None
            try:
                found = self._solve_master(x, deadline)
                master = self._master
                if not found.converged or master is None:
                    return None
                return master.candidate_values(), found.value
            finally:
                self._master_lock.release()
        finally:
            self._asked.clear()

    def plan_for(self, x: IntArray | None) -> FillPlan | None:
        """The latest fill plan finished (None before the first); and a plan at ``x`` (a copy
        the search no longer changes; None: the allocation last given) is wanted, unless the
        last one is at its fill already."""
        if self._fill_plans and x is not None:
            # (its fill counted once here, not at every check of the plans' thread)
            self._plan_wanted = (x, fill_by_priority(self.data, x))
        return self._plan

    def _plan_due(self) -> bool:
        """Has the search asked for a plan at a fill the last plan is not at?"""
        wanted = self._plan_wanted
        if wanted is None or self._stopping.is_set():
            return False
        if self._prices is None:
            # (plans run beside the simplex's master only, whose every round sets its prices)
            # the master's first round first: it cannot be cut short, and the search waits for
            # its prices. Waiting for the master's convergence instead kept M-seed3 at 18,384
            # to 18,389 units of priority 0 in three runs of 30 s on a slow machine, against
            # 18,393 in all three with the plans from the first round on.
            return False
        if self._plan is not None:
            # a plan that would end too late for the search to solve its neighbourhood is not
            # started (one second for it, besides as long as a plan from kept masters took)
            if time.perf_counter() + self._replan_s + 1.0 > self._deadline:
                return False
            if wanted[1] == self._plan.fill:
                return False
        return True

    def _plan_when_asked(self) -> None:
        """The plans' thread: plan the fill of the allocation the search asked for last,
        whenever it asks for one at another fill, until the end."""
        while time.perf_counter() < self._deadline - 0.05 and not self._stopping.is_set():
            if not self._plan_due():
                self._stopping.wait(0.05)
                continue
            wanted = self._plan_wanted
            assert wanted is not None
            self._planning = True
            try:
                with self._planner_lock:
                    plan = self._planner.plan(
                        wanted[0], deadline=self._deadline, stop=self._stopping.is_set
                    )
            finally:
                self._planning = False
            # A plan from the masters the first one left takes a tenth of its time at M
            # (0.2-0.3 s against 2-2.5 s): until one is measured, a quarter is assumed.
            self._replan_s = plan.seconds / 4 if self._plan is None else plan.seconds
            self._plan = plan

    def duals(self) -> list[Duals]:
        """The latest round's duals, then the best of each bound it found, the latest first
        (at any fill: what prices the one-pass bound, :func:`engine.line_bound.line_bound`).
        The latest round's are there even while its master is still solving (at L, a PDLP
        round of 11-15 s that the answer does not wait for)."""
        found = [b.duals for b in reversed(self._results) if b.duals is not None]
        latest = self._round_duals
        if latest is None or any(latest is d for d in found):
            return found
        return [latest, *found]

    def _keep(self, prices: Prices, duals: Duals) -> None:
        self._round_duals = duals
        if self._first_order_tolerance is None:
            self._prices = prices

    def prices(self) -> Prices | None:
        """The latest round's prices (None before the first master is solved)."""
        return self._prices

    def busy(self) -> bool:
        """Is the master or a fill plan being solved (a core taken)?"""
        master = self._solving and self._thread is not None and self._thread.is_alive()
        plan = self._planning and self._plan_thread is not None and self._plan_thread.is_alive()
        return master or plan

    def stop(self, deadline: float) -> bool:
        """Stop the master's and the plans' threads, waiting for them until ``deadline``; has
        the master's ended? (A plan stops at its next round. No thread of HiGHS' may outlive
        the solve: one still running when the command line's process exits aborts it.)"""
        self._stopping.set()
        if self._plan_thread is not None:
            self._plan_thread.join(max(0.0, deadline - time.perf_counter()))
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.perf_counter()))
            return not self._thread.is_alive()
        return True

    def at_fill_of(self, x: IntArray, *, deadline: float) -> CostBound | None:
        """A proven bound on the cost at ``x``'s fill: the master moved to that fill and solved
        again until ``deadline``, or the best earlier bound that still holds there; None when
        there is none."""
        if self._thread is None and not self._results:
            return None  # never started
        if not self.stop(deadline):
            return None  # the master is still solving; it is not ours to touch
        fill = fill_by_priority(self.data, x)
        priorities = self.data.priorities
        found = [moved for b in self._results if (moved := b.at_fill(fill, priorities)) is not None]
        settled = any(b.fill == fill and b.converged for b in self._results)
        # A PDLP master is not solved again here: a cold round takes longer than is left.
        resolve = self._master is not None and self._master.first_order_tolerance is None
        if not settled and resolve and deadline - time.perf_counter() > 0.02:
            moved, _ = cost_bound(
                self.data,
                x,
                deadline=deadline,
                master=self._master,
                max_iterations=self._max_iterations,
            )
            found.append(moved)
        return max(found, key=lambda b: b.value) if found else None
