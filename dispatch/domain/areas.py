"""The bureau's areas as a tree (pure): city → district → street (街道) → community (社区).

An area is named by its key, the path of names below the city joined by "/":
"东城区", "东城区/和平街道", "东城区/和平街道/和平里社区"; the whole city is "*".
Operators and supervisors are scoped to any node and see everything below it:
that is :func:`covers`, the one rule every read model asks. Records that lie
somewhere (elders, and alerts, which keep their elder's place) carry the three
levels as columns, and dispatch/store/reads.in_areas asks the same rule of them
in SQL through :func:`scope_levels`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

CITY_WIDE = "*"
SEPARATOR = "/"


class AreaLevel(StrEnum):
    CITY = "city"
    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"


# The level of a key with this many parts (the city has none).
LEVELS = (AreaLevel.CITY, AreaLevel.DISTRICT, AreaLevel.STREET, AreaLevel.COMMUNITY)


@dataclass(frozen=True, slots=True)
class Place:
    """Where an elder lives, as far as the areas go ("" where not known)."""

    district: str
    street: str = ""
    community: str = ""

    def __post_init__(self) -> None:
        if self.community and not self.street:
            raise ValueError("a community lies in a street: name the street")

    @classmethod
    def known(cls, district: str, street: str = "", community: str = "") -> Place:
        """A place from stored columns, a community without its street dropped (such a
        record is known to its district only)."""
        return cls(district, street, community if street else "")

    @property
    def levels(self) -> tuple[str, str, str]:
        """(district, street, community), "" where not known: the columns' order."""
        return (self.district, self.street, self.community)

    @property
    def parts(self) -> tuple[str, ...]:
        named = (self.district, self.street, self.community)
        return tuple(p for p in named if p)

    @property
    def key(self) -> str:
        return SEPARATOR.join(self.parts) or CITY_WIDE


def parts_of(key: str) -> tuple[str, ...]:
    """The names along an area's key; () for the whole city. ValueError if malformed."""
    if key == CITY_WIDE:
        return ()
    parts = tuple(key.split(SEPARATOR))
    if not 1 <= len(parts) <= 3 or any(not p.strip() or p != p.strip() for p in parts):
        raise ValueError(f"an area key is district[/street[/community]] or '*', not {key!r}")
    return parts


def level_of(key: str) -> AreaLevel:
    return LEVELS[len(parts_of(key))]


def parent_of(key: str) -> str | None:
    parts = parts_of(key)
    if not parts:
        return None
    return SEPARATOR.join(parts[:-1]) or CITY_WIDE


def scope_levels(scope: str) -> tuple[str, ...]:
    """What a place must hold to lie under ``scope``: its first levels (district, then
    street, then community) equal to these, one by one; () for the whole city."""
    return parts_of(scope)


def covers(scope: str, place: Place) -> bool:
    """Whether someone scoped to ``scope`` may see what lies at ``place``."""
    wanted = scope_levels(scope)
    return place.levels[: len(wanted)] == wanted


# About 2 km of latitude: a caregiver just over a district's edge is still one its
# operators may send (matching is by distance, not by district).
NEAR_EDGE_DEG = 0.02


@dataclass(frozen=True, slots=True)
class Extent:
    """The box a district's elders live in (south-west to north-east corner)."""

    south: float
    west: float
    north: float
    east: float

    def __post_init__(self) -> None:
        if self.south > self.north or self.west > self.east:
            raise ValueError("an extent's south-west corner lies south-west of its north-east")

    def holds(self, lat: float, lon: float, margin_deg: float = NEAR_EDGE_DEG) -> bool:
        """Whether (lat, lon) lies inside the box or within ``margin_deg`` of it."""
        return (
            self.south - margin_deg <= lat <= self.north + margin_deg
            and self.west - margin_deg <= lon <= self.east + margin_deg
        )


@dataclass(slots=True)
class CaregiverShare:
    """The caregivers an operator of some areas sees: those on the alerts of their
    areas wherever they are, and any other in or near where their elders live
    (whom they could send). A live view keeps ``on_our_alerts`` up to date."""

    extents: list[Extent]
    on_our_alerts: set[str]

    def sees(self, caregiver_id: str, lat: float, lon: float) -> bool:
        if caregiver_id in self.on_our_alerts:
            return True
        return any(box.holds(lat, lon) for box in self.extents)


def overlap(a: str, b: str) -> bool:
    """Whether two areas share ground: one lies under the other (or they are one)."""
    pa, pb = parts_of(a), parts_of(b)
    shorter = min(len(pa), len(pb))
    return pa[:shorter] == pb[:shorter]
