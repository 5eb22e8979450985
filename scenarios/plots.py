"""The pictures of a scenario run: KPIs against the baseline, unit mix, flow maps, distances.

Every function draws on a fresh figure and returns it (notebooks show it; the runner saves it), so
nothing here touches global pyplot state beyond creating figures. Maps are longitude/latitude
plots over country outlines shipped with the package (:mod:`scenarios.outlines`, Natural Earth,
public domain; nothing is downloaded), the aspect corrected for latitude so the country keeps its
shape, and the busiest locations named.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from scenarios.kpi import KPI_LABELS, PERCENT_KPIS, same_demand, verdicts
from scenarios.outlines import country_outlines

BASELINE_COLOUR = "#6b6b6b"
BETTER_COLOUR = "#2a7f62"
WORSE_COLOUR = "#c0392b"
NEUTRAL_COLOUR = "#3b6ea5"
OTHER_DEMAND_COLOUR = "#9a9a9a"
WAREHOUSE_COLOUR = "#1f4e79"
STORE_COLOUR = "#e08a1e"
PICKUP_COLOUR = "#f4c27a"
UNFILLED_COLOUR = "#c0392b"
CANCELLED_COLOUR = "#7b241c"

# The KPIs of the comparison, in the contract's order first: fill (per priority, then overall),
# units unfilled and cost are coloured by the variant's verdict in that order (fill by priority
# first, then cost: a cheaper variant that fills less is worse); the rest describe the mix of the
# network, better or worse by nobody's rule, and are drawn neutral.
VERDICT_KPIS = ("fill_rate", "units_unfilled", "total_cost", "cost_per_unit")
MIX_KPIS = ("split_rate", "mean_distance_km", "store_unit_share", "store_positions_emptied")
# Totals compare only on the same demand: on other demand they are drawn neutral.
TOTAL_KPIS = frozenset({"units_unfilled", "total_cost"})
VERDICT_COLOURS = {"better": BETTER_COLOUR, "worse": WORSE_COLOUR, "same": NEUTRAL_COLOUR}
# An axis starts at zero unless the values differ by less than this share of the largest: then
# it zooms in, and its label says so.
ZOOM_BELOW_SPREAD = 0.25


def _text(text: str) -> str:
    """Text as matplotlib should print it: two dollar signs in one label ("$14 ... $20") would
    otherwise be read as a TeX formula."""
    return text.replace("$", r"\$")


def _is_percent(kpi: str) -> bool:
    return kpi in PERCENT_KPIS or kpi.startswith("fill_rate_p")


def _display(kpi: str, values: pd.Series) -> pd.Series:
    return values * 100.0 if _is_percent(kpi) else values


def _fmt(kpi: str, value: float) -> str:
    if _is_percent(kpi):
        return f"{value:.1f}%"
    if kpi in ("total_cost",):
        return f"${value:,.0f}"
    if kpi == "cost_per_unit":
        return f"${value:.2f}"
    return f"{value:,.0f}"


def _fmt_delta(kpi: str, delta: float) -> str:
    sign = "+" if delta >= 0 else "-"
    if _is_percent(kpi):
        return f"{sign}{abs(delta):.1f} pt"
    if kpi == "total_cost":
        return f"{sign}${abs(delta):,.0f}"
    if kpi == "cost_per_unit":
        return f"{sign}${abs(delta):.2f}"
    return f"{sign}{abs(delta):,.0f}"


def kpi_comparison(table: pd.DataFrame, baseline: str, title: str) -> Figure:
    """One panel per KPI: each variant's value as a dot, joined to the baseline's (dashed line).

    Fill, units unfilled and cost are coloured by the variant's verdict in the contract's order
    (:func:`scenarios.kpi.verdicts`: fill by priority first, then cost): green better, red worse.
    Totals of a variant with other demand (more orders, a filtered batch) are drawn grey, as are
    the KPIs of the network's mix. Axes start at zero, or say in their label why not.
    """
    priorities = [c for c in table.columns if c.startswith("fill_rate_p")]
    kpis = [kpi for kpi in (*priorities, *VERDICT_KPIS, *MIX_KPIS) if kpi in table.columns]
    verdict = verdicts(table, baseline)
    equal_demand = same_demand(table, baseline)
    variants = list(table.index)
    n_cols = 2
    n_rows = int(np.ceil(len(kpis) / n_cols))
    height = max(1.6, 0.42 * len(variants) + 0.9)
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(13, height * n_rows + 0.8), squeeze=False, layout="constrained"
    )
    y = np.arange(len(variants))[::-1]
    for ax, kpi in zip(axes.flat, kpis, strict=False):
        values = _display(kpi, table[kpi].astype(float))
        base = float(values.loc[baseline])
        for position, variant in zip(y, variants, strict=True):
            value = float(values.loc[variant])
            if np.isnan(value):
                continue
            if variant == baseline:
                colour = BASELINE_COLOUR
            elif kpi in MIX_KPIS or np.isclose(value, base):
                colour = NEUTRAL_COLOUR
            elif kpi in TOTAL_KPIS and not equal_demand[variant]:
                colour = OTHER_DEMAND_COLOUR
            else:
                colour = VERDICT_COLOURS[verdict[variant]]
            ax.plot([base, value], [position, position], color=colour, linewidth=2.5)
            ax.plot(value, position, "o", color=colour, markersize=7)
            label = _fmt(kpi, value)
            if variant != baseline and not np.isclose(value, base):
                label += f" ({_fmt_delta(kpi, value - base)})"
            if kpi in TOTAL_KPIS and not equal_demand[variant]:
                label += ", other demand"
            ax.annotate(
                _text(label),
                (value, position),
                xytext=(6, 5),
                textcoords="offset points",
                fontsize=8,
            )
        ax.axvline(base, color=BASELINE_COLOUR, linestyle="--", linewidth=1)
        name, unit = _label(kpi)
        ax.set_title(name, fontsize=10, loc="left", fontweight="bold")
        ax.set_yticks(y, [_text(v) for v in variants], fontsize=9)
        ax.set_ylim(-0.7, len(variants) - 0.3)
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(axis="x", alpha=0.3)
        ax.set_xlabel(unit + _start_axis(ax, values.dropna().to_numpy()), fontsize=8)
        if _is_percent(kpi):
            # The room made for labels should not read as rates above 100%.
            low = ax.get_xlim()[0]
            ax.set_xticks([t for t in ax.get_xticks() if low <= t <= 100.0])
    for ax in list(axes.flat)[len(kpis) :]:
        ax.set_visible(False)
    fig.suptitle(
        f"{_text(title)}: KPIs per variant against the baseline (dashed)\n"
        "fill and cost: green = better in the contract's order (fill by priority first, then "
        "cost), red = worse; grey = totals on other demand; blue = the network's mix",
        fontsize=11,
    )
    return fig


def _label(kpi: str) -> tuple[str, str]:
    if kpi.startswith("fill_rate_p"):
        return f"Fill rate, priority {kpi.removeprefix('fill_rate_p')}", "% of units"
    return KPI_LABELS[kpi]


def _start_axis(ax: Any, values: np.ndarray) -> str:
    """Start the x axis at zero, with room on the right for labels; or, when the values differ
    too little to see from zero, zoom in and return the words that say so."""
    high = float(values.max()) if values.size else 1.0
    low = float(values.min()) if values.size else 0.0
    spread = high - low
    note = ""
    if low > 0 and 0 < spread < ZOOM_BELOW_SPREAD * high:
        start = max(0.0, low - spread)
        note = f" (axis starts at {start:,.4g}, not 0: the differences are small beside the values)"
    else:
        start = min(0.0, low)
    end = max(high, start + 1e-9)
    ax.set_xlim(start, end + 0.35 * (end - start))
    return note


def unit_mix(table: pd.DataFrame, title: str) -> Figure:
    """Stacked bars per variant: units from warehouses, shipped from stores, picked up in stores,
    and unfilled; the bar length is the units requested."""
    variants = list(table.index)
    parts = [
        ("units_warehouse", "Shipped from warehouses", WAREHOUSE_COLOUR),
        ("units_store_ship", "Shipped from stores", STORE_COLOUR),
        ("units_store_pickup", "Picked up in stores", PICKUP_COLOUR),
        ("units_unfilled", "Unfilled", UNFILLED_COLOUR),
        ("units_cancelled", "Cancelled by the variant", CANCELLED_COLOUR),
    ]
    fig, ax = plt.subplots(figsize=(11, 0.5 * len(variants) + 1.8), layout="constrained")
    y = np.arange(len(variants))[::-1]
    left = np.zeros(len(variants))
    for column, label, colour in parts:
        values = table[column].to_numpy(dtype=float)
        if column == "units_unfilled":
            # Cancelled units are unfilled too; drawn apart, so a closure shows what it lost.
            values = values - table["units_cancelled"].to_numpy(dtype=float)
        bars = ax.barh(y, values, left=left, color=colour, label=label, height=0.6)
        share = values / np.maximum(table["units_requested"].to_numpy(dtype=float), 1.0)
        ax.bar_label(
            bars,
            labels=[f"{s:.0%}" if s >= 0.04 else "" for s in share],
            label_type="center",
            fontsize=8,
            color="white",
        )
        left += values
    ax.set_yticks(y, [_text(v) for v in variants])
    ax.set_xlabel("Units requested, by where they were served from")
    ax.set_title(f"{_text(title)}: where the units come from", loc="left", fontweight="bold")
    fig.legend(ncols=5, loc="outside lower center", frameon=False)
    ax.grid(axis="x", alpha=0.3)
    return fig


def distance_histogram(
    distances_by_variant: Mapping[str, Sequence[float]], title: str, baseline: str
) -> Figure:
    """Distances of ship shipments per variant on a log scale (a store around the corner and a
    warehouse across the country on one axis): a histogram above, and below the share of
    shipments within each distance, which separates overlapping variants better."""
    fig, (hist_ax, share_ax) = plt.subplots(
        2, 1, figsize=(11, 7.5), sharex=True, layout="constrained", height_ratios=[3, 2]
    )
    every = np.concatenate([np.asarray(d, dtype=float) for d in distances_by_variant.values()])
    positive = every[every > 0]
    low = max(1.0, float(positive.min())) if positive.size else 1.0
    high = max(low * 10, float(positive.max())) if positive.size else 5000.0
    bins = np.geomspace(low * 0.9, high * 1.1, 30)
    colours = plt.get_cmap("tab10")
    for index, (variant, distances) in enumerate(distances_by_variant.items()):
        values = np.sort(np.clip(np.asarray(distances, dtype=float), low, None))
        is_baseline = variant == baseline
        colour = BASELINE_COLOUR if is_baseline else colours(index % 10)
        median = float(np.median(values)) if values.size else float("nan")
        label = _text(f"{variant} ({values.size:,} shipments, median {median:,.0f} km)")
        hist_ax.hist(
            values,
            bins=bins,
            histtype="stepfilled" if is_baseline else "step",
            color=colour,
            alpha=0.3 if is_baseline else 0.95,
            linewidth=1.8,
            label=label,
        )
        if values.size:
            share = np.arange(1, values.size + 1) / values.size * 100.0
            share_ax.step(values, share, where="post", color=colour,
                          linewidth=2.6 if is_baseline else 1.6,
                          linestyle="--" if is_baseline else "-")  # fmt: skip
    hist_ax.set_xscale("log")
    hist_ax.set_ylabel("Ship shipments")
    hist_ax.set_title(f"{_text(title)}: how far shipments travel", loc="left", fontweight="bold")
    hist_ax.legend(fontsize=8, frameon=False, loc="upper left")
    hist_ax.grid(alpha=0.3)
    share_ax.set_ylabel("% of ship shipments\nwithin this distance")
    share_ax.set_ylim(0, 100)
    share_ax.set_xlabel("Distance from the shipping location to the customer (km, log scale)")
    share_ax.grid(alpha=0.3, which="both")
    return fig


def flow_map(
    request: Mapping[str, Any],
    response: Mapping[str, Any],
    title: str,
    changed: Sequence[str] = (),
) -> Figure:
    """Locations and the flows of one solved batch: a line from the shipping location to each
    customer (blue from warehouses, orange from stores), stores sized by the units they gave.
    ``changed``: ids of locations a variant changed, labelled on the map (closed ones always are)."""
    locations = pd.DataFrame(request["locations"])
    for column, default in (("ships", True), ("pickup", None)):
        if column not in locations:
            locations[column] = default
    locations["ships"] = locations["ships"].fillna(True).astype(bool)
    locations["serves_pickup"] = [
        p if isinstance(p, bool) else k == "store"
        for p, k in zip(locations["pickup"], locations["kind"], strict=True)
    ]
    locations = locations.set_index("id")
    orders = {order["id"]: order for order in request["orders"]}
    shipments = pd.DataFrame(
        response["shipments"], columns=["order_id", "location_id", "distance_km", "cost"]
    )
    units = (
        pd.DataFrame(
            response["allocations"], columns=["order_id", "line_id", "location_id", "quantity"]
        )
        .groupby("location_id")["quantity"]
        .sum()
    )

    fig, ax = plt.subplots(figsize=(12, 7.2), layout="constrained")
    segments, colours, customers = [], [], []
    for order_id, location_id in zip(shipments["order_id"], shipments["location_id"], strict=True):
        order = orders[order_id]
        if order["delivery"] != "ship":
            continue
        origin = locations.loc[location_id]
        to = (order["ship_to"]["lon"], order["ship_to"]["lat"])
        segments.append([(origin["lon"], origin["lat"]), to])
        colours.append(WAREHOUSE_COLOUR if origin["kind"] == "warehouse" else STORE_COLOUR)
        customers.append(to)
    if segments:
        from_store = np.array([c == STORE_COLOUR for c in colours])
        # Store flows are the fewer and the ones a what-if moves: drawn on top, more opaque.
        for mask, alpha, width in ((~from_store, 0.22, 0.6), (from_store, 0.6, 0.9)):
            ax.add_collection(
                LineCollection(
                    [seg for seg, keep in zip(segments, mask, strict=True) if keep],
                    colors=[c for c, keep in zip(colours, mask, strict=True) if keep],
                    linewidths=width,
                    alpha=alpha,
                )
            )
        xs, ys = zip(*customers, strict=True)
        ax.scatter(xs, ys, s=5, color="#555555", alpha=0.5, linewidths=0, zorder=2)

    stores = locations[locations["kind"] == "store"]
    served = units.reindex(stores.index).fillna(0).to_numpy()
    open_ship = stores["ships"].to_numpy()
    closed = ~stores["ships"].to_numpy() & ~stores["serves_pickup"].to_numpy()
    size = 18 + 6 * np.sqrt(served)
    ax.scatter(stores["lon"][open_ship], stores["lat"][open_ship], s=size[open_ship],
               color=STORE_COLOUR, edgecolors="black", linewidths=0.5, zorder=3)  # fmt: skip
    pickup_only = ~open_ship & ~closed
    ax.scatter(stores["lon"][pickup_only], stores["lat"][pickup_only], s=size[pickup_only],
               facecolors="white", edgecolors=STORE_COLOUR, linewidths=1.2, zorder=3)  # fmt: skip
    ax.scatter(stores["lon"][closed], stores["lat"][closed], s=70, marker="X",
               color=WORSE_COLOUR, edgecolors="black", linewidths=0.5, zorder=4)  # fmt: skip
    warehouses = locations[locations["kind"] == "warehouse"]
    wh_units = units.reindex(warehouses.index).fillna(0).to_numpy()
    ax.scatter(warehouses["lon"], warehouses["lat"], s=90 + 3 * np.sqrt(wh_units), marker="s",
               color=WAREHOUSE_COLOUR, edgecolors="black", linewidths=0.8, zorder=4)  # fmt: skip
    for (location_id, row), given in zip(warehouses.iterrows(), wh_units, strict=True):
        ax.annotate(f"{location_id}: {int(given):,} units", (row["lon"], row["lat"]),
                    xytext=(6, -10), textcoords="offset points", fontsize=7,
                    color=WAREHOUSE_COLOUR)  # fmt: skip
    closed_ids = set(stores.index[closed])
    for location_id in sorted(closed_ids | set(changed)):
        row = locations.loc[location_id]
        # Neither ships nor serves pickup: closed by a what-if, or set so; it serves nothing.
        note = "serves nothing" if location_id in closed_ids else "changed"
        ax.annotate(f"{location_id} ({note})", (row["lon"], row["lat"]), xytext=(6, 6),
                    textcoords="offset points", fontsize=8, color=WORSE_COLOUR,
                    fontweight="bold")  # fmt: skip

    _frame_map(
        ax,
        [*locations["lon"].tolist(), *(c[0] for c in customers)],
        [*locations["lat"].tolist(), *(c[1] for c in customers)],
    )
    # Warehouses carry their names already: the busiest stores are named too.
    _name_busiest(ax, stores, units.reindex(stores.index).fillna(0), closed_ids | set(changed))
    ax.set_xlabel("Longitude (°)")
    ax.set_ylabel("Latitude (°)")
    ax.grid(alpha=0.25)
    n_ship = len(segments)
    from_stores = sum(1 for c in colours if c == STORE_COLOUR)
    ax.set_title(
        _text(
            f"{title}: {n_ship:,} ship shipments, {from_stores / max(n_ship, 1):.0%} from stores"
        ),
        loc="left",
        fontweight="bold",
    )
    handles = [
        Line2D([], [], marker="s", linestyle="", color=WAREHOUSE_COLOUR, markersize=9,
               label="Warehouse"),
        Line2D([], [], marker="o", linestyle="", color=STORE_COLOUR, markeredgecolor="black",
               markersize=7, label="Store that ships (size: units given)"),
        Line2D([], [], marker="o", linestyle="", markerfacecolor="white",
               markeredgecolor=STORE_COLOUR, markersize=7, label="Store, pickup only"),
        Line2D([], [], marker="X", linestyle="", color=WORSE_COLOUR, markersize=8,
               label="Serves nothing (no ship, no pickup)"),
        Line2D([], [], color=WAREHOUSE_COLOUR, alpha=0.6, label="Flow from a warehouse"),
        Line2D([], [], color=STORE_COLOUR, alpha=0.8, label="Flow from a store"),
        Line2D([], [], marker=".", linestyle="", color="#555555", label="Customer"),
    ]  # fmt: skip
    ax.legend(handles=handles, loc="lower left", fontsize=8, framealpha=0.9)
    return fig


def stock_map(request: Mapping[str, Any], title: str) -> Figure:
    """Where stock sits: each location's marker area proportional to its available units."""
    locations = pd.DataFrame(request["locations"]).set_index("id")
    stock = pd.DataFrame(request["inventory"]).groupby("location_id")["quantity"].sum()
    units = stock.reindex(locations.index).fillna(0)
    area = 12 + 700 * units / max(float(units.max()), 1.0)
    fig, ax = plt.subplots(figsize=(12, 7), layout="constrained")
    for kind, colour, marker in (
        ("warehouse", WAREHOUSE_COLOUR, "s"),
        ("store", STORE_COLOUR, "o"),
    ):
        at = locations["kind"] == kind
        ax.scatter(locations["lon"][at], locations["lat"][at], s=area[at], color=colour,
                   marker=marker, alpha=0.7, edgecolors="black", linewidths=0.5,
                   label=f"{kind.capitalize()}s: {int(units[at].sum()):,} units in "
                   f"{int(at.sum())} locations")  # fmt: skip
    biggest = units.nlargest(5)
    for location_id, quantity in biggest.items():
        row = locations.loc[location_id]
        ax.annotate(f"{location_id}: {int(quantity):,}", (row["lon"], row["lat"]), xytext=(8, 8),
                    textcoords="offset points", fontsize=8)  # fmt: skip
    _frame_map(ax, locations["lon"].tolist(), locations["lat"].tolist())
    ax.set_xlabel("Longitude (°)")
    ax.set_ylabel("Latitude (°)")
    ax.set_title(f"{_text(title)}: available units by location (marker area ~ units; "
                 "the five largest labelled)", loc="left", fontweight="bold")  # fmt: skip
    ax.legend(loc="lower left", fontsize=9, markerscale=0.5)
    ax.grid(alpha=0.25)
    return fig


