"""The ledger over HTTP: access control, size limit, and the workflow end to end."""

from __future__ import annotations

import orjson
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.settings import get_settings
from storage import session
from tests.ledger_fixtures import BACKENDS, CATALOG, point_the_api_at, ship_order

KEY = "test-key-0123456789abcdef"
OTHER_KEY = "second-key-0123456789abcdef"
AUTH = {"X-API-Key": KEY}


@pytest.fixture(params=BACKENDS)
def configure(request, tmp_path, monkeypatch):
    """Returns a function making a client with the given settings on a fresh database."""
    point_the_api_at(request.param, tmp_path / "api.db", monkeypatch)
    monkeypatch.setenv("OMNIBROKER_API_KEYS", f"{KEY}, {OTHER_KEY}")

    def make(**env: str) -> TestClient:
        for name, value in env.items():
            monkeypatch.setenv(f"OMNIBROKER_{name.upper()}", value)
        get_settings.cache_clear()
        session.dispose_all()
        return TestClient(create_app())

    yield make
    get_settings.cache_clear()
    session.dispose_all()


@pytest.fixture
def client(configure) -> TestClient:
    client = configure()
    assert client.put("/v1/catalog", content=orjson.dumps(CATALOG), headers=AUTH).status_code == 200
    return client


def csv_feed(client: TestClient, body: str, as_of: str, basis: str = "physical"):
    return client.post(
        "/v1/feeds",
        params={"source": "erp", "basis": basis, "as_of": as_of},
        content=("location_id,sku,quantity\n" + body).encode(),
        headers={**AUTH, "Content-Type": "text/csv"},
    )


def test_change_without_api_key_is_401(client):
    response = client.post("/v1/events", content=b"[]")
    assert response.status_code == 401
    assert response.json()["detail"][0]["type"] == "missing_api_key"


def test_change_with_wrong_api_key_is_403(client):
    response = client.post(
        "/v1/events", content=b"[]", headers={"X-API-Key": "not-a-key-of-ours-at-all"}
    )
    assert response.status_code == 403


def test_every_configured_key_is_accepted(client):
    for key in (KEY, OTHER_KEY):
        assert (
            client.post(
                "/v1/events", content=b"[]", headers={"Authorization": f"Bearer {key}"}
            ).status_code
            == 200
        )


def test_reads_are_open_or_closed_by_setting(configure):
    open_client = configure()
    assert open_client.get("/v1/availability").status_code == 200
    closed = configure(reads_open="false")
    assert closed.get("/v1/availability").status_code == 401
    assert closed.get("/v1/availability", headers=AUTH).status_code == 200


def test_body_over_the_limit_is_413(configure):
    client = configure(max_body_bytes="1000")
    response = client.post("/v1/events", content=b"[" + b" " * 2000 + b"]", headers=AUTH)
    assert response.status_code == 413


def test_chunked_body_over_the_limit_is_413(configure):
    client = configure(max_body_bytes="1000")

    def chunks():
        for _ in range(10):
            yield b" " * 500

    response = client.post("/v1/events", content=chunks(), headers=AUTH)
    assert response.status_code == 413


def test_feed_with_bad_rows_is_422_with_line_numbers(client):
    response = csv_feed(client, "S-017,TEE,1\nS-999,TEE,2\nS-017,CAP,x\n", "2026-11-27T05:00:00Z")
    assert response.status_code == 422
    assert [p["loc"] for p in response.json()["detail"]] == [
        ["line", 3, "location_id"],
        ["line", 4, "quantity"],
    ]


