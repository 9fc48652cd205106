"""Redis GEO's nearest-first search, reproduced on arrays (pure code).

A surge round may hold hundreds of alerts in one district. Searching Redis once
around the district and picking each alert's nearest caregivers here costs a
fraction of one GEOSEARCH per alert, and gives the same answer wherever the
district search covered the alert's whole search (``nearest_covered``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Flags = npt.NDArray[np.bool_]

# Redis's own figures (src/geohash_helper.c), so distances and ranks agree.
REDIS_EARTH_RADIUS_M = 6372797.560856


def redis_distances_m(
    lat1: Floats | float, lon1: Floats | float, lat2: Floats | float, lon2: Floats | float
) -> Floats:
    """What GEOSEARCH computes between points, element-wise (numpy broadcasting)."""
    lat1r, lat2r = np.radians(lat1), np.radians(lat2)
    u = np.sin((lat2r - lat1r) / 2)
    v = np.sin((np.radians(lon2) - np.radians(lon1)) / 2)
    a = u * u + np.cos(lat1r) * np.cos(lat2r) * v * v
    along_meridian = REDIS_EARTH_RADIUS_M * np.abs(lat2r - lat1r)  # Redis's shortcut
    result: Floats = np.where(
        v == 0.0, along_meridian, 2.0 * REDIS_EARTH_RADIUS_M * np.arcsin(np.sqrt(a))
    )
    return result


def covering_circle(searches: Floats) -> tuple[float, float, float]:
    """(lat, lon, radius_m) around the centre of the searched points, reaching all of them."""
    lat, lon = float(searches[:, 0].mean()), float(searches[:, 1].mean())
    spread = redis_distances_m(lat, lon, searches[:, 0], searches[:, 1])
    return lat, lon, float(spread.max())


class Nearest(NamedTuple):
    """Each search's nearest members, as arrays: row ``i`` of ``member`` holds search
    ``i``'s, nearest first, its first ``found[i]`` valid; ``covered[i]`` is False
    where the answer could reach outside the district (ask Redis)."""

    member: Ints
    found: Ints
    covered: Flags


def nearest_covered(
    searches: Floats,
    count: int,
    members: Floats,
    covered: tuple[float, float, float],
) -> Nearest:
    """Each search's nearest ``count`` members within its radius, nearest first.

    ``searches`` holds one (lat, lon, radius_m) per row, ``members`` one (lat, lon)
    per row: every member inside the circle ``covered`` and no other.
    """
    lat, lon, radius_m = searches[:, 0], searches[:, 1], searches[:, 2]
    k = min(count, len(members))
    nearest = np.zeros((len(searches), k), dtype=np.int64)
    found = np.zeros(len(searches), dtype=np.int64)
    reach_m = radius_m
    if k:
        # Nearest by straight line through the earth is nearest along its surface:
        # a k-d tree finds each search's candidates, Redis's formula ranks them.
        # (Past the widest radius, with room for rounding: Redis's ranks decide.)
        chord = 2 * np.sin(radius_m.max() / (2 * REDIS_EARTH_RADIUS_M)) * (1 + 1e-6)
        _, near = cKDTree(_on_unit_sphere(members[:, 0], members[:, 1])).query(
            _on_unit_sphere(lat, lon), k=k, distance_upper_bound=chord
        )
        near = np.asarray(near).reshape(len(searches), k)
        exists = near < len(members)
        at = np.where(exists, near, 0)
        near_m = redis_distances_m(lat[:, None], lon[:, None], members[at, 0], members[at, 1])
        near_m[~exists | (near_m > radius_m[:, None])] = np.inf
        by_distance = np.argsort(near_m, axis=1, kind="stable")
        nearest = np.take_along_axis(at, by_distance, axis=1)
        near_m = np.take_along_axis(near_m, by_distance, axis=1)
        # Sorted by distance, the found ones (finite) come first in each row.
        found = np.isfinite(near_m).sum(axis=1)
        # A full answer reaches its last member; a short one, the whole radius.
        reach_m = np.where(found >= count, near_m[:, -1], radius_m)
    centre_lat, centre_lon, covered_m = covered
    from_centre = redis_distances_m(centre_lat, centre_lon, lat, lon)
    # A metre to spare: the two sides round their sines differently.
    return Nearest(nearest, found, from_centre + reach_m <= covered_m - 1.0)


def _on_unit_sphere(lat: Floats, lon: Floats) -> Floats:
    lat_r, lon_r = np.radians(lat), np.radians(lon)
    result: Floats = np.column_stack(
        (np.cos(lat_r) * np.cos(lon_r), np.cos(lat_r) * np.sin(lon_r), np.sin(lat_r))
    )
    return result
