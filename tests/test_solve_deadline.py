"""A solve whose fixed passes took its time: the floor is the answer, the response still written."""

from __future__ import annotations

import time

import numpy as np

from engine.generate import Size, generate
from engine.greedy import greedy_allocate
from engine.measures import allocation_cost
from engine.problem import build_problem
from engine.solve import solve_problem
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
