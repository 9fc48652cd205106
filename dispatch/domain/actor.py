"""Who did something, as the audit trail and the live events name them.

An actor is written ``<kind>:<name>`` (``device:pb-00042``, ``caregiver:<uuid>``,
``operator:<username>``, ``system:dispatcher``, ``phone:<number>``); the board
reads the kind to label a step. Build one here rather than formatting the string.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum


class ActorKind(StrEnum):
    DEVICE = "device"
    CAREGIVER = "caregiver"
    OPERATOR = "operator"  # anyone at the board: operators, supervisors, administrators
    SYSTEM = "system"  # a part of CareBell: the dispatcher, the offer timer, a policy
    PHONE = "phone"  # a caller on the phone network
    FAMILY = "family"  # a family member on the family page (their account's name)


@dataclass(frozen=True, slots=True)
class Actor:
    kind: ActorKind
    name: str

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError(f"a {self.kind} actor needs a name")

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.name}"

    @classmethod
    def parse(cls, text: str) -> Actor:
        """The actor an audit record names; ValueError for an unknown kind."""
        kind, _, name = text.partition(":")
        return cls(ActorKind(kind), name)

    @classmethod
    def device(cls, device_id: str) -> Actor:
        return cls(ActorKind.DEVICE, device_id)

    @classmethod
    def caregiver(cls, caregiver_id: uuid.UUID) -> Actor:
        return cls(ActorKind.CAREGIVER, str(caregiver_id))

    @classmethod
    def operator(cls, username: str) -> Actor:
        return cls(ActorKind.OPERATOR, username)

    @classmethod
    def system(cls, part: str) -> Actor:
        return cls(ActorKind.SYSTEM, part)

    @classmethod
    def phone(cls, number: str) -> Actor:
        return cls(ActorKind.PHONE, number)

    @classmethod
    def family(cls, username: str) -> Actor:
        return cls(ActorKind.FAMILY, username)


DISPATCHER = Actor.system("dispatcher")
OFFER_TIMER = Actor.system("timer")
DEVICE_POLICY = Actor.system("policy")
