"""Travel time between two points.

The default model is deliberately simple and documented: straight-line distance
times a detour factor (streets are not straight), divided by a speed per mode of
transport, plus a fixed time to set off (shoes on, bike unlocked). A road-network
service (OSRM, a city GIS) can replace it by implementing :class:`TravelModel`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from dispatch.domain.model import GeoPoint, TransportMode, great_circle_m

DEFAULT_SPEEDS_M_S: Mapping[TransportMode, float] = {
    TransportMode.WALK: 1.3,  # ~4.7 km/h, an adult carrying a kit
    TransportMode.BICYCLE: 4.0,  # ~14 km/h in city traffic
    TransportMode.EBIKE: 5.5,  # ~20 km/h, the usual community caregiver's vehicle
    TransportMode.CAR: 7.0,  # ~25 km/h door to door in a Chinese city centre
}


class TravelModel(Protocol):
    def travel_time_s(self, origin: GeoPoint, destination: GeoPoint, mode: TransportMode) -> float:
        """Seconds from ``origin`` to ``destination`` by ``mode``."""
        ...

    def reach_m(self, seconds: float, mode: TransportMode) -> float:
        """A straight-line radius beyond which nobody arrives within ``seconds``."""
        ...


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

    def reach_m(self, seconds: float, mode: TransportMode) -> float:
        """Straight-line radius reachable within ``seconds`` (for candidate search)."""
        return max(0.0, seconds - self.setoff_s) * self.speeds_m_s[mode] / self.detour_factor
