"""Inventory ledger benchmark: prints figures, asserts nothing (not a timed test).

    python -m benchmarks.inventory_bench                      # the issue's sizes (10M positions)
    python -m benchmarks.inventory_bench --locations 100 --events 100000 --orders 5000   # quick
    python -m benchmarks.inventory_bench --postgres postgresql+psycopg://...   # both backends,
                                                                  # same inputs, one table

Steps and the targets of issues 4 and 10 (on 2 cores, SQLite and PostgreSQL):

1. load a full feed of locations x skus rows (CSV, streamed)       target <= 60 s at 1,000 x 10,000
2. apply delta events (JSON lines, one batch)                      target <= 30 s for 1,000,000
3. snapshot every position into arrays                             target <= 5 s for 10,000,000
4. morning run over queued orders: next day's feed, brokering,     target <= 120 s for 50,000
   publishing availability (the previous day's feed published first)

Inputs are generated with a fixed seed into a temporary directory; their generation is not timed.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from models.inventory import parse_catalog, parse_feed_header
from services.morning import MorningFeed, morning_run
from storage.availability import publish
from storage.catalog import apply_catalog
from storage.db import make_engine
from storage.events import apply_event_batch
from storage.feeds import load_feed_file
from storage.migrate import upgrade
from storage.orders import submit_orders
from storage.snapshots import snapshot

SERVER_NOTE = ": this process + the server's, if local"
TARGETS_S = {"feed": 60.0, "events": 30.0, "snapshot": 5.0, "morning_run": 120.0}


def write_feed(path: Path, locations: int, skus: int, rng: np.random.Generator) -> int:
    """A full feed, every location listing every sku, written location by location."""
    sku_codes = np.array([f"SKU-{j:06d}" for j in range(skus)], dtype=object)
    with path.open("w") as out:
        out.write("location_id,sku,quantity\n")
        for i in range(locations):
            quantity = rng.integers(0, 20, size=skus)
            out.write(
                "".join(
                    f"L-{i:05d},{s},{q}\n"
                    for s, q in zip(sku_codes, quantity.tolist(), strict=True)
                )
            )
    return locations * skus


def write_events(path: Path, n: int, locations: int, skus: int, rng: np.random.Generator) -> None:
    """Sales mostly, with found/damaged variances and receipts, after the feed's as_of."""
    location = rng.integers(0, locations, size=n)
    sku = rng.integers(0, skus, size=n)
    kind = rng.choice(np.array(["sale", "variance", "receipt"]), size=n, p=[0.85, 0.1, 0.05])
    reasons = rng.choice(np.array(["found", "damaged", "lost"]), size=n)
    second = rng.integers(0, 36_000, size=n)
    with path.open("wb") as out:
        for i in range(n):
            s = int(second[i])
            event = {
                "id": f"ev-{i}", "kind": str(kind[i]), "location_id": f"L-{int(location[i]):05d}",
                "sku": f"SKU-{int(sku[i]):06d}", "quantity": 1,
                "occurred_at": f"2026-11-27T{6 + s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}Z",
            }  # fmt: skip
            if kind[i] == "variance":
                event["reason"] = str(reasons[i])
            out.write(orjson.dumps(event) + b"\n")


def catalog(locations: int) -> dict:
    # One warehouse in 20; every location ships, stores serve pickup.
    return {
        "locations": [
            {"id": f"L-{i:05d}", "kind": "warehouse" if i % 20 == 0 else "store",
             "lat": 25.0 + (i * 7919 % 2300) / 100, "lon": -124.0 + (i * 104729 % 5600) / 100}
            for i in range(locations)
        ],
        "safety_stock_by_kind": {"store": 1},
    }  # fmt: skip


def orders(n: int, locations: int, skus: int, rng: np.random.Generator) -> list[dict]:
    sku = rng.integers(0, skus, size=(n, 2))
    quantity = rng.integers(1, 3, size=(n, 2))
    lines = rng.integers(1, 3, size=n)
    priority = rng.choice([0, 0, 0, 1, 2], size=n)
    pickup = rng.random(n) < 0.1
    store = rng.integers(1, locations, size=n)
    out = []
    for k in range(n):
        order: dict = {
            "id": f"SO-{k}", "priority": int(priority[k]),
            "lines": [{"id": str(j + 1), "sku": f"SKU-{int(sku[k, j]):06d}", "quantity": int(quantity[k, j])}
                      for j in range(int(lines[k]))],
        }  # fmt: skip
        if pickup[k] and int(store[k]) % 20 != 0:
            order.update(delivery="pickup", pickup_location_id=f"L-{int(store[k]):05d}")
        else:
            order.update(
                delivery="ship",
                ship_to={
                    "lat": 25.0 + float(rng.random()) * 23,
                    "lon": -124.0 + float(rng.random()) * 56,
                },
            )
        if len({line["sku"] for line in order["lines"]}) < len(order["lines"]):
            order["lines"] = order["lines"][:1]
        out.append(order)
    return out


