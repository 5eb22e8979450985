"""Hostile and careless input, endpoint by endpoint: each case is refused with a 4xx and the
problem list naming what is wrong, and the ledger is left exactly as it was. Never a 500, never a
wrapped number.

The cases are the ones seen when the API was tried as a hostile client (issue 13)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.settings import get_settings
from storage import session
from tests.ledger_fixtures import BACKENDS, CATALOG, point_the_api_at

KEY = "hostile-key-0123456789abcdef"
AUTH = {"X-API-Key": KEY}
AS_OF = "2026-11-27T05:00:00Z"
FEED_QUERY = {"source": "erp", "basis": "physical", "as_of": AS_OF}
SOLVE_EXAMPLE = json.loads(
    (Path(__file__).parent / "data" / "contract_example_request.json").read_text()
)
DEEP = b"[" * 5000 + b"]" * 5000


@pytest.fixture(params=BACKENDS)
def client(request, tmp_path, monkeypatch) -> TestClient:
    point_the_api_at(request.param, tmp_path / "hostile.db", monkeypatch)
    monkeypatch.setenv("OMNIBROKER_API_KEYS", KEY)
    monkeypatch.setenv("OMNIBROKER_FEED_INBOX", str(tmp_path))
    get_settings.cache_clear()
    session.dispose_all()
    client = TestClient(create_app(), raise_server_exceptions=True)
    assert client.put("/v1/catalog", content=orjson.dumps(CATALOG), headers=AUTH).status_code == 200
    feed = b"location_id,sku,quantity\nS-017,TSHIRT,5\nWH-EAST,TSHIRT,7\n"
    assert csv_feed(client, feed).status_code == 200
    yield client
    get_settings.cache_clear()
    session.dispose_all()


def csv_feed(client: TestClient, body: bytes):
    return client.post(
        "/v1/feeds", params=FEED_QUERY, content=body, headers={**AUTH, "Content-Type": "text/csv"}
    )


def json_feed(client: TestClient, rows: list[dict[str, Any]]):
    document = {"source": "erp", "basis": "physical", "as_of": AS_OF, "rows": rows}
    return client.post("/v1/feeds", content=json.dumps(document).encode(), headers=AUTH)


def state(client: TestClient) -> Any:
    """Everything a refused write could have touched: the ledger's version and every position."""
    snapshot = client.get("/v1/snapshots/current").json()
    return snapshot["version"], snapshot["rows"], client.get("/v1/availability").json()


def refused(response, status: int = 422) -> list[str]:
    """The places named by a refusal (``line.3.quantity``), after checking its shape."""
    assert response.status_code == status, response.text
    problems = response.json()["detail"]
    assert problems and all({"loc", "msg", "type"} <= set(p) for p in problems)
    return [".".join(str(part) for part in p["loc"]) for p in problems]


def assert_refused_and_unchanged(client: TestClient, send, status: int = 422) -> list[str]:
    before = state(client)
    places = refused(send(), status)
    assert state(client) == before
    return places


# --- feeds ------------------------------------------------------------------------------------


@pytest.mark.parametrize("quantity", [2**63, 2**64, 10**20, 1_000_000_001])
def test_csv_feed_quantity_past_the_limit_is_refused_not_wrapped(client, quantity):
    body = f"location_id,sku,quantity\nS-017,TSHIRT,1\nS-017,HAT,{quantity}\n".encode()
    assert assert_refused_and_unchanged(client, lambda: csv_feed(client, body)) == [
        "line.3.quantity"
    ]


@pytest.mark.parametrize("quantity", [2**63 - 1, 1_000_000_001])
def test_json_feed_quantity_past_the_limit_is_refused(client, quantity):
    rows = [{"location_id": "S-017", "sku": "TSHIRT", "quantity": quantity}]
    places = assert_refused_and_unchanged(client, lambda: json_feed(client, rows))
    assert places == ["rows.0.quantity"]


def test_json_feed_number_past_int64_is_refused_as_the_document(client):
    rows = [{"location_id": "S-017", "sku": "TSHIRT", "quantity": 2**64}]
    response = json_feed(client, rows)
    assert refused(response) == [""]
    assert "integer overflow" in response.json()["detail"][0]["msg"]


def test_feed_listing_a_position_twice_is_refused_with_both_lines(client):
    body = b"location_id,sku,quantity\nS-017,TSHIRT,1\nS-017,HAT,2\nS-017,TSHIRT,3\n"
    response = csv_feed(client, body)
    assert assert_refused_and_unchanged(client, lambda: csv_feed(client, body)) == ["line.4"]
    assert "line 4: the same location and sku as line 2" in response.text