LAND_COLOUR = "#eef0ea"
BORDER_COLOUR = "#b9bdb4"
BUSIEST_LABELLED = 5  # locations named on a flow map, by units given
MAP_MARGIN = 0.08  # share of the data's extent added around a map


def _frame_map(ax: Any, lons: Sequence[float], lats: Sequence[float]) -> None:
    """Fit the map to the points with a margin, correct the aspect for latitude, and draw the
    country outlines under everything (clipped to the frame, so they never widen it)."""
    lons_a = np.asarray([v for v in lons if np.isfinite(v)], dtype=float)
    lats_a = np.asarray([v for v in lats if np.isfinite(v)], dtype=float)
    if lons_a.size == 0:
        return
    west, east = float(lons_a.min()), float(lons_a.max())
    south, north = float(lats_a.min()), float(lats_a.max())
    pad_x = max((east - west) * MAP_MARGIN, 0.5)
    pad_y = max((north - south) * MAP_MARGIN, 0.5)
    ax.add_collection(
        PolyCollection(
            country_outlines(), facecolors=LAND_COLOUR, edgecolors=BORDER_COLOUR,
            linewidths=0.6, zorder=0,
        ),
        autolim=False,
    )  # fmt: skip
    ax.set_facecolor("#f7fbff")  # the sea
    ax.set_xlim(west - pad_x, east + pad_x)
    ax.set_ylim(south - pad_y, north + pad_y)
    ax.set_aspect(1.0 / np.cos(np.radians((south + north) / 2.0)))


def _name_busiest(
    ax: Any, locations: pd.DataFrame, units: pd.Series, skip: set[str], colour: str = "#222222"
) -> None:
    """Name the locations that gave the most units, with their units."""
    busiest = units[units > 0].drop(labels=list(skip), errors="ignore").nlargest(BUSIEST_LABELLED)
    for location_id, given in busiest.items():
        row = locations.loc[location_id]
        ax.annotate(
            f"{location_id}: {int(given):,} units", (row["lon"], row["lat"]), xytext=(7, 7),
            textcoords="offset points", fontsize=8, color=colour, fontweight="bold",
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "alpha": 0.75,
                  "linewidth": 0},
            zorder=6,
        )  # fmt: skip


def save(fig: Figure, path: Any) -> None:
    """Write a figure as PNG and free it (the runner draws many)."""
    fig.savefig(path, dpi=110)
    plt.close(fig)
