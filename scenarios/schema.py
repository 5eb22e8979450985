"""Scenario files: a baseline and variants, each variant a typed change-set against the baseline.

A scenario file is YAML::

    name: Store closure
    seed: 11                       # drives every random choice (demand sampling): same seed, same KPIs
    baseline:
      generate: {size: {orders: 400, locations: 40, skus: 400}, seed: 7}   # or: requests: [a.json]
      policy: {time_limit_s: 8, relative_gap: 0.01}                       # applies to every variant
    variants:
      - name: Busiest store closed
        locations:
          - ids: [S-0004]
            closed: true

Every model refuses fields it does not know (a typo is an error, not a silent no-op), and a refused
file is reported problem by problem with the line of the field at fault: the YAML is composed to
nodes once, and each pydantic error path is walked down that node tree (:func:`line_of`).

The change-set kinds and the order they are applied in are documented in :mod:`scenarios.changes`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

LocationKind = Literal["warehouse", "store"]
Strategy = Literal["optimal", "greedy"]

NonNegativeInt = Annotated[int, Field(ge=0)]
NonNegativeFloat = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]


class _ScenarioModel(BaseModel):
    # Strict and closed: `max_shipments: "40"` or `max_shipment: 40` in a scenario file is a mistake
    # the analyst wants to hear about, with its line, before anything runs.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# --- selections ------------------------------------------------------------------------------


class LocationSelection(_ScenarioModel):
    """Which locations a change applies to: every criterion given must hold (they combine by AND).

    ``ids``: exact location ids; ``kind``: warehouse or store; ``pattern``: a shell-style pattern on
    the id (``S-00*``, ``WH-*-DALLAS``). An unknown id, or a selection matching no location, is an
    error when the change-set is applied: a what-if that silently changes nothing misleads.
    """

    ids: list[str] | None = Field(default=None, min_length=1)
    kind: LocationKind | None = None
    pattern: str | None = Field(default=None, min_length=1)

    @property
    def selects_all(self) -> bool:
        return self.ids is None and self.kind is None and self.pattern is None


class _RequiredLocationSelection(LocationSelection):
    @model_validator(mode="after")
    def _names_locations(self) -> _RequiredLocationSelection:
        if self.selects_all:
            raise ValueError("select locations with ids, kind or pattern (pattern: '*' for all)")
        return self


class SkuSelection(_ScenarioModel):
    """Which skus: exact ``skus`` and/or a shell-style ``sku_pattern``; neither means every sku."""

    skus: list[str] | None = Field(default=None, min_length=1)
    sku_pattern: str | None = Field(default=None, min_length=1)


# --- change-set kinds ------------------------------------------------------------------------


class LocationOverride(_RequiredLocationSelection):
    """New values for the contract's location fields; a field left out keeps the baseline's.

    ``max_shipments: null`` (or ``max_units: null``) lifts a cap; ``shipment_cost: null`` returns to
    the policy's cost for the kind. ``closed: true`` takes the location out of the network for the
    batch: it ships nothing, serves no pickup and its stock is not promised.

    Pickup orders at a location that no longer serves pickup (closed, or ``pickup: false``) are
    handled as ``orphaned_pickup`` says: ``ship`` (default) turns them into ship orders to the
    store's address, as a retailer re-routes click-and-collect to home delivery; ``cancel`` drops
    them from the batch.
    """

    ships: bool | None = None
    pickup: bool | None = None
    max_shipments: NonNegativeInt | None = None
    max_units: NonNegativeInt | None = None
    shipment_cost: NonNegativeFloat | None = None
    unit_cost: NonNegativeFloat | None = None
    closed: bool = False
    orphaned_pickup: Literal["ship", "cancel"] = "ship"

    @model_validator(mode="after")
    def _changes_something(self) -> LocationOverride:
        written = self.model_fields_set & {
            "ships", "pickup", "max_shipments", "max_units", "shipment_cost", "unit_cost", "closed"
        }  # fmt: skip
        if not written:
            raise ValueError(
                "a location override needs at least one of ships, pickup, max_shipments, "
                "max_units, shipment_cost, unit_cost, closed"
            )
        for name in ("ships", "pickup", "unit_cost"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self

    def field_overrides(self) -> dict[str, Any]:
        """The location fields this override writes, as request JSON values."""
        names = ("ships", "pickup", "max_shipments", "max_units", "shipment_cost", "unit_cost")
        return {name: getattr(self, name) for name in names if name in self.model_fields_set}


class InventoryChange(LocationSelection, SkuSelection):
    """Change available-to-promise units of the selected (location, sku) rows.

    Exactly one of ``factor`` (multiply and round down: never promise a unit that is not there),
    ``set`` (an absolute quantity) or ``add`` (units added; negative removes, never below 0).
    No location criterion means every location. With ``set`` and explicit ``ids`` and ``skus``,
    pairs the baseline does not list are added (new assortment at a store).
    """

    factor: NonNegativeFloat | None = None
    set: NonNegativeInt | None = None
    add: int | None = None

    @model_validator(mode="after")
    def _one_operation(self) -> InventoryChange:
        given = [name for name in ("factor", "set", "add") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of factor, set or add"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self


class SafetyStock(LocationSelection, SkuSelection):
    """Units withheld from promising at each selected (location, sku) row: ATP becomes
    ``max(0, quantity - units)``. No location criterion means every location."""

    units: NonNegativeInt


class DemandFilter(_ScenarioModel):
    """Keep only the orders that match every criterion given."""

    delivery: Literal["ship", "pickup"] | None = None
    priorities: list[int] | None = Field(default=None, min_length=1)
    min_priority: int | None = None
    max_priority: int | None = None
    order_pattern: str | None = Field(default=None, min_length=1)


class DemandChange(_ScenarioModel):
    """Demand of the batch: ``filter`` first, then ``scale``.

    ``scale: 2`` replicates every order once (Black Friday: twice the orders, same mix, from
    the same neighbourhoods: a copy ships to a point a few km from its original); a fraction
    replicates (or, below 1, keeps) a sample of the orders. Every draw uses the scenario's seed,
    so the same file always yields the same batch. Copies get ids ``<id>~2``, ``<id>~3``, ...
    """

    scale: Annotated[float, Field(gt=0.0, le=20.0, allow_inf_nan=False)] = 1.0
    filter: DemandFilter | None = None


class ShipmentCostChange(_ScenarioModel):
    warehouse: NonNegativeFloat | None = None
    store: NonNegativeFloat | None = None


class PolicyOverride(_ScenarioModel):
    """New values for the request's policy; a field left out keeps the baseline's.
    ``max_distance_km: null`` lifts the distance limit."""

    cost_per_km: NonNegativeFloat | None = None
    shipment_cost: ShipmentCostChange | None = None
    max_distance_km: NonNegativeFloat | None = None
    strategy: Strategy | None = None
    time_limit_s: Annotated[float, Field(gt=0.0, le=3600.0, allow_inf_nan=False)] | None = None
    relative_gap: Annotated[float, Field(ge=0.0, lt=1.0, allow_inf_nan=False)] | None = None

    def field_overrides(self) -> dict[str, Any]:
        """The policy fields this override writes (shipment cost kinds merged separately)."""
        return {
            name: getattr(self, name)
            for name in (
                "cost_per_km",
                "max_distance_km",
                "strategy",
                "time_limit_s",
                "relative_gap",
            )
            if name in self.model_fields_set
            and (getattr(self, name) is not None or name == "max_distance_km")
        }


class ChangeSet(_ScenarioModel):
    """Everything one variant changes, applied in this order: locations, inventory, safety stock,
    demand, policy (see :func:`scenarios.changes.apply_changes`)."""

    locations: list[LocationOverride] = Field(default_factory=list)
    inventory: list[InventoryChange] = Field(default_factory=list)
    safety_stock: list[SafetyStock] = Field(default_factory=list)
    demand: DemandChange | None = None
    policy: PolicyOverride | None = None


class Variant(ChangeSet):
    name: str = Field(min_length=1, max_length=80)
    description: str = ""


# --- baseline --------------------------------------------------------------------------------


class GeneratedNetwork(_ScenarioModel):
    """A realistic network and batch from ``engine.generate``: a standard ``size`` (S, M, L, XL),
    or a custom one given as ``orders``, ``locations`` and ``skus``; and the generator's seed."""

    size: Literal["S", "M", "L", "XL"] | None = None
    orders: Annotated[int, Field(ge=1, le=200_000)] | None = None
    locations: Annotated[int, Field(ge=2, le=1_000)] | None = None
    skus: Annotated[int, Field(ge=1, le=50_000)] | None = None
    seed: int = 1

    @model_validator(mode="after")
    def _one_size(self) -> GeneratedNetwork:
        custom = [self.orders, self.locations, self.skus]
        if self.size is None and None in custom:
            raise ValueError("give a size (S, M, L, XL) or all of orders, locations and skus")
        if self.size is not None and any(value is not None for value in custom):
            raise ValueError("give either size or orders, locations and skus, not both")
        return self