def test_json_feed_listing_a_position_twice_is_refused(client):
    rows = [{"location_id": "S-017", "sku": "TSHIRT", "quantity": 1}] * 2
    assert len(assert_refused_and_unchanged(client, lambda: json_feed(client, rows))) == 1


def test_json_feed_with_a_character_across_the_read_boundary_loads(client):
    """A valid feed over 1 MiB whose two-byte character straddles the 1 MiB read boundary."""
    head = f'{{"source": "erp", "basis": "physical", "as_of": "{AS_OF}", "rows": ['
    row = '{"location_id": "S-017", "sku": "%s", "quantity": 1}'
    rows, size, n = [], len(head), 0
    while size < (1 << 20) - 200:
        rows.append(row % f"SKU-{n:07d}")
        size += len(rows[-1]) + 2
        n += 1
    prefix = (head + ", ".join(rows) + ", ").encode()
    # the sku's "é" starts on the last byte of the first MiB
    opening = (row % "").split('"sku": "')[0].encode() + b'"sku": "'
    pad = (1 << 20) - 1 - len(prefix) - len(opening)
    last = opening + b"X" * pad + "é".encode() + b'", "quantity": 1}]}'
    body = prefix + last
    assert body[(1 << 20) - 1 : (1 << 20) + 1] == "é".encode()
    response = client.post("/v1/feeds", content=body, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json()["rows"] == n + 1
    sku = "X" * pad + "é"
    assert client.get(f"/v1/positions/S-017/{sku}").json()["on_hand"] == 1


@pytest.mark.parametrize(
    "body",
    [
        b'location_id,sku,quantity\nS-017,"TSHIRT,1\nS-017,HAT,2\n',  # unbalanced quote
        b"location_id,sku,quantity\nS-017,T\xff\xfeSHIRT,1\n",  # not UTF-8
        b"location_id,sku,quantity\nS-017,TSHIRT,1,9\n",  # a field too many
        b"",
    ],
    ids=["unbalanced-quote", "invalid-utf8", "extra-field", "empty"],
)
def test_malformed_csv_feed_is_refused(client, body):
    assert_refused_and_unchanged(client, lambda: csv_feed(client, body))


@pytest.mark.parametrize(
    "body",
    [b'{"source": "erp", "rows": [{"sku": "\xff"}]}', DEEP, b'{"rows": 5}', b"[1, 2]", b"{"],
    ids=["invalid-utf8", "nested-5000", "rows-not-a-list", "not-an-object", "truncated"],
)
def test_malformed_json_feed_is_refused(client, body):
    assert_refused_and_unchanged(
        client, lambda: client.post("/v1/feeds", content=body, headers=AUTH)
    )


# --- events -----------------------------------------------------------------------------------


def variance(event_id: str, quantity: Any, reason: str = "found") -> dict[str, Any]:
    return {"id": event_id, "kind": "variance", "reason": reason, "location_id": "S-017",
            "sku": "TSHIRT", "quantity": quantity, "occurred_at": "2026-11-27T09:00:00Z"}  # fmt: skip


def events(client: TestClient, body: Any):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post("/v1/events", content=content, headers=AUTH)


@pytest.mark.parametrize("quantity", [2**63, 2**63 - 1, 10**20, 1_000_000_001])
def test_event_quantity_past_the_limit_is_refused_not_wrapped(client, quantity):
    batch = [variance("V-1", 1), variance("V-2", quantity)]
    assert assert_refused_and_unchanged(client, lambda: events(client, batch)) == [
        "events.1.quantity"
    ]


def test_found_variances_that_would_take_on_hand_past_the_limit_are_refused_not_wrapped(client):
    # The ledger keeps positions within the contract's 1e9 too (docs/inventory.md, "Limits").
    batch = [variance("V-1", 999_999_995), variance("V-2", 1_000_000_000)]
    assert assert_refused_and_unchanged(client, lambda: events(client, batch)) == [
        "events.1.quantity"
    ]


def test_count_of_zero_is_a_valid_count(client):
    assert events(client, [variance("C-1", 0, "count")]).status_code == 200
    assert client.get("/v1/positions/S-017/TSHIRT").json()["on_hand"] == 0


@pytest.mark.parametrize(
    "body",
    [DEEP, b"\xff\xfe[]", b'[{"kind": ["sale"]}]', b'{"events": 5}', b"[1, 2, 3"],
    ids=["nested-5000", "invalid-utf8", "unhashable-kind", "events-not-a-list", "truncated"],
)
def test_malformed_event_batch_is_refused(client, body):
    assert_refused_and_unchanged(client, lambda: events(client, body))


# --- catalog, orders --------------------------------------------------------------------------


@pytest.mark.parametrize("value", [2**63, 2**64, 10**20, 1_000_000_001])
def test_catalog_safety_stock_past_the_limit_is_refused(client, value):
    catalog = {"skus": [{"sku": "TSHIRT", "safety_stock": value}]}
    places = assert_refused_and_unchanged(
        client,
        lambda: client.put("/v1/catalog", content=json.dumps(catalog).encode(), headers=AUTH),
    )
    assert places == ["skus.0.safety_stock"]


def test_catalog_nested_5000_deep_is_refused(client):
    assert_refused_and_unchanged(
        client, lambda: client.put("/v1/catalog", content=DEEP, headers=AUTH)
    )


def ship_order(quantity: Any) -> dict[str, Any]:
    return {"id": "SO-1", "delivery": "ship", "ship_to": {"lat": 40.7, "lon": -74.0},
            "lines": [{"id": "1", "sku": "TSHIRT", "quantity": quantity}]}  # fmt: skip


@pytest.mark.parametrize("quantity", [2**63, 2**64, 10**20, 1_000_000_001])
def test_order_quantity_past_the_limit_is_refused(client, quantity):
    body = json.dumps(ship_order(quantity)).encode()
    places = assert_refused_and_unchanged(
        client, lambda: client.post("/v1/orders", content=body, headers=AUTH)
    )
    assert places == ["lines.0.quantity"]
    assert client.get("/v1/orders/SO-1").status_code == 404


def test_order_problems_are_reported_all_at_once(client):
    order = ship_order(0)
    del order["ship_to"]
    body = json.dumps({"orders": [order]}).encode()
    places = assert_refused_and_unchanged(
        client, lambda: client.post("/v1/orders", content=body, headers=AUTH)
    )
    assert places == ["orders.0.lines.0.quantity", "orders.0.ship_to"]


def test_orders_nested_5000_deep_are_refused(client):
    assert_refused_and_unchanged(
        client, lambda: client.post("/v1/orders", content=DEEP, headers=AUTH)
    )


# --- solve ------------------------------------------------------------------------------------


def solve(client: TestClient, mutate) -> Any:
    request = copy.deepcopy(SOLVE_EXAMPLE)
    mutate(request)
    return client.post("/v1/solve", content=json.dumps(request).encode())


def test_solve_lines_of_two_to_the_62_units_are_refused(client):
    def mutate(request: Any) -> None:
        request["orders"][0]["lines"] = [
            {"id": "1", "sku": "TSHIRT-BLUE-XL", "quantity": 2**62},
            {"id": "2", "sku": "TSHIRT-BLUE-XL", "quantity": 2**62},
        ]

    assert refused(solve(client, mutate)) == [
        "orders.0.lines.0.quantity",
        "orders.0.lines.1.quantity",
    ]


def test_solve_costs_of_1e308_are_refused_not_answered_with_null(client):
    def mutate(request: Any) -> None:
        request["locations"][0]["shipment_cost"] = 1e308
        request["policy"]["cost_per_km"] = 1e308

    assert refused(solve(client, mutate)) == ["locations.0.shipment_cost", "policy.cost_per_km"]


@pytest.mark.parametrize(
    "path", ["inventory.0.quantity", "locations.1.max_units", "locations.1.max_shipments"]
)
@pytest.mark.parametrize("value", [2**63, 2**64 - 1, 2**64])
def test_solve_numbers_past_int64_are_refused(client, path, value):
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]

    def mutate(request: Any) -> None:
        node = request
        for part in parents:
            node = node[part]
        node[last] = value

    assert refused(solve(client, mutate)) == [path]


