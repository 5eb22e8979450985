"""A brokering run as one self-contained HTML page an operator can open, mail or archive.

Everything is inline: the CSS in a ``<style>`` element, the charts and the flow map as PNG
data URIs, so the page shows the same offline, from a file or an attachment. It holds the run's
KPIs, fill by priority, unfilled units by reason, the flow map and the explanations
(:mod:`engine.explain`): for the costliest moves, the next-best location of each shipment, and
who took the units of the unfilled lines.

A stored run keeps its result, not its request. :func:`run_request` rebuilds the request the
explanations and the map need from the ledger: the locations, the orders of the run (their
lines at the quantities the run brokered, their exclusions), and the inventory it saw (what it
left plus what it allocated). The run's policy is not stored: costs of alternatives are priced
at the contract's default policy, and the page says so. A result that carries its own
``explanations`` (a run brokered with ``policy.explain``) is shown as it is.
"""

from __future__ import annotations

import base64
import html
import io
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # a report is drawn without a display, in a server thread or a CLI

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from sqlalchemy import Engine, select

from engine.explain import explain_response
from models.inventory import BrokeringRunOut
from scenarios import plots

# Rows of each explanation table: the page is for reading, the API has every row.
SHOWN_SHIPMENTS = 25
SHOWN_UNFILLED = 25
_ID_CHUNK = 5_000  # ids per IN (...) query: well within SQLite's and PostgreSQL's limits


# --- the run's request, rebuilt ----------------------------------------------------------------


def run_request(engine: Engine, run: BrokeringRunOut) -> dict[str, Any]:
    """The solve request of ``run`` as far as the ledger can tell (see the module docstring)."""
    from storage import tables
    from storage.db import read_transaction
    from storage.runs import solve_locations

    result = run.result
    brokered: dict[tuple[str, str], int] = defaultdict(int)
    for row in result["allocations"]:
        brokered[(row["order_id"], row["line_id"])] += row["quantity"]
    for row in result["unallocated"]:
        brokered[(row["order_id"], row["line_id"])] += row["quantity"]
    order_ids = sorted({order_id for order_id, _ in brokered})

    payloads: dict[str, str] = {}
    excluded: dict[str, list[str]] = defaultdict(list)
    with read_transaction(engine) as connection:
        locations = solve_locations(connection)
        orders, exclusions, places = tables.orders, tables.order_exclusions, tables.locations
        for start in range(0, len(order_ids), _ID_CHUNK):
            chunk = order_ids[start : start + _ID_CHUNK]
            payloads.update(
                connection.execute(
                    select(orders.c.id, orders.c.payload).where(orders.c.id.in_(chunk))
                ).all()
            )
            for order_id, code in connection.execute(
                select(exclusions.c.order_id, places.c.code)
                .join(places, places.c.id == exclusions.c.location_id)
                .where(exclusions.c.order_id.in_(chunk))
            ):
                excluded[order_id].append(code)

    import orjson

    request_orders = []
    for order_id in order_ids:
        order = orjson.loads(payloads[order_id])
        order["lines"] = [
            {**line, "quantity": brokered[(order_id, line["id"])]}
            for line in order["lines"]
            if brokered.get((order_id, line["id"]), 0) > 0
        ]
        if excluded.get(order_id):
            order["exclude_location_ids"] = sorted(excluded[order_id])
        request_orders.append(order)

    line_sku = {
        (order["id"], line["id"]): line["sku"]
        for order in request_orders
        for line in order["lines"]
    }
    allocated: dict[tuple[str, str], int] = defaultdict(int)
    for row in result["allocations"]:
        allocated[(row["location_id"], line_sku[(row["order_id"], row["line_id"])])] += row[
            "quantity"
        ]
    inventory = [
        {
            "location_id": row["location_id"],
            "sku": row["sku"],
            "quantity": row["quantity"] + allocated.get((row["location_id"], row["sku"]), 0),
        }
        for row in result["remaining"]
    ]
    return {"locations": locations, "inventory": inventory, "orders": request_orders}


# --- the page ----------------------------------------------------------------------------------


