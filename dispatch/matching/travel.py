"""Travel time between two points.

The default model is deliberately simple and documented: straight-line distance
times a detour factor (streets are not straight), divided by a speed per mode of
transport, plus a fixed time to set off (shoes on, bike unlocked). A road-network
service (OSRM, a city GIS) can replace it by implementing :class:`TravelModel`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from dispatch.domain.model import EARTH_RADIUS_M, GeoPoint, TransportMode, great_circle_m

# Many points at once: one row per point, latitude and longitude in degrees.
Coordinates = npt.NDArray[np.float64]
Seconds = npt.NDArray[np.float64]

DEFAULT_SPEEDS_M_S: Mapping[TransportMode, float] = {
    TransportMode.WALK: 1.3,  # ~4.7 km/h, an adult carrying a kit
    TransportMode.BICYCLE: 4.0,  # ~14 km/h in city traffic
    TransportMode.EBIKE: 5.5,  # ~20 km/h, the usual community caregiver's vehicle
    TransportMode.CAR: 7.0,  # ~25 km/h door to door in a Chinese city centre
}


@runtime_checkable
class StraightLineTravel(Protocol):
    """A travel model whose times follow from the straight-line distance alone."""

    def travel_times_by_mode_s(
        self, distance_m: Seconds, mode: npt.NDArray[np.int64], modes: Sequence[TransportMode]
    ) -> Seconds: ...


class TravelModel(Protocol):
    def travel_time_s(self, origin: GeoPoint, destination: GeoPoint, mode: TransportMode) -> float:
        """Seconds from ``origin`` to ``destination`` by ``mode``."""
        ...

    def travel_times_s(
        self, origins: Coordinates, destinations: Coordinates, mode: TransportMode
    ) -> Seconds:
        """``travel_time_s`` for each row: origins[k] to destinations[k] by ``mode``.

        The matcher asks for a whole batch of pairs at once (a road-network
        service answers such a table in one request).
        """
        ...

    def reach_m(self, seconds: float, mode: TransportMode) -> float:
        """A straight-line radius beyond which nobody arrives within ``seconds``."""
        ...


def great_circles_m(origins: Coordinates, destinations: Coordinates) -> npt.NDArray[np.float64]:
    """``great_circle_m`` for each row pair: the same haversine, on arrays."""
    lat1, lat2 = np.radians(origins[:, 0]), np.radians(destinations[:, 0])
    dlat, dlon = lat2 - lat1, np.radians(destinations[:, 1] - origins[:, 1])
    h = np.sin(dlat / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin(dlon / 2) ** 2
    result: npt.NDArray[np.float64] = 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(h)))
    return result


@dataclass(frozen=True)
class DetourTravelModel:
    detour_factor: float = 1.35
    setoff_s: float = 60.0
    speeds_m_s: Mapping[TransportMode, float] = field(default_factory=lambda: DEFAULT_SPEEDS_M_S)

    def __post_init__(self) -> None:
        if self.detour_factor < 1.0:
            raise ValueError("detour_factor must be at least 1 (roads are never shorter)")
        if any(v <= 0 for v in self.speeds_m_s.values()):
            raise ValueError("every speed must be positive")

    def travel_time_s(self, origin: GeoPoint, destination: GeoPoint, mode: TransportMode) -> float:
        road_m = great_circle_m(origin, destination) * self.detour_factor
        return self.setoff_s + road_m / self.speeds_m_s[mode]

    def travel_times_s(
        self, origins: Coordinates, destinations: Coordinates, mode: TransportMode
    ) -> Seconds:
        road_m = great_circles_m(origins, destinations) * self.detour_factor
        result: Seconds = self.setoff_s + road_m / self.speeds_m_s[mode]
        return result

    def travel_times_by_mode_s(
        self, distance_m: Seconds, mode: npt.NDArray[np.int64], modes: Sequence[TransportMode]
    ) -> Seconds:
        """``travel_times_s`` for pairs whose great-circle distance is known already,
        pair ``k`` by ``modes[mode[k]]``: the same arithmetic, to the last bit, with
        no second haversine and no pass per mode (the matcher's surge rounds)."""
        speed = np.array([self.speeds_m_s[m] for m in modes], dtype=np.float64)[mode]
        result: Seconds = self.setoff_s + distance_m * self.detour_factor / speed
        return result

    def reach_m(self, seconds: float, mode: TransportMode) -> float:
        """Straight-line radius reachable within ``seconds`` (for candidate search)."""
        return max(0.0, seconds - self.setoff_s) * self.speeds_m_s[mode] / self.detour_factor
