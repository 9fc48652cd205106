"""The 15-minute service circle (pure): which elders the caregivers on shift can
reach within a time limit, by the travel model, and the share.

The care map shades it, the monthly report counts its share (a KPI of the
bureau's), and the what-if table asks how many caregivers a street needs for a
target share. The travel model is passed in (``dispatch.matching.travel``'s
``DetourTravelModel`` fits ``TravelTimes``), so this module stays below it.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from dispatch.domain.model import GeoPoint, TransportMode

Coordinates = npt.NDArray[np.float64]
Seconds = npt.NDArray[np.float64]

CIRCLE_S = 15 * 60  # the bureau's "15-minute service circle"
# Pairs weighed at once: elders x caregivers can reach millions in a large city.
_PAIRS_PER_BLOCK = 500_000


class TravelTimes(Protocol):
    def travel_times_s(
        self, origins: Coordinates, destinations: Coordinates, mode: TransportMode
    ) -> Seconds:
        """Seconds from origins[k] to destinations[k] by ``mode``, for each row."""
        ...


@dataclass(frozen=True, slots=True)
class Responder:
    """Someone who could go: where they are (or wait) and how they travel."""

    position: GeoPoint
    mode: TransportMode


@dataclass(frozen=True, slots=True)
class Circle:
    """Each elder's fastest arrival (None: no responder at all) and who is within."""

    limit_s: float
    fastest_s: dict[Hashable, float | None]

    @property
    def within(self) -> frozenset[Hashable]:
        return frozenset(
            k for k, s in self.fastest_s.items() if s is not None and s <= self.limit_s
        )

    @property
    def share(self) -> float | None:
        """The share of elders within the limit; None when there are no elders."""
        if not self.fastest_s:
            return None
        return round(len(self.within) / len(self.fastest_s), 4)


def fastest_arrivals_s(
    elders: Coordinates, responders: Sequence[Responder], travel: TravelTimes
) -> Seconds:
    """Each elder's (row: lat, lon) fastest arrival from any responder; inf if none."""
    best = np.full(len(elders), np.inf)
    if not len(elders) or not responders:
        return best
    for mode in {r.mode for r in responders}:
        sites = np.array(
            [(r.position.lat, r.position.lon) for r in responders if r.mode == mode],
            dtype=np.float64,
        )
        rows = max(1, _PAIRS_PER_BLOCK // len(sites))
        for start in range(0, len(elders), rows):
            block = elders[start : start + rows]
            origins = np.tile(sites, (len(block), 1))
            destinations = np.repeat(block, len(sites), axis=0)
            seconds = travel.travel_times_s(origins, destinations, mode)
            best[start : start + len(block)] = np.minimum(
                best[start : start + len(block)], seconds.reshape(len(block), len(sites)).min(1)
            )
    return best


def service_circle(
    elders: Sequence[tuple[Hashable, GeoPoint]],
    responders: Sequence[Responder],
    travel: TravelTimes,
    limit_s: float = CIRCLE_S,
) -> Circle:
    """Which of ``elders`` (key, home) the ``responders`` reach within ``limit_s``."""
    if limit_s <= 0:
        raise ValueError("limit_s must be positive")
    homes = _coordinates([p for _, p in elders])
    best = fastest_arrivals_s(homes, responders, travel)
    return Circle(
        limit_s,
        {
            key: (None if np.isinf(s) else round(float(s), 1))
            for (key, _), s in zip(elders, best.tolist(), strict=True)
        },
    )


def responders_reaching(
    elders: Sequence[GeoPoint],
    responders: Sequence[Responder],
    travel: TravelTimes,
    limit_s: float = CIRCLE_S,
) -> int:
    """How many of ``responders`` reach at least one of ``elders`` within ``limit_s``
    (a street's share of the city's caregivers on shift)."""
    homes = _coordinates(elders)
    if not len(homes):
        return 0
    count = 0
    for mode in {r.mode for r in responders}:
        sites = _coordinates([r.position for r in responders if r.mode == mode])
        origins = np.repeat(sites, len(homes), axis=0)
        destinations = np.tile(homes, (len(sites), 1))
        seconds = travel.travel_times_s(origins, destinations, mode)
        count += int((seconds.reshape(len(sites), len(homes)).min(axis=1) <= limit_s).sum())
    return count


def caregivers_needed(
    elders: Sequence[GeoPoint],
    sites: Sequence[GeoPoint],
    mode: TransportMode,
    travel: TravelTimes,
    *,
    target_share: float = 0.95,
    limit_s: float = CIRCLE_S,
    already: Sequence[Responder] = (),
) -> int | None:
    """How many caregivers, placed at some of ``sites``, bring ``elders`` within the
    circle for ``target_share`` of them, counting those ``already`` there.

    Greedy maximum coverage: each added caregiver goes to the site that brings the
    most elders not yet covered within ``limit_s``. Greedy is within a factor
    ln(n) of the fewest possible, and in practice close to it; the count it
    answers is one that works (an upper bound on the minimum). None: even a
    caregiver at every site falls short.
    """
    if not 0.0 < target_share <= 1.0:
        raise ValueError("target_share must be within (0, 1]")
    if not elders:
        return len(already)
    homes = _coordinates(elders)
    needed = int(np.ceil(target_share * len(homes) - 1e-9))
    covered = fastest_arrivals_s(homes, already, travel) <= limit_s
    count = len(already)
    if not sites:
        return count if covered.sum() >= needed else None
    places = _coordinates(sites)
    # reach[s, e]: a caregiver at site s reaches elder e within the limit.
    origins = np.repeat(places, len(homes), axis=0)
    destinations = np.tile(homes, (len(places), 1))
    reach = (travel.travel_times_s(origins, destinations, mode) <= limit_s).reshape(
        len(places), len(homes)
    )
    while covered.sum() < needed:
        gains = (reach & ~covered).sum(axis=1)
        site = int(gains.argmax())
        if gains[site] == 0:
            return None
        covered |= reach[site]
        count += 1
    return count


def _coordinates(points: Sequence[GeoPoint]) -> Coordinates:
    return np.array([(p.lat, p.lon) for p in points], dtype=np.float64).reshape(-1, 2)