def render_run_report(run: BrokeringRunOut, request: Mapping[str, Any] | None) -> str:
    """The HTML page of ``run``; ``request`` (:func:`run_request`) draws the map and explains
    the allocation, and without it the page says why those sections are missing."""
    result = run.result
    summary, solver = result["summary"], result["solver"]
    explanations, explain_note = _explanations(result, request)
    sections = [
        _kpi_cards(summary, solver),
        _section("Fill by priority", _fill_by_priority(result, request)),
        _section("Unfilled units by reason", _unfilled_by_reason(result)),
        _section("Flow map", _flow_map(run, request)),
        _section("Why these locations", _shipment_explanations(explanations, explain_note)),
        _section("Who took the units of unfilled lines", _unfilled_explanations(explanations)),
    ]
    title = f"Brokering run {run.id}"
    subtitle = (
        f"{run.started_at:%Y-%m-%d %H:%M:%S} to {run.finished_at:%H:%M:%S} UTC · snapshot of "
        f"ledger version {run.snapshot_version} · reservations at version {run.version} · "
        f"{run.orders:,} orders brokered"
    )
    return _PAGE.format(title=_e(title), subtitle=_e(subtitle), css=_CSS, body="\n".join(sections))


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _section(title: str, body: str) -> str:
    return f"<section><h2>{_e(title)}</h2>\n{body}\n</section>"


def _png(fig: Figure, alt: str) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], numeric: set[int]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{_e(v)}</td>' if i in numeric else f"<td>{_e(v)}</td>"
            for i, v in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _kpi_cards(summary: Mapping[str, Any], solver: Mapping[str, Any]) -> str:
    requested, allocated = summary["units_requested"], summary["units_allocated"]
    fill = allocated / requested if requested else 1.0
    cards = [
        ("Fill rate", f"{fill:.1%}", f"{allocated:,} of {requested:,} units"),
        (
            "Orders filled complete",
            f"{summary['orders_fully_allocated']:,}",
            f"of {summary['orders']:,} orders",
        ),
        ("Shipments", f"{summary['shipments']:,}", f"{summary['split_orders']:,} split orders"),
        ("Total cost", f"${summary['total_cost']:,.2f}", "shipments and unit handling"),
        (
            "Solver",
            str(solver.get("status", "?")),
            f"gap {float(solver.get('gap', 0.0)):.2%} · {float(solver.get('seconds', 0.0)):.1f} s",
        ),
    ]
    items = "".join(
        f'<div class="card"><div class="label">{_e(label)}</div>'
        f'<div class="value">{_e(value)}</div><div class="note">{_e(note)}</div></div>'
        for label, value, note in cards
    )
    return f'<section class="cards" id="kpis">{items}</section>'


def _priorities(
    result: Mapping[str, Any], request: Mapping[str, Any] | None
) -> list[tuple[int, int, int]]:
    """(priority, requested, allocated), highest priority first."""
    by_priority = result["summary"].get("by_priority")
    if by_priority:
        return [(p["priority"], p["units_requested"], p["units_allocated"]) for p in by_priority]
    if request is None:
        return []
    priority = {o["id"]: o.get("priority", 0) for o in request["orders"]}
    requested: dict[int, int] = defaultdict(int)
    allocated: dict[int, int] = defaultdict(int)
    for order in request["orders"]:
        requested[priority[order["id"]]] += sum(line["quantity"] for line in order["lines"])
    for row in result["allocations"]:
        allocated[priority[row["order_id"]]] += row["quantity"]
    return [(p, requested[p], allocated[p]) for p in sorted(requested, reverse=True)]


def _fill_by_priority(result: Mapping[str, Any], request: Mapping[str, Any] | None) -> str:
    rows = _priorities(result, request)
    if not rows:
        return "<p>No fill by priority in this run's result.</p>"
    table = _table(
        ["priority", "units requested", "units allocated", "fill"],
        [(p, f"{r:,}", f"{a:,}", f"{a / r:.1%}" if r else "-") for p, r, a in rows],
        {1, 2, 3},
    )
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.2), layout="constrained")
    labels = [f"priority {p}" for p, _, _ in rows][::-1]
    fills = [(a / r * 100.0 if r else 100.0) for _, r, a in rows][::-1]
    ax.barh(labels, fills, color=plots.NEUTRAL_COLOUR, height=0.6)
    ax.set_xlim(0, 105)  # a bar chart starts at zero
    ax.set_xlabel("% of units requested that were allocated")
    for y, value in enumerate(fills):
        ax.annotate(f"{value:.1f}%", (value, y), xytext=(4, -3), textcoords="offset points")
    return table + _png(fig, "Fill by priority")


