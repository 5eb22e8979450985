"""Neighbourhood search: free a few hundred orders, solve them exactly, keep what is better.

At thousands of orders the model of the whole batch is too large to solve, or even to relax, in
a batch's seconds (10k orders x 200 locations: HiGHS needs about 100 s for the LP alone). The
value that the greedy rules leave on the table is local, though: a pickup order (a free
shipment) waiting at a store whose last shipment slot went to an order a warehouse could ship; a
scarce unit given to an order that ships nothing else, where an order shipping anyway could have
taken it; an order split across two locations because the one that has all of it gave a unit
to an order that could as well have gone elsewhere. So the search repeatedly

1. picks a *neighbourhood* of about 150 orders: orders left short, with the orders holding the
   stock they could take or the capacity of a full location they could use; orders that cost
   more than one cheaper shipment would, with the holders of its stock; orders shipping near
   each other;
2. solves just those orders, every other order's units fixed (the stock and capacity they
   leave), with the optimiser's own stages: fill per priority, highest first, then cost;
3. keeps the new allocation of the neighbourhood when it is lexicographically better.

Fill never drops and cost never rises at equal fill, so the search can stop at any moment with a
better allocation than it started from. It is the "large neighbourhood search" of vehicle
routing (Shaw 1998; Pisinger & Ropke 2010), with a MIP as the repair step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from engine.bound import Prices
from engine.candidates import cheapness_rank
from engine.fill_bound import FillPlan, PlannedMoves
from engine.measures import (
    allocation_cost,
    fill_by_priority,
    lexicographically_better,
    line_units,
    short_lines,
)
from engine.params import SolveParams
from engine.problem import (
    UNLIMITED,
    BoolArray,
    FloatArray,
    IntArray,
    ProblemData,
    concatenated_ranges,
)
from engine.usage import Usage, capacity_left

# Orders per neighbourhood: large enough to hold an exchange chain between a few orders,
# small enough for SCIP to solve it to optimality in a fraction of a second.
NEIGHBOURHOOD_ORDERS = 150
# Neighbourhoods double in size, up to this, when fewer than GROW_BELOW_SUCCESS of a round's
# improve the allocation.
MAX_NEIGHBOURHOOD_ORDERS = 1200
GROW_BELOW_SUCCESS = 0.25
# How many orders holding one stock row join a neighbourhood at most (a popular sku in a
# warehouse is held by hundreds: a sample of them is enough to free a unit).
HOLDERS_PER_ROW = 12
# How many of the orders a location at capacity serves join a neighbourhood at most.
HOLDERS_PER_LOCATION = 40
# How many of an order's cheaper single locations are explored per seed order.
TARGETS_PER_SEED = 3
# The kinds of neighbourhood rounds, in turn.
ROUNDS = ("full", "short", "priced", "regret", "region")
# ... while the fill is not proven: orders left short get three rounds in seven. At M (10 s)
# the fill of priority 0 stayed 6 and 29 units under the proven optimum on seeds 1 and 3,
# with 30 s as with 10; more rounds of these moved seed 3 by 6 more units.
FILL_ROUNDS = ("full", "short", "priced", "short", "regret", "short", "region")
# Each line's cheapest candidates are offered in every neighbourhood: enough sources for the
# exchanges that lower cost, few enough that a neighbourhood's LP stays in hundredths of a
# second (fewer sources leave cost on the table at M, more make fewer, slower neighbourhoods;
# benchmarks/ANALYSIS.md has the figures).
CHEAPEST_PER_LINE = 6
# ... doubled, up to this, when neighbourhoods run dry (before they grow in orders).
MAX_CHEAPEST_PER_LINE = 12
# A neighbourhood planned by the fill relaxation holds at most this many orders: the orders the
# plan moves and every holder of the stock it takes (about 730 at M after a few seconds of search,
# 3,000 from the greedy floor, whose fill MIP then takes seconds).
MAX_PLANNED_ORDERS = 2000
# The first plan is asked for once this share of the search's time has gone by (the neighbourhoods
# find the easy units first; a plan at the floor moves four times as many orders).
PLAN_AFTER_SHARE = 0.25
# ... and its neighbourhood is solved only with this much time left: the fill stages may take
# most of it, and a cost stage cut short leaves an allocation the search has no time to repair
# (M-seed1: one more unit for 9% more cost, with 1 s left).
PLANNED_MIN_S = 1.5
# Each small MIP's time limit.
SUBPROBLEM_TIME_S = 1.0
# ... in deterministic mode, a guard that a neighbourhood's MIPs never reach.
DETERMINISTIC_SUBPROBLEM_TIME_S = 600.0


class NeighbourhoodSolver(Protocol):
    """Solves a neighbourhood: an allocation of it never lexicographically worse than
    ``start``; ``prove_fill``: its fill stages may run their full MIPs."""

    def __call__(
        self,
        data: ProblemData,
        start: IntArray,
        params: SolveParams,
        time_limit_s: float,
        *,
        prove_fill: bool = False,
    ) -> IntArray: ...


@dataclass(frozen=True)
class SearchReport:
    """What a search did: neighbourhoods solved, how many improved, the saving, the time."""

    neighbourhoods: int
    improved: int
    saving: float
    seconds: float


def improve_by_neighbourhoods(
    data: ProblemData,
    x: IntArray,
    *,
    deadline: float,
    solve_neighbourhood: NeighbourhoodSolver,
    params: SolveParams,
    prices: Callable[[], Prices | None] = lambda: None,
    spare_core: Callable[[], bool] = lambda: True,
    publish: Callable[[IntArray], None] = lambda x: None,
    neighbourhood_orders: int = NEIGHBOURHOOD_ORDERS,
    fill_proven: bool = False,
    fill_plan: Callable[[IntArray | None], FillPlan | None] | None = None,
) -> tuple[IntArray, SearchReport]:
    """A lexicographically better (or the same) allocation than ``x``, found by ``deadline``
    (a ``time.perf_counter()`` value).

    Neighbourhoods are solved ``params.workers`` at a time in threads (the solvers release the
    GIL), on disjoint orders; one that no longer fits what the others took meanwhile is dropped.
    ``solve_neighbourhood`` solves one neighbourhood (the optimiser's stages). ``prices`` gives
    the relaxation's latest prices, when there are any: the candidates they favour are offered
    in every neighbourhood, and the orders they say cost the most too much seed rounds of their
    own. After a round that improved it, a copy of the allocation is handed to ``publish``
    (the bound follows its fill). While ``spare_core()`` is false (the bound is using one), one worker fewer runs. In
    deterministic mode ``params.neighbourhood_budget`` neighbourhoods are solved, each
    batch of parallel ones applied in the order they were formed.

    Unless ``fill_proven`` (the stages proved the fill most), the search also works for fill:
    every candidate of a line left short is offered in every neighbourhood (a line whose stock
    is only at its seventh-cheapest location was never offered it), and such orders seed
    more rounds (``FILL_ROUNDS``). And once ``PLAN_AFTER_SHARE`` of the time has gone by (in
    deterministic mode: half the neighbourhoods), it asks ``fill_plan`` for the fill
    relaxation's plan at its allocation (in the background it answers with the latest plan it
    has finished, if any, and starts the next one): each new plan is one neighbourhood beside
    the round's, the orders it moves and the holders of the stock it takes, whose fill stages
    may prove their fill. A plan that proves the fill ends the work for fill.
    """
    started = time.perf_counter()
    start = np.asarray(x, dtype=np.int64)
    x = start.copy()
    if data.n_candidates == 0 or data.n_orders == 0:
        return x, SearchReport(0, 0, 0.0, 0.0)
    deterministic = params.deterministic
    budget = params.neighbourhood_budget(data.time_limit_s) if deterministic else None
    workers = max(1, params.workers)
    index = _Index(data, x)
    rng = np.random.default_rng(params.seed)
    initial_cost = allocation_cost(data, x)
    solved = improved = 0
    rounds = idle_rounds = 0

    last_plan: FillPlan | None = None
    asked_at = -1  # the count of improvements when a plan was last asked for
    plan_after = started + PLAN_AFTER_SHARE * max(0.0, deadline - started)

    def planning_due() -> bool:
        if fill_proven:
            return False
        if budget is not None:  # deterministic: one plan, at half the neighbourhoods
            return last_plan is None and solved >= budget // 2
        return time.perf_counter() >= plan_after

    def out_of_work(margin_s: float) -> bool:
        if budget is not None and solved >= budget:
            return True
        return time.perf_counter() + margin_s + params.min_solve_s >= deadline

    with ThreadPoolExecutor(max_workers=workers) as pool:
        setup_s = 0.0  # what ranking the seeds took last round (seconds at 50k orders)
        size = neighbourhood_orders
        per_line = CHEAPEST_PER_LINE
        while not out_of_work(setup_s):
            setup_started = time.perf_counter()
            # Seeds are ranked once a round: the neighbourhoods of a round may make the ranking
            # stale, which only makes a seed less promising than it looked, never the answer
            # worse.
            order_cost, single = _single_shipment_costs(data, x)
            short = short_lines(data, x)
            # offered in every neighbourhood: each line's cheapest candidates, every one at a
            # location that could ship an order whole for less than it costs now or ships it,
            # and every one the relaxation's prices favour
            worth_trying = (index.cheap_rank < per_line) | (
                (single < order_cost[data.pair_order] - params.saving_epsilon)
                | (index.usage.pair_units > 0)
            )[data.candidate_pair]
            if not fill_proven:
                worth_trying |= short[data.candidate_line]
            priced = prices()
            if priced is not None:
                worth_trying |= _favoured(data, priced)
            turns = ROUNDS if fill_proven else FILL_ROUNDS
            kinds = turns if priced is not None else tuple(k for k in turns if k != "priced")
            kind = kinds[rounds % len(kinds)]
            if kind == "short":
                seeds, related = _seeds_short_of_stock(data, index, x, short, rng)
            elif kind == "full":
                seeds, related = _seeds_at_full_locations(data, index, x, short, rng)
            elif kind == "regret":
                seeds, related = _seeds_by_regret(
                    data, index, x, rng, order_cost, single, params.saving_epsilon
                )
            elif kind == "priced":
                assert priced is not None
                seeds, related = _seeds_by_prices(data, index, x, rng, priced)
            else:
                seeds, related = _seeds_by_region(data, index, x, rng, size)
            rounds += 1
            setup_s = 0.0 if deterministic else time.perf_counter() - setup_started
            improved_this_round = solved_this_round = 0
            tried = np.zeros(data.n_orders, dtype=bool)
            busy = np.zeros(data.n_orders, dtype=bool)
            pending = iter(seeds.tolist())
            in_flight: dict[Future[IntArray | None], _Job] = {}
            while True:
                # keep every worker busy with a neighbourhood of orders no other one holds
                running = workers if deterministic or spare_core() else max(1, workers - 1)
                while len(in_flight) < running and not out_of_work(0.0):
                    if budget is not None and solved + len(in_flight) >= budget:
                        break
                    plan = None
                    if fill_plan is not None and planning_due():
                        # a plan is asked for at the allocation only once it has changed since
                        # the last ask (each ask copies it); the latest plan is read every time
                        changed = asked_at != improved
                        plan, asked_at = fill_plan(x.copy() if changed else None), improved
                    if (
                        plan is not None
                        and plan is not last_plan
                        and not out_of_work(PLANNED_MIN_S)
                    ):
                        last_plan = plan
                        if plan.proven and plan.fill == fill_by_priority(data, x):
                            fill_proven = True  # the plain rounds from the next one on
                        else:
                            moves = plan.moves()
                            orders = _planned_orders(data, index, x, moves, busy, rng)
                            tried[orders] = busy[orders] = True
                            job = _Job.of(data, index, x, orders, worth_trying | moves.used, True)
                            future = pool.submit(job.solve, solve_neighbourhood, params, deadline)
                            in_flight[future] = job
                            continue
                    seed_order = next((o for o in pending if not tried[o] and not busy[o]), None)
                    if seed_order is None:
                        break
                    orders = _neighbourhood(seed_order, seeds, related, tried, busy, size)
                    tried[orders] = busy[orders] = True
                    job = _Job.of(data, index, x, orders, worth_trying, False)
                    future = pool.submit(job.solve, solve_neighbourhood, params, deadline)
                    in_flight[future] = job
                if not in_flight:
                    break
                if deterministic:
                    # every job of the batch, in the order they were formed
                    wait(in_flight)
                    done = list(in_flight)
                else:
                    done = list(wait(in_flight, return_when=FIRST_COMPLETED)[0])
                for future in done:
                    job = in_flight.pop(future)
                    busy[job.orders] = False
                    solved += 1
                    solved_this_round += 1
                    new = future.result()
                    if new is not None and index.usage.fits(data, job.candidates, job.current, new):
                        x[job.candidates] = new
                        index.usage.move(data, job.candidates, job.current, new)
                        improved += 1
                        improved_this_round += 1
            if improved_this_round:
                publish(x.copy())
            # the kinds of rounds take turns: stop when none finds anything any more, even in
            # neighbourhoods grown to the largest size
            idle_rounds = 0 if improved_this_round else idle_rounds + 1
            widest = per_line >= MAX_CHEAPEST_PER_LINE and size >= MAX_NEIGHBOURHOOD_ORDERS
            if idle_rounds >= len(ROUNDS) and widest:
                break
            if idle_rounds >= len(ROUNDS) or (
                solved_this_round and improved_this_round < GROW_BELOW_SUCCESS * solved_this_round
            ):
                # The neighbourhoods are running dry: offer each line more of its sources first,
                # then take more orders at once, for longer exchanges.
                if per_line < MAX_CHEAPEST_PER_LINE:
                    per_line = min(2 * per_line, MAX_CHEAPEST_PER_LINE)
                else:
                    size = min(2 * size, MAX_NEIGHBOURHOOD_ORDERS)
                idle_rounds = 0
    if lexicographically_better(data, start, x):
        # cannot happen (each neighbourhood holds its fill and only a better one is kept, on
        # orders no other one holds), and must never: the start stands
        x = start
    saving = initial_cost - allocation_cost(data, x)
    return x, SearchReport(solved, improved, saving, time.perf_counter() - started)


def _favoured(data: ProblemData, prices: Prices) -> BoolArray:
    """Candidates the relaxation would use at its prices: they earn more than they cost, at a
    shipment that pays for itself."""
    return (prices.candidate_reduced_cost < 0) & (prices.pair_value < 0)[data.candidate_pair]


def _seeds_by_prices(
    data: ProblemData, index: _Index, x: IntArray, rng: np.random.Generator, prices: Prices
) -> tuple[IntArray, Callable[[int], IntArray]]:
    """Orders whose allocation costs the most more, at the relaxation's prices, than the best
    plan those prices allow them (the LP would serve them otherwise); for each, the holders of
    the stock its favoured candidates would take."""
    reduced = prices.candidate_reduced_cost
    used_pairs = index.usage.pair_units > 0
    now = np.bincount(
        index.candidate_order, weights=reduced * x, minlength=data.n_orders
    ) + np.bincount(
        data.pair_order,
        weights=np.where(used_pairs, prices.pair_reduced_cost, 0.0),
        minlength=data.n_orders,
    )
    best = np.bincount(data.pair_order, weights=prices.pair_value, minlength=data.n_orders)
    regret = now - best
    seeds = np.flatnonzero(regret > 1e-6)
    favoured = _favoured(data, prices)

    def target_rows(order: int) -> IntArray:
        own = index.candidates_of(np.array([order]))
        return data.candidate_inventory[own[favoured[own] & (x[own] == 0)]]

    return seeds[np.argsort(-regret[seeds], kind="stable")], _holding(index, x, target_rows, rng)


def _planned_orders(
    data: ProblemData,
    index: _Index,
    x: IntArray,
    moves: PlannedMoves,
    busy: BoolArray,
    rng: np.random.Generator,
) -> IntArray:
    """A neighbourhood from a fill plan: the orders it moves and the orders holding the stock it
    takes more of, a sample of the holders where there are too many; none that is ``busy``."""
    moved = np.unique(index.candidate_order[moves.changed])
    moved = moved[~busy[moved]]
    rows = np.unique(data.candidate_inventory[moves.takes_more])
    held = index.candidates_at(rows)
    holders = np.setdiff1d(index.candidate_order[held[x[held] > 0]], moved)
    holders = holders[~busy[holders]]
    room = MAX_PLANNED_ORDERS - moved.size
    if room <= 0:
        return np.sort(rng.choice(moved, MAX_PLANNED_ORDERS, replace=False))
    if holders.size > room:
        holders = rng.choice(holders, room, replace=False)
    return np.union1d(moved, holders)


class _Index:
    """Lookups the search needs over and over: candidates by order and by stock row."""

    def __init__(self, data: ProblemData, x: IntArray):
        self.usage = Usage.of(data, x)
        self.cheap_rank = cheapness_rank(data)
        candidate_order = data.line_order[data.candidate_line]
        self.candidate_order = candidate_order
        # int32 positions where they fit: tens of millions of candidates at the largest batches
        index_type = np.int32 if data.n_candidates < np.iinfo(np.int32).max else np.int64
        self.by_order: IntArray = np.argsort(candidate_order, kind="stable").astype(index_type)
        self.order_start = np.searchsorted(
            candidate_order[self.by_order], np.arange(data.n_orders + 1)
        )
        self.by_row: IntArray = np.argsort(data.candidate_inventory, kind="stable").astype(
            index_type
        )
        self.row_start = np.searchsorted(
            data.candidate_inventory[self.by_row], np.arange(data.inventory_quantity.size + 1)
        )

    def candidates_of(self, orders: IntArray) -> IntArray:
        starts, ends = self.order_start[orders], self.order_start[orders + 1]
        return self.by_order[concatenated_ranges(starts, ends)]

    def candidates_at(self, rows: IntArray) -> IntArray:
        starts, ends = self.row_start[rows], self.row_start[rows + 1]
        return self.by_row[concatenated_ranges(starts, ends)]


def _single_shipment_costs(data: ProblemData, x: IntArray) -> tuple[FloatArray, FloatArray]:
    """Per order, what it costs now, and per pair, what the order's current units would cost
    shipped from that location alone (inf where the location does not stock them all)."""
    units = line_units(data, x)
    pair_units = np.bincount(data.candidate_pair, weights=x, minlength=data.n_pairs)
    unit_cost = data.location_unit_cost[data.candidate_location]
    order_cost = np.bincount(
        data.pair_order,
        weights=np.where(pair_units > 0, data.pair_cost, 0.0),
        minlength=data.n_orders,
    ) + np.bincount(
        data.line_order[data.candidate_line], weights=x * unit_cost, minlength=data.n_orders
    )
    wanted = units[data.candidate_line]
    covers = (wanted > 0) & (data.inventory_quantity[data.candidate_inventory] >= wanted)
    covered_lines = np.bincount(data.candidate_pair, weights=covers, minlength=data.n_pairs)
    served_lines = np.bincount(data.line_order, weights=units > 0, minlength=data.n_orders)
    pair_served = served_lines[data.pair_order]
    pair_unit_cost = np.bincount(
        data.candidate_pair,
        weights=np.where(covers, wanted * unit_cost, 0.0),
        minlength=data.n_pairs,
    )
    single = np.where(
        (pair_served > 0) & (covered_lines >= pair_served),
        data.pair_cost + pair_unit_cost,
        np.inf,
    ).astype(np.float64)
    return order_cost.astype(np.float64), single


def _seeds_by_regret(
    data: ProblemData,
    index: _Index,
    x: IntArray,
    rng: np.random.Generator,
    order_cost: FloatArray,
    single: FloatArray,
    saving_epsilon: float,
) -> tuple[IntArray, Callable[[int], IntArray]]:
    """Orders that one cheaper shipment could serve with the units they have, most regret first;
    for each, the stock rows of its cheapest single shipments."""
    cheapest = np.full(data.n_orders, np.inf)
    np.minimum.at(cheapest, data.pair_order, single)
    regret = order_cost - cheapest
    seeds = np.flatnonzero(np.isfinite(regret) & (regret > saving_epsilon))

    def target_rows(order: int) -> IntArray:
        pairs = _pairs_of(data, order)
        targets = pairs[np.argsort(single[pairs], kind="stable")[:TARGETS_PER_SEED]]
        locations = data.pair_location[targets[np.isfinite(single[targets])]]
        own = index.candidates_of(np.array([order]))
        return data.candidate_inventory[own[np.isin(data.candidate_location[own], locations)]]

    return seeds[np.argsort(-regret[seeds], kind="stable")], _holding(index, x, target_rows, rng)


def _seeds_short_of_stock(
    data: ProblemData, index: _Index, x: IntArray, short: BoolArray, rng: np.random.Generator
) -> tuple[IntArray, Callable[[int], IntArray]]:
    """Orders with a line left short, in random order; for each, the stock rows its short
    lines could take from. Who gets a scarce unit decides what ships: a unit given to an order
    that ships anyway costs nothing more, the same unit to an order that ships nothing else
    costs a shipment; the MIP of the neighbourhood weighs exactly that. ``short``: per line,
    is it left short in ``x``?"""
    seeds = np.unique(index.candidate_order[short[data.candidate_line]])

    def target_rows(order: int) -> IntArray:
        own = index.candidates_of(np.array([order]))
        return data.candidate_inventory[own[short[data.candidate_line[own]]]]

    return rng.permutation(seeds), _holding(index, x, target_rows, rng)


def _seeds_at_full_locations(
    data: ProblemData, index: _Index, x: IntArray, short: BoolArray, rng: np.random.Generator
) -> tuple[IntArray, Callable[[int], IntArray]]:
    """Orders left short that a location at capacity (shipments or units) could serve, grouped
    by that location; for each, the orders that location serves now. A store with its last
    shipment slot taken by an order a warehouse could ship, while a pickup order there (a free
    shipment) waits, is the case: only the two together can trade."""
    usage = index.usage
    full = usage.at_capacity(data)
    waiting = short[data.candidate_line] & full[data.candidate_location]
    if not waiting.any():
        return np.empty(0, dtype=np.int64), lambda order: np.empty(0, dtype=np.int64)
    # one full location per waiting order, seeds grouped by it in random location order
    seed_orders, first = np.unique(index.candidate_order[waiting], return_index=True)
    seed_location = data.candidate_location[np.flatnonzero(waiting)[first]]
    shuffled = rng.permutation(data.n_locations)[seed_location]
    seeds = seed_orders[np.lexsort((rng.random(seed_orders.size), shuffled))]
    used_pairs = np.flatnonzero(usage.pair_units > 0)
    used_pairs = used_pairs[full[data.pair_location[used_pairs]]]

    def related(order: int) -> IntArray:
        own = index.candidates_of(np.array([order]))
        locations = np.unique(data.candidate_location[own[waiting[own]]])
        served = np.unique(
            data.pair_order[used_pairs[np.isin(data.pair_location[used_pairs], locations)]]
        )
        served = served[served != order]
        if served.size > HOLDERS_PER_LOCATION:
            served = rng.choice(served, HOLDERS_PER_LOCATION, replace=False)
        return served

    return seeds, related


def _neighbourhood(
    seed_order: int,
    seeds: IntArray,
    related: Callable[[int], IntArray],
    tried: BoolArray,
    busy: BoolArray,
    size: int,
) -> IntArray:
    """The seed and the orders related to it, then more seeds (untried, in rank order) with
    theirs, until ``size`` orders; none that is ``busy`` (in another neighbourhood being
    solved)."""
    chosen: dict[int, None] = {}
    queue = iter(seeds.tolist())
    current: int | None = seed_order
    while current is not None and len(chosen) < size:
        if current not in chosen:
            chosen[current] = None
            for holder in related(current).tolist():
                if len(chosen) >= size:
                    break
                if not busy[holder]:
                    chosen.setdefault(holder, None)
        current = next((o for o in queue if not tried[o] and not busy[o] and o not in chosen), None)
    return np.array(sorted(chosen), dtype=np.int64)


def _pairs_of(data: ProblemData, order: int) -> IntArray:
    # pairs are formed sorted by (order, location)
    start = np.searchsorted(data.pair_order, order, side="left")
    end = np.searchsorted(data.pair_order, order, side="right")
    return np.arange(start, end, dtype=np.int64)


def _holding(
    index: _Index,
    x: IntArray,
    target_rows: Callable[[int], IntArray],
    rng: np.random.Generator,
) -> Callable[[int], IntArray]:
    """``related(order)``: the orders holding the stock rows ``target_rows(order)``."""
    return lambda order: _holders(index, x, order, target_rows(order), rng)


def _seeds_by_region(
    data: ProblemData, index: _Index, x: IntArray, rng: np.random.Generator, size: int
) -> tuple[IntArray, Callable[[int], IntArray]]:
    """Served orders in random order; for each, the orders shipping nearest to it: neighbours
    draw on the same stores and warehouses, so the MIP can trade them among themselves."""
    served = np.flatnonzero(np.bincount(index.candidate_order, weights=x, minlength=data.n_orders))
    # pickup orders sit at their store
    lat = np.where(
        data.order_is_pickup, data.location_lat[data.order_pickup_location], data.order_lat
    )
    lon = np.where(
        data.order_is_pickup, data.location_lon[data.order_pickup_location], data.order_lon
    )
    lat_rad, lon_rad = np.radians(lat[served]), np.radians(lon[served])

    def related(order: int) -> IntArray:
        # equirectangular distance: ranking neighbours needs no great circles
        phi, lam = np.radians(lat[order]), np.radians(lon[order])
        d2 = (lat_rad - phi) ** 2 + ((lon_rad - lam) * np.cos(0.5 * (lat_rad + phi))) ** 2
        nearest = np.argpartition(d2, min(size, d2.size - 1))[:size]
        return served[nearest[np.argsort(d2[nearest], kind="stable")]]

    return rng.permutation(served), related


def _holders(
    index: _Index, x: IntArray, order: int, rows: IntArray, rng: np.random.Generator
) -> IntArray:
    """Orders other than ``order`` holding units of stock ``rows``: a sample per row."""
    found: list[IntArray] = []
    for row in np.unique(rows).tolist():
        held = index.candidates_at(np.array([row]))
        held = held[x[held] > 0]
        holders = np.unique(index.candidate_order[held])
        holders = holders[holders != order]
        if holders.size > HOLDERS_PER_ROW:
            holders = rng.choice(holders, HOLDERS_PER_ROW, replace=False)
        found.append(holders)
    return np.concatenate(found) if found else np.empty(0, dtype=np.int64)


@dataclass(frozen=True)
class _Job:
    """A neighbourhood to solve: its orders, their candidates, their units now, its problem."""

    orders: IntArray
    candidates: IntArray
    current: IntArray
    sub: ProblemData
    planned: bool  # formed from a fill plan: its fill stages may prove their fill

    @classmethod
    def of(
        cls,
        data: ProblemData,
        index: _Index,
        x: IntArray,
        orders: IntArray,
        worth_trying: BoolArray,
        planned: bool,
    ) -> _Job:
        """Only the candidates ``worth_trying`` and those ``x`` uses are offered: a
        neighbourhood's LP then takes a few hundredths of a second instead of a tenth."""
        candidates = index.candidates_of(orders)
        candidates = candidates[worth_trying[candidates] | (x[candidates] > 0)]
        sub = residual_problem(data, x, orders, candidates, index.usage)
        return cls(orders, candidates, x[candidates], sub, planned)

    def solve(
        self, solve_neighbourhood: NeighbourhoodSolver, params: SolveParams, deadline: float
    ) -> IntArray | None:
        """The neighbourhood's new units per candidate, or None when not better."""
        # a larger neighbourhood gets proportionally longer
        scale = max(1.0, self.orders.size / NEIGHBOURHOOD_ORDERS)
        if params.deterministic:
            # no clock: each small MIP runs to its end, so the answer is the same every time
            limit = DETERMINISTIC_SUBPROBLEM_TIME_S
        else:
            limit = min(SUBPROBLEM_TIME_S * scale, deadline - time.perf_counter())
        new = solve_neighbourhood(self.sub, self.current, params, limit, prove_fill=self.planned)
        if not lexicographically_better(
            self.sub, new, self.current, tolerance=params.saving_epsilon
        ):
            return None
        return new