class Baseline(_ScenarioModel):
    """Where the baseline request comes from, exactly one of ``generate`` or ``requests``.

    ``requests``: solve-request JSON files (paths relative to the scenario file). Several files
    are merged, so a network file (locations, inventory) and a batch file (orders) can be kept
    apart: locations, inventory and orders are concatenated, the last policy given wins.
    ``policy`` is applied to the baseline, and so to every variant, before the variant's own.
    """

    generate: GeneratedNetwork | None = None
    requests: list[str] | None = Field(default=None, min_length=1)
    policy: PolicyOverride | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Baseline:
        if (self.generate is None) == (self.requests is None):
            raise ValueError("give exactly one of generate or requests")
        return self


class Scenario(_ScenarioModel):
    """A what-if study: one baseline, its variants, and the seed of every random choice."""

    name: str = Field(min_length=1, max_length=120)
    description: str = ""
    seed: int = 0
    baseline: Baseline
    variants: list[Variant] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> Scenario:
        seen: set[str] = {BASELINE_NAME}
        for variant in self.variants:
            if variant.name in seen:
                raise ValueError(
                    f"variant name {variant.name!r} is used twice"
                    + (" ('baseline' is reserved)" if variant.name == BASELINE_NAME else "")
                )
            seen.add(variant.name)
        return self


