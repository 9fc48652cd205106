"""The responder cascade (pure): when no caregiver can be there in time, ask the
elder's contacts who can help, key-holders and neighbours first, one after
another (or several at once), each with a timeout, until one says yes.

The cascade only adds people: it never withdraws an offer, moves the alert or
closes it, so the caregiver (or the hand-over to 120) stays in the loop whatever
the contacts answer. For a medical alert the start says so, and the operator is
told when neither a caregiver nor 120 is on it yet.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from dispatch.domain.lifecycle import OPEN_ALERT_STATES, AlertState

NEIGHBOUR = "neighbour"
# While the alert is in one of these, someone may still be needed at the door;
# once a caregiver is there, nobody more is asked.
NEEDED_STATES = OPEN_ALERT_STATES - {AlertState.ON_SCENE}


@dataclass(frozen=True, slots=True)
class CascadeRule:
    """config/notifications.yaml, ``cascade``."""

    # The escalation reasons (dispatch/matching/model.Escalation values) that start it.
    when: frozenset[str]
    roles: frozenset[str]  # who may be asked (a key-holder always may)
    at_once: int = 1  # asked together in each round
    timeout_s: float = 180.0  # a round without a yes moves on after this
    medical_types: frozenset[str] = frozenset()  # alert types a contact never handles alone
    channels: tuple[str, ...] = ("sms",)

    def __post_init__(self) -> None:
        if self.at_once < 1:
            raise ValueError(f"cascade.at_once must be at least 1, got {self.at_once}")
        if not self.timeout_s > 0:
            raise ValueError(f"cascade.timeout_s must be positive, got {self.timeout_s}")
        if not self.channels:
            raise ValueError("cascade.channels must name at least one channel")

    def starts_on(self, escalation_reason: str | None) -> bool:
        return escalation_reason is not None and escalation_reason in self.when


@dataclass(frozen=True, slots=True)
class Candidate:
    """One of the elder's contacts, as the cascade weighs them."""

    contact_id: uuid.UUID
    name: str
    role: str
    key_holder: bool
    position: int  # the calling order kept with the elder
    distance_m: float | None = None  # from the elder's home, when known


def ranked(contacts: Iterable[Candidate], rule: CascadeRule) -> list[Candidate]:
    """Who to ask, in order: key-holders, then neighbours, then the others the rule
    allows; nearer first within each, and the elder's calling order last."""
    allowed = [c for c in contacts if c.key_holder or c.role in rule.roles]
    return sorted(
        allowed,
        key=lambda c: (
            not c.key_holder,
            c.role != NEIGHBOUR,
            math.inf if c.distance_m is None else c.distance_m,
            c.position,
        ),
    )


@dataclass(frozen=True, slots=True)
class Asked:
    """A contact asked: when, and what came of it."""

    contact_id: uuid.UUID
    asked_at: datetime
    acknowledged: bool = False
    failed: bool = False  # no channel could reach them: no need to wait out the timeout


class Next(StrEnum):
    WAIT = "wait"  # someone asked may still answer
    ASK = "ask"  # ask these now
    DONE = "done"  # someone said yes
    EXHAUSTED = "exhausted"  # everyone was asked; nobody said yes in time


@dataclass(frozen=True, slots=True)
class Decision:
    next: Next
    ask: tuple[Candidate, ...] = ()


def next_step(
    candidates: Sequence[Candidate], asked: Sequence[Asked], rule: CascadeRule, now: datetime
) -> Decision:
    """What the cascade does now, from who was asked and how they answered."""
    if any(a.acknowledged for a in asked):
        return Decision(Next.DONE)
    timeout = timedelta(seconds=rule.timeout_s)
    if any(not a.failed and now - a.asked_at < timeout for a in asked):
        return Decision(Next.WAIT)
    done = {a.contact_id for a in asked}
    left = [c for c in candidates if c.contact_id not in done]
    if not left:
        return Decision(Next.EXHAUSTED)
    return Decision(Next.ASK, tuple(left[: rule.at_once]))


def contacts_alone(
    alert_type: str, rule: CascadeRule, *, caregiver_on_it: bool, handed_over: bool
) -> bool:
    """True when a medical alert has only contacts on it: the operator must keep a
    caregiver coming or hand it to 120 (the cascade itself never takes either away)."""
    return alert_type in rule.medical_types and not (caregiver_on_it or handed_over)


# What a contact texts back to the cascade's question: the template asks for
# "1" (going) or "2" (cannot); people also answer 是/否, 好/不, yes/no.
_YES = frozenset({"1", "是", "是的", "好", "好的", "可以", "能", "去", "y", "yes", "ok"})
_NO = frozenset({"2", "否", "不", "不是", "不行", "不能", "去不了", "n", "no"})
_TRIM = " \t\r\n。.!！,，~～"


def reply_answer(text: str) -> bool | None:
    """A texted reply read as yes (True) or no (False); None when it is neither,
    which the operator reads on the timeline instead."""
    word = text.strip(_TRIM).lower()
    if word in _YES:
        return True
    if word in _NO:
        return False
    return None
