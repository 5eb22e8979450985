"""Locations, skus and the ledger's settings (safety stock, online thresholds): the catalog the
ledger checks feeds and events against, and the lookup arrays snapshots are built with."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np
from sqlalchemy import Connection, Engine, select

from ledger.rules import UNSET, LocationRules
from ledger.snapshot import Catalog
from models.inventory import Catalog as CatalogIn
from storage import tables
from storage.db import executemany, write_transaction


@dataclass(frozen=True, slots=True)
class CatalogResult:
    version: int
    locations: int
    skus: int


def apply_catalog(engine: Engine, catalog: CatalogIn) -> CatalogResult:
    """Upsert the locations, skus and settings the catalog names; others stay as they are."""
    with write_transaction(engine, "catalog") as write:
        connection = write.connection
        executemany(
            connection,
            """INSERT INTO locations (code, kind, lat, lon, ships, pickup, max_shipments, max_units,
                   shipment_cost, unit_cost, safety_stock, receipts_count_at_once,
                   returns_auto_approved, active)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (code) DO UPDATE SET kind = excluded.kind, lat = excluded.lat,
                   lon = excluded.lon, ships = excluded.ships, pickup = excluded.pickup,
                   max_shipments = excluded.max_shipments, max_units = excluded.max_units,
                   shipment_cost = excluded.shipment_cost, unit_cost = excluded.unit_cost,
                   safety_stock = excluded.safety_stock,
                   receipts_count_at_once = excluded.receipts_count_at_once,
                   returns_auto_approved = excluded.returns_auto_approved,
                   active = excluded.active""",
            [
                (
                    loc.id, loc.kind, loc.lat, loc.lon, loc.ships, loc.pickup, loc.max_shipments,
                    loc.max_units, loc.shipment_cost, loc.unit_cost, loc.safety_stock,
                    loc.receipts_count_at_once, loc.returns_auto_approved, loc.active,
                )
                for loc in catalog.locations
            ],
        )  # fmt: skip
        executemany(
            connection,
            """INSERT INTO skus (code, category, safety_stock, online_threshold) VALUES (?, ?, ?, ?)
               ON CONFLICT (code) DO UPDATE SET category = excluded.category,
                   safety_stock = excluded.safety_stock, online_threshold = excluded.online_threshold""",
            [(s.sku, s.category, s.safety_stock, s.online_threshold) for s in catalog.skus],
        )
        executemany(
            connection,
            """INSERT INTO categories (code, online_threshold) VALUES (?, ?)
               ON CONFLICT (code) DO UPDATE SET online_threshold = excluded.online_threshold""",
            [(c.category, c.online_threshold) for c in catalog.categories],
        )
        executemany(
            connection,
            """INSERT INTO safety_stock_by_kind (kind, quantity) VALUES (?, ?)
               ON CONFLICT (kind) DO UPDATE SET quantity = excluded.quantity""",
            list(catalog.safety_stock_by_kind.items()),
        )
        if catalog.position_safety_stock:
            location_ids = location_id_map(connection)
            sku_ids = ensure_skus(connection, {p.sku for p in catalog.position_safety_stock})
            executemany(
                connection,
                """INSERT INTO positions (location_id, sku_id, on_hand, reserved, held,
                       safety_stock, version) VALUES (?, ?, 0, 0, 0, ?, ?)
                   ON CONFLICT (location_id, sku_id) DO UPDATE
                   SET safety_stock = excluded.safety_stock""",
                [
                    (location_ids[p.location_id], sku_ids[p.sku], p.safety_stock, write.version)
                    for p in catalog.position_safety_stock
                    if p.location_id in location_ids
                ],
            )
        record_settings(connection, write.version, catalog)
        return CatalogResult(write.version, len(catalog.locations), len(catalog.skus))


def record_settings(connection: Connection, version: int, catalog: CatalogIn) -> None:
    """Append the settings the catalog names to ``setting_history``, valid from ``version``."""
    locations = location_id_map(connection, active_only=False)
    skus = ensure_skus(
        connection, {s.sku for s in catalog.skus} | {p.sku for p in catalog.position_safety_stock}
    )
    rows: list[tuple[object, ...]] = []
    rows += [
        (version, "kind", None, None, kind, "safety_stock", quantity, None)
        for kind, quantity in catalog.safety_stock_by_kind.items()
    ]
    rows += [
        (version, "location", locations[loc.id], None, None, "safety_stock", loc.safety_stock, None)
        for loc in catalog.locations
    ]
    for s in catalog.skus:
        sku = skus[s.sku]
        rows += [
            (version, "sku", None, sku, None, "safety_stock", s.safety_stock, None),
            (version, "sku", None, sku, None, "online_threshold", s.online_threshold, None),
            (version, "sku", None, sku, None, "category", None, s.category),
        ]
    rows += [
        (version, "category", None, None, c.category, "online_threshold", c.online_threshold, None)
        for c in catalog.categories
    ]
    rows += [(version, "position", locations[p.location_id], skus[p.sku], None, "safety_stock", p.safety_stock, None)
             for p in catalog.position_safety_stock if p.location_id in locations]  # fmt: skip
    executemany(
        connection,
        "INSERT INTO setting_history (version, scope, location_id, sku_id, code, name, value,"
        " text_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


@dataclass(frozen=True, slots=True)
class SettingsAsOf:
    """The settings of an earlier ledger version: the catalog's lookup arrays with that
    version's safety stock and online thresholds, and the per-position safety stock."""

    catalog: Catalog
    position_safety_stock: dict[tuple[int, int], int]