BASELINE_NAME = "baseline"


# --- problems with lines ---------------------------------------------------------------------

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class ScenarioProblem:
    """One thing wrong with a scenario file: its line (1-based, when known), field path, message."""

    loc: Path_
    msg: str
    line: int | None = None
    type: str = "value_error"
    variant: str | None = None  # the name of the variant at fault, when it has one

    def describe(self, file: str | None = None) -> str:
        where = ".".join(str(part) for part in self.loc) or "(file)"
        if self.variant:
            where += f" (variant {self.variant!r})"
        at = (
            f"{file}:{self.line}"
            if file and self.line
            else (f"line {self.line}" if self.line else file)
        )
        return f"{at}: {where}: {self.msg}" if at else f"{where}: {self.msg}"


class ScenarioInvalid(ValueError):
    """A scenario file refused: every problem, each with its line and field. ``rest``: when only
    some variants broke the schema, the scenario without them, so that the checks that need a
    parsed scenario (change-sets, the contract) can still report on the others at once."""

    def __init__(
        self,
        problems: list[ScenarioProblem],
        file: str | None = None,
        rest: ScenarioSource | None = None,
    ) -> None:
        self.problems = problems
        self.file = file
        self.rest = rest
        super().__init__(self.describe())

    def describe(self) -> str:
        name = f"scenario {self.file}" if self.file else "scenario"
        head = f"{name} refused: {len(self.problems)} problem(s)"
        return "\n".join([head, *(f"  - {p.describe(self.file)}" for p in self.problems)])


@dataclass(frozen=True)
class ScenarioSource:
    """A parsed scenario with what is needed to name lines later (when applying change-sets)."""

    scenario: Scenario
    file: str | None
    base_dir: Path
    root: yaml.Node | None = field(repr=False, default=None)
    # Where each of ``scenario.variants`` stands in the file, when some were left out.
    variant_places: tuple[int, ...] | None = None

    def line_of(self, loc: Path_) -> int | None:
        return line_of(self.root, loc)[0] if self.root is not None else None

    def problem(self, loc: Path_, msg: str, type: str = "value_error") -> ScenarioProblem:
        """A problem found after parsing (an unknown id in the baseline, ...), with its line;
        ``loc`` counts the scenario's variants, the problem names the file's place."""
        variant = None
        if len(loc) >= 2 and loc[0] == "variants" and isinstance(loc[1], int):
            variant = self.scenario.variants[loc[1]].name
            if self.variant_places is not None:
                loc = ("variants", self.variant_places[loc[1]], *loc[2:])
        return ScenarioProblem(loc, msg, self.line_of(loc), type, variant)

    def invalid(self, problems: Sequence[tuple[Path_, str]]) -> ScenarioInvalid:
        """A refusal for problems found after parsing."""
        return ScenarioInvalid([self.problem(loc, msg) for loc, msg in problems], self.file)


def line_of(root: yaml.Node | None, loc: Path_) -> tuple[int | None, Path_]:
    """The 1-based line of the node at ``loc`` (or of its deepest ancestor present in the file),
    and the part of ``loc`` that was found. Mapping keys are matched by their scalar value,
    sequence items by index."""
    node = root
    found: list[str | int] = []
    if node is None:
        return None, ()
    line = node.start_mark.line + 1
    for part in loc:
        child: yaml.Node | None = None
        key_line = None
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == part:
                    child, key_line = value, key.start_mark.line + 1
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            child = node.value[part]
        if child is None:
            break
        node = child
        found.append(part)
        # A key's line reads better than its value's when the value is a block on the next line.
        line = key_line if key_line is not None else child.start_mark.line + 1
    return line, tuple(found)


