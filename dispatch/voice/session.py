"""A voice call as a pure state machine: events in, a new call and messages out.

The operator's browser hosts every call: it holds one WebRTC connection per other
party (a leg) and mixes the audio, so a three-way call (operator, device and
caregiver) is two legs and needs no media server. The server only relays the
signalling and keeps the record.

    leg:  ringing → connected ⇄ held;  ringing/connected/held → ended

A call is *answered* when its first leg connects (the KPI "answered" for devices
that talk) and ends when its last leg ends.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from dispatch.errors import IllegalTransition


class PartyKind(StrEnum):
    OPERATOR = "operator"
    DEVICE = "device"
    CAREGIVER = "caregiver"
    PHONE = "phone"  # a number reached through the centre's SIP system


class LegState(StrEnum):
    RINGING = "ringing"
    CONNECTED = "connected"
    HELD = "held"
    ENDED = "ended"


class EndReason(StrEnum):
    HUNG_UP = "hung_up"
    DECLINED = "declined"  # the party refused (a caregiver's "not now")
    BUSY = "busy"  # already in another call
    UNAVAILABLE = "unavailable"  # offline, or its media could not be reached
    CANNOT_TALK = "cannot_talk"  # a device kind without speaker and microphone
    FAILED = "failed"  # the media never connected, or dropped
    SERVER_RESTART = "server_restart"  # the server relaying it stopped (set at its restart)


LEG_TRANSITIONS: dict[LegState, frozenset[LegState]] = {
    LegState.RINGING: frozenset({LegState.CONNECTED, LegState.ENDED}),
    LegState.CONNECTED: frozenset({LegState.HELD, LegState.ENDED}),
    LegState.HELD: frozenset({LegState.CONNECTED, LegState.ENDED}),
    LegState.ENDED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class Party:
    kind: PartyKind
    id: str

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("a party needs an id")

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.id}"

    @classmethod
    def parse(cls, text: str) -> Party:
        """``device:pb-00042`` → Party(DEVICE, "pb-00042"); ValueError otherwise."""
        kind, sep, ident = text.partition(":")
        if not sep:
            raise ValueError(f"a party is kind:id, not {text[:80]!r}")
        return cls(PartyKind(kind), ident)


@dataclass(frozen=True, slots=True)
class Leg:
    party: Party
    state: LegState
    rung_at: datetime
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    end_reason: EndReason | None = None

    def moved(self, target: LegState, at: datetime, reason: EndReason | None = None) -> Leg:
        if target not in LEG_TRANSITIONS[self.state]:
            raise IllegalTransition("call leg", self.state.value, target.value)
        if target is LegState.ENDED:
            return replace(self, state=target, ended_at=at, end_reason=reason or EndReason.HUNG_UP)
        answered = self.answered_at or (at if target is LegState.CONNECTED else None)
        return replace(self, state=target, answered_at=answered)

    @property
    def live(self) -> bool:
        return self.state is not LegState.ENDED


@dataclass(frozen=True, slots=True)
class Call:
    id: uuid.UUID
    host: Party  # the operator whose browser holds the media
    started_at: datetime
    legs: tuple[Leg, ...] = ()
    alert_id: uuid.UUID | None = None

    def __post_init__(self) -> None:
        if self.host.kind is not PartyKind.OPERATOR:
            raise ValueError("an operator hosts every call")
        parties = [leg.party for leg in self.legs]
        if len(set(parties)) != len(parties):
            raise ValueError("a party is on a call at most once")

    def leg(self, party: Party) -> Leg:
        for leg in self.legs:
            if leg.party == party:
                return leg
        raise KeyError(str(party))

    def has(self, party: Party) -> bool:
        return any(leg.party == party for leg in self.legs)

    @property
    def answered_at(self) -> datetime | None:
        times = [leg.answered_at for leg in self.legs if leg.answered_at]
        return min(times) if times else None

    @property
    def ended(self) -> bool:
        return bool(self.legs) and not any(leg.live for leg in self.legs)

    @property
    def ended_at(self) -> datetime | None:
        if not self.ended:
            return None
        return max(leg.ended_at for leg in self.legs if leg.ended_at)

    @property
    def talk_s(self) -> float | None:
        """Seconds from answer to hang-up (None while going on, or never answered)."""
        end, answered = self.ended_at, self.answered_at
        return (end - answered).total_seconds() if end and answered else None

    @property
    def state(self) -> LegState:
        """The call's own state: the most advanced of its legs'."""
        states = {leg.state for leg in self.legs}
        for state in (LegState.CONNECTED, LegState.HELD, LegState.RINGING):
            if state in states:
                return state
        return LegState.ENDED


# Events the service feeds in: what a party's channel said.


@dataclass(frozen=True, slots=True)
class Dial:
    """The host offers a new leg to ``party`` (``sdp``: the host's WebRTC offer)."""

    party: Party
    sdp: str


@dataclass(frozen=True, slots=True)
class Answer:
    """``party`` accepts with its WebRTC answer; media starts connecting."""

    party: Party
    sdp: str


@dataclass(frozen=True, slots=True)
class Connected:
    """The host's connection to ``party`` carries audio (ICE and DTLS are up)."""

    party: Party


@dataclass(frozen=True, slots=True)
class Hold:
    party: Party
    on: bool


@dataclass(frozen=True, slots=True)
class HangUp:
    """``by`` ends ``party``'s leg (the host ending it, or the party leaving)."""

    party: Party
    by: Party
    reason: EndReason = EndReason.HUNG_UP


CallEvent = Dial | Answer | Connected | Hold | HangUp


@dataclass(frozen=True, slots=True)
class Send:
    """Tell ``to`` (a device over MQTT, a browser over its socket) ``message``."""

    to: Party
    message: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Outcome:
    call: Call
    sends: tuple[Send, ...]
    # What the record gets: "started", "answered", "ended", "leg_ended", or None.
    milestone: str | None


def _with_leg(call: Call, leg: Leg) -> Call:
    legs = tuple(leg if old.party == leg.party else old for old in call.legs)
    return replace(call, legs=legs)


def _message(call: Call, kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": f"voice.{kind}", "call_id": str(call.id), **fields}


def receive(call: Call, event: CallEvent, at: datetime) -> Outcome:
    """Apply ``event`` to ``call``; deliver each ``Send`` and record the milestone.

    Raises IllegalTransition for a move the leg's state forbids (an answer to a
    leg already hung up, say): the caller drops that message and the call is
    unchanged.
    """
    was_answered = call.answered_at is not None
    match event:
        case Dial(party, sdp):
            if call.has(party) and call.leg(party).live:
                raise IllegalTransition("call leg", call.leg(party).state.value, "ringing")
            others = tuple(leg for leg in call.legs if leg.party != party)
            new = replace(call, legs=(*others, Leg(party, LegState.RINGING, at)))
            first = not call.legs
            offer = _message(
                new, "offer", sdp=sdp, **{"from": str(call.host)}, alert_id=_text(call.alert_id)
            )
            return Outcome(new, (Send(party, offer),), "started" if first else "leg_added")
        case Answer(party, sdp):
            leg = call.leg(party)
            if leg.state is not LegState.RINGING:
                raise IllegalTransition("call leg", leg.state.value, "answered")
            answer = _message(call, "answer", sdp=sdp, party=str(party))
            return Outcome(call, (Send(call.host, answer),), None)
        case Connected(party):
            leg = call.leg(party)
            if leg.state is LegState.CONNECTED:
                return Outcome(call, (), None)  # a second report of the same connection
            new = _with_leg(call, leg.moved(LegState.CONNECTED, at))
            milestone = "answered" if not was_answered else "leg_connected"
            return Outcome(new, (), milestone)
        case Hold(party, on):
            leg = call.leg(party)
            new = _with_leg(call, leg.moved(LegState.HELD if on else LegState.CONNECTED, at))
            note = _message(new, "hold", on=on)
            return Outcome(new, (Send(party, note),), None)
        case HangUp(party, by, reason):
            leg = call.leg(party)
            new = _with_leg(call, leg.moved(LegState.ENDED, at, reason))
            told = call.host if by == party else party
            bye = _message(new, "hangup", party=str(party), reason=reason.value)
            sends = [Send(told, bye)]
            if new.ended:
                return Outcome(new, tuple(sends), "ended")
            return Outcome(new, tuple(sends), "leg_ended")
    raise AssertionError(f"unhandled call event {event!r}")  # pragma: no cover


def hang_up_all(call: Call, by: Party, at: datetime) -> tuple[Call, list[Send]]:
    """End every live leg (the host hung up, or the host's browser went away)."""
    sends: list[Send] = []
    for leg in call.legs:
        if leg.live:
            outcome = receive(call, HangUp(leg.party, by), at)
            call = outcome.call
            sends.extend(outcome.sends)
    return call, sends


def _text(value: uuid.UUID | None) -> str | None:
    return str(value) if value else None
