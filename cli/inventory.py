"""The ledger on the command line: ``db upgrade``, ``catalog load``, ``feed load``,
``events apply``, ``snapshot`` and ``position``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from cli.io import read_bytes, write_json
from cli.ledger_common import add_database_option, engine_of, handles_bad_input
from cli.progress import terminal_progress
from models.inventory import parse_catalog, parse_feed_header
from models.problems import InvalidInput, Problem
from storage.catalog import apply_catalog
from storage.events import apply_event_batch
from storage.feeds import load_feed_file
from storage.migrate import current_revision, upgrade
from storage.positions import get_history, get_position
from storage.snapshots import snapshot


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = subparsers.add_parser("db", help="database schema (migrations)")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = db_commands.add_parser("upgrade", help="create or migrate the schema to the newest")
    add_database_option(up)
    up.set_defaults(handler=db_upgrade)

    catalog = subparsers.add_parser("catalog", help="locations, skus and ledger settings")
    catalog_commands = catalog.add_subparsers(
        dest="catalog_command", metavar="ACTION", required=True
    )
    load = catalog_commands.add_parser("load", help="upsert a catalog JSON file")
    load.add_argument("file")
    add_database_option(load)
    load.set_defaults(handler=catalog_load)

    feed = subparsers.add_parser("feed", help="full inventory feeds")
    feed_commands = feed.add_subparsers(dest="feed_command", metavar="ACTION", required=True)
    load = feed_commands.add_parser(
        "load",
        help="apply a full feed (CSV or JSON)",
        description="A CSV feed (header location_id,sku,quantity) needs --source, --basis and "
        "--as-of; a JSON feed carries them. Refused whole (exit 2) on any bad row.",
    )
    load.add_argument("file")
    load.add_argument("--source", choices=("erp", "sim", "wms"))
    load.add_argument("--basis", choices=("physical", "available"))
    load.add_argument("--as-of", help="the feed's time, ISO 8601 with zone")
    add_database_option(load)
    load.set_defaults(handler=feed_load)

    events = subparsers.add_parser("events", help="event batches (sales, receipts, ...)")
    events_commands = events.add_subparsers(dest="events_command", metavar="ACTION", required=True)
    apply = events_commands.add_parser("apply", help="apply a batch (JSON array or JSON lines)")
    apply.add_argument("file", help="the batch, or - for stdin")
    add_database_option(apply)
    apply.set_defaults(handler=events_apply)

    snap = subparsers.add_parser("snapshot", help="ATP per position (CSV)")
    snap.add_argument("--version", type=int, help="an earlier ledger version (default: now)")
    snap.add_argument("-o", "--output", help="write here instead of stdout (.csv or .parquet)")
    add_database_option(snap)
    snap.set_defaults(handler=snapshot_command)

    position = subparsers.add_parser("position", help="one position and its history")
    position.add_argument("location_id")
    position.add_argument("sku")
    position.add_argument("--history", action="store_true", help="every recorded change")
    add_database_option(position)
    position.set_defaults(handler=position_command)


@handles_bad_input
def db_upgrade(args: argparse.Namespace) -> int:
    engine = engine_of(args, migrate=False)
    upgrade(engine)
    print(f"schema at revision {current_revision(engine)} ({engine.url.render_as_string()})")
    return 0


@handles_bad_input
def catalog_load(args: argparse.Namespace) -> int:
    raw = read_bytes(args.file, "catalog")
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(
            [Problem((), f"not valid JSON: {exc}", "json_invalid")], "catalog"
        ) from None
    result = apply_catalog(engine_of(args), parse_catalog(document))
    write_json(
        {"version": result.version, "locations": result.locations, "skus": result.skus}, None
    )
    return 0


@handles_bad_input
def feed_load(args: argparse.Namespace) -> int:
    path = Path(args.file)
    header = None
    if path.suffix.lower() == ".csv" or any((args.source, args.basis, args.as_of)):
        header = parse_feed_header(
            {"source": args.source, "basis": args.basis, "as_of": args.as_of}
        )
    with terminal_progress() as progress:
        result = load_feed_file(engine_of(args), path, header, progress)
    write_json(result.model_dump(mode="json"), None)
    return 0


@handles_bad_input
def events_apply(args: argparse.Namespace) -> int:
    result = apply_event_batch(engine_of(args), read_bytes(args.file, "event batch"))
    write_json(result.model_dump(mode="json"), None)
    return 0


@handles_bad_input
def snapshot_command(args: argparse.Namespace) -> int:
    taken = snapshot(engine_of(args), args.version)
    frame = taken.to_frame()
    if args.output and args.output.endswith(".parquet"):
        frame.to_parquet(args.output, index=False)
    else:
        frame.to_csv(args.output or sys.stdout, index=False)
    print(f"snapshot of version {taken.version}: {taken.positions} positions", file=sys.stderr)
    return 0


@handles_bad_input
def position_command(args: argparse.Namespace) -> int:
    engine = engine_of(args)
    if args.history:
        write_json(get_history(engine, args.location_id, args.sku).model_dump(mode="json"), None)
    else:
        write_json(get_position(engine, args.location_id, args.sku).model_dump(mode="json"), None)
    return 0
