"""`POST /v1/solve` and `GET /healthz` over HTTP: the in-process client, and a real server."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from benchmarks.resources import free_port
from engine.generate import Size, generate

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent
REQUEST = json.loads((DATA / "contract_example_request.json").read_text())
EXPECTED = json.loads((DATA / "contract_example_response.json").read_text())


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app())


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_solve_answers_the_contract_example(client: TestClient) -> None:
    response = client.post("/v1/solve", json=REQUEST)
    assert response.status_code == 200
    body = response.json()
    for key in ("allocations", "unallocated", "remaining", "shipments"):
        assert body[key] == EXPECTED[key]
    assert body["summary"]["total_cost"] == 20.24


def test_bad_request_is_422_listing_every_problem_with_its_path(client: TestClient) -> None:
    bad = json.loads(json.dumps(REQUEST))
    bad["orders"][1]["pickup_location_id"] = "WH-EAST"
    bad["locations"][0]["lon"] = 200
    response = client.post("/v1/solve", json=bad)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [(d["loc"], d["type"]) for d in detail] == [
        (["locations", 0, "lon"], "less_than_equal"),
        (["orders", 1, "pickup_location_id"], "pickup_not_served"),
    ]
    assert all(d["msg"] for d in detail)


def test_malformed_json_is_422(client: TestClient) -> None:
    response = client.post(
        "/v1/solve", content=b"{oops", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_openapi_documents_the_request_with_the_contract_example(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/v1/solve"]["post"]["requestBody"]["content"]["application/json"]
    # OpenAPI documents drop nulls; the contract's nulls are its defaults, so nothing is lost.
    assert body["example"] == _without_nulls(REQUEST)
    assert body["schema"] == {"$ref": "#/components/schemas/SolveRequest"}
    assert "Order" in spec["components"]["schemas"]
    assert "422" in spec["paths"]["/v1/solve"]["post"]["responses"]


def _without_nulls(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """A real uvicorn process on a loopback port."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "serve", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(f"{url}/healthz", timeout=1.0)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("the server did not start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_real_server_solves_over_http(server: str) -> None:
    response = httpx.post(f"{server}/v1/solve", json=REQUEST, timeout=60)
    assert response.status_code == 200
    assert response.json()["allocations"] == EXPECTED["allocations"]


def test_real_server_refuses_bad_input_with_422(server: str) -> None:
    response = httpx.post(f"{server}/v1/solve", json={"orders": "none"}, timeout=60)
    assert response.status_code == 422
    assert {tuple(d["loc"]) for d in response.json()["detail"]} == {
        ("inventory",),
        ("locations",),
        ("orders",),
    }


def test_a_long_solve_does_not_block_other_requests(server: str) -> None:
    long_request = generate(Size(orders=1500, locations=60, skus=600), seed=11)
    long_request["policy"]["time_limit_s"] = 4.0
    finished: dict[str, float] = {}

    sent = threading.Event()

    def trace(event: str, _info: dict[str, Any]) -> None:
        if event == "http11.send_request_body.complete":
            sent.set()  # the server has the whole request: from here on it parses and solves

    def post_long() -> None:
        with httpx.Client(timeout=120) as client:
            request = client.build_request(
                "POST", f"{server}/v1/solve", json=long_request, extensions={"trace": trace}
            )
            client.send(request)
        finished["solve"] = time.monotonic()

    thread = threading.Thread(target=post_long)
    thread.start()
    assert sent.wait(timeout=60), "the solve request was never sent"
    assert httpx.get(f"{server}/healthz", timeout=30).status_code == 200
    finished["health"] = time.monotonic()
    thread.join()
    assert finished["health"] < finished["solve"]
