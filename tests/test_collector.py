"""The garbage collector paused while a request is parsed and built (models/collector.py): the
same problem as without the pause, and the collector always left as it was found, after a
refused request too, and only once the last of overlapping pauses has ended."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import numpy as np
import orjson
import pytest

from engine.generate import Size, generate
from engine.problem import build_problem, problem_from_json
from models.collector import collector_paused
from models.problems import InvalidInput
from models.validation import parse_solve_request, parse_solve_request_json
from tests.builders import problem_arrays


@pytest.fixture(params=[True, False], ids=["collector-on", "collector-off"])
def collector_state(request: pytest.FixtureRequest) -> Iterator[bool]:
    """The collector's state before each test, restored after it."""
    was = gc.isenabled()
    (gc.enable if request.param else gc.disable)()
    yield request.param
    (gc.enable if was else gc.disable)()


def _body() -> bytes:
    return orjson.dumps(generate(Size(orders=200, locations=15, skus=150), seed=4))


def test_a_problem_from_json_is_the_problem_of_the_parsed_request(collector_state: bool) -> None:
    body = _body()
    paused = problem_from_json(body)
    assert gc.isenabled() is collector_state
    built = build_problem(parse_solve_request(orjson.loads(body)))
    for name, column in problem_arrays(built).items():
        assert np.array_equal(getattr(paused, name), column, equal_nan=True), name


def test_parsing_leaves_the_collector_as_it_found_it(collector_state: bool) -> None:
    parse_solve_request_json(_body())
    assert gc.isenabled() is collector_state


def test_a_refused_request_leaves_the_collector_as_it_found_it(collector_state: bool) -> None:
    for body in (b"{not json", b'{"locations": [], "orders": 3}'):
        with pytest.raises(InvalidInput):
            problem_from_json(body)
        assert gc.isenabled() is collector_state


def test_the_collector_resumes_when_the_last_of_overlapping_pauses_ends() -> None:
    was = gc.isenabled()
    gc.enable()
    try:
        entered, release = threading.Event(), threading.Event()

        def other_request() -> None:
            with collector_paused():
                entered.set()
                release.wait(10)

        other = threading.Thread(target=other_request)
        with collector_paused():
            other.start()
            assert entered.wait(10)
        # this pause has ended; the other thread's has not
        assert not gc.isenabled()
        release.set()
        other.join(10)
        assert gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()
