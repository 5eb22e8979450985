"""The morning run's report on the wire (API and CLI)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from models.inventory import FeedResult


class MorningRunReport(BaseModel):
    feeds: list[FeedResult]
    run_id: int
    orders: int
    summary: dict[str, Any]
    solver: dict[str, Any]
    availability_cursor: int
    availability_rows_changed: int
    seconds: dict[str, float]