def test_solve_nested_5000_deep_is_refused(client):
    refused(client.post("/v1/solve", content=DEEP))


# --- runs, morning run, reads -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "place"),
    [
        ({"feeds": 5}, "feeds"),
        ({"feeds": [{"file": "erp\x00.csv"}]}, "feeds.0.file"),
        ({"feeds": [{"file": "../../etc/passwd"}]}, "feeds.0.file"),
        ({"feeds": [{"file": "nowhere.csv"}, {"file": "nothing.json"}]}, "feeds.0.file"),
        ({"policy": 5}, "policy"),
        ({"policy": {"time_limit_s": 1e308}}, "policy.time_limit_s"),
    ],
)
def test_bad_morning_run_is_refused(client, body, place):
    places = assert_refused_and_unchanged(
        client,
        lambda: client.post("/v1/morning-run", content=json.dumps(body).encode(), headers=AUTH),
    )
    assert places[0] == place


def test_every_missing_inbox_file_is_named_at_once(client):
    body = {"feeds": [{"file": "nowhere.csv"}, {"file": "nothing.json"}]}
    response = client.post("/v1/morning-run", content=json.dumps(body).encode(), headers=AUTH)
    assert refused(response) == ["feeds.0.file", "feeds.1.file"]


def test_bad_brokering_run_policy_is_refused(client):
    body = json.dumps({"policy": {"relative_gap": 2, "cost_per_km": -1}}).encode()
    places = assert_refused_and_unchanged(
        client, lambda: client.post("/v1/brokering-runs", content=body, headers=AUTH)
    )
    assert places == ["policy.cost_per_km", "policy.relative_gap"]