def run_backend(url: str, work: Path, args: argparse.Namespace) -> dict[str, float]:
    """The four steps on one database; the inputs in ``work`` are the same for every backend."""
    rng = np.random.default_rng(args.seed + 1)  # the orders: the same for every backend
    if url.startswith("sqlite"):
        for suffix in ("", "-wal", "-shm"):
            Path(str(work / "bench.db") + suffix).unlink(missing_ok=True)
        engine = make_engine(url)
    else:
        from benchmarks.resources import fresh_postgres

        engine = fresh_postgres(url)
    upgrade(engine)
    apply_catalog(engine, parse_catalog(catalog(args.locations)))
    name = engine.url.get_backend_name()
    print(f"\n== {name}: {engine.url.render_as_string()}")
    header = parse_feed_header(
        {"source": "erp", "basis": "physical", "as_of": "2026-11-27T05:00:00Z"}
    )
    figures: dict[str, float] = {}
    cpu: dict[str, float] = {}
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    server: dict[str, float] = {}

    def timed(step: str, work_fn: Any) -> Any:
        server_started = server_cpu_s(engine)
        started, cpu_started = time.perf_counter(), time.process_time()
        out = work_fn()
        figures[step] = time.perf_counter() - started
        cpu[step] = time.process_time() - cpu_started
        server_now = server_cpu_s(engine)
        if server_started is not None and server_now is not None:
            server[step] = server_now - server_started
        return out

    rows = args.locations * args.skus
    timed("feed", lambda: load_feed_file(engine, work / "feed-day1.csv", header))
    print(
        f"1. full feed, {rows:,} rows: {figures['feed']:.1f} s ({rows / figures['feed']:,.0f} rows/s)"
    )
    result = timed(
        "events", lambda: apply_event_batch(engine, (work / "events.jsonl").read_bytes())
    )
    print(f"2. {args.events:,} delta events: {figures['events']:.1f} s  outcomes {result.outcomes}")
    taken = timed("snapshot", lambda: snapshot(engine))
    print(f"3. snapshot of {taken.positions:,} positions into arrays: {figures['snapshot']:.2f} s")
    del taken
    publish(engine)  # yesterday's publication: the morning's is then the day's changes
    submit_orders(engine, {"orders": orders(args.orders, args.locations, args.skus, rng)})
    header2 = parse_feed_header(
        {"source": "erp", "basis": "physical", "as_of": "2026-11-28T05:00:00Z"}
    )
    told: list[tuple[float, str]] = []  # the run's progress messages, timed: its phases
    morning_started = time.perf_counter()
    report = timed(
        "morning_run",
        lambda: morning_run(
            engine,
            [MorningFeed(work / "feed-day2.csv", header2)],
            {"time_limit_s": args.time_limit},
            progress=lambda message: told.append((time.perf_counter(), message)),
        ),
    )
    phases = run_phases(told, morning_started, report.seconds)
    figures["  feeds"] = report.seconds["feeds"]
    figures["  broker"] = report.seconds["broker"]
    for phase, seconds in phases.items():
        figures[f"    {phase}"] = seconds
    figures["    of which the engine's solve"] = report.solver["seconds"]
    figures["  publish"] = report.seconds["publish"]
    print(
        f"4. morning run, {report.orders:,} queued orders: {figures['morning_run']:.1f} s"
        f" (feed {report.seconds['feeds']:.1f} s, broker {report.seconds['broker']:.1f} s:"
        + ", ".join(f" {phase} {seconds:.1f} s" for phase, seconds in phases.items())
        + f", of which the engine's solve {report.solver['seconds']:.1f} s;"
        f" publish {report.seconds['publish']:.1f} s); units allocated"
        f" {report.summary['units_allocated']:,}/{report.summary['units_requested']:,},"
        f" solver {report.solver['status']}, availability rows changed {report.availability_rows_changed:,}"
    )
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    for step in TARGETS_S:
        figures[f"{step} CPU"] = cpu[step]
        if step in server:
            figures[f"{step} server CPU"] = server[step]
    engine.dispose()
    return figures


