"""Event batches read and validated: a JSON array, ``{"events": [...]}`` or JSON lines in; an
:class:`EventBatch` out, or every bad row refused at once (:class:`~models.problems.InvalidInput`,
``loc`` ``["line", 17, "quantity"]`` for JSON lines, ``["events", 16, ...]`` for a document).

The plainly well-formed moves of stock (the bulk of any batch) take a fast path of a few type
tests each, with the limits read from the schema (:mod:`models.inventory`); every other row is
validated by the schema itself, which alone decides what is refused and why.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import orjson
import pandas as pd
from pydantic import ValidationError

from models.inventory import (
    EVENT_ADAPTER,
    EVENT_KINDS,
    STOCK_KINDS,
    STOCK_MOVES,
    VARIANCE_REASONS,
    CountQuantity,
    Event,
    EventQuantity,
    from_us,
    id_length_range,
    quantity_range,
)
from models.problems import InvalidInput, Problem, describe_row, row_problems
from models.solve import Id, Sku

# The fast path's limits, read from the schema's types (ids are tested for a NUL, as the schema's
# pattern does: id_length_range refuses to load should the pattern change).
_ID_MIN, _ID_MAX = id_length_range(Id)
_SKU_MIN, _SKU_MAX = id_length_range(Sku)
_MOVE_MIN, _MOVE_MAX = quantity_range(EventQuantity)
_COUNT_MIN, _COUNT_MAX = quantity_range(CountQuantity)


@dataclass(frozen=True, slots=True)
class NumberedEvent:
    """An event and where it stood in its batch (its line number), for problems found later."""

    where: tuple[str | int, ...]
    event: Event
    index: int = -1  # place in the batch (the first of two equal ids counts)


# ASCII digits only: str patterns' \d would also take "٣" and "²".
_ISO_WITH_ZONE = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)", re.ASCII
)


@dataclass(frozen=True, slots=True)
class StockEventColumns:
    """Sales, variances, receipts and returns of a batch, validated in bulk, as columns."""

    index: np.ndarray  # place in the batch
    id: list[str]
    kind: list[str]
    location_id: list[str]
    sku: list[str]
    quantity: np.ndarray
    occurred_us: np.ndarray
    reason: list[str | None]


@dataclass(frozen=True, slots=True)
class EventBatch:
    """A validated batch: the common stock moves as columns, every other event as an object."""

    ids: list[str]  # every event's id, in batch order
    where: list[tuple[str | int, ...]]  # every event's place (line number), in batch order
    stock: StockEventColumns
    others: list[NumberedEvent]

    def numbered(self, position: int) -> NumberedEvent:
        """A stock row as an event object (for the event-by-event path)."""
        s = self.stock
        fields: dict[str, Any] = {
            "id": s.id[position], "kind": s.kind[position], "location_id": s.location_id[position],
            "sku": s.sku[position], "quantity": int(s.quantity[position]),
            "occurred_at": from_us(int(s.occurred_us[position])),
        }  # fmt: skip
        if s.reason[position] is not None:
            fields["reason"] = s.reason[position]
        event = STOCK_MOVES[fields["kind"]].model_construct(**fields)
        return NumberedEvent(self.where[int(s.index[position])], event, int(s.index[position]))


def _is_fast_stock_row(row: Any, known_locations: Mapping[str, Any]) -> bool:
    """True when the row is certainly a valid stock event (a subset of what the schema accepts:
    plain types, an ISO time with its zone, the contract's limits); anything else goes through
    pydantic, row by row, which alone says what is wrong."""
    if type(row) is not dict:
        return False
    kind = row.get("kind")
    if type(kind) is not str or kind not in STOCK_KINDS:
        return False
    event_id, location, sku, quantity, occurred, reason = (
        row.get("id"), row.get("location_id"), row.get("sku"), row.get("quantity"),
        row.get("occurred_at"), row.get("reason"),
    )  # fmt: skip
    if kind == "variance" and (type(reason) is not str or reason not in VARIANCE_REASONS):
        return False
    return (
        type(event_id) is str
        and _ID_MIN <= len(event_id) <= _ID_MAX
        and "\x00" not in event_id
        and type(location) is str
        and location in known_locations
        and type(sku) is str
        and _SKU_MIN <= len(sku) <= _SKU_MAX
        and "\x00" not in sku
        and type(quantity) is int
        and (
            _MOVE_MIN <= quantity <= _MOVE_MAX
            # VarianceEvent's own rule: a cycle count alone may say 0 (or any count).
            or (kind == "variance" and reason == "count" and _COUNT_MIN <= quantity <= _COUNT_MAX)
        )
        and type(occurred) is str
        and _ISO_WITH_ZONE.fullmatch(occurred) is not None
    )


def parse_event_rows(
    data: bytes | str | IO[bytes], known_locations: Mapping[str, Any]
) -> EventBatch:
    """Validate a batch (JSON array, ``{"events": [...]}`` or JSON lines) into an
    :class:`EventBatch`. Raises :class:`InvalidInput` listing every bad row; nothing applies then.

    The rows that are plainly well-formed stock moves are checked with a few type tests each and
    their times parsed in one vectorised call; every other row is validated by the pydantic
    schema, which alone decides what is refused and why."""
    text = _event_text(data)
    items: list[tuple[tuple[str | int, ...], Any]] = []
    stripped = text.lstrip()
    if stripped.startswith("[") or (stripped.startswith("{") and _is_single_document(stripped)):
        items = list(read_event_batch(text))
    else:
        lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
        try:
            decoded = orjson.loads("[" + ",".join(line for _, line in lines) + "]")
            items = [(("line", n), row) for (n, _), row in zip(lines, decoded, strict=True)]
        except orjson.JSONDecodeError:
            # Some line is not JSON: decode line by line so each bad one is named.
            items = [(("line", n), line) for n, line in lines]
    fast = [i for i, (_, row) in enumerate(items) if _is_fast_stock_row(row, known_locations)]
    rows = [items[i][1] for i in fast]
    occurred = pd.to_datetime(
        pd.Series([r["occurred_at"] for r in rows], dtype=object),
        format="ISO8601",
        utc=True,
        errors="coerce",
    )
    parsed_ok = ~occurred.isna().to_numpy()
    if not parsed_ok.all():  # e.g. month 13: let the schema say what is wrong
        fast = [i for i, ok in zip(fast, parsed_ok.tolist(), strict=True) if ok]
        rows = [r for r, ok in zip(rows, parsed_ok.tolist(), strict=True) if ok]
        occurred = occurred[parsed_ok]
    fast_set = set(fast)
    slow_items = [(i, items[i]) for i in range(len(items)) if i not in fast_set]
    others: list[NumberedEvent] = []
    problems: list[Problem] = []
    if slow_items:
        try:
            parsed = parse_events([item for _, item in slow_items], known_locations)
        except InvalidInput as error:
            problems = error.problems
            parsed = []
        others = [
            NumberedEvent(n.where, n.event, index)
            for (index, _), n in zip(slow_items, parsed, strict=False)
        ]
    if problems:
        raise InvalidInput(problems, what="event batch")
    ids = [""] * len(items)
    for index, row in zip(fast, rows, strict=True):
        ids[index] = row["id"]
    for numbered in others:
        ids[numbered.index] = numbered.event.id
    stock = StockEventColumns(
        index=np.asarray(fast, dtype=np.int64),
        id=[r["id"] for r in rows],
        kind=[r["kind"] for r in rows],
        location_id=[r["location_id"] for r in rows],
        sku=[r["sku"] for r in rows],
        quantity=np.asarray([r["quantity"] for r in rows], dtype=np.int64),
        occurred_us=occurred.dt.as_unit("us").astype("int64").to_numpy()
        if rows
        else np.zeros(0, dtype=np.int64),
        reason=[r.get("reason") if r["kind"] == "variance" else None for r in rows],
    )
    return EventBatch(ids, [where for where, _ in items], stock, others)


def parse_events(
    items: Iterable[tuple[tuple[str | int, ...], Any]], known_locations: Mapping[str, Any]
) -> list[NumberedEvent]:
    """Validate a batch: every item against its kind's schema and its location against the known
    ones. ``items`` are (where, decoded JSON or raw JSON text). Raises :class:`InvalidInput` with
    every bad row; returns the events in batch order."""
    problems: list[Problem] = []
    parsed: list[NumberedEvent] = []
    for where, item in items:
        try:
            if isinstance(item, str | bytes):
                event = EVENT_ADAPTER.validate_json(item)
            else:
                event = EVENT_ADAPTER.validate_python(item)
        except ValidationError as exc:
            problems.extend(row_problems(exc, where, union_tags=EVENT_KINDS))
            continue
        if event.location_id not in known_locations:
            problems.append(
                Problem(
                    (*where, "location_id"),
                    f"{describe_row(where)}: unknown location {event.location_id!r}",
                    "unknown_location",
                )
            )
            continue
        parsed.append(NumberedEvent(where, event))
    if problems:
        raise InvalidInput(problems, what="event batch")
    return parsed


def read_event_batch(data: bytes | str | IO[bytes]) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """Items of an event batch: a JSON array, ``{"events": [...]}``, or JSON lines (one event per
    line). JSON lines are yielded as raw text (validated straight from JSON, the fast path)."""
    text = _event_text(data)
    stripped = text.lstrip()
    if stripped.startswith("[") or (stripped.startswith("{") and _is_single_document(stripped)):
        try:
            document = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(
                [Problem((), f"body is not valid JSON: {exc}", "json_invalid")], what="event batch"
            ) from None
        if isinstance(document, dict) and "events" not in document:
            # One event alone: a batch of JSON lines with one line.
            yield ("line", 1), document
            return
        if isinstance(document, dict):
            document = document["events"]
        if not isinstance(document, list):
            raise InvalidInput(
                [Problem((), 'expected a JSON array of events, {"events": [...]} or JSON lines')],
                what="event batch",
            )
        for index, item in enumerate(document):
            yield ("events", index), item
        return
    for number, line in enumerate(io.StringIO(text), start=1):
        if line.strip():
            yield ("line", number), line


def _event_text(data: bytes | str | IO[bytes]) -> str:
    if not isinstance(data, bytes | str):
        data = data.read()
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InvalidInput(
            [Problem(("line", line), f"line {line}: not UTF-8 ({exc.reason})", "utf8_invalid")],
            what="event batch",
        ) from None


def _is_single_document(text: str) -> bool:
    # A JSON-lines batch also starts with "{"; it is one document only if it parses as one.
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return True
