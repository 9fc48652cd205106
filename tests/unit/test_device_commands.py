"""Which live events become device commands, and what they say (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from dispatch.emergency.commands import command_for

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def test_only_the_steps_an_elder_cares_about_become_commands() -> None:
    alert = {"id": "a1", "device_id": "pb-1"}
    raised = command_for({"type": "alert.raised", "alert": alert}, NOW)
    assert raised is not None
    assert raised[0] == "pb-1"
    assert raised[1].type == "alert_received"
    going = command_for({"type": "order.accepted", "alert": alert, "order": {"eta_s": 412.3}}, NOW)
    assert going is not None
    assert (going[1].type, going[1].eta_s) == ("caregiver_on_the_way", 412)
    assert "7" in going[1].text_zh  # about seven minutes
    for quiet in ("order.offered", "order.en_route", "alert.dispatching", "alert.merged"):
        assert command_for({"type": quiet, "alert": alert}, NOW) is None
    assert command_for({"type": "caregiver.position"}, NOW) is None