def server_cpu_s(engine: Any) -> float | None:
    """CPU seconds used so far by the database server's processes (backends and background
    workers), read from /proc: a local PostgreSQL only, else None. A process that starts and
    ends between two readings (an autovacuum worker) is missed."""
    if engine.url.get_backend_name() != "postgresql":
        return None
    with engine.connect() as connection:
        pids = [row[0] for row in connection.exec_driver_sql("SELECT pid FROM pg_stat_activity")]
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # not on this machine, or gone
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
    return total / ticks if total else None


def run_phases(
    told: list[tuple[float, str]], started: float, seconds: dict[str, float]
) -> dict[str, float]:
    """The brokering step's phases from the times of its progress messages (``started``: when
    the morning run began): the snapshot and the queue (until "... on a snapshot of ..."),
    offering the rows and solving (until "committing"), and the commit (the rest)."""
    snapshot_at = next((t for t, m in told if "on a snapshot of" in m), None)
    commit_at = next((t for t, m in told if m.startswith("brokering: committing")), None)
    if snapshot_at is None or commit_at is None:
        return {}
    broker_start = started + seconds["feeds"]
    return {
        "snapshot and queue": snapshot_at - broker_start,
        "offered rows and solve": commit_at - snapshot_at,
        "commit": broker_start + seconds["broker"] - commit_at,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--locations", type=int, default=1000)
    parser.add_argument("--skus", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=50_000)
    parser.add_argument(
        "--time-limit", type=float, default=60.0, help="engine time limit of the run"
    )
    parser.add_argument(
        "--workdir", help="keep inputs and the database here (default: a temporary dir)"
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        default=os.environ.get("OMNIBROKER_BENCH_DATABASE_URL"),
        help="also run on this PostgreSQL database (emptied first), after SQLite, on the same "
        "inputs (default: OMNIBROKER_BENCH_DATABASE_URL)",
    )
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument(
        "--inputs-only", action="store_true", help="write the inputs to --workdir and stop"
    )
    parser.add_argument(
        "--reuse-inputs", action="store_true", help="take the inputs in --workdir if there"
    )
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory(prefix="inventory-bench-") as scratch:
        work = Path(args.workdir or scratch)
        work.mkdir(parents=True, exist_ok=True)
        print(
            f"sizes: {args.locations} locations x {args.skus} skus, {args.events} events,"
            f" {args.orders} orders, engine time limit {args.time_limit:.0f} s"
        )
        rows = args.locations * args.skus
        inputs = [work / name for name in ("feed-day1.csv", "events.jsonl", "feed-day2.csv")]
        if args.reuse_inputs and all(path.exists() for path in inputs):
            print(f"inputs reused from {work} (written earlier with the same sizes and seed)")
        else:
            write_feed(inputs[0], args.locations, args.skus, rng)
            write_events(inputs[1], args.events, args.locations, args.skus, rng)
            write_feed(inputs[2], args.locations, args.skus, rng)
        if args.inputs_only:
            return 0
        urls = {"SQLite": f"sqlite:///{work / 'bench.db'}"}
        if args.postgres:
            urls["PostgreSQL"] = args.postgres
        results = {name: run_backend(url, work, args) for name, url in urls.items()}
        scale = {"feed": 1000 * 10_000 / max(rows, 1), "events": 1_000_000 / max(args.events, 1),
                 "snapshot": 1000 * 10_000 / max(rows, 1), "morning_run": 50_000 / max(args.orders, 1)}  # fmt: skip
        full = all(v == 1.0 for v in scale.values())
        # CPU seconds of this process (+ a local PostgreSQL server's processes) beside the wall
        # clock: on a machine shared with other work the wall clock also counts the time the
        # processes waited for a core.
        print(
            f"\n| step | target s{'' if full else ' (full size)'} | "
            + " | ".join(
                f"{name} wall s (CPU s{SERVER_NOTE if name == 'PostgreSQL' else ''})"
                for name in results
            )
            + " |"
        )
        print("|---|---|" + "---|" * len(results))
        for step in next(iter(results.values())):
            if step.endswith("CPU"):
                continue
            target = f"{TARGETS_S[step]:.0f}" if step in TARGETS_S else ""
            cells = []
            for figures in results.values():
                cell = f"{figures[step]:.2f}"
                if f"{step} CPU" in figures:
                    on_server = figures.get(f"{step} server CPU")
                    extra = "" if on_server is None else f" + {on_server:.1f}"
                    cell += f" ({figures[f'{step} CPU']:.1f}{extra})"
                cells.append(cell)
            print(f"| {step} | {target} | " + " | ".join(cells) + " |")
        if not full:
            print(
                "(not full size: " + ", ".join(f"{k} at 1/{v:.0f}" for k, v in scale.items()) + ")"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