def _duplicate_keys(node: yaml.Node, path: Path_ = ()) -> list[ScenarioProblem]:
    """YAML quietly keeps the last of two equal keys; in a scenario that is always a mistake."""
    problems: list[ScenarioProblem] = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen and key.value != "<<":
                    problems.append(
                        ScenarioProblem(
                            (*path, key.value),
                            f"key {key.value!r} given twice (first on line {seen[key.value]})",
                            key.start_mark.line + 1,
                            "duplicate_key",
                        )
                    )
                seen.setdefault(key.value, key.start_mark.line + 1)
                problems.extend(_duplicate_keys(value, (*path, key.value)))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            problems.extend(_duplicate_keys(item, (*path, index)))
    return problems


def _variant_name(raw: Any, loc: Path_) -> str | None:
    if len(loc) >= 2 and loc[0] == "variants" and isinstance(loc[1], int):
        variants = raw.get("variants") if isinstance(raw, dict) else None
        if isinstance(variants, list) and 0 <= loc[1] < len(variants):
            name = variants[loc[1]].get("name") if isinstance(variants[loc[1]], dict) else None
            return name if isinstance(name, str) else None
    return None


def _problems_from_validation(
    error: ValidationError, root: yaml.Node, raw: Any
) -> list[ScenarioProblem]:
    problems = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        line, found = line_of(root, loc)
        # Pydantic may name union members or validators in its paths; those are not fields of
        # the file. Keep what the file has, plus the key that is missing.
        shown = found + (loc[len(found) :][:1] if item["type"] == "missing" else ())
        msg = "field required" if item["type"] == "missing" else item["msg"]
        if item["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling; see docs/scenarios.md)"
        problems.append(ScenarioProblem(shown, msg, line, item["type"], _variant_name(raw, shown)))
    # One message per field: a union reports each member's failure, which only repeats itself.
    unique: dict[tuple[Path_, int | None], ScenarioProblem] = {}
    for problem in problems:
        unique.setdefault((problem.loc, problem.line), problem)
    return list(unique.values())


def parse_scenario(
    text: str, *, file: str | None = None, base_dir: Path | None = None
) -> ScenarioSource:
    """Parse scenario YAML. Raises :class:`ScenarioInvalid` listing every problem with its line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        context = exc.context
        if context and exc.context_mark is not None and exc.context_mark is not mark:
            context += f" (from line {exc.context_mark.line + 1})"
        message = ", ".join(part for part in (context, exc.problem) if part)
        raise ScenarioInvalid(
            [ScenarioProblem((), f"not valid YAML: {message}", line, "yaml_invalid")], file
        ) from None
    if root is None or not isinstance(raw, dict):
        raise ScenarioInvalid(
            [
                ScenarioProblem(
                    (), "a scenario file is a YAML mapping (name, baseline, variants)", 1
                )
            ],
            file,
        )
    problems = _duplicate_keys(root)
    scenario = None
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_problems_from_validation(exc, root, raw))
    if problems:
        problems.sort(key=lambda p: (p.line or 0, str(p.loc)))
        rest = _without_broken_variants(raw, problems, file, base_dir, root)
        raise ScenarioInvalid(problems, file, rest)
    assert scenario is not None
    return ScenarioSource(scenario=scenario, file=file, base_dir=base_dir or Path.cwd(), root=root)


def _without_broken_variants(
    raw: dict[str, Any],
    problems: list[ScenarioProblem],
    file: str | None,
    base_dir: Path | None,
    root: yaml.Node,
) -> ScenarioSource | None:
    """The scenario without the variants the schema refused, when they alone are at fault."""
    broken: set[int] = set()
    for problem in problems:
        if len(problem.loc) < 2 or problem.loc[0] != "variants" or problem.type == "duplicate_key":
            return None  # the baseline, the file or a duplicate key: nothing to build on
        if isinstance(problem.loc[1], int):
            broken.add(problem.loc[1])
        else:
            return None
    variants = raw.get("variants")
    places = (
        [i for i in range(len(variants)) if i not in broken] if isinstance(variants, list) else []
    )
    if not places:
        return None
    assert isinstance(variants, list)
    try:
        scenario = Scenario.model_validate({**raw, "variants": [variants[i] for i in places]})
    except ValidationError:
        return None
    return ScenarioSource(scenario, file, base_dir or Path.cwd(), root, tuple(places))


def load_scenario(path: str | Path) -> ScenarioSource:
    """Read and parse a scenario file. Raises :class:`ScenarioInvalid` (unreadable file included)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioInvalid(
            [ScenarioProblem((), f"cannot read the file: {exc}", None, "io_error")], str(path)
        ) from None
    return parse_scenario(text, file=str(path), base_dir=path.resolve().parent)


def slug(name: str) -> str:
    """A file-name-safe form of a variant name (``Black Friday x2`` -> ``black-friday-x2``)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "variant"
