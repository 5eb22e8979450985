"""What-if comparisons that cannot mislead: variants on the same demand (cancelled orders are
unfilled demand, with their own reason), verdicts in the contract's order (fill by priority
first, then cost), and axes that start at zero or say why not."""

from __future__ import annotations

import matplotlib
import pandas as pd
import pytest

from scenarios import plots
from scenarios.changes import CANCELLED_ORDERS_FIELD, apply_changes
from scenarios.kpi import compute_kpis, unfilled_by_reason, verdicts
from scenarios.schema import ChangeSet
from tests.builders import solved
from tests.test_scenarios_changes import baseline

matplotlib.use("Agg")


def closed_with_cancelled_pickups() -> tuple[dict, dict]:
    base = baseline()
    closed = apply_changes(
        base,
        ChangeSet.model_validate(
            {"locations": [{"ids": ["S-0001"], "closed": True, "orphaned_pickup": "cancel"}]}
        ),
    )
    return base, closed


def test_cancelled_orders_are_kept_beside_the_request() -> None:
    _, closed = closed_with_cancelled_pickups()
    assert [o["id"] for o in closed[CANCELLED_ORDERS_FIELD]] == ["SO-3"]


def test_rerouted_pickups_leave_no_cancelled_orders() -> None:
    changes = {"locations": [{"ids": ["S-0001"], "closed": True, "orphaned_pickup": "ship"}]}
    closed = apply_changes(baseline(), ChangeSet.model_validate(changes))
    assert CANCELLED_ORDERS_FIELD not in closed


def test_cancelled_orders_count_as_unfilled_demand() -> None:
    base, closed = closed_with_cancelled_pickups()
    before = compute_kpis("baseline", base, solved(base))
    after = compute_kpis("closed", closed, solved(closed))
    assert (after.orders, after.units_requested) == (before.orders, before.units_requested)
    assert (after.orders_cancelled, after.units_cancelled) == (1, 1)
    assert after.units_unfilled >= 1
    # SO-3 is priority 0: that priority's fill counts its unit as missing.
    assert after.fill_rate_by_priority[0] < 1.0


def test_cancelled_units_have_their_own_reason() -> None:
    _, closed = closed_with_cancelled_pickups()
    reasons = unfilled_by_reason(closed, solved(closed))
    assert reasons["cancelled"] == 1


def kpis(rows: dict[str, dict]) -> pd.DataFrame:
    """A KPI table from a few hand-set fields (the rest irrelevant to verdicts)."""
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "variant"
    return frame


def test_fill_by_priority_comes_before_cost() -> None:
    table = kpis(
        {
            "baseline": {"orders": 10, "units_requested": 20, "fill_rate_p1": 1.0,
                         "fill_rate_p0": 0.9, "total_cost": 100.0, "cost_per_unit": 5.0},
            "cheaper, fills less": {"orders": 10, "units_requested": 20, "fill_rate_p1": 1.0,
                                    "fill_rate_p0": 0.8, "total_cost": 60.0, "cost_per_unit": 4.0},
            "dearer, fills more": {"orders": 10, "units_requested": 20, "fill_rate_p1": 1.0,
                                   "fill_rate_p0": 0.95, "total_cost": 140.0, "cost_per_unit": 7.0},
        }
    )  # fmt: skip
    verdict = verdicts(table, "baseline")
    assert verdict["cheaper, fills less"] == "worse"
    assert verdict["dearer, fills more"] == "better"
    assert verdict["baseline"] == "same"


def test_a_higher_priority_outweighs_every_lower_one() -> None:
    table = kpis(
        {
            "baseline": {"orders": 2, "units_requested": 4, "fill_rate_p1": 1.0,
                         "fill_rate_p0": 0.5, "total_cost": 10.0, "cost_per_unit": 5.0},
            "variant": {"orders": 2, "units_requested": 4, "fill_rate_p1": 0.5,
                        "fill_rate_p0": 1.0, "total_cost": 10.0, "cost_per_unit": 5.0},
        }
    )  # fmt: skip
    assert verdicts(table, "baseline")["variant"] == "worse"


def test_other_demand_compares_cost_per_unit_not_total_cost() -> None:
    table = kpis(
        {
            "baseline": {"orders": 10, "units_requested": 20, "fill_rate_p0": 1.0,
                         "total_cost": 100.0, "cost_per_unit": 5.0},
            "demand x2": {"orders": 20, "units_requested": 40, "fill_rate_p0": 1.0,
                          "total_cost": 180.0, "cost_per_unit": 4.5},
        }
    )  # fmt: skip
    assert verdicts(table, "baseline")["demand x2"] == "better"


def segment_colour(fig, panel_title: str, y_label: str) -> str:
    (ax,) = [a for a in fig.axes if a.get_title(loc="left") == panel_title]
    ticks = {t.get_text(): t.get_position()[1] for t in ax.get_yticklabels()}
    position = ticks[y_label]
    for line in ax.get_lines():
        ys = line.get_ydata()
        if len(ys) == 2 and ys[0] == ys[1] == position:
            return matplotlib.colors.to_hex(line.get_color())
    raise AssertionError(f"no segment for {y_label} in {panel_title}")


def comparison_table() -> pd.DataFrame:
    base = {"orders": 10, "units_requested": 20, "orders_cancelled": 0, "units_cancelled": 0,
            "fill_rate_p0": 0.9, "fill_rate": 0.9, "units_unfilled": 2, "total_cost": 100.0,
            "cost_per_unit": 5.0, "split_rate": 0.1, "mean_distance_km": 500.0,
            "store_unit_share": 0.3, "store_positions_emptied": 4}  # fmt: skip
    return kpis(
        {
            "baseline": base,
            "cheaper, fills less": {**base, "fill_rate_p0": 0.85, "fill_rate": 0.85,
                                    "units_unfilled": 3, "total_cost": 80.0, "cost_per_unit": 4.7},
            "demand x2": {**base, "orders": 20, "units_requested": 40, "units_unfilled": 4,
                          "total_cost": 190.0, "cost_per_unit": 4.9},
        }
    )  # fmt: skip


def test_a_cheaper_variant_that_fills_less_is_drawn_worse() -> None:
    fig = plots.kpi_comparison(comparison_table(), "baseline", "t")
    assert segment_colour(fig, "Total cost", "cheaper, fills less") == plots.WORSE_COLOUR
    assert segment_colour(fig, "Fill rate", "cheaper, fills less") == plots.WORSE_COLOUR


def test_totals_on_other_demand_are_not_drawn_better_or_worse() -> None:
    fig = plots.kpi_comparison(comparison_table(), "baseline", "t")
    assert segment_colour(fig, "Total cost", "demand x2") == plots.OTHER_DEMAND_COLOUR
    assert segment_colour(fig, "Cost per unit", "demand x2") == plots.BETTER_COLOUR


def test_axes_start_at_zero_or_say_why_not() -> None:
    fig = plots.kpi_comparison(comparison_table(), "baseline", "t")
    panels = [a for a in fig.axes if a.get_visible() and a.get_title(loc="left")]
    assert panels
    for ax in panels:
        starts_at_zero = ax.get_xlim()[0] == pytest.approx(0.0)
        assert starts_at_zero or "not 0" in ax.get_xlabel(), ax.get_title(loc="left")
    (fill,) = [a for a in panels if a.get_title(loc="left") == "Fill rate"]
    assert "not 0" in fill.get_xlabel()  # 85% to 90%: zoomed, and it says so
