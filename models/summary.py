"""The response's ``summary`` (solve contract), counted one way: from per-order figures.

The solver writes it for the batch it solved (:func:`engine.result.build_response`), a brokering
run again for its whole queue and after its cut at commit (:mod:`ledger.brokering_run`).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def response_summary(
    order_requested: np.ndarray,
    order_allocated: np.ndarray,
    order_priority: np.ndarray,
    order_shipments: np.ndarray,
    total_cost: float,
) -> dict[str, Any]:
    """The summary of a response, from aligned per-order arrays: units requested, units
    allocated, priority and shipments of each order; ``total_cost`` unrounded (rounded here to 2
    decimals, as the contract says). ``by_priority`` lists the priorities highest first."""
    requested = np.asarray(order_requested, dtype=np.int64)
    allocated = np.asarray(order_allocated, dtype=np.int64)
    priority = np.asarray(order_priority, dtype=np.int64)
    shipments = np.asarray(order_shipments, dtype=np.int64)
    return {
        "orders": int(requested.size),
        "orders_fully_allocated": int(np.count_nonzero(allocated >= requested)),
        "units_requested": int(requested.sum()),
        "units_allocated": int(allocated.sum()),
        "shipments": int(shipments.sum()),
        "split_orders": int(np.count_nonzero(shipments > 1)),
        "total_cost": round(total_cost, 2),
        "by_priority": [
            {
                "priority": int(level),
                "units_requested": int(requested[priority == level].sum()),
                "units_allocated": int(allocated[priority == level].sum()),
            }
            for level in np.unique(priority)[::-1].tolist()
        ],
    }
