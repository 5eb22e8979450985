"""Maps: country outlines shipped with the package (nothing fetched), the busiest locations
named, a store that serves nothing labelled as such."""

from __future__ import annotations

import struct
from pathlib import Path

import matplotlib
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.path import Path as Polygon

from scenarios import plots
from scenarios.outlines import OUTLINES_FILE, country_outlines, read_polygon_rings
from tests.builders import location, pickup_order, request, ship_order, solved, stock

matplotlib.use("Agg")


def test_country_outlines_are_packaged_and_cover_the_united_states() -> None:
    assert OUTLINES_FILE.is_file()
    rings = country_outlines()
    assert len(rings) > 100
    kansas = (-98.0, 38.5)
    assert any(Polygon(ring).contains_point(kansas) for ring in rings)
    mid_atlantic = (-50.0, 35.0)
    assert not any(Polygon(ring).contains_point(mid_atlantic) for ring in rings)


def shapefile(path: Path, rings: list[list[tuple[float, float]]]) -> Path:
    """A one-record polygon shapefile, written by the format's specification."""
    points = [p for ring in rings for p in ring]
    parts, at = [], 0
    for ring in rings:
        parts.append(at)
        at += len(ring)
    content = struct.pack("<i4d2i", 5, 0, 0, 0, 0, len(rings), len(points))
    content += struct.pack(f"<{len(parts)}i", *parts)
    content += struct.pack(f"<{2 * len(points)}d", *(v for p in points for v in p))
    record = struct.pack(">2i", 1, len(content) // 2) + content
    header = struct.pack(">7i", 9994, 0, 0, 0, 0, 0, (100 + len(record)) // 2)
    header += struct.pack("<2i4d4d", 1000, 5, 0, 0, 0, 0, 0, 0, 0, 0)
    path.write_bytes(header + record)
    return path


def test_polygon_rings_are_read_from_a_shapefile(tmp_path: Path) -> None:
    square = [(0.0, 0.0), (0.0, 1.0), (1.0, 1.0), (1.0, 0.0), (0.0, 0.0)]
    hole = [(0.2, 0.2), (0.8, 0.2), (0.8, 0.8), (0.2, 0.2)]
    assert read_polygon_rings(shapefile(tmp_path / "a.shp", [square, hole])) == [square, hole]


def test_a_file_that_is_not_a_shapefile_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.shp"
    bad.write_bytes(b"not a shapefile" * 10)
    with pytest.raises(ValueError, match="not an ESRI shapefile"):
        read_polygon_rings(bad)


def network() -> tuple[dict, dict]:
    raw = request(
        [
            location("WH-1", "warehouse", (40.73, -74.17)),
            location("S-BUSY", at=(42.36, -71.06)),
            location("S-QUIET", at=(41.82, -71.41)),
            location("S-SHUT", at=(42.26, -71.80), ships=False, pickup=False),
        ],
        [stock("WH-1", "A", 2), stock("S-BUSY", "A", 9), stock("S-QUIET", "A", 1),
         stock("S-SHUT", "A", 5)],
        [ship_order("SO-1", ("A", 6)), pickup_order("SO-2", "S-QUIET", ("A", 1))],
    )  # fmt: skip
    return raw, solved(raw)


def texts(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].texts]


def test_flow_map_draws_the_outlines_inside_the_network_s_frame() -> None:
    raw, response = network()
    fig = plots.flow_map(raw, response, "t")
    ax = fig.axes[0]
    assert any(isinstance(c, PolyCollection) for c in ax.collections)
    west, east = ax.get_xlim()
    assert -76 < west < -74.17 and -71.06 < east < -69  # the world did not widen it


def test_flow_map_names_the_busiest_stores_with_their_units() -> None:
    raw, response = network()
    labels = texts(plots.flow_map(raw, response, "t"))
    given = sum(a["quantity"] for a in response["allocations"] if a["location_id"] == "S-BUSY")
    assert f"S-BUSY: {given:,} units" in labels
    assert any(label.startswith("WH-1: ") for label in labels)


def test_a_store_that_serves_nothing_is_not_called_closed() -> None:
    raw, response = network()
    labels = texts(plots.flow_map(raw, response, "t"))
    assert "S-SHUT (serves nothing)" in labels
    assert not any("(closed)" in label for label in labels)


def test_stock_map_has_the_outlines_too() -> None:
    raw, _ = network()
    fig = plots.stock_map(raw, "t")
    assert any(isinstance(c, PolyCollection) for c in fig.axes[0].collections)
