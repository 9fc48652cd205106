"""The 15-minute service circle (pure): which elders some caregiver can reach within
a time limit, by a travel model handed in (``TravelModel.travel_times_s`` of
dispatch/matching/travel.py fits), so the monthly report and the care map ask the
same question the same way."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dispatch.domain.model import TransportMode

# The seeds' service circle: help within 15 minutes of the elder's door.
CIRCLE_S = 15 * 60.0
# Elders compared with every caregiver at once, this many at a time (memory bound).
_CHUNK = 2048

Coordinates = npt.NDArray[np.float64]
# (origins, destinations, mode) -> seconds per row, as TravelModel.travel_times_s.
TravelTimes = Callable[[Coordinates, Coordinates, TransportMode], npt.NDArray[np.float64]]


@dataclass(frozen=True, slots=True)
class Base:
    """Where a caregiver sets off from (a station, else home) and how they travel."""

    lat: float
    lon: float
    mode: TransportMode


def reachable(
    elders: Sequence[tuple[float, float]],
    bases: Sequence[Base],
    travel_times_s: TravelTimes,
    limit_s: float = CIRCLE_S,
) -> list[bool]:
    """For each elder (lat, lon), whether some base reaches them within ``limit_s``."""
    reached = np.zeros(len(elders), dtype=bool)
    if not elders or not bases:
        return reached.tolist()
    points = np.asarray(elders, dtype=np.float64)
    for mode in sorted({b.mode for b in bases}):
        origins = np.asarray([(b.lat, b.lon) for b in bases if b.mode == mode], np.float64)
        for lo in range(0, len(points), _CHUNK):
            chunk = points[lo : lo + _CHUNK]
            # Every (elder, base) pair of the chunk as one row each.
            dest = np.repeat(chunk, len(origins), axis=0)
            orig = np.tile(origins, (len(chunk), 1))
            seconds = travel_times_s(orig, dest, mode).reshape(len(chunk), len(origins))
            reached[lo : lo + len(chunk)] |= (seconds <= limit_s).any(axis=1)
    return reached.tolist()


def share_within(
    elders: Sequence[tuple[float, float]],
    bases: Sequence[Base],
    travel_times_s: TravelTimes,
    limit_s: float = CIRCLE_S,
) -> float | None:
    """The share of ``elders`` inside the circle; None with no elder to count."""
    if not elders:
        return None
    hits = reachable(elders, bases, travel_times_s, limit_s)
    return round(sum(hits) / len(hits), 4)