def settings_as_of(connection: Connection, version: int, current: Catalog) -> SettingsAsOf:
    """The settings valid at ``version`` (per setting, the newest change at or before it), laid
    over ``current`` (the catalog now: codes, kinds and flags)."""
    rows = connection.exec_driver_sql(
        "SELECT scope, location_id, sku_id, code, name, value, text_value FROM setting_history"
        f" WHERE version <= {int(version)} ORDER BY version"
    ).all()
    # (scope, location_id, sku_id, code, name): location_id, sku_id and code are set by scope.
    SettingKey = tuple[str, int | None, int | None, str | None, str]
    newest: dict[SettingKey, tuple[int | None, str | None]] = {}
    for scope, location_id, sku_id, code, name, value, text_value in rows:
        newest[(scope, location_id, sku_id, code, name)] = (value, text_value)
    location_safety = np.full(current.location_safety_stock.size, UNSET, dtype=np.int64)
    sku_safety = np.full(current.sku_safety_stock.size, UNSET, dtype=np.int64)
    sku_threshold_own = np.full(current.sku_online_threshold.size, UNSET, dtype=np.int64)
    sku_category = np.full(current.sku_category.size, None, dtype=object)
    kind_safety: dict[str, int] = {}
    category_threshold: dict[str, int] = {}
    position_safety: dict[tuple[int, int], int] = {}
    for (scope, location_id, sku_id, code, name), (value, text_value) in newest.items():
        if scope == "kind" and value is not None:
            kind_safety[str(code)] = int(value)
        elif (
            scope == "location"
            and value is not None
            and location_id is not None
            and location_id < location_safety.size
        ):
            location_safety[location_id] = value
        elif scope == "sku" and sku_id is not None and sku_id < sku_safety.size:
            if name == "category":
                sku_category[sku_id] = text_value
            elif value is not None:
                (sku_safety if name == "safety_stock" else sku_threshold_own)[sku_id] = value
        elif scope == "category" and value is not None:
            category_threshold[str(code)] = int(value)
        elif (
            scope == "position"
            and value is not None
            and location_id is not None
            and sku_id is not None
        ):
            position_safety[(location_id, sku_id)] = value
    # The sku's own threshold wins over its category's (as in :func:`load_catalog_arrays`).
    sku_threshold = sku_threshold_own.copy()
    for sku_id in np.flatnonzero(sku_threshold_own == UNSET).tolist():
        category = sku_category[sku_id]
        if category in category_threshold:
            sku_threshold[sku_id] = category_threshold[category]
    catalog = replace(
        current,
        location_safety_stock=location_safety,
        sku_category=sku_category,
        sku_safety_stock=sku_safety,
        sku_online_threshold=sku_threshold,
        kind_safety_stock=kind_safety,
    )
    return SettingsAsOf(catalog, position_safety)


def location_id_map(connection: Connection, active_only: bool = True) -> dict[str, int]:
    """Location code -> ledger id."""
    query = select(tables.locations.c.code, tables.locations.c.id)
    if active_only:
        query = query.where(tables.locations.c.active)
    return {code: int(i) for code, i in connection.execute(query)}


def location_rules(connection: Connection) -> dict[int, LocationRules]:
    """Per location id, what applying an event there needs to know."""
    t = tables.locations
    rows = connection.execute(
        select(
            t.c.id, t.c.kind, t.c.receipts_count_at_once, t.c.returns_auto_approved,
            t.c.feed_as_of_us, t.c.feed_basis,
        )
    )  # fmt: skip
    return {
        int(row.id): LocationRules(
            kind=row.kind,
            receipts_count_at_once=bool(row.receipts_count_at_once),
            returns_auto_approved=bool(row.returns_auto_approved),
            feed_as_of_us=row.feed_as_of_us,
            feed_basis=row.feed_basis,
        )
        for row in rows
    }


