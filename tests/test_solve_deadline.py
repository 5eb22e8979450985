"""A solve whose fixed passes took its time: the floor is the answer, the response still written."""

from __future__ import annotations

import threading
import time

import numpy as np

from engine.generate import Size, generate
from engine.greedy import greedy_allocate
from engine.measures import allocation_cost
from engine.params import SolveParams
from engine.problem import build_problem
from engine.solve import optimise, solve_problem
from models.validation import parse_solve_request


def test_a_solve_past_its_deadline_answers_with_the_nearest_floor() -> None:
    raw = generate(Size(orders=200, locations=20, skus=60), seed=5)
    raw["policy"]["time_limit_s"] = 1.0
    data = build_problem(parse_solve_request(raw))
    floor = greedy_allocate(data)
    # the caller received the request a minute ago: the deadline has passed before the solve
    response = solve_problem(data, started=time.perf_counter() - 60.0)
    allocated = {
        (row["order_id"], row["line_id"], row["location_id"]): row["quantity"]
        for row in response["allocations"]
    }
    served = np.flatnonzero(floor)
    expected = {
        (
            data.order_ids[data.line_order[data.candidate_line[c]]],
            data.line_ids[data.candidate_line[c]],
            data.location_ids[data.candidate_location[c]],
        ): int(floor[c])
        for c in served.tolist()
    }
    assert allocated == expected
    assert response["solver"]["status"] == "feasible"
    assert response["solver"]["objective"] == round(allocation_cost(data, floor), 2)
    # no bound was computed: the trivial one, proving nothing
    assert response["solver"]["bound"] == 0.0
    assert len(response["remaining"]) == len(raw["inventory"])


def test_no_thread_of_the_bound_or_the_fill_plans_outlives_its_solve() -> None:
    # one still inside HiGHS when the command line's process exits aborts it ("terminate
    # called without an active exception"): a batch whose stages leave its fill unproven, so
    # that fill plans run beside the search (before the fix, the plans' thread outlived the
    # solve of this one)
    raw = generate("S", seed=1)
    raw["policy"].update(time_limit_s=5.0, relative_gap=1e-4)
    data = build_problem(parse_solve_request(raw))
    optimise(data, SolveParams())
    assert not [t.name for t in threading.enumerate() if t.name in ("bound", "fill-plans")]
