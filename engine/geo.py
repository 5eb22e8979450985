"""Great-circle distances, as the contract defines them (haversine, Earth radius 6371.0 km)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

EARTH_RADIUS_KM = 6371.0

FloatArray = npt.NDArray[np.float64]


def haversine_km(
    lat1: FloatArray | float,
    lon1: FloatArray | float,
    lat2: FloatArray | float,
    lon2: FloatArray | float,
) -> FloatArray:
    """Distance in km between points given in degrees; broadcasts like any numpy expression."""
    phi1, phi2 = np.radians(lat1), np.radians(lat2)
    half_dphi = (phi2 - phi1) / 2.0
    half_dlambda = np.radians(np.asarray(lon2) - np.asarray(lon1)) / 2.0
    a = np.sin(half_dphi) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(half_dlambda) ** 2
    # clip: rounding can push a a hair above 1 for antipodal points, and arcsin would give nan.
    return np.asarray(
        2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))), dtype=np.float64
    )
