"""The order updates feed's wire schema: what became of each order, by cursor."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

OrderUpdateStatus = Literal["queued", "brokered", "partly_brokered", "rejected", "shipped"]


class LineUnits(BaseModel):
    """Units of an order line at a location (brokered there, rejected or shipped by it)."""

    line_id: str
    location_id: str
    quantity: int


class OpenLine(BaseModel):
    """Units of a line still open after a run, and why (the solve contract's reason)."""

    line_id: str
    quantity: int
    reason: str


class OrderUpdate(BaseModel):
    cursor: int = Field(description="This update's place in the feed; ask since it for the next.")
    order_id: str
    status: OrderUpdateStatus
    at: datetime
    version: int = Field(description="The ledger version that made the change.")
    lines: list[LineUnits] = Field(
        default_factory=list,
        description="brokered / partly_brokered: the units this run reserved, per line and "
        "location; rejected and shipped: the units of the event.",
    )
    open: list[OpenLine] = Field(
        default_factory=list, description="partly_brokered: what is still open, and why."
    )
    brokered_again: bool = Field(
        default=False, description="brokered after a location rejected part of the order."
    )


class OrderUpdatesPage(BaseModel):
    updates: list[OrderUpdate]
    cursor: int = Field(description="The last update's cursor (or the one given): ask since it.")
