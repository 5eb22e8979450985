"""The morning run: load the night's full feeds, broker the backlog, publish availability.

Each step commits on its own, in that order. A refused feed stops the run before brokering (the
backlog is not brokered against stock the retailer knows to be stale); the feeds loaded before it
stay loaded, as each is a complete reset on its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from models.inventory import BrokeringRunOut, FeedHeader
from models.morning import MorningRunReport
from models.problems import InvalidInput
from services.brokering import run_brokering
from storage.availability import Publication, publish
from storage.db import Progress
from storage.feeds import load_feed_file


@dataclass(frozen=True, slots=True)
class MorningFeed:
    path: Path
    header: FeedHeader | None = None  # needed for CSV; a JSON feed carries its own


def morning_run(
    engine: Engine,
    feeds: list[MorningFeed],
    policy: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> MorningRunReport:
    """Raises :class:`InvalidInput` (naming the feed file) if a feed is refused. ``progress`` is
    told how each step gets on (rows read and applied, orders brokered, rows published)."""
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    loaded = []
    for feed in feeds:
        try:
            loaded.append(load_feed_file(engine, feed.path, feed.header, progress))
        except InvalidInput as error:
            raise InvalidInput(error.problems, what=f"feed {feed.path.name}") from None
    seconds["feeds"] = round(time.perf_counter() - started, 3)
    mark = time.perf_counter()
    run: BrokeringRunOut = run_brokering(engine, policy, progress=progress)
    seconds["broker"] = round(time.perf_counter() - mark, 3)
    mark = time.perf_counter()
    publication: Publication = publish(engine, progress)
    seconds["publish"] = round(time.perf_counter() - mark, 3)
    seconds["total"] = round(time.perf_counter() - started, 3)
    return MorningRunReport(
        feeds=loaded,
        run_id=run.id,
        orders=run.orders,
        summary=run.result["summary"],
        solver=run.result["solver"],
        availability_cursor=publication.cursor,
        availability_rows_changed=publication.rows_changed,
        seconds=seconds,
    )
