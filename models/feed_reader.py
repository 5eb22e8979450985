"""Full feeds read and validated in chunks: a CSV file (pandas' C reader, vectorised checks) or a
JSON document (ijson's C parser, streamed), as :class:`FeedChunk` arrays of valid rows with the
problems of the others (``loc`` ``["line", 17, "quantity"]`` for CSV, ``["rows", 16, ...]`` for
JSON). The checks' limits are read from the schema's types (:mod:`models.inventory`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

import ijson
import numpy as np
import pandas as pd
from pydantic import ValidationError

from models.inventory import (
    FEED_COLUMNS,
    FEED_ROW_ADAPTER,
    FeedHeader,
    FeedQuantity,
    id_length_range,
    parse_feed_header,
    quantity_range,
)
from models.problems import InvalidInput, Problem, row_problems
from models.solve import Sku

_SKU_MIN, _SKU_MAX = id_length_range(Sku)  # the schema's own limits (models.inventory)
_QUANTITY_MIN, _QUANTITY_MAX = quantity_range(FeedQuantity)


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
        bad_quantity = ((quantity < _QUANTITY_MIN) | (quantity > _QUANTITY_MAX)).to_numpy()
    else:
        # Some value is not a plain integer ("2.0", "x", "") or is past int64 (2^64, 1e20): find
        # which, the slow way, but only in the chunks that need it. Never cast before the range
        # check: 2^63 would wrap.
        plain = quantity_text.str.fullmatch(_DIGITS.pattern).fillna(False).to_numpy(dtype=bool)
        numbers = pd.to_numeric(quantity_text.where(plain, "0"), errors="coerce")
        bad_quantity = ~plain | ((numbers < _QUANTITY_MIN) | (numbers > _QUANTITY_MAX)).to_numpy()
        quantity = numbers.where(~bad_quantity, 0)
    location_id = location.map(location_map)
    unknown_location = location_id.isna().to_numpy()
    sku_length = frame["sku"].str.len().fillna(0).to_numpy()
    empty_sku = sku_length < _SKU_MIN
    # too long, or holding a NUL (PostgreSQL cannot store it): both refused as the schema does
    long_sku = (sku_length > _SKU_MAX) | frame["sku"].str.contains("\x00", regex=False).fillna(
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
                        f"line {line}: sku is longer than {_SKU_MAX} characters or "
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
                        f"[{_QUANTITY_MIN}, {_QUANTITY_MAX:,}]",
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
        rows, problems = _FeedColumns(), list[Problem]()
        location_of = self._locations.get
        with _json_errors():
            items = ijson.items(
                self._rewind(), "rows.item", use_float=True, buf_size=self._READ_BYTES
            )
            for index, raw in enumerate(items):
                # Inline, as this runs per row: a row of plain types within the contract's
                # limits is taken as it is; any other is checked by the schema, which says why.
                if type(raw) is dict:
                    location, sku, quantity = (
                        raw.get("location_id"),
                        raw.get("sku"),
                        raw.get("quantity"),
                    )
                    if (
                        type(location) is str
                        and type(sku) is str
                        and _SKU_MIN <= len(sku) <= _SKU_MAX
                        and "\x00" not in sku
                        and type(quantity) is int
                        and _QUANTITY_MIN <= quantity <= _QUANTITY_MAX
                        and (location_id := location_of(location)) is not None
                    ):
                        rows.add(index, location_id, sku, quantity)
                        if len(rows.line) >= self._chunk_rows:
                            yield rows.chunk(), problems
                            rows, problems = _FeedColumns(), list[Problem]()
                        continue
                _check_feed_row(index, raw, self._locations, rows, problems)
        yield rows.chunk(), problems


class _FeedColumns:
    """Valid rows gathered column by column (no tuple per row), then handed over as arrays."""

    __slots__ = ("line", "location_id", "quantity", "sku")

    def __init__(self) -> None:
        self.line: list[int] = []
        self.location_id: list[int] = []
        self.sku: list[str] = []
        self.quantity: list[int] = []

    def add(self, line: int, location_id: int, sku: str, quantity: int) -> None:
        self.line.append(line)
        self.location_id.append(location_id)
        self.sku.append(sku)
        self.quantity.append(quantity)

    def chunk(self) -> FeedChunk:
        return FeedChunk(
            np.asarray(self.line, dtype=np.int64),
            np.asarray(self.location_id, dtype=np.int64),
            np.asarray(self.sku, dtype=object),
            np.asarray(self.quantity, dtype=np.int64),
        )


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


def _check_feed_row(
    index: int,
    raw: Any,
    locations: Mapping[str, int],
    rows: _FeedColumns,
    problems: list[Problem],
) -> None:
    where = ("rows", index)
    try:
        row = FEED_ROW_ADAPTER.validate_python(raw)
    except ValidationError as exc:
        problems.extend(row_problems(exc, where))
        location = raw.get("location_id") if isinstance(raw, dict) else None
        if isinstance(location, str) and location not in locations:
            problems.append(_unknown_feed_location(index, location))
        return
    location_id = locations.get(row.location_id)
    if location_id is None:
        problems.append(_unknown_feed_location(index, row.location_id))
        return
    rows.add(index, location_id, row.sku, row.quantity)


def _unknown_feed_location(index: int, location: str) -> Problem:
    return Problem(
        ("rows", index, "location_id"),
        f"rows[{index}]: unknown location {location!r}",
        "unknown_location",
    )
