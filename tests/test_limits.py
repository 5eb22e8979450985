"""The contracts' limits, enforced once at the edge: in the pydantic models and in the fast feed and
event readers alike. Each value is tried on both paths; both must accept it or both refuse it, with
the same field at fault. Nothing past a limit is wrapped, clipped or rounded."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import Field, Strict, ValidationError

from models.event_reader import _is_fast_stock_row, parse_event_rows
from models.feed_reader import FeedChunk, JsonFeedStream, read_csv_feed
from models.inventory import EVENT_ADAPTER, FEED_ROW_ADAPTER, declared
from models.problems import InvalidInput, Problem
from models.solve import MAX_ID_LENGTH, MAX_QUANTITY, Id
from models.validation import parse_solve_request

KNOWN = {"S-017": 1}
BEYOND_INT64 = [2**63 - 1, 2**63, 2**64 - 1, 2**64, 10**20]
OUT_OF_RANGE = [-1, MAX_QUANTITY + 1, *BEYOND_INT64]
NOT_INTEGERS = [2.0, "2", True, None, [1], {"n": 1}]


def event(kind: str, quantity: Any, reason: str | None = None) -> dict[str, Any]:
    row = {"id": "E-1", "kind": kind, "location_id": "S-017", "sku": "TSHIRT",
           "quantity": quantity, "occurred_at": "2026-11-27T09:00:00Z"}  # fmt: skip
    if reason is not None:
        row["reason"] = reason
    return row


def model_verdict(row: dict[str, Any]) -> set[str] | None:
    """None when the schema accepts the event; else the fields it refuses."""
    try:
        EVENT_ADAPTER.validate_python(row)
    except ValidationError as error:
        return {str(e["loc"][-1]) if e["loc"] else "" for e in error.errors()}
    return None


def reader_verdict(row: dict[str, Any]) -> set[str] | None:
    try:
        batch = parse_event_rows(json.dumps([row]).encode(), KNOWN)
    except InvalidInput as error:
        return {str(p.loc[-1]) if p.loc else "" for p in error.problems}
    assert len(batch.ids) == 1
    return None


STOCK_CASES = [
    (kind, reason)
    for kind, reason in [
        ("sale", None),
        ("receipt", None),
        ("return", None),
        *(("variance", r) for r in ("lost", "damaged", "defective", "found", "count")),
    ]
]


@pytest.mark.parametrize(("kind", "reason"), STOCK_CASES)
@pytest.mark.parametrize("quantity", [0, 1, MAX_QUANTITY, *OUT_OF_RANGE, *NOT_INTEGERS])
def test_event_reader_and_event_schema_agree_on_quantity(
    kind: str, reason: str | None, quantity: Any
) -> None:
    row = event(kind, quantity, reason)
    expected = model_verdict(row)
    assert reader_verdict(row) == expected
    if expected is not None:
        assert not _is_fast_stock_row(row, KNOWN)


@pytest.mark.parametrize("quantity", OUT_OF_RANGE)
def test_event_quantity_past_the_limit_is_refused(quantity: int) -> None:
    assert model_verdict(event("variance", quantity, "found")) == {"quantity"}


def test_count_of_zero_is_a_valid_count() -> None:
    row = event("variance", 0, "count")
    assert model_verdict(row) is None
    batch = parse_event_rows(json.dumps([row]).encode(), KNOWN)
    assert batch.numbered(0).event.quantity == 0  # type: ignore[union-attr]


@pytest.mark.parametrize("reason", ["lost", "damaged", "defective", "found"])
def test_variance_other_than_a_count_moves_at_least_one_unit(reason: str) -> None:
    assert model_verdict(event("variance", 0, reason)) == {"quantity"}


@pytest.mark.parametrize("quantity", [1, MAX_QUANTITY])
def test_both_event_paths_read_the_same_event_at_the_limits(quantity: int) -> None:
    row = event("variance", quantity, "found")
    batch = parse_event_rows(json.dumps([row]).encode(), KNOWN)
    assert _is_fast_stock_row(row, KNOWN)
    assert batch.numbered(0).event == EVENT_ADAPTER.validate_python(row)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", "x" * 201),
        ("id", ""),
        ("id", "E\x00"),
        ("sku", "x" * 201),
        ("sku", "T\x00"),
        ("kind", ["sale"]),
        ("reason", ["count"]),
    ],
)
def test_event_reader_and_event_schema_agree_on_ids_and_tags(field: str, value: Any) -> None:
    row = event("variance", 3, "count")
    row[field] = value
    assert model_verdict(row) is not None
    assert reader_verdict(row) is not None


# --- feeds ------------------------------------------------------------------------------------


def feed_row_verdict(quantity: Any) -> set[str] | None:
    try:
        FEED_ROW_ADAPTER.validate_python({"location_id": "S-017", "sku": "X", "quantity": quantity})
    except ValidationError as error:
        return {str(e["loc"][-1]) if e["loc"] else "" for e in error.errors()}
    return None


def csv_verdict(text: str) -> set[str] | None:
    data = f"location_id,sku,quantity\nS-017,X,{text}\n".encode()
    problems = [
        p for _, chunk_problems in read_csv_feed(io.BytesIO(data), KNOWN) for p in chunk_problems
    ]
    return {str(p.loc[-1]) for p in problems} or None


def json_feed_chunks(document: dict[str, Any]) -> Iterator[tuple[FeedChunk, list[Problem]]]:
    """The JSON feed reader's chunks, as storage reads them: the header first, then the rows."""
    stream = JsonFeedStream(io.BytesIO(json.dumps(document).encode()), KNOWN, chunk_rows=1000)
    stream.leading_header()
    return stream.chunks()


