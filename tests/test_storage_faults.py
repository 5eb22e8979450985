"""Faults with real processes and a real database file: a feed load killed half-way, an event
batch delivered twice at once, two brokering runs started together."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from sqlalchemy import text

from benchmarks.resources import fresh_postgres
from models.inventory import parse_catalog
from storage.catalog import apply_catalog
from storage.db import make_engine
from storage.migrate import upgrade
from storage.orders import submit_orders
from storage.snapshots import snapshot
from tests.ledger_fixtures import BACKENDS, CATALOG, POSTGRES_URL, feed

pytestmark = pytest.mark.slow

# The inventory commands in a process of their own (the same handlers `omnibroker` runs).
CLI_CODE = (
    "import argparse, sys\n"
    "from cli import brokering, inventory\n"
    "parser = argparse.ArgumentParser(prog='omnibroker')\n"
    "commands = parser.add_subparsers(required=True)\n"
    "inventory.register(commands)\n"
    "brokering.register(commands)\n"
    "args = parser.parse_args(sys.argv[1:])\n"
    "sys.exit(args.handler(args))\n"
)
ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CLI_CODE, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


def database(tmp_path: Path, backend: str, locations: int = 0):
    """A migrated database with the test catalog; returns (engine, what --db takes)."""
    if backend == "postgres":
        assert POSTGRES_URL is not None
        engine, target = fresh_postgres(POSTGRES_URL), POSTGRES_URL
    else:
        path = tmp_path / "ledger.db"
        engine, target = make_engine(f"sqlite:///{path}"), str(path)
    upgrade(engine)
    catalog = dict(CATALOG)
    catalog["locations"] = CATALOG["locations"] + [
        {"id": f"S-{i:04d}", "kind": "store", "lat": 40 + i / 1000, "lon": -74.0}
        for i in range(locations)
    ]
    apply_catalog(engine, parse_catalog(catalog))
    return engine, target


def ledger_lock_held(engine) -> bool:
    """Whether some process holds the ledger's write lock right now."""
    from storage.db import LEDGER_LOCK_KEY, is_sqlite

    with engine.connect() as connection:
        if not is_sqlite(connection):
            held = connection.execute(
                text(
                    "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = :key AND granted"
                ),
                {"key": LEDGER_LOCK_KEY},
            ).scalar_one()
            return held > 0
        raw = connection.connection.driver_connection
        raw.execute("PRAGMA busy_timeout = 0")
        try:
            raw.execute("BEGIN IMMEDIATE")
        except Exception:  # "database is locked": a writer is at work
            return True
        raw.execute("ROLLBACK")
        return False


def wait_until_it_writes(engine, process: subprocess.Popen) -> None:
    """Return once ``process`` holds the ledger's write lock: it is in its write transaction.
    Fails if the process ends first (the work was too small to be caught half-way)."""
    deadline = time.monotonic() + 120  # a guard against a hang, not a measure
    while not ledger_lock_held(engine):
        assert process.poll() is None, (
            "it finished before it could be caught writing: " + process.communicate()[1].decode()
        )
        assert time.monotonic() < deadline, "it never took the ledger's write lock"
        time.sleep(0.01)


