"""Write the analyst notebooks of this folder, without outputs.

The notebooks are generated rather than edited by hand so that they stay small, reviewable and
free of outputs (CI executes them; see tests/test_notebooks.py). Edit the cells here and run::

    .venv/bin/python notebooks/build_notebooks.py
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent

SETUP = """\
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from scenarios import notebook_api as nb
from scenarios import plots

pd.set_option("display.width", 140)
pd.set_option("display.max_columns", 20)
# The repository root, whether the notebook runs from notebooks/ or from the root.
ROOT = Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()"""


def md(text: str) -> nbformat.NotebookNode:
    return new_markdown_cell(text.strip())


def code(text: str) -> nbformat.NotebookNode:
    return new_code_cell(text.strip())


QUICKSTART = [
    md("""
# Quickstart: solve a batch, read the answer

A brokering run takes a **batch of orders** and an **availability snapshot** (what each warehouse
and store can promise) and decides which location serves which order line. This notebook builds a
batch from pandas tables, solves it, and reads the answer: where units come from, what it costs,
and **why some lines went unfilled**.

The tables use the solve contract's field names (`shared/contract/solve.md`); a ship order's
address is two columns, `ship_lat` and `ship_lon`.
"""),
    code(SETUP),
    md("""
## 1. A batch as four tables

`generate_tables` draws a realistic network over US geography (warehouses at logistics hubs,
stores in cities by population) and a morning batch of orders. Any four tables with these
columns will do: read them from your OMS extract instead.
"""),
    code("""
tables = nb.generate_tables(orders=150, locations=20, skus=200, seed=1)
tables["policy"]["time_limit_s"] = 10.0
tables["locations"].head(6)"""),
    code("""tables["orders"].head()"""),
    code("""tables["lines"].head()"""),
    md("""
## 2. Bad input is refused whole, every problem listed

Before anything is solved the request is validated. A broken table is refused with the path of
each field at fault, exactly as the API answers `422`.
"""),
    code("""
from models.problems import InvalidInput

broken_lines = tables["lines"].copy()
broken_lines.loc[0, "quantity"] = 0              # quantities are >= 1
broken_lines.loc[1, "sku"] = ""                  # skus are non-empty
try:
    nb.build_request(tables["locations"], tables["inventory"], tables["orders"], broken_lines)
except InvalidInput as error:
    print(error.describe())"""),
    md("## 3. Solve"),
    code("""
result = nb.solve_tables(**tables)
result.solver"""),
    code("""result.summary"""),
    md("""
## 4. Allocations: who serves what

Each row is units of one order line from one location, joined with the sku, the order's priority
and delivery, and the location's kind.
"""),
    code("""result.allocations.head(8)"""),
    code("""
result.allocations.pivot_table(
    index="location_kind", columns="delivery", values="quantity", aggfunc="sum", fill_value=0
)"""),
    md("""
## 5. Why lines went unfilled

Every line that misses units carries one reason from a closed list, the first that applies:
`out_of_stock`, `no_eligible_location`, `outranked` (higher priorities took the units),
`allocated_to_other_orders`, `capacity` (store caps reached), `cannot_split`, `all_or_nothing`,
`time_limit`.
"""),
    code("""result.unallocated"""),
    code("""
by_reason = result.unallocated.groupby("reason")["quantity"].sum().sort_values()
ax = by_reason.plot.barh(color="#c0392b", figsize=(8, 3))
ax.set_xlabel("Units unfilled")
ax.set_ylabel("")
ax.set_title("Why units went unfilled", loc="left", fontweight="bold")
plt.show()"""),
    md("""
## 6. What is left, and the KPIs

`remaining` is the snapshot after the batch: the positions the batch emptied are the ones a
walk-in customer will find bare. The KPI record is the one every what-if scenario reports.
"""),
    code("""
emptied = result.remaining[(result.remaining["available"] > 0) & (result.remaining["remaining"] == 0)]
emptied.groupby("location_kind").size().rename("positions emptied")"""),
    code("""result.kpis.T"""),
    md("""
## 7. Why this location?

The answer says where; `nb.explain` says why not elsewhere. For each shipment, the **next-best
location**: the cheapest other eligible location that still held every unit of the shipment
after the batch (and had capacity left), and what moving the shipment there would have cost
more. Where there is none, the stock elsewhere went to other orders. For each unfilled line,
the orders that took the units it could have had, highest priority first. (The same comes back
from the API with `policy.explain: true`.)
"""),
    code("""
why = nb.explain(result)
why.shipments.sort_values("extra_cost", ascending=False).head(8)"""),
    code("""
has_alternative = why.shipments["alternative_location_id"].notna()
print(f"{has_alternative.mean():.0%} of shipments had another location able to take them whole; "
      f"the median one would have cost ${why.shipments['extra_cost'].median():.2f} more.")"""),
    code("""why.unfilled.head(10)"""),
    md("""
