"""Operations: GET /metrics in Prometheus' format (solves, runs, feeds, queue depth, ledger
lag) and JSON logs with a request id on every line."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from api.observability import configure_logging
from core.settings import get_settings
from storage import session
from tests.ledger_fixtures import CATALOG, ship_order

KEY = "test-key-0123456789abcdef"
AUTH = {"X-API-Key": KEY}
DATA = Path(__file__).parent / "data"


@pytest.fixture
def client(tmp_path, monkeypatch) -> TestClient:
    monkeypatch.delenv("OMNIBROKER_DATABASE_URL", raising=False)
    monkeypatch.setenv("OMNIBROKER_DATABASE_PATH", str(tmp_path / "api.db"))
    monkeypatch.setenv("OMNIBROKER_API_KEYS", KEY)
    get_settings.cache_clear()
    session.dispose_all()
    yield TestClient(create_app())
    get_settings.cache_clear()
    session.dispose_all()


def samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(figures, name: str, **labels: str) -> float:
    return figures.get((name, tuple(sorted(labels.items()))), 0.0)


def test_a_solve_is_counted_by_strategy_and_status_with_its_time_gap_and_fill(client):
    before = samples(client)
    body = (DATA / "contract_example_request.json").read_bytes()
    assert client.post("/v1/solve", content=body).status_code == 200
    after = samples(client)
    labels = {"strategy": "optimal", "status": "optimal"}
    assert (
        value(after, "omnibroker_solves_total", **labels)
        == value(before, "omnibroker_solves_total", **labels) + 1
    )
    assert (
        value(after, "omnibroker_solve_seconds_count", **labels)
        == value(before, "omnibroker_solve_seconds_count", **labels) + 1
    )
    assert value(after, "omnibroker_last_solve_fill_ratio") == 1.0  # 3 of 3 units
    assert value(after, "omnibroker_last_solve_gap") == 0.0
    assert value(after, "omnibroker_solve_fill_ratio_count", strategy="optimal") >= 1


def test_queue_depth_and_ledger_lag_are_read_from_the_ledger(client):
    assert client.put("/v1/catalog", content=orjson.dumps(CATALOG), headers=AUTH).status_code == 200
    orders = {"orders": [ship_order("SO-1", "TEE", 1), ship_order("SO-2", "TEE", 1)]}
    assert client.post("/v1/orders", content=orjson.dumps(orders), headers=AUTH).status_code == 202
    figures = samples(client)
    assert value(figures, "omnibroker_order_queue_depth") == 2
    # Nothing published yet: the catalog's version is behind the availability feed (queued
    # orders change no stock).
    assert value(figures, "omnibroker_ledger_lag_versions") == 1
    assert value(figures, "omnibroker_ledger_lag_seconds") >= 0
    assert client.post("/v1/availability/publish", headers=AUTH).status_code == 200
    figures = samples(client)
    assert value(figures, "omnibroker_ledger_lag_versions") == 0
    assert value(figures, "omnibroker_ledger_lag_seconds") == 0


def test_feeds_and_brokering_runs_are_timed(client):
    before = samples(client)
    client.put("/v1/catalog", content=orjson.dumps(CATALOG), headers=AUTH)
    feed = client.post(
        "/v1/feeds",
        params={"source": "erp", "basis": "physical", "as_of": "2026-11-27T05:00:00Z"},
        content=b"location_id,sku,quantity\nWH-EAST,TEE,10\n",
        headers={**AUTH, "Content-Type": "text/csv"},
    )
    assert feed.status_code == 200
    client.post("/v1/orders", content=orjson.dumps(ship_order("SO-1", "TEE", 2)), headers=AUTH)
    assert client.post("/v1/brokering-runs", content=b"{}", headers=AUTH).status_code == 201
    after = samples(client)
    for name, labels in (
        ("omnibroker_feed_seconds_count", {"source": "erp"}),
        ("omnibroker_brokering_run_seconds_count", {}),
        ("omnibroker_solves_total", {"strategy": "optimal", "status": "optimal"}),
    ):
        assert value(after, name, **labels) == value(before, name, **labels) + 1, name


def test_http_requests_are_counted_by_route_template_not_raw_path(client):
    client.get("/v1/brokering-runs/12345")
    figures = samples(client)
    route = "/v1/brokering-runs/{run_id}"
    assert value(figures, "omnibroker_http_requests_total", method="GET", route=route,
                 status="404") >= 1  # fmt: skip
    assert not any("12345" in str(labels) for _, labels in figures)


def test_metrics_are_closed_when_reads_are(client, monkeypatch):
    monkeypatch.setenv("OMNIBROKER_READS_OPEN", "false")
    get_settings.cache_clear()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=AUTH).status_code == 200


@pytest.fixture
def log_lines(client):
    stream = io.StringIO()
    configure_logging(stream=stream)
    yield stream
    configure_logging()


def test_every_log_line_is_json_with_the_request_id(client, log_lines):
    body = (DATA / "contract_example_request.json").read_bytes()
    response = client.post("/v1/solve", content=body, headers={"X-Request-ID": "trace-42"})
    assert response.headers["x-request-id"] == "trace-42"
    logging.getLogger("omnibroker.test").info("outside any request")
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    (request_line,) = [line for line in lines if line["msg"] == "request"]
    assert request_line["request_id"] == "trace-42"
    assert (request_line["method"], request_line["route"], request_line["status"]) == (
        "POST", "/v1/solve", 200,
    )  # fmt: skip
    assert lines[-1]["request_id"] is None  # logged after the request: no id


def test_a_request_without_a_sane_id_gets_a_fresh_one(client, log_lines):
    first = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces\n"})
    second = client.get("/healthz")
    ids = {first.headers["x-request-id"], second.headers["x-request-id"]}
    assert len(ids) == 2 and all(len(i) == 32 for i in ids)
    logged = {json.loads(line)["request_id"] for line in log_lines.getvalue().splitlines()}
    assert ids <= logged
