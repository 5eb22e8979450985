"""Orders, brokering runs, availability and the morning run on the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from cli.io import read_bytes, write_json
from cli.ledger_common import add_database_option, engine_of, handles_bad_input
from cli.progress import terminal_progress
from core.settings import get_settings
from models.inventory import parse_feed_header
from models.problems import InvalidInput, Problem
from services.brokering import run_brokering
from services.morning import MorningFeed, morning_run
from storage.availability import export_csv, publish
from storage.order_updates import read_updates
from storage.orders import get_order, submit_orders
from storage.runs import get_run


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    orders = subparsers.add_parser("orders", help="the order queue")
    orders_commands = orders.add_subparsers(dest="orders_command", metavar="ACTION", required=True)
    submit = orders_commands.add_parser("submit", help="queue orders (an order or {orders: [...]})")
    submit.add_argument("file", help="JSON file, or - for stdin")
    add_database_option(submit)
    submit.set_defaults(handler=orders_submit)
    show = orders_commands.add_parser("show", help="an order's status in the queue")
    show.add_argument("order_id")
    add_database_option(show)
    show.set_defaults(handler=orders_show)
    updates = orders_commands.add_parser(
        "updates",
        help="what became of each order since a cursor (the order updates feed)",
        description="Queued, brokered, partly brokered, rejected, shipped; oldest first, as JSON "
        "with the cursor to ask since next.",
    )
    updates.add_argument("--since", type=int, default=0, metavar="CURSOR")
    updates.add_argument("--limit", type=int, default=1000)
    add_database_option(updates)
    updates.set_defaults(handler=orders_updates)

    broker = subparsers.add_parser(
        "broker",
        help="a brokering run: broker every queued order, reserve what is allocated",
    )
    _policy_options(broker)
    broker.add_argument("-o", "--output", help="write the run's full result (JSON) here")
    broker.add_argument(
        "--show",
        type=int,
        metavar="RUN_ID",
        help="print an earlier run instead, whole (allocations included)",
    )
    add_database_option(broker)
    broker.set_defaults(handler=broker_command)

    availability = subparsers.add_parser("availability", help="the outbound availability feed")
    availability_commands = availability.add_subparsers(
        dest="availability_command", metavar="ACTION", required=True
    )
    export = availability_commands.add_parser("export", help="the published feed as CSV")
    export.add_argument("--since", type=int, metavar="CURSOR", help="only the changes after CURSOR")
    export.add_argument("--publish", action="store_true", help="publish the ledger's state first")
    export.add_argument("-o", "--output", help="write here instead of stdout")
    add_database_option(export)
    export.set_defaults(handler=availability_export)
    pub = availability_commands.add_parser("publish", help="publish the ledger's availability now")
    add_database_option(pub)
    pub.set_defaults(handler=availability_publish)

    morning = subparsers.add_parser(
        "morning-run",
        help="load the morning feeds, broker the backlog, publish availability",
        description="Feeds are applied in the order given (an older feed never overrides a newer "
        "one at a location); a refused feed stops the run (exit 2).",
    )
    morning.add_argument(
        "--feed",
        action="append",
        nargs="+",
        default=[],
        metavar="ARG",
        help="a feed, applied in the order given: FILE.json (it names its source, basis and "
        "as_of), or FILE.csv SOURCE BASIS AS_OF (erp|sim|wms, physical|available, ISO time)",
    )
    morning.add_argument(
        "--export", metavar="FILE.csv", help="also write the availability changes here"
    )
    _policy_options(morning)
    add_database_option(morning)
    morning.set_defaults(handler=morning_command)


def _policy_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", metavar="FILE.json", help="the solve policy (JSON object)")
    parser.add_argument("--time-limit", type=float, metavar="S", help="the engine's time limit")


def _policy(args: argparse.Namespace) -> dict:
    policy: dict = {"time_limit_s": get_settings().run_time_limit_s}
    if args.policy:
        loaded = orjson.loads(read_bytes(args.policy, "policy"))
        if not isinstance(loaded, dict):
            raise InvalidInput(
                [Problem(("policy",), "the policy must be a JSON object", "model_type")], "policy"
            )
        policy.update(loaded)
    if args.time_limit is not None:
        policy["time_limit_s"] = args.time_limit
    return policy


@handles_bad_input
def orders_submit(args: argparse.Namespace) -> int:
    try:
        raw = orjson.loads(read_bytes(args.file, "orders"))
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(
            [Problem((), f"not valid JSON: {exc}", "json_invalid")], "orders"
        ) from None
    result = submit_orders(engine_of(args), raw)
    print(
        f"queued {len(result.accepted)} order(s), {len(result.duplicates)} duplicate(s)",
        file=sys.stderr,
    )
    write_json(result.model_dump(mode="json"), None)
    return 0


@handles_bad_input
def orders_show(args: argparse.Namespace) -> int:
    write_json(get_order(engine_of(args), args.order_id).model_dump(mode="json"), None)
    return 0


@handles_bad_input
def orders_updates(args: argparse.Namespace) -> int:
    page = read_updates(engine_of(args), max(args.since, 0), max(args.limit, 1))
    write_json(page.model_dump(mode="json"), None)
    return 0


@handles_bad_input
def broker_command(args: argparse.Namespace) -> int:
    engine = engine_of(args)
    if args.show is not None:
        run = get_run(engine, args.show)
    else:
        with terminal_progress() as progress:
            run = run_brokering(engine, _policy(args), progress=progress)
    document = run.model_dump(mode="json")
    if args.output:
        write_json(document, args.output)
    if args.show is not None and not args.output:
        # Showing a run is asking for it whole: allocations, unallocated lines and all.
        write_json(document, None)
        return 0
    summary = {k: v for k, v in document.items() if k != "result"}
    summary["summary"] = run.result["summary"]
    summary["solver"] = run.result["solver"]
    write_json(summary, None)
    return 0


@handles_bad_input
def availability_export(args: argparse.Namespace) -> int:
    engine = engine_of(args)
    if args.publish:
        publish(engine)
    cursor = _export(engine, args.output, args.since)
    print(f"cursor {cursor}", file=sys.stderr)
    return 0


def _export(engine, output: str | None, since: int | None) -> int:
    if output is None or output == "-":
        return export_csv(engine, sys.stdout, since)
    with open(output, "w", newline="") as out:
        return export_csv(engine, out, since)


@handles_bad_input
def availability_publish(args: argparse.Namespace) -> int:
    publication = publish(engine_of(args))
    write_json(
        {"cursor": publication.cursor, "version": publication.version,
         "rows_changed": publication.rows_changed, "seconds": publication.seconds},
        None,
    )  # fmt: skip
    return 0


@handles_bad_input
def morning_command(args: argparse.Namespace) -> int:
    feeds = []
    for index, given in enumerate(args.feed):
        if len(given) == 1:
            feeds.append(MorningFeed(Path(given[0])))
        elif len(given) == 4:
            path, source, basis, as_of = given
            header = parse_feed_header({"source": source, "basis": basis, "as_of": as_of})
            feeds.append(MorningFeed(Path(path), header))
        else:
            raise InvalidInput(
                [
                    Problem(
                        ("feed", index),
                        "give FILE.json, or FILE.csv SOURCE BASIS AS_OF",
                        "feed_arguments",
                    )
                ],
                "morning run",
            )
    engine = engine_of(args)
    with engine.connect() as connection:
        from storage.availability import latest_cursor

        before = latest_cursor(connection)
    with terminal_progress() as progress:
        report = morning_run(engine, feeds, _policy(args), progress)
    if args.export:
        # The changes since the previous publication: what the web shop has not seen yet.
        _export(engine, args.export, before)
    write_json(report.model_dump(mode="json"), None)
    return 0
