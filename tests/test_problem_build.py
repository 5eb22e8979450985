"""The problem arrays: built in chunks of whole orders, the same arrays as built in one piece."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from engine import greedy, problem
from engine.generate import Size, generate
from engine.greedy import greedy_allocate
from engine.problem import build_problem
from models.validation import parse_solve_request
from tests.builders import problem_arrays


def _request(max_distance_km: float | None) -> object:
    raw = generate(Size(orders=400, locations=25, skus=300), seed=7)
    raw["policy"]["max_distance_km"] = max_distance_km
    # a few orders with their own limit, tighter than the policy's
    for order in raw["orders"][::9]:
        if order["delivery"] == "ship":
            order["max_distance_km"] = 400.0
    return parse_solve_request(raw)


@pytest.mark.parametrize("max_distance_km", [None, 1500.0])
@pytest.mark.parametrize("chunk", [1, 97, 1_000])
def test_chunked_build_equals_one_piece(
    monkeypatch: pytest.MonkeyPatch, max_distance_km: float | None, chunk: int
) -> None:
    request = _request(max_distance_km)
    whole = build_problem(request)
    assert whole.n_candidates > 1_000  # several chunks whatever the chunk size
    monkeypatch.setattr(problem, "_JOIN_CHUNK", chunk)
    monkeypatch.setattr(greedy, "_CHUNK", chunk)
    chunked = build_problem(request)
    for name, column in problem_arrays(whole).items():
        other = getattr(chunked, name)
        assert other.dtype == column.dtype, name
        assert np.array_equal(other, column, equal_nan=True), name
    for preference in ("nearest", "cheapest"):
        assert np.array_equal(
            greedy_allocate(chunked, preference), greedy_allocate(whole, preference)
        )


def test_pairs_sorted_by_order_then_location() -> None:
    data = build_problem(_request(None))
    key = data.pair_order.astype(np.int64) * data.n_locations + data.pair_location
    assert np.all(np.diff(key) > 0)
    # every candidate's pair is its own (order, location)
    assert np.array_equal(
        data.pair_order[data.candidate_pair], data.line_order[data.candidate_line]
    )
    assert np.array_equal(data.pair_location[data.candidate_pair], data.candidate_location)


def test_index_columns_are_int32_when_they_fit() -> None:
    data = build_problem(_request(None))
    for name in ("candidate_line", "candidate_location", "candidate_inventory", "candidate_pair"):
        assert getattr(data, name).dtype == np.int32, name
    assert data.pair_order.dtype == np.int32
    assert data.pair_distance_km.dtype == np.float64


def test_quantities_beyond_int32_are_allocated_whole() -> None:
    # int32 index columns must not reach the quantities: each is at most the contract's limit of
    # a billion, but three lines of a billion units add up past int32.
    raw = {
        "locations": [{"id": "W", "kind": "warehouse", "lat": 40.0, "lon": -74.0}],
        "inventory": [{"location_id": "W", "sku": sku, "quantity": 1_000_000_000} for sku in "ABC"],
        "orders": [
            {
                "id": "O",
                "delivery": "ship",
                "ship_to": {"lat": 41.0, "lon": -73.0},
                "lines": [{"id": sku, "sku": sku, "quantity": 1_000_000_000} for sku in "ABC"],
            }
        ],
    }
    data = build_problem(parse_solve_request(raw))
    assert data.candidate_upper.tolist() == [1_000_000_000] * 3
    for preference in ("nearest", "cheapest"):
        allocation = greedy_allocate(data, preference)
        assert allocation.tolist() == [1_000_000_000] * 3
        assert int(allocation.sum()) == 3_000_000_000


def test_pairs_found_by_sorting_equal_those_found_by_marking(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    request = _request(1500.0)
    marked = build_problem(request)
    monkeypatch.setattr(problem, "_DENSE_KEYS_PER_CANDIDATE", 0)  # every chunk sorts
    sorted_ = build_problem(request)
    for name, column in problem_arrays(marked).items():
        assert np.array_equal(getattr(sorted_, name), column, equal_nan=True), name


def test_candidates_of_lines_are_exactly_those_lines_candidates() -> None:
    data = build_problem(_request(None))
    lines = np.array([0, 3, 4, data.n_lines - 1])
    expected = np.flatnonzero(np.isin(data.candidate_line, lines))
    assert np.array_equal(data.candidates_of_lines(lines), expected)
    shuffled = dataclasses.replace(
        data,
        candidate_line=data.candidate_line[::-1].copy(),
        _cache={},
    )
    assert not shuffled.candidates_grouped_by_line()
    assert np.array_equal(
        shuffled.candidates_of_lines(lines),
        np.flatnonzero(np.isin(shuffled.candidate_line, lines)),
    )