def sku_id_map(connection: Connection, codes: Iterable[str] | None = None) -> dict[str, int]:
    """Sku code -> ledger id, for ``codes`` (all skus when None)."""
    t = tables.skus
    if codes is None:
        return {code: int(i) for code, i in connection.execute(select(t.c.code, t.c.id))}
    found: dict[str, int] = {}
    codes = list(codes)
    for start in range(0, len(codes), 500):
        part = codes[start : start + 500]
        for code, i in connection.execute(select(t.c.code, t.c.id).where(t.c.code.in_(part))):
            found[code] = int(i)
    return found


def ensure_skus(connection: Connection, codes: Iterable[str]) -> dict[str, int]:
    """Ids of the skus named, registering those the ledger has not seen (a feed or an event may
    bring a new sku; its settings can come later)."""
    codes = set(codes)
    known = sku_id_map(connection, codes)
    register_new_skus(connection, codes - known.keys(), known)
    return known


def register_new_skus(
    connection: Connection, new_codes: Iterable[str], into: dict[str, int]
) -> None:
    """Insert ``new_codes`` and add their ids to ``into``."""
    new_codes = list(new_codes)
    if not new_codes:
        return
    before = connection.exec_driver_sql("SELECT COALESCE(MAX(id), 0) FROM skus").scalar_one()
    executemany(connection, "INSERT INTO skus (code) VALUES (?)", [(code,) for code in new_codes])
    rows = connection.execute(
        select(tables.skus.c.code, tables.skus.c.id).where(tables.skus.c.id > before)
    )
    for code, i in rows:
        into[code] = int(i)


def load_catalog_arrays(connection: Connection) -> Catalog:
    """The catalog as id-indexed lookup arrays (for snapshots and availability)."""
    loc = tables.locations
    location_rows = connection.execute(
        select(
            loc.c.id,
            loc.c.code,
            loc.c.kind,
            loc.c.ships,
            loc.c.pickup,
            loc.c.safety_stock,
            loc.c.active,
        )
    ).all()
    size = max((r.id for r in location_rows), default=0) + 1
    location_code = np.full(size, None, dtype=object)
    location_kind = np.full(size, None, dtype=object)
    ships = np.zeros(size, dtype=bool)
    pickup = np.zeros(size, dtype=bool)
    location_safety = np.full(size, UNSET, dtype=np.int64)
    for r in location_rows:
        location_code[r.id] = r.code
        location_kind[r.id] = r.kind
        # An inactive location promises nothing: it neither ships nor serves pickup.
        ships[r.id] = bool(r.ships) and bool(r.active)
        serves_pickup = r.pickup if r.pickup is not None else r.kind == "store"
        pickup[r.id] = bool(serves_pickup) and bool(r.active)
        if r.safety_stock is not None:
            location_safety[r.id] = r.safety_stock
    s = tables.skus
    sku_rows = connection.execute(
        select(s.c.id, s.c.code, s.c.category, s.c.safety_stock, s.c.online_threshold)
    ).all()
    size = max((row.id for row in sku_rows), default=0) + 1
    sku_code = np.full(size, None, dtype=object)
    sku_category = np.full(size, None, dtype=object)
    sku_safety = np.full(size, UNSET, dtype=np.int64)
    sku_threshold = np.full(size, UNSET, dtype=np.int64)
    category_threshold = dict(
        connection.execute(
            select(tables.categories.c.code, tables.categories.c.online_threshold)
        ).all()
    )
    for sku in sku_rows:
        sku_code[sku.id] = sku.code
        sku_category[sku.id] = sku.category
        if sku.safety_stock is not None:
            sku_safety[sku.id] = sku.safety_stock
        # The sku's own threshold wins over its category's.
        if sku.online_threshold is not None:
            sku_threshold[sku.id] = sku.online_threshold
        elif sku.category in category_threshold:
            sku_threshold[sku.id] = category_threshold[sku.category]
    kind_safety = dict(
        connection.execute(
            select(tables.safety_stock_by_kind.c.kind, tables.safety_stock_by_kind.c.quantity)
        ).all()
    )
    return Catalog(
        location_code=location_code,
        location_kind=location_kind,
        location_ships=ships,
        location_pickup=pickup,
        location_safety_stock=location_safety,
        sku_code=sku_code,
        sku_category=sku_category,
        sku_safety_stock=sku_safety,
        sku_online_threshold=sku_threshold,
        kind_safety_stock={k: int(v) for k, v in kind_safety.items()},
    )
