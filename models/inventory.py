"""Wire schemas of the inventory contract (``shared/contract/inventory.md``) and the readers that
turn feeds and event batches into validated rows, or refuse them whole.

Events, feeds, positions, snapshots, the outbound availability feed, queued orders and brokering
runs. A batch or feed with any bad row is refused whole: :class:`~models.problems.InvalidInput`
lists every bad row with its line number and reason (``loc`` ``["line", 17, "quantity"]`` for CSV
and JSON lines, ``["rows", 16, "quantity"]`` / ``["events", 16, ...]`` for a JSON document).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Annotated, Any, Literal

import ijson
import numpy as np
import orjson
import pandas as pd
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from models.problems import (
    NO_NUL_PATTERN,
    InvalidInput,
    Problem,
    problems_from_validation_error,
    sort_problems,
    unique_problems,
)
from models.solve import (
    MAX_ID_LENGTH,
    MAX_QUANTITY,
    Id,
    Latitude,
    Longitude,
    Money,
    Order,
    Policy,
    Sku,
)
from models.validation import order_problems

# The contract's limits (shared/contract/inventory.md "Events"): an event moves 1 to 1e9 units (a
# cycle count may say 0), a feed row holds 0 to 1e9, so no position's sum can overflow int64.
# The fast readers below check the same bounds; tests/test_limits.py holds the two to agreement.
EventQuantity = Annotated[int, Strict(), Field(ge=1, le=MAX_QUANTITY)]
CountQuantity = Annotated[int, Strict(), Field(ge=0, le=MAX_QUANTITY)]
FeedQuantity = Annotated[int, Strict(), Field(ge=0, le=MAX_QUANTITY)]
Setting = Annotated[int, Strict(), Field(ge=0, le=MAX_QUANTITY)]

FeedSource = Literal["erp", "sim", "wms"]
FeedBasis = Literal["physical", "available"]
VarianceReason = Literal["lost", "damaged", "defective", "found", "count"]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


def to_us(moment: datetime) -> int:
    """A zone-aware time as integer microseconds since the epoch (the ledger's clock)."""
    # A float timestamp resolves ~0.25 us at today's epoch seconds: rounding gives the exact us.
    return round(moment.timestamp() * 1_000_000)


def from_us(moment_us: int | None) -> datetime | None:
    if moment_us is None:
        return None
    return datetime.fromtimestamp(moment_us / 1_000_000, tz=UTC)


# --- events -----------------------------------------------------------------------------------


class _Event(_Wire):
    id: Id
    location_id: Id
    occurred_at: AwareDatetime


class _StockEvent(_Event):
    sku: Sku
    quantity: EventQuantity


class SaleEvent(_StockEvent):
    """POS: units sold over the counter."""

    kind: Literal["sale"]


class VarianceEvent(_Event):
    """POS, SIM: stock found wrong. ``count`` is a cycle count: ``on_hand`` becomes ``quantity``
    (0 is a valid count; every other reason moves at least one unit)."""

    kind: Literal["variance"]
    sku: Sku
    reason: VarianceReason
    quantity: CountQuantity  # after reason: its check reads the reason

    @field_validator("quantity")
    @classmethod
    def _only_a_count_may_be_zero(cls, quantity: int, info: ValidationInfo) -> int:
        if quantity == 0 and info.data.get("reason") != "count":
            raise PydanticCustomError(
                "greater_than_equal",
                "Input should be greater than or equal to 1 (only a count may be 0)",
                {"ge": 1},
            )
        return quantity


class ReceiptEvent(_StockEvent):
    """Goods received: held at a store until approved; at a warehouse counted by the next feed."""

    kind: Literal["receipt"]


class ReturnEvent(_StockEvent):
    """A customer return: as a receipt, unless the location approves returns automatically."""

    kind: Literal["return"]


class ApproveEvent(_Event):
    """Releases the held units of the receipt or return whose event id is ``held_id``."""

    kind: Literal["approve"]
    held_id: Id


class ShippedEvent(_StockEvent):
    """A brokered order line left the location."""

    kind: Literal["shipped"]
    order_id: Id
    line_id: Id


class RejectedEvent(_StockEvent):
    """The location cannot fulfil the brokered line; ``not_found``: the units are not there."""

    kind: Literal["rejected"]
    order_id: Id
    line_id: Id
    not_found: StrictBool = False


Event = Annotated[
    SaleEvent
    | VarianceEvent
    | ReceiptEvent
    | ReturnEvent
    | ApproveEvent
    | ShippedEvent
    | RejectedEvent,
    Field(discriminator="kind"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
EVENT_KINDS = ("sale", "variance", "receipt", "return", "approve", "shipped", "rejected")


@dataclass(frozen=True, slots=True)
class NumberedEvent:
    """An event and where it stood in its batch (its line number), for problems found later."""

    where: tuple[str | int, ...]
    event: Event
    index: int = -1  # place in the batch (the first of two equal ids counts)


STOCK_KINDS = frozenset({"sale", "variance", "receipt", "return"})
VARIANCE_REASONS = frozenset({"lost", "damaged", "defective", "found", "count"})
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
        model: dict[str, type[SaleEvent | VarianceEvent | ReceiptEvent | ReturnEvent]] = {
            "sale": SaleEvent,
            "variance": VarianceEvent,
            "receipt": ReceiptEvent,
            "return": ReturnEvent,
        }
        event = model[fields["kind"]].model_construct(**fields)
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
        and 0 < len(event_id) <= MAX_ID_LENGTH
        and "\x00" not in event_id
        and type(location) is str
        and location in known_locations
        and type(sku) is str
        and 0 < len(sku) <= MAX_ID_LENGTH
        and "\x00" not in sku
        and type(quantity) is int
        and (
            1 <= quantity <= MAX_QUANTITY
            or (quantity == 0 and kind == "variance" and reason == "count")
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
            problems.extend(_row_problems(exc, where))
            continue
        if event.location_id not in known_locations:
            problems.append(
                Problem(
                    (*where, "location_id"),
                    f"{_describe(where)}: unknown location {event.location_id!r}",
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


def _describe(where: tuple[str | int, ...]) -> str:
    kind, number = where[0], where[1]
    return f"line {number}" if kind == "line" else f"{kind}[{number}]"


def _row_problems(error: ValidationError, where: tuple[str | int, ...]) -> list[Problem]:
    problems = []
    for problem in problems_from_validation_error(error, prefix=where):
        # The discriminated union puts the kind's tag in the path ("sale"); drop it, the row is
        # the useful part for an integrator.
        loc = tuple(
            part
            for i, part in enumerate(problem.loc)
            if not (i == len(where) and part in EVENT_KINDS)
        )
        field = ".".join(str(part) for part in loc[len(where) :])
        msg = f"{_describe(where)}: {field + ': ' if field else ''}{problem.msg}"
        problems.append(Problem(loc, msg, problem.type))
    return problems


# --- full feeds -------------------------------------------------------------------------------


class FeedHeader(_Wire):
    """What a full feed is: who sent it, what its quantities mean, and as of when."""

    source: FeedSource
    basis: FeedBasis
    as_of: AwareDatetime


class FeedRow(_Wire):
    location_id: Id
    sku: Sku
    quantity: FeedQuantity


FEED_ROW_ADAPTER: TypeAdapter[FeedRow] = TypeAdapter(FeedRow)
FEED_COLUMNS = ("location_id", "sku", "quantity")


def parse_feed_header(raw: Mapping[str, Any]) -> FeedHeader:
    """Raises :class:`InvalidInput` naming each bad header field."""
    try:
        return FeedHeader.model_validate(dict(raw))
    except ValidationError as exc:
        raise InvalidInput(problems_from_validation_error(exc), what="feed") from None


@dataclass(frozen=True, slots=True)
class FeedChunk:
    """Validated rows of a feed, as arrays: ``location_id`` the ledger's integer ids, ``sku`` the
    codes, ``line`` where each row stood in the file."""

    line: np.ndarray
    location_id: np.ndarray
    sku: np.ndarray
    quantity: np.ndarray


_DIGITS = re.compile(r"[0-9]+")


def read_csv_feed(
    source: IO[bytes] | str, location_ids: Mapping[str, int], chunk_rows: int = 500_000
) -> Iterator[tuple[FeedChunk, list[Problem]]]:
    """Stream a CSV feed (header ``location_id,sku,quantity``) in chunks, each validated with
    vectorised checks. Yields (valid rows, problems of the chunk); line 1 is the header."""
    try:
        reader = pd.read_csv(
            source,
            dtype=object,  # plain Python strings: hash lookups and checks run fastest on them
            keep_default_na=False,
            skip_blank_lines=False,  # a blank line is a bad row, and line numbers stay true
            chunksize=chunk_rows,
            engine="c",
        )
    except pd.errors.EmptyDataError as exc:
        raise InvalidInput(
            [Problem(("line", 1), f"line 1: not a CSV feed ({exc})", "csv_invalid")], what="feed"
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(
            [Problem((), f"not a well-formed CSV feed: {exc}", "csv_invalid")], what="feed"
        ) from None
    location_map = (
        pd.Series(location_ids, dtype="int64") if location_ids else pd.Series([], dtype="int64")
    )
    try:
        for frame in reader:
            if not isinstance(frame.index, pd.RangeIndex):
                # pandas takes a first data row with one field too many as naming an index
                # column (and then shifts every column): refuse the feed instead.
                raise InvalidInput(
                    [Problem(("line", 2), "line 2: more fields than the header", "csv_invalid")],
                    what="feed",
                )
            missing = [column for column in FEED_COLUMNS if column not in frame.columns]
            if missing:
                raise InvalidInput(
                    [
                        Problem(
                            ("line", 1), f"line 1: the header lacks {', '.join(missing)}", "missing"
                        )
                    ],
                    what="feed",
                )
            yield _validate_feed_frame(frame, location_map)
    except InvalidInput:
        raise
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(
            [Problem((), f"not a well-formed CSV feed: {exc}", "csv_invalid")], what="feed"
        ) from None


def _validate_feed_frame(
    frame: pd.DataFrame, location_map: pd.Series
) -> tuple[FeedChunk, list[Problem]]:
    lines = frame.index.to_numpy(dtype=np.int64) + 2
    location = frame["location_id"]
    sku = frame["sku"].to_numpy(dtype=object)
    quantity_text = frame["quantity"]
    quantity = pd.to_numeric(quantity_text, errors="coerce")
    if quantity.dtype.kind == "i":
        bad_quantity = ((quantity < 0) | (quantity > MAX_QUANTITY)).to_numpy()
    else:
        # Some value is not a plain integer ("2.0", "x", "") or is past int64 (2^64, 1e20): find
        # which, the slow way, but only in the chunks that need it. Never cast before the range
        # check: 2^63 would wrap.
        plain = quantity_text.str.fullmatch(_DIGITS.pattern).fillna(False).to_numpy(dtype=bool)
        numbers = pd.to_numeric(quantity_text.where(plain, "0"), errors="coerce")
        bad_quantity = ~plain | (numbers > MAX_QUANTITY).to_numpy()
        quantity = numbers.where(~bad_quantity, 0)
    location_id = location.map(location_map)
    unknown_location = location_id.isna().to_numpy()
    sku_length = frame["sku"].str.len().fillna(0).to_numpy()
    empty_sku = sku_length == 0
    # too long, or holding a NUL (PostgreSQL cannot store it): both refused as the schema does
    long_sku = (sku_length > MAX_ID_LENGTH) | frame["sku"].str.contains("\x00", regex=False).fillna(
        False
    ).to_numpy(dtype=bool)
    bad = unknown_location | empty_sku | long_sku | bad_quantity
    problems: list[Problem] = []
    if bad.any():
        for index in np.flatnonzero(bad):
            line = int(lines[index])
            if unknown_location[index]:
                value = location.iat[index]
                given = isinstance(value, str) and value != ""
                reason = f"unknown location {value!r}" if given else "location_id is missing"
                problems.append(
                    Problem(
                        ("line", line, "location_id"),
                        f"line {line}: {reason}",
                        "unknown_location" if given else "missing",
                    )
                )
            if empty_sku[index]:
                problems.append(
                    Problem(("line", line, "sku"), f"line {line}: sku is missing", "missing")
                )
            if long_sku[index]:
                problems.append(
                    Problem(
                        ("line", line, "sku"),
                        f"line {line}: sku is longer than {MAX_ID_LENGTH} characters or "
                        "holds a NUL character",
                        "string_invalid",
                    )
                )
            if bad_quantity[index]:
                value = quantity_text.iat[index]
                problems.append(
                    Problem(
                        ("line", line, "quantity"),
                        f"line {line}: quantity {value!r} is not an integer in "
                        f"[0, {MAX_QUANTITY:,}]",
                        "quantity_invalid",
                    )
                )
    keep = ~bad
    chunk = FeedChunk(
        line=lines[keep],
        location_id=location_id.to_numpy()[keep].astype(np.int64),
        sku=sku[keep],
        quantity=quantity.to_numpy()[keep].astype(np.int64),
    )
    return chunk, problems


def read_json_feed(
    source: IO[bytes], location_ids: Mapping[str, int], chunk_rows: int = 200_000
) -> tuple[FeedHeader | None, Iterator[tuple[FeedChunk, list[Problem]]]]:
    """Stream a JSON feed document ``{"source", "basis", "as_of", "rows": [...]}``.

    The header fields may stand before or after ``rows``; when they come first (as they should),
    the header is returned before any row is read, otherwise it is ``None`` here and read
    afterwards with :func:`JsonFeedStream.header`. Returns (header, chunks)."""
    stream = JsonFeedStream(source, location_ids, chunk_rows)
    return stream.leading_header(), stream.chunks()


_SCALAR_EVENTS = frozenset({"string", "number", "boolean", "null"})


class JsonFeedStream:
    """An incremental reader of one JSON feed document (a seekable byte stream), on ijson's C
    parser (yajl2_c): rows are decoded one by one from the bytes, so a feed of millions of rows
    never sits whole in memory, and no read boundary can split a character or a number.

    Two passes over the bytes: the header is read from the parser's events, which stop where
    ``rows`` starts when the header came first; the rows are then built as objects in C."""

    _READ_BYTES = 1 << 20

    def __init__(self, source: IO[bytes], location_ids: Mapping[str, int], chunk_rows: int) -> None:
        self._source = source
        self._start = source.tell()
        self._locations = location_ids
        self._chunk_rows = chunk_rows
        self._rows_seen = False

    def _rewind(self) -> IO[bytes]:
        self._source.seek(self._start)
        return self._source

    def _top_level_fields(self, stop_at_rows: bool) -> dict[str, Any]:
        """The document's fields other than ``rows`` (a nested value stands as ``{}`` or ``[]``,
        for the header's check to name); stops where ``rows`` starts if asked to."""
        fields: dict[str, Any] = {}
        with _json_errors():
            events = ijson.parse(self._rewind(), buf_size=self._READ_BYTES)
            first = next(events, None)
            if first is None or first[1] != "start_map":
                raise InvalidInput(
                    [Problem((), "a JSON feed is an object with rows", "model_type")], what="feed"
                )
            for prefix, event, value in events:
                if prefix == "rows":
                    if event != "start_array":
                        raise InvalidInput(
                            [Problem(("rows",), "rows must be an array", "list_type")],
                            what="feed",
                        )
                    self._rows_seen = True
                    if stop_at_rows:
                        return fields
                    for inner_prefix, _, _ in events:  # skip the rows, in C
                        if inner_prefix == "rows":  # its end_array
                            break
                elif "." not in prefix and prefix:
                    if event in _SCALAR_EVENTS:
                        fields[prefix] = value
                    elif event == "start_map":
                        fields[prefix] = {}
                    elif event == "start_array":
                        fields[prefix] = []
        return fields

    def leading_header(self) -> FeedHeader | None:
        """The header if its fields stand before ``rows``, else None."""
        fields = self._top_level_fields(stop_at_rows=True)
        if all(name in fields for name in ("source", "basis", "as_of")) or not self._rows_seen:
            return parse_feed_header(fields)
        return None

    def header(self) -> FeedHeader:
        """The header, wherever its fields stand (reads the document to its end)."""
        return parse_feed_header(self._top_level_fields(stop_at_rows=False))

    def chunks(self) -> Iterator[tuple[FeedChunk, list[Problem]]]:
        """Validated rows in chunks, each with the problems of its rows (``("rows", index)``)."""
        if not self._rows_seen:
            raise InvalidInput([Problem(("rows",), "field required", "missing")], what="feed")
        rows: list[tuple[int, int, str, int]] = []
        problems: list[Problem] = []
        locations = self._locations
        with _json_errors():
            items = ijson.items(
                self._rewind(), "rows.item", use_float=True, buf_size=self._READ_BYTES
            )
            for index, raw in enumerate(items):
                fast = _fast_feed_row(raw, locations)
                if fast is not None:
                    rows.append((index, *fast))
                else:
                    _check_feed_row(index, raw, locations, rows, problems)
                if len(rows) >= self._chunk_rows:
                    yield _chunk_of(rows), problems
                    rows, problems = [], []
        yield _chunk_of(rows), problems


@contextmanager
def _json_errors() -> Iterator[None]:
    """The parser's errors as a refusal naming what it found, and where (yajl's excerpt)."""
    try:
        yield
    except ijson.JSONError as exc:
        text = exc.args[0] if exc.args else str(exc)
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        where = " ".join(part.strip() for part in str(text).splitlines() if part.strip())
        raise InvalidInput(
            [Problem((), f"feed JSON is malformed: {where}", "json_invalid")], what="feed"
        ) from None


def _fast_feed_row(raw: Any, locations: Mapping[str, int]) -> tuple[int, str, int] | None:
    """(location, sku, quantity) when the row is certainly valid (plain types within the
    contract's limits), else None: the schema then says what is wrong."""
    if type(raw) is not dict:
        return None
    location, sku, quantity = raw.get("location_id"), raw.get("sku"), raw.get("quantity")
    if (
        type(location) is str
        and type(sku) is str
        and 0 < len(sku) <= MAX_ID_LENGTH
        and "\x00" not in sku
        and type(quantity) is int
        and 0 <= quantity <= MAX_QUANTITY
    ):
        location_id = locations.get(location)
        if location_id is not None:
            return location_id, sku, quantity
    return None


def _check_feed_row(
    index: int,
    raw: Any,
    locations: Mapping[str, int],
    rows: list[tuple[int, int, str, int]],
    problems: list[Problem],
) -> None:
    where = ("rows", index)
    try:
        row = FEED_ROW_ADAPTER.validate_python(raw)
    except ValidationError as exc:
        problems.extend(_row_problems(exc, where))
        location = raw.get("location_id") if isinstance(raw, dict) else None
        if isinstance(location, str) and location not in locations:
            problems.append(_unknown_feed_location(index, location))
        return
    location_id = locations.get(row.location_id)
    if location_id is None:
        problems.append(_unknown_feed_location(index, row.location_id))
        return
    rows.append((index, location_id, row.sku, row.quantity))


def _unknown_feed_location(index: int, location: str) -> Problem:
    return Problem(
        ("rows", index, "location_id"),
        f"rows[{index}]: unknown location {location!r}",
        "unknown_location",
    )


def _chunk_of(rows: list[tuple[int, int, str, int]]) -> FeedChunk:
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return FeedChunk(empty, empty, np.zeros(0, dtype=object), empty)
    lines, location_id, sku, quantity = zip(*rows, strict=True)
    return FeedChunk(
        np.asarray(lines, dtype=np.int64),
        np.asarray(location_id, dtype=np.int64),
        np.asarray(sku, dtype=object),
        np.asarray(quantity, dtype=np.int64),
    )


def feed_rows_to_csv(rows: Iterable[Mapping[str, Any]], out: IO[str]) -> None:
    """Write feed rows as the CSV the loader reads (used by tests and the benchmark)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FEED_COLUMNS)
    for row in rows:
        writer.writerow((row["location_id"], row["sku"], row["quantity"]))


# --- the catalog: locations, skus and the settings of the ledger ------------------------------


class LocationSetting(_Wire):
    """A location of the solve contract plus the ledger's settings for it."""

    id: Id
    kind: Literal["warehouse", "store"]
    lat: Latitude
    lon: Longitude
    ships: StrictBool = True
    pickup: StrictBool | None = None
    max_shipments: Setting | None = None
    max_units: Setting | None = None
    shipment_cost: Money | None = None
    unit_cost: Money = 0.0
    safety_stock: Setting | None = Field(default=None, description="For every sku here.")
    receipts_count_at_once: StrictBool = Field(
        default=False, description="Receipts add to on_hand at once instead of being held/fed."
    )
    returns_auto_approved: StrictBool = Field(default=False, description="Returns are not held.")
    active: StrictBool = True


class SkuSetting(_Wire):
    sku: Sku
    category: Id | None = None
    safety_stock: Setting | None = None
    online_threshold: Setting | None = None


class CategorySetting(_Wire):
    category: Id
    online_threshold: Setting


class PositionSafetyStock(_Wire):
    location_id: Id
    sku: Sku
    safety_stock: Setting | None


class Catalog(_Wire):
    """Locations, skus and the settings of safety stock and online thresholds. Each list replaces
    or adds the entries it names (an upsert); entries it does not name are kept."""

    locations: list[LocationSetting] = Field(default_factory=list)
    skus: list[SkuSetting] = Field(default_factory=list)
    categories: list[CategorySetting] = Field(default_factory=list)
    safety_stock_by_kind: dict[Literal["warehouse", "store"], Setting] = Field(default_factory=dict)
    position_safety_stock: list[PositionSafetyStock] = Field(default_factory=list)


def parse_catalog(raw: Any) -> Catalog:
    try:
        catalog = Catalog.model_validate(raw)
    except ValidationError as exc:
        raise InvalidInput(problems_from_validation_error(exc), what="catalog") from None
    problems = []
    seen: dict[str, int] = {}
    for index, location in enumerate(catalog.locations):
        if location.id in seen:
            problems.append(
                Problem(
                    ("locations", index, "id"),
                    f"duplicate location id {location.id!r}",
                    "duplicate_id",
                )
            )
        seen[location.id] = index
    if problems:
        raise InvalidInput(problems, what="catalog")
    return catalog


# --- positions, snapshots, availability -------------------------------------------------------


class PositionOut(BaseModel):
    location_id: str
    sku: str
    on_hand: int
    reserved: int
    held: int
    safety_stock: int
    atp: int
    version: int


class PositionChange(BaseModel):
    """One entry of a position's history: what it became, why, and as of which ledger version."""

    version: int
    cause: str
    ref: str | None
    at: datetime | None
    on_hand: int
    reserved: int
    held: int
    note: str | None = None


class PositionHistory(BaseModel):
    location_id: str
    sku: str
    changes: list[PositionChange]


class SnapshotRow(BaseModel):
    location_id: str
    sku: str
    on_hand: int
    reserved: int
    safety_stock: int
    atp: int


class SnapshotOut(BaseModel):
    version: int
    taken_at: datetime
    positions: int
    rows: list[SnapshotRow]


class OnlineAvailability(BaseModel):
    sku: str
    quantity: int


class PickupAvailability(BaseModel):
    location_id: str
    sku: str
    quantity: int


class AvailabilityFeed(BaseModel):
    """The outbound feed. ``mode`` ``full``: every row (a hard reset); ``changes``: the rows that
    changed after ``since``. Pass ``cursor`` as ``since`` next time."""

    mode: Literal["full", "changes"]
    since: int | None
    cursor: int
    online: list[OnlineAvailability]
    pickup: list[PickupAvailability]


# --- orders and brokering runs ----------------------------------------------------------------

ORDER_ADAPTER: TypeAdapter[Order] = TypeAdapter(Order)


def parse_orders(raw: Any, known_locations: Mapping[str, bool]) -> list[Order]:
    """One order or ``{"orders": [...]}``, validated against the solve contract's order schema.
    ``known_locations`` maps location ids to whether they serve pickup. Raises
    :class:`InvalidInput` with every problem of every order: the schema's and the cross-reference
    rules' (duplicate ids, what a delivery needs, unknown locations) together."""
    batch = isinstance(raw, dict) and "orders" in raw
    items = raw["orders"] if batch else [raw]
    if not isinstance(items, list):
        raise InvalidInput(
            [Problem(("orders",), "expected a list of orders", "list_type")], what="orders"
        )
    problems: list[Problem] = []
    orders: list[Order] = []
    for index, item in enumerate(items):
        try:
            orders.append(ORDER_ADAPTER.validate_python(item))
        except ValidationError as exc:
            problems.extend(problems_from_validation_error(exc, prefix=("orders", index)))
    problems.extend(order_problems({"orders": items}, dict(known_locations)))
    if problems:
        # A single order is reported at its own fields, not under orders.0.
        if not batch:
            problems = [Problem(p.loc[2:], p.msg, p.type) for p in problems]
        raise InvalidInput(sort_problems(unique_problems(problems)), what="orders")
    return orders


class OrderSubmission(BaseModel):
    accepted: list[str]
    duplicates: list[str]


class QueuedLine(BaseModel):
    line_id: str
    sku: str
    quantity: int
    allocated: int


class OrderStatus(BaseModel):
    id: str
    status: Literal["queued", "brokered"]
    priority: int
    lines: list[QueuedLine]
    excluded_location_ids: list[str]


class BrokeringRunOut(BaseModel):
    """A brokering run: its ledger versions and its result in the solve response's shape."""

    id: int
    snapshot_version: int
    version: int
    started_at: datetime
    finished_at: datetime
    orders: int
    result: dict[str, Any]


# --- bodies of the writes (their schemas are what the API documents) --------------------------


class FeedDocument(FeedHeader):
    """A full feed as one JSON document (read as a stream, never whole)."""

    rows: list[FeedRow]


class EventBatchDocument(_Wire):
    """A batch of events; a bare JSON array of events and JSON lines are accepted too."""

    events: list[Event]


class OrderBatch(_Wire):
    """Orders to queue; a single order object is accepted too."""

    orders: list[Order]


NoNul = Field(pattern=NO_NUL_PATTERN)


class InboxFeed(_Wire):
    """A feed file in the feed inbox; a CSV file needs ``source``, ``basis`` and ``as_of``."""

    file: Annotated[str, Strict(), Field(min_length=1, max_length=255), NoNul]
    source: FeedSource | None = None
    basis: FeedBasis | None = None
    as_of: AwareDatetime | None = None


class BrokeringRunRequest(_Wire):
    """A brokering run's options: the solve contract's policy (its time limit defaults to the
    service's ``OMNIBROKER_RUN_TIME_LIMIT_S``)."""

    policy: Policy | None = None

    def policy_overrides(self) -> dict[str, Any]:
        """Only the policy fields the caller set (the rest keep the run's defaults)."""
        return self.policy.model_dump(exclude_unset=True) if self.policy is not None else {}


class MorningRunRequest(BrokeringRunRequest):
    feeds: list[InboxFeed] = Field(default_factory=list)


# --- results of writes ------------------------------------------------------------------------


class CatalogResult(BaseModel):
    version: int
    locations: int
    skus: int


class PublicationResult(BaseModel):
    cursor: int
    version: int
    rows_changed: int
    seconds: float


class FeedResult(BaseModel):
    feed_id: int
    version: int
    source: FeedSource
    basis: FeedBasis
    as_of: datetime
    rows: int
    locations: int
    refused_locations: list[str] = Field(description="Locations whose last feed is newer.")
    seconds: float


class EventBatchResult(BaseModel):
    version: int | None
    applied: int
    duplicates: list[str]
    outcomes: dict[str, int]
    seconds: float
