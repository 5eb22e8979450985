"""``omnibroker runs report ID -o run.html``: a brokering run as a self-contained HTML page."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli.ledger_common import add_database_option, engine_of, handles_bad_input


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    runs = subparsers.add_parser("runs", help="brokering runs: reports")
    actions = runs.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    report = actions.add_parser(
        "report",
        help="a run as one HTML page (KPIs, fill, reasons, flow map, explanations)",
        description="Write a self-contained HTML page (inline CSS, images as data URIs) of a "
        "brokering run. Exit status 2 for an unknown run.",
    )
    report.add_argument("run_id", type=int, metavar="ID")
    report.add_argument("-o", "--output", help="write the page here instead of stdout")
    add_database_option(report)
    report.set_defaults(handler=report_command)


@handles_bad_input
def report_command(args: argparse.Namespace) -> int:
    from api.routers.reports import run_report_page

    page = run_report_page(engine_of(args), args.run_id)
    if args.output and args.output != "-":
        Path(args.output).write_text(page, encoding="utf-8")
        print(f"report: {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(page)
    return 0
