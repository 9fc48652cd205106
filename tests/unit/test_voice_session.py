"""The call state machine, fed events with no sockets: who is told what, and what is recorded."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from dispatch.errors import IllegalTransition
from dispatch.voice.session import (
    LEG_TRANSITIONS,
    Answer,
    Call,
    Connected,
    Dial,
    EndReason,
    HangUp,
    Hold,
    LegState,
    Party,
    PartyKind,
    hang_up_all,
    receive,
)

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
OPERATOR = Party(PartyKind.OPERATOR, "op1")
DEVICE = Party(PartyKind.DEVICE, "pb-00001")
CAREGIVER = Party(PartyKind.CAREGIVER, str(uuid.uuid4()))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def new_call() -> Call:
    return Call(uuid.uuid4(), OPERATOR, T0, alert_id=uuid.uuid4())


def test_a_dialled_device_gets_the_hosts_offer_and_the_call_starts() -> None:
    outcome = receive(new_call(), Dial(DEVICE, "v=0 offer"), T0)
    assert outcome.milestone == "started"
    assert outcome.call.leg(DEVICE).state is LegState.RINGING
    (send,) = outcome.sends
    assert send.to == DEVICE
    assert send.message["type"] == "voice.offer"
    assert send.message["sdp"] == "v=0 offer"
    assert send.message["from"] == "operator:op1"


def test_the_answer_goes_to_the_host_and_connecting_answers_the_call() -> None:
    call = receive(new_call(), Dial(DEVICE, "offer"), T0).call
    outcome = receive(call, Answer(DEVICE, "answer"), at(1))
    assert [s.to for s in outcome.sends] == [OPERATOR]
    assert outcome.sends[0].message["sdp"] == "answer"
    assert outcome.call.answered_at is None  # an answer is not yet audio
    outcome = receive(outcome.call, Connected(DEVICE), at(2))
    assert outcome.milestone == "answered"
    assert outcome.call.answered_at == at(2)
    assert outcome.call.state is LegState.CONNECTED


def test_talk_time_runs_from_answer_to_the_last_hang_up() -> None:
    call = receive(new_call(), Dial(DEVICE, "o"), T0).call
    call = receive(call, Connected(DEVICE), at(3)).call
    outcome = receive(call, HangUp(DEVICE, by=OPERATOR), at(45))
    assert outcome.milestone == "ended"
    assert outcome.sends[0].to == DEVICE  # the device is told; the host knows
    assert outcome.call.talk_s == 42
    assert outcome.call.ended_at == at(45)


def test_a_device_that_hangs_up_is_reported_to_the_host() -> None:
    call = receive(new_call(), Dial(DEVICE, "o"), T0).call
    outcome = receive(call, HangUp(DEVICE, by=DEVICE), at(5))
    assert outcome.sends[0].to == OPERATOR
    assert outcome.call.talk_s is None  # never answered


def test_a_three_way_call_ends_only_when_both_legs_end() -> None:
    call = receive(new_call(), Dial(DEVICE, "o"), T0).call
    call = receive(call, Connected(DEVICE), at(1)).call
    added = receive(call, Dial(CAREGIVER, "o2"), at(10))
    assert added.milestone == "leg_added"
    call = receive(added.call, Connected(CAREGIVER), at(11)).call
    assert receive(call, Connected(CAREGIVER), at(11)).milestone is None  # already connected
    left = receive(call, HangUp(CAREGIVER, by=CAREGIVER, reason=EndReason.HUNG_UP), at(20))
    assert left.milestone == "leg_ended"
    assert not left.call.ended
    call, sends = hang_up_all(left.call, OPERATOR, at(30))
    assert call.ended
    assert [s.to for s in sends] == [DEVICE]
    assert call.answered_at == at(1)
    assert call.talk_s == 29


def test_hold_tells_the_party_and_resume_returns_to_connected() -> None:
    call = receive(new_call(), Dial(DEVICE, "o"), T0).call
    call = receive(call, Connected(DEVICE), at(1)).call
    held = receive(call, Hold(DEVICE, on=True), at(2))
    assert held.call.leg(DEVICE).state is LegState.HELD
    assert held.sends[0].message == {"type": "voice.hold", "call_id": str(call.id), "on": True}
    assert receive(held.call, Hold(DEVICE, on=False), at(3)).call.state is LegState.CONNECTED


def test_an_answer_after_hang_up_is_refused_and_changes_nothing() -> None:
    call = receive(new_call(), Dial(DEVICE, "o"), T0).call
    call = receive(call, HangUp(DEVICE, by=OPERATOR), at(1)).call
    with pytest.raises(IllegalTransition):
        receive(call, Answer(DEVICE, "late"), at(2))
    with pytest.raises(IllegalTransition):
        receive(call, Hold(DEVICE, on=True), at(2))


def test_a_party_already_on_the_call_cannot_be_dialled_twice_but_can_be_redialled() -> None:
    call = receive(new_call(), Dial(DEVICE, "o"), T0).call
    with pytest.raises(IllegalTransition):
        receive(call, Dial(DEVICE, "o"), at(1))
    call = receive(call, HangUp(DEVICE, by=DEVICE, reason=EndReason.FAILED), at(2)).call
    again = receive(call, Dial(DEVICE, "o3"), at(3))
    assert again.call.leg(DEVICE).state is LegState.RINGING


def test_every_leg_state_is_reachable_from_ringing() -> None:
    seen, frontier = {LegState.RINGING}, [LegState.RINGING]
    while frontier:
        for target in LEG_TRANSITIONS[frontier.pop()]:
            if target not in seen:
                seen.add(target)
                frontier.append(target)
    assert seen == set(LegState)


def test_only_an_operator_hosts_and_parties_parse_from_text() -> None:
    with pytest.raises(ValueError, match="operator hosts"):
        Call(uuid.uuid4(), DEVICE, T0)
    assert Party.parse("device:pb-1") == Party(PartyKind.DEVICE, "pb-1")
    with pytest.raises(ValueError, match="kind:id"):
        Party.parse("nobody")
    with pytest.raises(ValueError, match="needs an id"):
        Party.parse("device:")


def test_an_alert_from_a_device_that_talks_is_answered_only_by_a_connected_call() -> None:
    from dispatch.domain.kpis import counts_as_answer

    def answers(action: str | None, entity: str, to_state: str, talks: bool) -> bool:
        return counts_as_answer(action=action, entity=entity, to_state=to_state, device_talks=talks)

    assert answers("call_answered", "alert", "raised", talks=True)
    assert not answers("acknowledged", "alert", "raised", talks=True)
    assert not answers(None, "order", "accepted", talks=True)
    assert not answers("call_started", "alert", "raised", talks=True)
    # A device without voice: an operator's acknowledgement or a caregiver's acceptance.
    assert answers("acknowledged", "alert", "raised", talks=False)
    assert answers(None, "order", "accepted", talks=False)
    assert not answers(None, "order", "offered", talks=False)
