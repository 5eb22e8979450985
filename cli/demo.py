"""``omnibroker demo``: broker the bundled sample batch and print what happened, readably.

The sample is a generated network (warehouses and stores in real US cities) with 300 orders; the
demo brokers it with the optimiser and with the greedy baseline, so a newcomer sees both the
allocation and what the optimiser buys over sequential routing rules.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from cli.io import write_json

SAMPLE = Path(__file__).resolve().parent / "data" / "sample_batch.json"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo", help="broker the bundled sample batch and print a summary"
    )
    parser.add_argument("--request", default=str(SAMPLE), help="another request file to demo")
    parser.add_argument("-o", "--output", help="also write the optimiser's response JSON here")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from engine.solve import solve
    from models.validation import parse_solve_request

    raw = orjson.loads(Path(args.request).read_bytes())
    request = parse_solve_request(raw)
    print(f"Omnibroker demo: {args.request}")
    print(
        f"  {len(request.orders)} orders, {sum(len(o.lines) for o in request.orders)} lines, "
        f"{len(request.locations)} locations "
        f"({sum(loc.kind == 'warehouse' for loc in request.locations)} warehouses), "
        f"{len(request.inventory)} inventory rows\n"
    )
    optimal = solve(request)
    greedy_raw = dict(raw, policy={**raw.get("policy", {}), "strategy": "greedy"})
    greedy = solve(parse_solve_request(greedy_raw))

    print(_comparison(optimal, greedy))
    print(_fill_table(optimal, greedy))
    print(_samples(optimal))
    if args.output:
        write_json(optimal, args.output)
        print(f"\nresponse written to {args.output}")
    return 0


def _comparison(optimal: dict[str, Any], greedy: dict[str, Any]) -> str:
    rows = [
        ("units allocated", "units_allocated", "{:,}"),
        ("orders fully allocated", "orders_fully_allocated", "{:,}"),
        ("shipments", "shipments", "{:,}"),
        ("split orders", "split_orders", "{:,}"),
        ("total cost", "total_cost", "{:,.2f}"),
    ]
    lines = [f"{'':26}{'optimiser':>14}{'greedy rules':>14}{'change':>10}"]
    for label, key, fmt in rows:
        a, b = optimal["summary"][key], greedy["summary"][key]
        change = f"{(a - b) / b:+.1%}" if b else "-"
        lines.append(f"{label:26}{fmt.format(a):>14}{fmt.format(b):>14}{change:>10}")
    solver = optimal["solver"]
    lines.append(
        f"{'solver':26}{solver['name']:>14}   status {solver['status']}, "
        f"gap {solver['gap']:.2%}, {solver['seconds']:.2f} s"
    )
    return "\n".join(lines)


def _fill_table(optimal: dict[str, Any], greedy: dict[str, Any]) -> str:
    lines = ["", "Units filled by priority (highest first):"]
    greedy_fill = {row["priority"]: row for row in greedy["summary"]["by_priority"]}
    for row in optimal["summary"]["by_priority"]:
        other = greedy_fill[row["priority"]]
        lines.append(
            f"  priority {row['priority']:>3}: {row['units_allocated']:>6,} of "
            f"{row['units_requested']:>6,} units (greedy {other['units_allocated']:,})"
        )
    return "\n".join(lines)


def _samples(response: dict[str, Any], count: int = 5) -> str:
    shipments = {(s["order_id"], s["location_id"]): s for s in response["shipments"]}
    shipments_per_order = Counter(s["order_id"] for s in response["shipments"])
    split = [order for order, n in shipments_per_order.items() if n > 1][:2]
    shown = [a for a in response["allocations"] if a["order_id"] in split]
    shown += [a for a in response["allocations"] if a["order_id"] not in split][
        : count - len(shown)
    ]
    lines = ["", "A few allocations:"]
    for allocation in shown:
        shipment = shipments[(allocation["order_id"], allocation["location_id"])]
        lines.append(
            f"  {allocation['order_id']} line {allocation['line_id']}: "
            f"{allocation['quantity']} from {allocation['location_id']} "
            f"({shipment['distance_km']:,.0f} km, shipment cost {shipment['cost']:.2f})"
        )
    reasons = Counter(row["reason"] for row in response["unallocated"])
    if reasons:
        lines += ["", "Lines that miss units, by reason:"]
        lines += [f"  {reason:28}{n:>5} lines" for reason, n in reasons.most_common()]
        lines += ["", "For example:"]
        for row in response["unallocated"][:3]:
            lines.append(
                f"  {row['order_id']} line {row['line_id']}: {row['quantity']} unit(s) short, "
                f"{row['reason']}"
            )
    return "\n".join(lines)
