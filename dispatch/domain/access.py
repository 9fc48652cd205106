"""Who may see and do what: roles and area scoping (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from dispatch.domain.areas import CITY_WIDE, Place, covers


class Role(StrEnum):
    OPERATOR = "operator"  # call centre: alerts in their areas
    SUPERVISOR = "supervisor"  # every area; escalations land here
    CAREGIVER = "caregiver"  # their own offers and orders, and the elders on them
    ADMIN = "admin"  # registry and accounts
    FAMILY = "family"  # an elder's relative: the family page, their linked elders' alerts only
    # A service provider's office: their own caregivers, those caregivers' orders and
    # the provider's monthly statements; nothing of elders or alerts beyond that.
    PROVIDER_STAFF = "provider_staff"
    # The bureau's data-protection officer: who read an elder's record, exports and
    # anonymisation on request; reads no record and changes nothing else.
    DATA_OFFICER = "data_officer"


BOARD_ROLES = frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN})


@dataclass(frozen=True, slots=True)
class Principal:
    """The user behind a request."""

    username: str
    role: Role
    # Area keys (dispatch/domain/areas.py) an operator covers: a district, a street,
    # a community, or "*" for the whole city.
    areas: frozenset[str] = frozenset()
    caregiver_id: UUID | None = None
    provider_id: UUID | None = None  # a provider's staff: theirs

    def __post_init__(self) -> None:
        if self.role is Role.CAREGIVER and self.caregiver_id is None:
            raise ValueError("a caregiver account must name its caregiver")
        if self.role is Role.PROVIDER_STAFF and self.provider_id is None:
            raise ValueError("a provider's staff account must name its provider")

    @property
    def sees_every_area(self) -> bool:
        return self.role in (Role.SUPERVISOR, Role.ADMIN) or (
            self.role is Role.OPERATOR and CITY_WIDE in self.areas
        )

    def may_see_place(self, place: Place) -> bool:
        """What lies at ``place`` (an elder, their alerts, devices and calls): any of the
        operator's areas at or above it."""
        return self.sees_every_area or (
            self.role is Role.OPERATOR and any(covers(s, place) for s in self.areas)
        )