def _unfilled_by_reason(result: Mapping[str, Any]) -> str:
    units: dict[str, int] = defaultdict(int)
    lines: dict[str, int] = defaultdict(int)
    for row in result["unallocated"]:
        units[row["reason"]] += row["quantity"]
        lines[row["reason"]] += 1
    if not units:
        return "<p>Every unit was allocated.</p>"
    ordered = sorted(units, key=lambda reason: -units[reason])
    table = _table(
        ["reason", "lines", "units"],
        [(reason, f"{lines[reason]:,}", f"{units[reason]:,}") for reason in ordered],
        {1, 2},
    )
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(ordered) + 1.2), layout="constrained")
    ax.barh(ordered[::-1], [units[r] for r in ordered][::-1], color=plots.UNFILLED_COLOUR)
    ax.set_xlim(left=0)
    ax.set_xlabel("Units unfilled")
    return table + _png(fig, "Unfilled units by reason")


def _flow_map(run: BrokeringRunOut, request: Mapping[str, Any] | None) -> str:
    if request is None:
        return "<p>No map: the run's orders or locations could not be read from the ledger.</p>"
    fig = plots.flow_map(request, run.result, f"Run {run.id}")
    return _png(fig, f"Flows of run {run.id}")


def _explanations(
    result: Mapping[str, Any], request: Mapping[str, Any] | None
) -> tuple[dict[str, Any] | None, str]:
    if result.get("explanations"):
        return result["explanations"], "As the run's engine explained them."
    if request is None:
        return None, "No explanations: the run's request could not be rebuilt from the ledger."
    try:
        explained = explain_response(request, result)
    except Exception as error:  # the ledger changed since the run (a location removed, ...)
        return None, f"No explanations: the run no longer fits the ledger ({error})."
    return explained, (
        "Rebuilt from the ledger; extra costs priced at the contract's default policy (the run's "
        "own policy is not stored)."
    )


def _shipment_explanations(explanations: Mapping[str, Any] | None, note: str) -> str:
    if explanations is None:
        return f"<p>{_e(note)}</p>"
    rows = explanations["shipments"]
    with_alternative = [r for r in rows if r["alternative_location_id"] is not None]
    ranked = sorted(with_alternative, key=lambda r: -r["extra_cost"])[:SHOWN_SHIPMENTS]
    intro = (
        f"<p>{_e(note)} For each shipment, the next-best location is the cheapest other eligible "
        "one that could have taken all of its units from the stock the run left; the extra cost "
        f"is what moving it there would add. {len(with_alternative):,} of {len(rows):,} "
        "shipments had one (the others: no other location had the units left). The "
        f"{len(ranked)} where the choice mattered most:</p>"
    )
    table = _table(
        ["order", "location", "units", "next best", "extra cost"],
        [
            (
                r["order_id"],
                r["location_id"],
                r["units"],
                r["alternative_location_id"],
                f"${r['extra_cost']:,.2f}",
            )
            for r in ranked
        ],
        {2, 4},
    )
    return intro + table


def _unfilled_explanations(explanations: Mapping[str, Any] | None) -> str:
    if explanations is None:
        return "<p>See above.</p>"
    rows = explanations["unallocated"]
    if not rows:
        return "<p>No line went unfilled.</p>"
    shown = rows[:SHOWN_UNFILLED]
    intro = (
        f"<p>{len(rows):,} lines missed units. For the first {len(shown)}, the orders that took "
        "units from the stock that could have served them, highest priority first:</p>"
    )
    table = _table(
        ["order", "line", "missing", "taken by (priority, units)"],
        [
            (
                r["order_id"],
                r["line_id"],
                r["missing"],
                ", ".join(
                    f"{t['order_id']} (p{t['priority']}, {t['units']})" for t in r["taken_by"]
                )
                or "nobody: the stock was never there",
            )
            for r in shown
        ],
        {2},
    )
    return intro + table


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1100px; color: #222; padding: 0 1rem; }
h1 { margin-bottom: 0.2rem; } .subtitle { color: #666; margin-top: 0; }
h2 { border-bottom: 2px solid #3b6ea5; padding-bottom: 0.2rem; margin-top: 2rem; }
.cards { display: flex; flex-wrap: wrap; gap: 0.8rem; }
.card { flex: 1 1 170px; border: 1px solid #ddd; border-radius: 8px; padding: 0.8rem;
        background: #f7f9fc; }
.card .label { font-size: 0.85rem; color: #555; } .card .value { font-size: 1.6rem;
  font-weight: 600; } .card .note { font-size: 0.8rem; color: #777; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.9rem; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 0.3rem 0.7rem; text-align: left; }
th { background: #f0f3f7; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; display: block; margin: 0.8rem 0; }
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<h1>{title}</h1>
<p class="subtitle">{subtitle}</p>
{body}
</body>
</html>
"""