def test_event_batch_with_bad_row_is_422(client):
    body = orjson.dumps([{"id": "p1", "kind": "sale", "location_id": "S-017", "sku": "TEE", "quantity": -1,
                          "occurred_at": "2026-11-27T09:00:00Z"}])  # fmt: skip
    response = client.post("/v1/events", content=body, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["events", 0, "quantity"]


def test_feed_events_orders_run_and_availability_end_to_end(client):
    assert (
        csv_feed(client, "WH-EAST,TEE,10\nS-017,TEE,3\n", "2026-11-27T05:00:00Z").status_code == 200
    )
    sale = {"id": "p1", "kind": "sale", "location_id": "S-017", "sku": "TEE", "quantity": 1,
            "occurred_at": "2026-11-27T09:00:00Z"}  # fmt: skip
    lines = orjson.dumps(sale) + b"\n"
    applied = client.post(
        "/v1/events", content=lines, headers={**AUTH, "Content-Type": "application/x-ndjson"}
    )
    assert applied.json()["outcomes"] == {"applied": 1}
    assert client.post("/v1/events", content=lines, headers=AUTH).json()["duplicates"] == ["p1"]

    position = client.get("/v1/positions/S-017/TEE").json()
    assert (position["on_hand"], position["atp"]) == (2, 2)
    history = client.get("/v1/positions/S-017/TEE/history").json()["changes"]
    assert [c["cause"] for c in history] == ["feed", "sale"]

    queued = client.post(
        "/v1/orders", content=orjson.dumps({"orders": [ship_order("SO-1", "TEE", 4)]}), headers=AUTH
    )
    assert queued.status_code == 202 and queued.json()["accepted"] == ["SO-1"]
    run = client.post("/v1/brokering-runs", content=b"{}", headers=AUTH)
    assert run.status_code == 201
    run_id = run.json()["id"]
    result = client.get(f"/v1/brokering-runs/{run_id}").json()["result"]
    assert set(result) >= {
        "allocations",
        "unallocated",
        "remaining",
        "shipments",
        "summary",
        "solver",
    }
    assert sum(a["quantity"] for a in result["allocations"]) == 4
    assert client.get("/v1/orders/SO-1").json()["status"] == "brokered"

    published = client.post("/v1/availability/publish", headers=AUTH).json()
    full = client.get("/v1/availability").json()
    assert full["mode"] == "full" and full["cursor"] == published["cursor"]
    assert {r["sku"]: r["quantity"] for r in full["online"]} == {"TEE": 12 - 4}
    store_atp = client.get("/v1/positions/S-017/TEE").json()["atp"]
    pickup = {(r["location_id"], r["sku"]): r["quantity"] for r in full["pickup"]}
    assert pickup.get(("S-017", "TEE"), 0) == store_atp
    # A sale changes one store's pickup and the online total; the next changes list only those.
    sale2 = {**sale, "id": "p2", "location_id": "WH-EAST", "occurred_at": "2026-11-27T10:00:00Z"}
    client.post("/v1/events", content=orjson.dumps([sale2]), headers=AUTH)
    client.post("/v1/availability/publish", headers=AUTH)
    changes = client.get("/v1/availability", params={"since": full["cursor"]}).json()
    assert changes["mode"] == "changes"
    assert changes["online"] == [{"sku": "TEE", "quantity": 7}]
    assert changes["pickup"] == []  # the warehouse serves no pickup
    csv = client.get("/v1/availability.csv", params={"since": full["cursor"]})
    assert csv.text.splitlines() == ["scope,location_id,sku,quantity", "online,,TEE,7"]

    snapshot = client.get("/v1/snapshots/current", params={"sku": "TEE"}).json()
    atp = {r["location_id"]: r["atp"] for r in snapshot["rows"]}
    assert atp == {
        "WH-EAST": client.get("/v1/positions/WH-EAST/TEE").json()["atp"],
        "S-017": store_atp,
    }
    assert snapshot["version"] >= run.json()["version"]


def test_unknown_run_and_position_are_404(client):
    assert client.get("/v1/brokering-runs/999").status_code == 404
    assert client.get("/v1/positions/S-017/NOPE").status_code == 404


def test_orders_refused_whole_when_one_is_bad(client):
    bad = {"orders": [ship_order("SO-1", "TEE", 1), {"id": "SO-2", "delivery": "pickup",
           "pickup_location_id": "WH-EAST", "lines": [{"id": "1", "sku": "TEE", "quantity": 1}]}]}  # fmt: skip
    response = client.post("/v1/orders", content=orjson.dumps(bad), headers=AUTH)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["orders", 1, "pickup_location_id"]
    assert client.get("/v1/orders/SO-1").status_code == 404


def test_morning_run_endpoint_reads_feeds_from_the_inbox(configure, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "erp.csv").write_text("location_id,sku,quantity\nWH-EAST,TEE,5\n")
    client = configure(feed_inbox=str(inbox))
    client.put("/v1/catalog", content=orjson.dumps(CATALOG), headers=AUTH)
    client.post("/v1/orders", content=orjson.dumps(ship_order("SO-1", "TEE", 2)), headers=AUTH)
    body = {
        "feeds": [
            {
                "file": "erp.csv",
                "source": "erp",
                "basis": "physical",
                "as_of": "2026-11-27T05:00:00Z",
            }
        ]
    }
    report = client.post("/v1/morning-run", content=orjson.dumps(body), headers=AUTH)
    assert report.status_code == 200, report.text
    assert report.json()["summary"]["units_allocated"] == 2
    escape = {"feeds": [{"file": "../api.db"}]}
    assert (
        client.post("/v1/morning-run", content=orjson.dumps(escape), headers=AUTH).status_code
        == 422
    )


def test_empty_event_batch_over_the_api_does_not_bump_the_ledger_version(client):
    catalog = client.put("/v1/catalog", content=orjson.dumps(CATALOG), headers=AUTH).json()
    first = client.post("/v1/events", content=b"[]", headers=AUTH)
    second = client.post("/v1/events", content=b"[]", headers=AUTH)
    assert first.status_code == second.status_code == 200
    assert first.json()["version"] == second.json()["version"] == catalog["version"]
