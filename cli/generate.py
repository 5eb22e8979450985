"""``omnibroker generate --size S|M|L|XL --seed N -o FILE``: a realistic solve request."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import orjson

from engine.generate import SIZES, Size, generate


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="write a realistic solve request (US geography, long-tail skus)",
        description="Write a solve request of a standard size: "
        + "; ".join(
            f"{name} {s.orders:,} orders x {s.locations:,} locations x {s.skus:,} skus"
            for name, s in SIZES.items()
        )
        + ". The same size and seed give the same file, byte for byte.",
    )
    parser.add_argument(
        "--size", default="S", type=str.upper, choices=list(SIZES), help="instance size (default S)"
    )
    parser.add_argument(
        "--orders", type=int, help="custom size: orders (with --locations and --skus)"
    )
    parser.add_argument("--locations", type=int, help="custom size: warehouses and stores")
    parser.add_argument("--skus", type=int, help="custom size: skus in the catalog")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("-o", "--output", help="write here instead of stdout")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    custom = (args.orders, args.locations, args.skus)
    size: str | Size = args.size
    if any(value is not None for value in custom):
        base = SIZES[args.size]
        size = Size(
            orders=args.orders if args.orders is not None else base.orders,
            locations=args.locations if args.locations is not None else base.locations,
            skus=args.skus if args.skus is not None else base.skus,
        )
    started = time.perf_counter()
    try:
        request = generate(size, args.seed)
    except ValueError as error:
        print(f"omnibroker generate: {error}", file=sys.stderr)
        return 2
    # Compact JSON: an XL request is some 100 MB; indentation would add a third.
    payload = orjson.dumps(request) + b"\n"
    if args.output is None or args.output == "-":
        sys.stdout.buffer.write(payload)
        sys.stdout.buffer.flush()
    else:
        Path(args.output).write_bytes(payload)
        print(
            f"{args.output}: {len(request['orders']):,} orders, {len(request['locations']):,} "
            f"locations, {len(request['inventory']):,} inventory rows "
            f"({len(payload) / 1e6:.1f} MB, {time.perf_counter() - started:.1f} s)",
            file=sys.stderr,
        )
    return 0
