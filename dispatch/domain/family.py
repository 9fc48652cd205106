"""What an elder's family sees of an alert and may answer (pure).

The family page tells an alert as a short story ("pressed at 08:02 — 王师傅 on the
way, about 9 min — arrived 08:11 — resolved: fall without injury"), built from
the alert's audited steps; the internal ones (offers declined, notes, calls,
notifications) are not part of it. A family member answers "I am going" or "I
cannot come"; the answer goes on the timeline with how far they are from the
elder beside the caregiver's distance, so the operator can decide.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from dispatch.domain.lifecycle import OPEN_ALERT_STATES, AlertState
from dispatch.domain.model import GeoPoint, great_circle_m


class FamilyAnswer(StrEnum):
    GOING = "going"
    CANNOT_COME = "cannot_come"


class StoryKind(StrEnum):
    """The steps of an alert a family is told of, in the words of the page."""

    RAISED = "raised"  # the elder pressed (or the device raised it)
    ACCEPTED = "accepted"  # a caregiver took it
    EN_ROUTE = "en_route"  # on the way, with the minutes left
    ON_SCENE = "on_scene"  # arrived
    RESOLVED = "resolved"  # with its closure code
    CANCELLED = "cancelled"
    HANDED_OVER = "handed_over"  # to 120 / 110 / 119
    AMBULANCE_ARRIVED = "ambulance_arrived"
    FAMILY_ANSWER = "family_answer"  # a family member said they go, or cannot


# The live event types (dispatch/domain/live_events.py) that carry a story step:
# the family's socket passes these and nothing else.
STORY_EVENT_TYPES = frozenset(
    {
        "alert.raised",
        "order.accepted",
        "order.en_route",
        "order.on_scene",
        "alert.resolved",
        "alert.cancelled",
        "alert.handed_over",
        "alert.ambulance_arrived",
        "alert.family_answer",
    }
)


@dataclass(frozen=True, slots=True)
class Step:
    """One audited step of an alert, as the story reads it (an audit record, with
    the caregiver's name and the arrival the offer promised, when it is an order's)."""

    entity: str  # alert | order
    to_state: str
    action: str | None
    at: datetime
    detail: dict[str, Any]
    caregiver: str | None = None  # the caregiver's name, for an order's step
    eta_at: datetime | None = None  # when the offer said they would arrive


@dataclass(frozen=True, slots=True)
class StoryLine:
    kind: StoryKind
    at: datetime
    caregiver: str | None = None
    eta_min: int | None = None
    code: str | None = None
    service: str | None = None
    who: str | None = None
    answer: FamilyAnswer | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "at": self.at.isoformat(),
            "caregiver": self.caregiver,
            "eta_min": self.eta_min,
            "code": self.code,
            "service": self.service,
            "who": self.who,
            "answer": self.answer.value if self.answer else None,
        }


def minutes_left(eta_at: datetime, at: datetime) -> int:
    """Whole minutes until ``eta_at``, at least 1 (a caregiver late is "about 1 min")."""
    return max(1, math.ceil((eta_at - at).total_seconds() / 60))


def story_line(step: Step) -> StoryLine | None:
    """The line a family reads for ``step``, or None for a step they are not told of."""
    if step.action is not None:
        match step.action:
            case "handed_over":
                return StoryLine(StoryKind.HANDED_OVER, step.at, service=step.detail.get("service"))
            case "ambulance_arrived":
                return StoryLine(StoryKind.AMBULANCE_ARRIVED, step.at)
            case "family_answer":
                return StoryLine(
                    StoryKind.FAMILY_ANSWER,
                    step.at,
                    who=step.detail.get("who"),
                    answer=FamilyAnswer(step.detail["answer"]),
                )
        return None
    if step.entity == "order":
        match step.to_state:
            case "accepted":
                return StoryLine(StoryKind.ACCEPTED, step.at, caregiver=step.caregiver)
            case "en_route":
                eta = minutes_left(step.eta_at, step.at) if step.eta_at else None
                return StoryLine(StoryKind.EN_ROUTE, step.at, caregiver=step.caregiver, eta_min=eta)
            case "on_scene":
                return StoryLine(StoryKind.ON_SCENE, step.at, caregiver=step.caregiver)
        return None
    match step.to_state:
        case "raised":
            return StoryLine(StoryKind.RAISED, step.at)
        case "resolved":
            return StoryLine(StoryKind.RESOLVED, step.at, code=step.detail.get("code"))
        case "cancelled":
            return StoryLine(StoryKind.CANCELLED, step.at, code=step.detail.get("code"))
    return None


def story(steps: Iterable[Step]) -> list[StoryLine]:
    """The alert's story in time order, one line per step a family is told of."""
    lines = (story_line(s) for s in sorted(steps, key=lambda s: s.at))
    return [line for line in lines if line is not None]


def may_answer(state: AlertState) -> bool:
    """A family answers an alert still open; a closed one needs nobody any more."""
    return state in OPEN_ALERT_STATES


def answer_detail(
    answer: FamilyAnswer,
    *,
    who: str,
    relation: str,
    home: GeoPoint,
    position: GeoPoint | None,
    caregiver: str | None,
    caregiver_distance_m: float | None,
    lives_at: GeoPoint | None = None,
) -> dict[str, Any]:
    """What the timeline keeps of a family member's answer: who, what, and (when
    their phone said where it is, or else the registry where they live) how far
    they are beside the caregiver's distance; ``nearer`` is true when they are
    closer to the elder than the caregiver, ``from`` says which position it was."""
    detail: dict[str, Any] = {"answer": answer.value, "who": who, "relation": relation}
    if position is None and lives_at is None:
        return detail
    detail["from"] = "phone" if position is not None else "home"
    distance_m = round(great_circle_m(position or lives_at or home, home))
    detail["distance_m"] = distance_m
    if caregiver_distance_m is not None:
        detail["caregiver"] = caregiver
        detail["caregiver_distance_m"] = round(caregiver_distance_m)
        detail["nearer"] = distance_m < caregiver_distance_m
    return detail


@dataclass(frozen=True, slots=True)
class KnownContact:
    """One of the elder's contacts, as a family account is matched to them."""

    contact_id: uuid.UUID
    name: str
    relation: str
    role: str


FAMILY_ROLES = frozenset({"family", "guardian"})


def own_contact(
    contacts: Iterable[KnownContact], *, name: str, relation: str
) -> KnownContact | None:
    """Which of the elder's contacts a family account is: the one of its name, or
    else the only family contact of the link's relation; None when neither is sure."""
    listed = list(contacts)
    named = [c for c in listed if name.strip() and c.name.strip() == name.strip()]
    if len(named) == 1:
        return named[0]
    related = [
        c
        for c in listed
        if c.role in FAMILY_ROLES and relation.strip() and c.relation.strip() == relation.strip()
    ]
    return related[0] if len(related) == 1 else None


# Invitation codes: read out on the phone or typed from a letter, so no letters
# that look alike (0/O, 1/I/L) and grouping dashes or spaces are ignored.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8


def normalise_code(typed: str) -> str:
    """The code as stored (upper case, no spaces or dashes); ValueError if it cannot be one."""
    code = "".join(c for c in typed.upper() if c not in " -")
    if len(code) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in code):
        raise ValueError(f"an invitation code is {CODE_LENGTH} letters and digits")
    return code


def show_code(code: str) -> str:
    """The code as printed for people: two groups of four."""
    return f"{code[:4]}-{code[4:]}"
