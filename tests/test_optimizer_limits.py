"""The optimiser's guards: a batch too large for a model is answered with the polished floor."""

from __future__ import annotations

import pytest

from engine import optimizer
from engine.checker import assert_valid
from engine.generate import Size, generate
from engine.solve import solve
from models.validation import parse_solve_request


def test_a_batch_too_large_for_a_model_gets_the_polished_floor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = generate(Size(orders=200, locations=20, skus=100), seed=5)
    greedy_raw = {**raw, "policy": {**raw["policy"], "strategy": "greedy"}}
    greedy = solve(parse_solve_request(greedy_raw))

    monkeypatch.setattr(optimizer, "MAX_MODEL_CANDIDATES", 10)
    parsed = parse_solve_request(raw)
    response = solve(parsed)
    assert_valid(parsed, response)
    assert response["solver"]["status"] == "feasible"
    assert response["summary"]["units_allocated"] >= greedy["summary"]["units_allocated"]
    assert response["summary"]["total_cost"] <= greedy["summary"]["total_cost"]