Next: `what_if.ipynb` compares variants of a network (a store closed, demand doubled, ...), and
`network.ipynb` maps locations, stock and flows.
"""),
]


WHAT_IF = [
    md("""
# What if? Compare variants of a network

A **scenario** is a baseline (a network and a batch) and **variants**, each a typed change-set
against it: location overrides (ships, pickup, caps, costs, closed), inventory changes, safety
stock, demand scaling and filtering, policy overrides (costs, max distance, greedy vs optimal).
Every variant reports the same KPI record, so they compare like with like.

Scenario files live in `scenarios/*.yaml` and run from the command line with
`omnibroker scenario run scenarios/peak_day.yaml`; here we write one inline (small, so it runs in
seconds) and compare its variants with plots. See `docs/scenarios.md` for every field.
"""),
    code(SETUP),
    md("## 1. A scenario, written as YAML"),
    code('''
SCENARIO = """
name: Store network levers
seed: 4
baseline:
  generate: {orders: 150, locations: 20, skus: 200, seed: 3}
  policy: {time_limit_s: 15, relative_gap: 0.01}
variants:
  - name: Demand x1.5
    demand: {scale: 1.5}
  - name: Stores keep 2 units
    safety_stock:
      - {kind: store, units: 2}
  - name: Store shipping $15
    policy: {shipment_cost: {store: 15.0}}
  - name: Greedy rules
    policy: {strategy: greedy}
"""
source = nb.load_scenario_text(SCENARIO, base_dir=ROOT)
[variant.name for variant in source.scenario.variants]'''),
    md("## 2. Run it: one KPI row per variant"),
    code("""
result = nb.run_scenario(source, progress=False)
result.kpis[["fill_rate", "units_unfilled", "total_cost", "cost_per_unit", "split_rate",
             "mean_distance_km", "store_unit_share", "store_positions_emptied", "solver_status"]]"""),
    md("""
Each KPI against the baseline: rates in percentage points, counts in units, money in dollars.
The verdict ranks each variant in the contract's order: fill by priority first (highest
priority down), then cost (per unit allocated when the variant changes demand, as "Demand x1.5"
does: more orders cost more in total, which is no verdict on the network).
"""),
    code("""
from scenarios.kpi import deltas, verdicts

change = deltas(result.kpis, "baseline")
rates = ["fill_rate", "store_unit_share"]
change[rates] = change[rates] * 100  # fractions to percentage points
change = change[["fill_rate", "units_unfilled", "total_cost", "cost_per_unit", "mean_distance_km",
                 "store_unit_share"]].round(2)
change.insert(0, "verdict", verdicts(result.kpis, "baseline"))
change.rename(columns={"fill_rate": "fill_rate (pt)", "store_unit_share": "store_unit_share (pt)"})"""),
    md("""
## 3. Plots

Dots are each variant's value, the dashed line the baseline's. Fill and cost are coloured by the
variant's verdict in the contract's order (green better, red worse: a cheaper variant that fills
less is red on cost too); totals of a variant with other demand are grey; blue is a change of mix
(neither better nor worse in itself). Axes start at zero, or their label says why not.
"""),
    code("""
fig = plots.kpi_comparison(result.kpis, "baseline", source.scenario.name)
plt.show()"""),
    code("""
fig = plots.unit_mix(result.kpis, source.scenario.name)
plt.show()"""),
    code("""
from scenarios.runner import ship_distances

fig = plots.distance_histogram(ship_distances(result), source.scenario.name, "baseline")
plt.show()"""),
    md("Flows of the baseline and of the dearer store shipping, side by side in two figures:"),
    code("""
for variant in (result.results[0], result.results[3]):
    fig = plots.flow_map(variant.request, variant.response, variant.name)
    plt.show()"""),
    md("""
## 4. Going deeper into one variant

Every variant's request and response are kept: turn any of them into tables to ask why.
"""),
    code("""
greedy = nb.result_tables(result.results[4].request, result.results[4].response, "Greedy rules")
optimal = nb.result_tables(result.results[0].request, result.results[0].response, "baseline")
pd.DataFrame({
    "optimal": optimal.unallocated.groupby("reason")["quantity"].sum(),
    "greedy": greedy.unallocated.groupby("reason")["quantity"].sum(),
}).fillna(0).astype(int)"""),
    md("""
Why did the greedy rules leave units unfilled that the optimiser filled? The explanations name
the orders that took them:
"""),
    code("""
why_greedy = nb.explain(greedy)
why_greedy.unfilled.dropna(subset=["taker_order_id"]).head(8)"""),
    md("""
## 5. A mistake in a scenario file names its line

A scenario is checked before anything runs; every problem comes with its line and field.
"""),
    code("""
from scenarios.schema import ScenarioInvalid