def residual_problem(
    data: ProblemData,
    x: IntArray,
    orders: IntArray,
    candidates: IntArray,
    usage: Usage,
) -> ProblemData:
    """The problem of ``orders`` alone, over ``candidates`` (theirs, including every one ``x``
    uses), against the stock and capacity every other order's units in ``x`` leave.

    ``usage`` is ``x``'s, kept up to date by the caller (recounting it would visit every
    candidate of the batch for each neighbourhood).
    """
    others = usage.without(data, candidates, x[candidates])
    stock = data.inventory_quantity - others.stock
    max_units = capacity_left(data.location_max_units, others.units)
    max_shipments = capacity_left(data.location_max_shipments, others.shipments)

    lines = np.flatnonzero(np.isin(data.line_order, orders))
    pairs, candidate_pair = np.unique(data.candidate_pair[candidates], return_inverse=True)
    candidate_line = np.searchsorted(lines, data.candidate_line[candidates])
    candidate_location = data.candidate_location[candidates]
    candidate_inventory = data.candidate_inventory[candidates]
    upper = np.minimum(data.line_quantity[lines][candidate_line], stock[candidate_inventory])
    cap = max_units[candidate_location]
    upper = np.maximum(np.where(cap != UNLIMITED, np.minimum(upper, cap), upper), 0)
    return replace(
        data,
        location_max_units=max_units,
        location_max_shipments=max_shipments,
        inventory_quantity=np.maximum(stock, 0),
        order_ids=[data.order_ids[o] for o in orders.tolist()],
        order_priority=data.order_priority[orders],
        order_placed_at=data.order_placed_at[orders],
        order_is_pickup=data.order_is_pickup[orders],
        order_lat=data.order_lat[orders],
        order_lon=data.order_lon[orders],
        order_pickup_location=data.order_pickup_location[orders],
        order_allow_split=data.order_allow_split[orders],
        order_allow_partial=data.order_allow_partial[orders],
        order_max_distance_km=data.order_max_distance_km[orders],
        line_ids=[data.line_ids[i] for i in lines.tolist()],
        line_order=np.searchsorted(orders, data.line_order[lines]),
        line_sku=data.line_sku[lines],
        line_quantity=data.line_quantity[lines],
        candidate_line=candidate_line,
        candidate_location=candidate_location,
        candidate_inventory=candidate_inventory,
        candidate_pair=candidate_pair.reshape(-1).astype(np.int64),
        candidate_upper=upper.astype(np.int64),
        pair_order=np.searchsorted(orders, data.pair_order[pairs]),
        pair_location=data.pair_location[pairs],
        pair_distance_km=data.pair_distance_km[pairs],
        pair_cost=data.pair_cost[pairs],
        _cache={},
    )