def json_feed_verdict(quantity: Any) -> set[str] | None:
    document = {"source": "erp", "basis": "physical", "as_of": "2026-11-27T05:00:00Z",
                "rows": [{"location_id": "S-017", "sku": "X", "quantity": quantity}]}  # fmt: skip
    try:
        chunks = json_feed_chunks(document)
        problems = [p for _, chunk_problems in chunks for p in chunk_problems]
    except InvalidInput as error:  # the document as a whole: its problem has no field
        return {"(document) " + p.msg for p in error.problems}
    return {str(p.loc[-1]) for p in problems} or None


@pytest.mark.parametrize("quantity", [0, 1, MAX_QUANTITY, *OUT_OF_RANGE])
def test_feed_readers_and_feed_schema_agree_on_integer_quantities(quantity: int) -> None:
    expected = feed_row_verdict(quantity)
    assert (expected is None) == (0 <= quantity <= MAX_QUANTITY)
    assert csv_verdict(str(quantity)) == expected
    if quantity < 2**63:
        assert json_feed_verdict(quantity) == expected
    else:  # past int64 the streaming parser refuses the document, naming the overflow
        (problem,) = json_feed_verdict(quantity) or {""}
        assert "integer overflow" in problem


@pytest.mark.parametrize("quantity", NOT_INTEGERS)
def test_json_feed_reader_and_feed_schema_agree_on_non_integers(quantity: Any) -> None:
    assert feed_row_verdict(quantity) == {"quantity"}
    assert json_feed_verdict(quantity) == {"quantity"}


@pytest.mark.parametrize("text", ["2.0", "x", "", "1e3", "٣", "²", "-0.5"])
def test_csv_feed_quantity_is_ascii_digits_only(text: str) -> None:
    assert csv_verdict(text) == {"quantity"}


def test_csv_feed_quantity_past_int64_is_not_wrapped() -> None:
    data = b"location_id,sku,quantity\nS-017,X,1\nS-017,Y,18446744073709551616\n"
    chunks = list(read_csv_feed(io.BytesIO(data), KNOWN))
    assert [int(q) for chunk, _ in chunks for q in chunk.quantity] == [1]
    assert [str(p.loc) for _, problems in chunks for p in problems] == [
        str(("line", 3, "quantity"))
    ]


# --- the solve contract -----------------------------------------------------------------------

EXAMPLE = json.loads((Path(__file__).parent / "data" / "contract_example_request.json").read_text())


def solve_paths(mutate: Any) -> list[str]:
    raw = copy.deepcopy(EXAMPLE)
    mutate(raw)
    try:
        parse_solve_request(raw)
    except InvalidInput as error:
        return [".".join(str(part) for part in p.loc) for p in error.problems]
    return []