try:
    nb.load_scenario_text(SCENARIO.replace("units: 2", "units: two").replace("scale: 1.5", "scael: 1.5"))
except ScenarioInvalid as error:
    print(error.describe())"""),
    md("""
## 6. The shipped scenarios

Each runs with one command and writes a report (`report.md`, PNGs, `kpis.csv`, `kpis.parquet`)
into `out/scenarios/<name>/`:
"""),
    code("""
from scenarios.schema import load_scenario

for file in sorted((ROOT / "scenarios").glob("*.yaml")):
    scenario = load_scenario(file).scenario
    print(f"omnibroker scenario run scenarios/{file.name:<24} # {scenario.name}: "
          + " | ".join(v.name for v in scenario.variants))"""),
]


NETWORK = [
    md("""
# The network: where stock sits, where it flows

Maps of a network and one solved batch: locations by kind, the stock each holds, the flows from
locations to customers, and how close the stores come to their ship-from-store caps. Country
outlines come from Natural Earth's public-domain shapes shipped with the package (nothing is
downloaded); the busiest locations are named on the map.
"""),
    code(SETUP),
    code("""
tables = nb.generate_tables(orders=200, locations=30, skus=250, seed=7)
tables["policy"]["time_limit_s"] = 15.0
request = nb.request_from_tables(**tables)
locations = tables["locations"]
locations["kind"].value_counts()"""),
    md("## 1. Where stock sits"),
    code("""
fig = plots.stock_map(request, "Generated network")
plt.show()"""),
    code("""
stock = tables["inventory"].merge(locations[["id", "kind"]], left_on="location_id", right_on="id")
stock.groupby("kind").agg(units=("quantity", "sum"), positions=("sku", "size"),
                          skus=("sku", "nunique"))"""),
    md("""
How widely is each sku available? The histogram counts, for each sku, the locations holding it;
the figures under it say where the bulk sits and how thin the tail is. Skus held in few
locations are where splits and long shipments come from.
"""),
    code("""
carriers = stock[stock["quantity"] > 0].groupby("sku")["location_id"].nunique()
ax = carriers.plot.hist(bins=range(0, int(carriers.max()) + 2), color="#3b6ea5", figsize=(8, 3.5))
ax.set_xlabel("Locations holding the sku")
ax.set_ylabel("Skus")
ax.set_title("Availability breadth per sku", loc="left", fontweight="bold")
plt.show()
low, high = carriers.quantile([0.1, 0.9]).astype(int)
print(f"{len(carriers)} skus in stock; 80% of them are held in {low} to {high} of "
      f"{len(locations)} locations; {(carriers <= 2).sum()} in two locations or fewer.")"""),
    md("## 2. Flows of one batch"),
    code("""
result = nb.solve_request(request)
fig = plots.flow_map(result.request, result.response, "Morning batch")
plt.show()"""),
    code("""
ships = result.shipments[result.shipments["delivery"] == "ship"]
ships.groupby("location_kind")["distance_km"].describe()[["count", "mean", "50%", "max"]].round(0)"""),
    md("""
## 3. Store capacity: how close to the caps?

Ship-from-store is capped per batch (`max_shipments`): store staff pick the orders. A store at
its cap is where a what-if on capacity will move the answer.
"""),
    code("""
used = result.shipments.groupby("location_id").size().rename("shipments")
stores = locations[locations["kind"] == "store"].set_index("id")
capacity = stores[["max_shipments"]].join(used).fillna({"shipments": 0})
capacity = capacity.dropna(subset=["max_shipments"])
capacity["utilisation"] = capacity["shipments"] / capacity["max_shipments"].astype(float)
capacity = capacity.sort_values("utilisation")
ax = capacity["utilisation"].mul(100).plot.barh(color="#e08a1e", figsize=(8, 6))
ax.axvline(100, color="#c0392b", linestyle="--", linewidth=1)
ax.set_xlabel("Shipments as % of the store's max_shipments")
ax.set_ylabel("")
ax.set_title("Ship-from-store capacity used", loc="left", fontweight="bold")
plt.show()"""),
    code("""capacity.tail(5)"""),
]


def write(name: str, cells: list[nbformat.NotebookNode]) -> Path:
    notebook = new_notebook(cells=cells)
    # Stable cell ids (nbformat draws random ones): regenerating an unchanged notebook is a no-op.
    for index, cell in enumerate(notebook.cells):
        cell.id = f"{Path(name).stem}-{index:02d}"
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    notebook.metadata["language_info"] = {"name": "python"}
    nbformat.validate(notebook)
    path = HERE / name
    nbformat.write(notebook, path)
    return path


def main() -> None:
    for name, cells in (
        ("quickstart.ipynb", QUICKSTART),
        ("what_if.ipynb", WHAT_IF),
        ("network.ipynb", NETWORK),
    ):
        print(write(name, cells))


if __name__ == "__main__":
    main()
