"""What a family reads of an alert and what their answer records (dispatch/domain/family.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from dispatch.domain.family import (
    STORY_EVENT_TYPES,
    FamilyAnswer,
    KnownContact,
    Step,
    StoryKind,
    answer_detail,
    may_answer,
    minutes_left,
    normalise_code,
    own_contact,
    show_code,
    story,
)
from dispatch.domain.lifecycle import AlertState
from dispatch.domain.live_events import LiveEventType
from dispatch.domain.model import GeoPoint

T0 = datetime(2026, 12, 2, 0, 2, tzinfo=UTC)  # 08:02 in Beijing


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_a_press_worked_to_the_end_reads_as_the_story_the_family_expects() -> None:
    eta_at = at(10)  # the offer at 08:02:30 promised the caregiver by 08:12
    steps = [
        Step("alert", "raised", None, at(0), {"press_count": 1}),
        Step("alert", "dispatching", None, at(0.1), {}),
        Step("order", "offered", None, at(0.5), {}, "王师傅", eta_at),
        Step("alert", "offered", None, at(0.5), {}),
        Step("alert", "offered", "acknowledged", at(0.6), {}),
        Step("order", "accepted", None, at(0.8), {}, "王师傅", eta_at),
        Step("order", "en_route", None, at(1), {}, "王师傅", eta_at),
        Step("alert", "en_route", "notified", at(1.2), {"contact": "王丽"}),
        Step("order", "on_scene", None, at(9), {}, "王师傅", eta_at),
        Step("alert", "resolved", None, at(20), {"code": "fall_no_injury"}),
    ]
    lines = story(reversed(steps))  # in time order whatever order they come in
    assert [(line.kind, line.at) for line in lines] == [
        (StoryKind.RAISED, at(0)),
        (StoryKind.ACCEPTED, at(0.8)),
        (StoryKind.EN_ROUTE, at(1)),
        (StoryKind.ON_SCENE, at(9)),
        (StoryKind.RESOLVED, at(20)),
    ]
    en_route = lines[2]
    assert (en_route.caregiver, en_route.eta_min) == ("王师傅", 9)
    assert lines[-1].code == "fall_no_injury"
    assert lines[-1].as_json()["kind"] == "resolved"


def test_declines_expiries_notes_and_calls_are_not_part_of_the_story() -> None:
    steps = [
        Step("order", "declined", None, at(1), {}, "李桂兰", at(5)),
        Step("order", "expired", None, at(2), {}, "李桂兰", at(5)),
        Step("alert", "escalated", None, at(3), {"reason": "everyone busy"}),
        Step("alert", "escalated", "note", at(4), {"text": "家属电话打不通"}),
        Step("alert", "escalated", "call_started", at(5), {}),
    ]
    assert story(steps) == []


def test_a_hand_over_the_ambulance_and_a_family_answer_are_told() -> None:
    steps = [
        Step("alert", "on_scene", "handed_over", at(3), {"service": "120"}),
        Step("alert", "on_scene", "family_answer", at(4), {"answer": "going", "who": "王丽"}),
        Step("alert", "on_scene", "ambulance_arrived", at(15), {}),
        Step("alert", "cancelled", None, at(30), {"code": "handed_over", "reason": "送医"}),
    ]
    lines = story(steps)
    assert [line.kind for line in lines] == [
        StoryKind.HANDED_OVER,
        StoryKind.FAMILY_ANSWER,
        StoryKind.AMBULANCE_ARRIVED,
        StoryKind.CANCELLED,
    ]
    assert lines[0].service == "120"
    assert (lines[1].who, lines[1].answer) == ("王丽", FamilyAnswer.GOING)
    assert lines[3].code == "handed_over"


def test_a_caregiver_late_is_about_one_minute_away_not_minus_three() -> None:
    assert minutes_left(at(10), at(1)) == 9
    assert minutes_left(at(10), at(9.5)) == 1
    assert minutes_left(at(10), at(13)) == 1


def test_every_story_event_is_a_live_event_type() -> None:
    for name in STORY_EVENT_TYPES:
        LiveEventType(name)  # ValueError for a type the protocol does not name
    assert "caregiver.position" not in STORY_EVENT_TYPES
    assert "alert.notified" not in STORY_EVENT_TYPES


def test_only_an_open_alert_takes_an_answer() -> None:
    assert may_answer(AlertState.RAISED)
    assert may_answer(AlertState.EN_ROUTE)
    assert not may_answer(AlertState.RESOLVED)
    assert not may_answer(AlertState.CANCELLED)


HOME = GeoPoint(39.9163, 116.4103)


def test_a_family_member_nearer_than_the_caregiver_is_shown_so() -> None:
    # About 1.1 km north of the elder; the caregiver was 2 km away when offered.
    near = GeoPoint(39.9263, 116.4103)
    detail = answer_detail(
        FamilyAnswer.GOING,
        who="王丽",
        relation="女儿",
        home=HOME,
        position=near,
        caregiver="李桂兰",
        caregiver_distance_m=2000.4,
    )
    assert detail["answer"] == "going"
    assert 1_080 < detail["distance_m"] < 1_130
    assert (detail["caregiver"], detail["caregiver_distance_m"]) == ("李桂兰", 2000)
    assert detail["nearer"] is True
    far = answer_detail(
        FamilyAnswer.GOING,
        who="王丽",
        relation="女儿",
        home=HOME,
        position=GeoPoint(39.9663, 116.4103),
        caregiver="李桂兰",
        caregiver_distance_m=2000,
    )
    assert far["nearer"] is False


def test_an_answer_without_a_position_says_no_distance() -> None:
    detail = answer_detail(
        FamilyAnswer.CANNOT_COME,
        who="王丽",
        relation="女儿",
        home=HOME,
        position=None,
        caregiver="李桂兰",
        caregiver_distance_m=2000,
    )
    assert detail == {"answer": "cannot_come", "who": "王丽", "relation": "女儿"}


def test_with_no_caregiver_on_it_only_the_family_distance_is_kept() -> None:
    detail = answer_detail(
        FamilyAnswer.GOING,
        who="王丽",
        relation="",
        home=HOME,
        position=HOME,
        caregiver=None,
        caregiver_distance_m=None,
    )
    assert detail["distance_m"] == 0
    assert "nearer" not in detail


def test_an_invitation_code_is_read_back_however_it_was_typed() -> None:
    assert normalise_code("k7m3-q9tx") == "K7M3Q9TX"
    assert normalise_code(" K7M3 Q9TX ") == "K7M3Q9TX"
    assert show_code("K7M3Q9TX") == "K7M3-Q9TX"
    for wrong in ("K7M3Q9T", "K7M3Q9TXX", "K7M3Q9T0", "K7M3Q9TI", ""):
        with pytest.raises(ValueError, match="8 letters and digits"):
            normalise_code(wrong)


def test_without_the_phone_s_position_where_they_live_is_weighed() -> None:
    lives_at = GeoPoint(39.9203, 116.4103)  # about 450 m off
    detail = answer_detail(
        FamilyAnswer.GOING,
        who="王丽",
        relation="女儿",
        home=HOME,
        position=None,
        caregiver="李桂兰",
        caregiver_distance_m=2000,
        lives_at=lives_at,
    )
    assert detail["from"] == "home"
    assert 420 < detail["distance_m"] < 470
    assert detail["nearer"] is True
    # The phone's position, when given, wins over the registry's.
    by_phone = answer_detail(
        FamilyAnswer.GOING,
        who="王丽",
        relation="女儿",
        home=HOME,
        position=GeoPoint(39.9663, 116.4103),
        caregiver="李桂兰",
        caregiver_distance_m=2000,
        lives_at=lives_at,
    )
    assert (by_phone["from"], by_phone["nearer"]) == ("phone", False)


def contact(name: str, relation: str, role: str = "family") -> KnownContact:
    return KnownContact(uuid.uuid4(), name, relation, role)


def test_a_family_account_is_the_contact_of_its_name_or_its_only_relation() -> None:
    daughter, son, neighbour = (
        contact("王丽", "女儿"),
        contact("王强", "儿子"),
        contact("赵阿姨", "邻居", "neighbour"),
    )
    listed = [daughter, son, neighbour]
    assert own_contact(listed, name="王丽", relation="") == daughter
    assert own_contact(listed, name="fam01", relation="儿子") == son
    # Two daughters and no name to tell them apart: nobody, rather than a guess.
    second = contact("王芳", "女儿")
    assert own_contact([*listed, second], name="fam01", relation="女儿") is None
    assert own_contact(listed, name="fam01", relation="邻居") is None  # not family
    assert own_contact(listed, name="", relation="") is None
