"""The order updates feed (inventory contract, "Snapshots and the outbound feed"): what became of
each order, by cursor: queued, brokered, partly brokered with what is open and why, rejected by a
location and brokered again, shipped; over the API and on the command line."""

from __future__ import annotations

import orjson

from cli.main import main
from services.brokering import run_brokering
from storage.events import apply_event_batch
from storage.order_updates import read_updates
from storage.orders import submit_orders
from tests.ledger_fixtures import batch, event, feed, ledger, ship_order
from tests.test_inventory_api import AUTH, client, configure

__all__ = ["client", "configure", "ledger"]

T0 = "2026-11-27T05:00:00Z"


def statuses(engine, since: int = 0) -> list[tuple[str, str]]:
    return [(u.order_id, u.status) for u in read_updates(engine, since).updates]


def test_order_updates_feed_tells_queued_brokered_rejected_brokered_again_and_shipped(ledger):
    feed(ledger, [("WH-EAST", "TEE", 2), ("S-017", "TEE", 2)], T0)
    submit_orders(ledger, ship_order("SO-1", "TEE", 2))
    first = run_brokering(ledger)
    where = first.result["allocations"][0]["location_id"]
    other = ({"WH-EAST", "S-017"} - {where}).pop()
    rejection = event("rj", "rejected", where, "2026-11-27T12:00:00Z", sku="TEE", quantity=2,
                      order_id="SO-1", line_id="1")  # fmt: skip
    apply_event_batch(ledger, batch(rejection))
    run_brokering(ledger)
    shipment = event("sh", "shipped", other, "2026-11-27T14:00:00Z", sku="TEE", quantity=2,
                     order_id="SO-1", line_id="1")  # fmt: skip
    apply_event_batch(ledger, batch(shipment))
    page = read_updates(ledger)
    assert [u.status for u in page.updates] == [
        "queued", "brokered", "rejected", "brokered", "shipped",
    ]  # fmt: skip
    _, brokered, rejected, again, shipped = page.updates
    assert [(x.line_id, x.location_id, x.quantity) for x in brokered.lines] == [("1", where, 2)]
    assert [(x.location_id, x.quantity) for x in rejected.lines] == [(where, 2)]
    assert again.brokered_again and not brokered.brokered_again
    assert [(x.location_id, x.quantity) for x in again.lines] == [(other, 2)]
    assert [(x.location_id, x.quantity) for x in shipped.lines] == [(other, 2)]
    assert page.cursor == shipped.cursor
    # By cursor: only what came after.
    assert statuses(ledger, since=rejected.cursor) == [("SO-1", "brokered"), ("SO-1", "shipped")]
    assert read_updates(ledger, since=page.cursor).updates == []


def test_partly_brokered_update_says_what_is_open_and_why(ledger):
    feed(ledger, [("WH-EAST", "TEE", 1)], T0)
    submit_orders(ledger, ship_order("SO-1", "TEE", 3))
    run_brokering(ledger)
    update = read_updates(ledger).updates[-1]
    assert update.status == "partly_brokered"
    assert [(x.location_id, x.quantity) for x in update.lines] == [("WH-EAST", 1)]
    assert [(x.line_id, x.quantity, x.reason) for x in update.open] == [("1", 2, "out_of_stock")]


def test_order_updates_are_read_by_cursor_over_the_api(client):
    client.post("/v1/orders", content=orjson.dumps(ship_order("SO-1", "TEE", 1)), headers=AUTH)
    client.post("/v1/orders", content=orjson.dumps(ship_order("SO-2", "TEE", 1)), headers=AUTH)
    page = client.get("/v1/order-updates", params={"since": 0}).json()
    assert [(u["order_id"], u["status"]) for u in page["updates"]] == [
        ("SO-1", "queued"), ("SO-2", "queued"),
    ]  # fmt: skip
    after = client.get("/v1/order-updates", params={"since": page["updates"][0]["cursor"]}).json()
    assert [u["order_id"] for u in after["updates"]] == ["SO-2"]
    assert after["cursor"] == page["cursor"]


def test_order_updates_on_the_command_line(tmp_path, capsys):
    from tests.ledger_fixtures import CATALOG

    path = str(tmp_path / "cli.db")
    catalog = tmp_path / "catalog.json"
    catalog.write_bytes(orjson.dumps(CATALOG))
    orders = tmp_path / "orders.json"
    orders.write_bytes(orjson.dumps(ship_order("SO-1", "TEE", 1)))
    assert main(["catalog", "load", str(catalog), "--db", path]) == 0
    assert main(["orders", "submit", str(orders), "--db", path]) == 0
    capsys.readouterr()
    assert main(["orders", "updates", "--since", "0", "--db", path]) == 0
    page = orjson.loads(capsys.readouterr().out)
    assert [(u["order_id"], u["status"]) for u in page["updates"]] == [("SO-1", "queued")]