def test_feed_load_killed_half_way_leaves_previous_state_intact(tmp_path, backend):
    engine, path = database(tmp_path, backend, locations=40)
    feed(engine, [("S-017", "TEE", 5), ("WH-EAST", "TEE", 9)], "2026-11-27T05:00:00Z")
    before = snapshot(engine).to_frame()
    big = tmp_path / "big.csv"
    with big.open("w") as out:
        out.write("location_id,sku,quantity\n")
        for i in range(40):
            out.write("".join(f"S-{i:04d},SKU-{j:05d},{j % 7}\n" for j in range(50_000)))
    process = cli("feed", "load", str(big), "--source", "erp", "--basis", "physical",
                  "--as-of", "2026-11-28T05:00:00Z", "--db", path)  # fmt: skip
    wait_until_it_writes(engine, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    engine.dispose()
    after = snapshot(engine).to_frame()
    assert after.equals(before)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM feeds")).scalar_one() == 1
    # The lock died with the process: the next writer goes ahead.
    feed(engine, [("S-017", "TEE", 4)], "2026-11-28T06:00:00Z")
    assert (
        snapshot(engine)
        .to_frame()
        .set_index(["location_id", "sku"])
        .loc[("S-017", "TEE"), "on_hand"]
        == 4
    )


def test_same_event_batch_delivered_twice_changes_nothing_the_second_time(tmp_path, backend):
    engine, path = database(tmp_path, backend)
    feed(engine, [("S-017", f"SKU-{j}", 100) for j in range(50)], "2026-11-27T05:00:00Z")
    events = [
        {"id": f"pos-{i}", "kind": "sale", "location_id": "S-017", "sku": f"SKU-{i % 50}", "quantity": 1,
         "occurred_at": f"2026-11-27T09:{i // 60 % 60:02d}:{i % 60:02d}Z"}
        for i in range(2000)
    ]  # fmt: skip
    batch = tmp_path / "batch.jsonl"
    batch.write_bytes(b"\n".join(orjson.dumps(e) for e in events))
    # Both deliveries at once, from two processes.
    first, second = (
        cli("events", "apply", str(batch), "--db", path),
        cli("events", "apply", str(batch), "--db", path),
    )
    results = []
    for process in (first, second):
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err.decode()
        results.append(orjson.loads(out))
    assert sorted(len(r["duplicates"]) for r in results) == [0, 2000]
    frame = snapshot(engine).to_frame()
    assert frame["on_hand"].sum() == 50 * 100 - 2000
    with engine.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM events")).scalar_one() == 2000
        applied = connection.execute(text("SELECT COUNT(*) FROM events WHERE outcome = 'applied'"))
        assert applied.scalar_one() == 2000
    # A third delivery, later: still nothing.
    third = cli("events", "apply", str(batch), "--db", path)
    out, _ = third.communicate(timeout=120)
    assert len(orjson.loads(out)["duplicates"]) == 2000
    assert snapshot(engine).to_frame()["on_hand"].sum() == 50 * 100 - 2000


def test_two_concurrent_brokering_runs_never_double_allocate(tmp_path, backend):
    engine, path = database(tmp_path, backend, locations=10)
    skus = [f"SKU-{j}" for j in range(20)]
    stores = [f"S-{i:04d}" for i in range(10)]
    feed(
        engine, [(s, sku, 3) for s in [*stores, "WH-EAST"] for sku in skus], "2026-11-27T05:00:00Z"
    )
    orders = [
        {"id": f"SO-{n}", "priority": n % 3, "delivery": "ship", "ship_to": {"lat": 40.5, "lon": -74.2},
         "lines": [{"id": "1", "sku": skus[n % 20], "quantity": 1 + n % 3},
                   {"id": "2", "sku": skus[(n * 7) % 20], "quantity": 1}]}
        for n in range(600)
    ]  # fmt: skip
    submit_orders(engine, {"orders": orders[:300]})
    first = cli("broker", "--time-limit", "5", "--db", path)
    submit_orders(engine, {"orders": orders[300:]})  # more orders arrive as it starts
    second = cli("broker", "--time-limit", "5", "--db", path)
    runs = []
    for process in (first, second):
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err.decode()
        runs.append(orjson.loads(out))
    # The runs may solve on the same snapshot (neither stops the ledger); their commits take
    # turns and each cuts back what the other reserved first: no unit is promised twice.
    with engine.connect() as connection:
        over_promised = connection.execute(
            text(
                "SELECT COUNT(*) FROM positions p WHERE p.reserved > p.on_hand OR p.reserved <>"
                " (SELECT COALESCE(SUM(r.open_quantity), 0) FROM reservations r"
                "  WHERE r.location_id = p.location_id AND r.sku_id = p.sku_id)"
            )
        ).scalar_one()
        over_allocated_lines = connection.execute(
            text(
                "SELECT COUNT(*) FROM order_lines l WHERE l.allocated > l.quantity OR l.allocated <>"
                " (SELECT COALESCE(SUM(r.quantity), 0) FROM reservations r"
                "  WHERE r.order_id = l.order_id AND r.line_id = l.line_id)"
            )
        ).scalar_one()
        reserved = connection.execute(text("SELECT SUM(reserved) FROM positions")).scalar_one()
    assert over_promised == 0
    assert over_allocated_lines == 0
    total_stock = 11 * 20 * 3
    assert 0 < reserved <= total_stock
    assert runs[0]["summary"]["units_allocated"] + runs[1]["summary"]["units_allocated"] == reserved


def test_brokering_run_killed_half_way_leaves_no_reservation(tmp_path, backend):
    engine, path = database(tmp_path, backend, locations=20)
    skus = [f"SKU-{j}" for j in range(100)]
    feed(
        engine, [(f"S-{i:04d}", sku, 2) for i in range(20) for sku in skus], "2026-11-27T05:00:00Z"
    )
    orders = [
        {"id": f"SO-{n}", "delivery": "ship", "ship_to": {"lat": 40.5 + n % 7 / 10, "lon": -74.2},
         "lines": [{"id": "1", "sku": skus[n % 100], "quantity": 1}, {"id": "2", "sku": skus[(n * 3 + 1) % 100], "quantity": 1}]}
        for n in range(3000)
    ]  # fmt: skip
    submit_orders(engine, {"orders": orders})
    process = cli("broker", "--time-limit", "30", "--db", path)
    wait_until_it_writes(engine, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    engine.dispose()
    with engine.connect() as connection:
        counts = [
            connection.execute(text(sql)).scalar_one()
            for sql in (
                "SELECT COUNT(*) FROM reservations",
                "SELECT COUNT(*) FROM brokering_runs",
                "SELECT COALESCE(SUM(reserved), 0) FROM positions",
                "SELECT COUNT(*) FROM orders WHERE status <> 'queued'",
                "SELECT COALESCE(SUM(allocated), 0) FROM order_lines",
            )
        ]
    assert counts == [0, 0, 0, 0, 0]
    # The next run goes ahead and brokers the queue.
    again = cli("broker", "--time-limit", "30", "--db", path)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err.decode()
    assert orjson.loads(out)["summary"]["units_allocated"] > 0