@pytest.mark.parametrize("since", [str(2**64), str(2**63), "-1", "²", "1e3"])
@pytest.mark.parametrize("path", ["/v1/availability", "/v1/availability.csv"])
def test_availability_cursor_out_of_range_is_refused(client, path, since):
    assert refused(client.get(path, params={"since": since})) == ["query.since"]


@pytest.mark.parametrize("run_id", [str(2**63), str(2**64), "0", "-1", "%C2%B2"])
def test_brokering_run_id_out_of_range_is_refused(client, run_id):
    assert refused(client.get(f"/v1/brokering-runs/{run_id}")) == ["path.run_id"]


@pytest.mark.parametrize("version", ["%C2%B2", "%D9%A3", "3.0", str(2**63), "-1", "CURRENT"])
def test_snapshot_version_is_ascii_digits_or_current(client, version):
    assert refused(client.get(f"/v1/snapshots/{version}")) == ["path.version"]


def test_snapshot_beyond_the_current_version_is_404(client):
    current = client.get("/v1/snapshots/current").json()["version"]
    assert client.get(f"/v1/snapshots/{current}").status_code == 200
    places = refused(client.get(f"/v1/snapshots/{current + 1}"), 404)
    assert places == ["path.version"]
    refused(client.get("/v1/snapshots/999"), 404)


@pytest.mark.parametrize(
    "path", ["/v1/orders/" + "x" * 201, "/v1/positions/" + "x" * 201 + "/TSHIRT"]
)
def test_ids_longer_than_200_characters_are_refused(client, path):
    refused(client.get(path))


def test_unknown_ids_are_404_with_a_problem_list(client):
    for path in ("/v1/orders/SO-NONE", "/v1/brokering-runs/7", "/v1/positions/S-017/NONE"):
        refused(client.get(path), 404)


def test_nul_characters_in_ids_are_refused_everywhere(client):
    """PostgreSQL cannot store a NUL in text: refused at the edge, on SQLite alike."""
    event = [variance("V\u0000", 1)]
    order = ship_order(1) | {"id": "SO\u0000"}
    catalog = {"skus": [{"sku": "Z\u0000"}]}
    sends = [
        lambda: events(client, event),
        lambda: client.post("/v1/orders", content=json.dumps(order).encode(), headers=AUTH),
        lambda: client.put("/v1/catalog", content=json.dumps(catalog).encode(), headers=AUTH),
        lambda: csv_feed(client, b"location_id,sku,quantity\nS-017,A\x00B,1\n"),
        lambda: client.get("/v1/positions/S-017/A%00B"),
        lambda: client.get("/v1/orders/SO%00"),
    ]
    for send in sends:
        (place,) = assert_refused_and_unchanged(client, send)
        assert place.endswith(("id", "sku", "order_id", "events.0.id"))


# --- the documentation ------------------------------------------------------------------------


def test_docs_are_served_from_the_installed_package_not_a_cdn(client):
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assert "cdn" not in html.lower() and "https://" not in html
    assert client.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200
    assert client.get("/static-offline-docs/redoc.standalone.js").status_code == 200


def test_every_write_declares_its_body_security_and_refusals(client):
    document = client.get("/openapi.json").json()
    assert {"ApiKey", "Bearer"} <= set(document["components"]["securitySchemes"])
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method in ("post", "put") and path != "/v1/availability/publish":
                assert "requestBody" in operation, (method, path)
            codes = set(operation["responses"])
            if path.startswith("/v1/"):
                assert "422" in codes, (method, path)
            if path.startswith("/v1/") and path != "/v1/solve":
                assert {"401", "403"} <= codes, (method, path)
                assert operation.get("security"), (method, path)
    feeds = document["paths"]["/v1/feeds"]["post"]["requestBody"]["content"]
    assert {"application/json", "text/csv"} <= set(feeds)
    csv = document["paths"]["/v1/availability.csv"]["get"]["responses"]["200"]["content"]
    assert "text/csv" in csv
