"""The notification rules: which contact hears of which step, by which channels."""

from __future__ import annotations

from typing import Any

import pytest

from dispatch.notify.rules import channel_after, load, parse, step_of


def told(role: str, key_holder: bool, severity: str, step: str) -> tuple[str, ...]:
    return load().channels_for(
        alert_type="fall", severity=severity, role=role, key_holder=key_holder, step=step
    )


def test_the_shipped_rules_tell_family_of_every_step_and_key_holders_of_critical_ones() -> None:
    assert told("family", False, "high", "raised") == ("sms",)
    assert told("family", False, "high", "resolved") == ("sms",)
    assert told("neighbour", True, "high", "raised") == ()
    assert told("neighbour", True, "critical", "raised") == ("sms",)
    assert told("neighbour", True, "critical", "resolved") == ()
    assert told("neighbour", False, "critical", "raised") == ()
    assert told("doctor", False, "high", "handed_over") == ("sms",)


@pytest.mark.parametrize(
    ("record", "step"),
    [
        (("alert", None, "raised", None), "raised"),
        (("alert", "offered", "en_route", None), "en_route"),
        (("alert", "en_route", "on_scene", None), "on_scene"),
        (("alert", "on_scene", "resolved", None), "resolved"),
        (("alert", "raised", "escalated", None), "escalated"),
        (("alert", "on_scene", "on_scene", "handed_over"), "handed_over"),
        (("alert", "offered", "offered", "escalated"), "escalated"),
        (("alert", "raised", "raised", "merged"), None),  # a repeated press: told once
        (("alert", "raised", "raised", "notified"), None),  # its own notices: never a loop
        (("alert", "raised", "dispatching", None), None),
        (("order", "accepted", "en_route", None), None),  # the alert's own step tells it
    ],
)
def test_audit_records_are_steps_or_nothing(
    record: tuple[str, str | None, str, str | None], step: str | None
) -> None:
    assert step_of(*record) == step


def rule(**changes: Any) -> dict[str, Any]:
    return {"roles": ["family"], "steps": ["raised"], "channels": ["sms"], **changes}


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ({"templates": {}, "rules": [rule()]}, "no template for steps"),
        ({"templates": {"raised": "T"}, "rules": [rule(steps=["fell_over"])]}, "unknown steps"),
        ({"templates": {"raised": "T"}, "rules": [rule(channels=[])]}, "channels"),
        ({"templates": {"raised": "T"}, "rules": [rule(roles="family")]}, "roles"),
    ],
)
def test_a_wrong_rule_is_refused_naming_what_is_wrong(raw: dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse(raw)


def test_a_failed_channel_falls_back_to_the_next_until_none_is_left() -> None:
    assert channel_after(("sms", "voice"), "sms") == "voice"
    assert channel_after(("sms", "voice"), "voice") is None
    assert channel_after(("sms",), "email") is None
