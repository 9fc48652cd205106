"""The responder cascade's policy (dispatch/domain/cascade.py) and its rule in
config/notifications.yaml."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from dispatch.domain.cascade import (
    NEEDED_STATES,
    Asked,
    Candidate,
    CascadeRule,
    Next,
    contacts_alone,
    next_step,
    ranked,
    reply_answer,
)
from dispatch.domain.lifecycle import AlertState
from dispatch.notify.rules import load, parse

RULE = CascadeRule(
    when=frozenset({"everyone too far"}),
    roles=frozenset({"neighbour", "family"}),
    at_once=1,
    timeout_s=180,
    medical_types=frozenset({"fall"}),
)
T0 = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def person(
    name: str, role: str, position: int, *, key: bool = False, m: float | None = None
) -> Candidate:
    return Candidate(uuid.uuid4(), name, role, key, position, m)


DAUGHTER = person("王丽", "family", 0)
NEIGHBOUR = person("李叔", "neighbour", 1)
KEY_HOLDER = person("赵阿姨", "neighbour", 2, key=True)
DOCTOR = person("陈医生", "doctor", 3)
GRID_WORKER_WITH_KEY = person("网格员小刘", "community", 4, key=True)


def test_key_holders_come_first_then_neighbours_then_the_rest_the_rule_allows() -> None:
    order = ranked([DAUGHTER, NEIGHBOUR, KEY_HOLDER, DOCTOR, GRID_WORKER_WITH_KEY], RULE)
    # A key makes anyone askable; a doctor the rule does not name is left out.
    assert [c.name for c in order] == ["赵阿姨", "网格员小刘", "李叔", "王丽"]


def test_nearer_first_within_a_kind_when_the_distance_is_known() -> None:
    far = person("远邻", "neighbour", 0, m=900)
    near = person("近邻", "neighbour", 5, m=120)
    unknown = person("不知远近", "neighbour", 1)
    assert [c.name for c in ranked([far, unknown, near], RULE)] == ["近邻", "远邻", "不知远近"]


def test_one_round_at_a_time_until_someone_says_yes() -> None:
    order = ranked([DAUGHTER, NEIGHBOUR, KEY_HOLDER], RULE)
    first = next_step(order, [], RULE, T0)
    assert (first.next, [c.name for c in first.ask]) == (Next.ASK, ["赵阿姨"])
    asked = [Asked(KEY_HOLDER.contact_id, T0)]
    assert next_step(order, asked, RULE, T0 + timedelta(seconds=179)).next is Next.WAIT
    later = next_step(order, asked, RULE, T0 + timedelta(seconds=180))
    assert [c.name for c in later.ask] == ["李叔"]
    said_yes = [
        Asked(KEY_HOLDER.contact_id, T0),
        Asked(NEIGHBOUR.contact_id, T0, acknowledged=True),
    ]
    assert next_step(order, said_yes, RULE, T0).next is Next.DONE


def test_a_no_or_an_unreachable_contact_is_not_waited_for() -> None:
    order = ranked([DAUGHTER, NEIGHBOUR, KEY_HOLDER], RULE)
    asked = [Asked(KEY_HOLDER.contact_id, T0, failed=True)]
    assert [c.name for c in next_step(order, asked, RULE, T0).ask] == ["李叔"]


def test_several_at_once_and_the_end_when_nobody_is_left() -> None:
    rule = CascadeRule(when=RULE.when, roles=RULE.roles, at_once=2, timeout_s=60)
    order = ranked([DAUGHTER, NEIGHBOUR, KEY_HOLDER], rule)
    assert [c.name for c in next_step(order, [], rule, T0).ask] == ["赵阿姨", "李叔"]
    everyone = [Asked(c.contact_id, T0) for c in order]
    assert next_step(order, everyone, rule, T0 + timedelta(seconds=61)).next is Next.EXHAUSTED
    assert next_step([], [], rule, T0).next is Next.EXHAUSTED


def test_a_medical_alert_never_has_contacts_alone() -> None:
    assert contacts_alone("fall", RULE, caregiver_on_it=False, handed_over=False)
    assert not contacts_alone("fall", RULE, caregiver_on_it=True, handed_over=False)
    assert not contacts_alone("fall", RULE, caregiver_on_it=False, handed_over=True)
    assert not contacts_alone("help_button", RULE, caregiver_on_it=False, handed_over=False)


def test_only_the_named_escalations_start_it() -> None:
    assert RULE.starts_on("everyone too far")
    assert not RULE.starts_on("nobody answered")
    assert not RULE.starts_on(None)


def test_a_rule_that_cannot_work_is_refused() -> None:
    with pytest.raises(ValueError, match="at_once"):
        CascadeRule(when=RULE.when, roles=RULE.roles, at_once=0)
    with pytest.raises(ValueError, match="timeout_s"):
        CascadeRule(when=RULE.when, roles=RULE.roles, timeout_s=0)


def test_the_shipped_rules_have_a_cascade_and_its_template() -> None:
    rules = load()
    assert rules.cascade is not None
    assert "everyone too far" in rules.cascade.when
    assert "fall" in rules.cascade.medical_types
    assert rules.templates["cascade"]
    with pytest.raises(ValueError, match="cascade"):
        parse({"rules": [], "templates": {}, "cascade": {"when": ["x"], "roles": ["neighbour"]}})
    assert parse({"rules": [], "templates": {}}).cascade is None


def test_nobody_more_is_asked_once_a_caregiver_is_there_or_the_alert_closed() -> None:
    assert AlertState.ESCALATED in NEEDED_STATES
    assert AlertState.EN_ROUTE in NEEDED_STATES
    assert AlertState.ON_SCENE not in NEEDED_STATES
    assert AlertState.RESOLVED not in NEEDED_STATES


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", True),
        (" 1 ", True),
        ("是", True),
        ("好的。", True),
        ("YES", True),
        ("2", False),
        ("否", False),
        ("不行！", False),
        ("no", False),
        ("", None),
        ("12", None),
        ("我晚点到", None),
    ],
)
def test_a_texted_reply_is_read_as_yes_no_or_neither(text: str, expected: bool | None) -> None:
    assert reply_answer(text) is expected