def setter(path: str, value: Any) -> Any:
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]

    def mutate(raw: Any) -> None:
        node = raw
        for part in parents:
            node = node[part]
        node[last] = value

    return mutate


# (field, largest value accepted, smallest value refused above it)
SOLVE_LIMITS = [
    ("inventory.0.quantity", MAX_QUANTITY, MAX_QUANTITY + 1),
    ("orders.0.lines.0.quantity", MAX_QUANTITY, MAX_QUANTITY + 1),
    ("locations.1.max_shipments", MAX_QUANTITY, MAX_QUANTITY + 1),
    ("locations.1.max_units", MAX_QUANTITY, MAX_QUANTITY + 1),
    ("locations.1.unit_cost", 1_000_000.0, 1_000_000.5),
    ("locations.1.shipment_cost", 1_000_000.0, 1e308),
    ("policy.shipment_cost.warehouse", 1_000_000.0, 1_000_001.0),
    ("policy.cost_per_km", 1_000.0, 1_000.01),
    ("policy.max_distance_km", 20_040.0, 20_040.5),
    ("orders.0.max_distance_km", 20_040.0, 20_041.0),
    ("policy.time_limit_s", 3_600.0, 3_600.5),
    ("policy.relative_gap", 1.0, 1.01),
    ("orders.0.id", "x" * 200, "x" * 201),
]


@pytest.mark.parametrize(("path", "largest", "beyond"), SOLVE_LIMITS)
def test_solve_limits_are_inclusive_and_refused_beyond(
    path: str, largest: Any, beyond: Any
) -> None:
    assert solve_paths(setter(path, largest)) == []
    assert solve_paths(setter(path, beyond)) == [path]


@pytest.mark.parametrize("value", BEYOND_INT64)
@pytest.mark.parametrize(
    "path",
    ["inventory.0.quantity", "orders.0.lines.0.quantity", "locations.1.max_units",
     "locations.1.max_shipments"],
)  # fmt: skip
def test_solve_quantities_past_int64_are_refused(path: str, value: int) -> None:
    assert solve_paths(setter(path, value)) == [path]


def test_two_lines_of_two_to_the_62_units_are_refused_not_summed() -> None:
    def mutate(raw: Any) -> None:
        raw["orders"][0]["lines"] = [
            {"id": "1", "sku": "TSHIRT-BLUE-XL", "quantity": 2**62},
            {"id": "2", "sku": "TSHIRT-BLUE-XL", "quantity": 2**62},
        ]

    assert solve_paths(mutate) == ["orders.0.lines.0.quantity", "orders.0.lines.1.quantity"]


@pytest.mark.parametrize("value", [0.0, 3_600.0])
def test_time_limit_is_above_zero(value: float) -> None:
    assert solve_paths(setter("policy.time_limit_s", value)) == (
        ["policy.time_limit_s"] if value == 0.0 else []
    )


@pytest.mark.parametrize("sku", ["x" * 201, "T\x00", ""])
def test_feed_readers_and_feed_schema_agree_on_skus(sku: str) -> None:
    row = {"location_id": "S-017", "sku": sku, "quantity": 1}
    with pytest.raises(ValidationError):
        FEED_ROW_ADAPTER.validate_python(row)
    data = f"location_id,sku,quantity\nS-017,{sku},1\n".encode()
    csv_problems = [p for _, ps in read_csv_feed(io.BytesIO(data), KNOWN) for p in ps]
    assert [p.loc for p in csv_problems] == [("line", 2, "sku")]
    document = {"source": "erp", "basis": "physical", "as_of": "2026-11-27T05:00:00Z",
                "rows": [row]}  # fmt: skip
    chunks = json_feed_chunks(document)
    assert [p.loc for _, ps in chunks for p in ps] == [("rows", 0, "sku")]


def test_the_readers_limits_are_read_from_the_types_that_declare_them() -> None:
    bounded = Annotated[int, Strict(), Field(ge=3, le=7)]
    assert (declared(bounded, "ge"), declared(bounded, "le")) == (3, 7)
    assert declared(Id, "max_length") == MAX_ID_LENGTH
    with pytest.raises(LookupError):
        declared(bounded, "max_length")
