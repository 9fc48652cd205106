"""The board's queue rules (pure): the server orders by them and sends them to the page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dispatch.domain.lifecycle import OPEN_ALERT_STATES, AlertState
from dispatch.domain.model import Severity
from dispatch.domain.urgency import board_rules, urgency_key

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def test_an_untaken_escalation_goes_first_then_severity_then_the_longest_waiting() -> None:
    alerts = {
        "old low": (AlertState.OFFERED, False, Severity.MEDIUM, T0),
        "critical": (AlertState.OFFERED, False, Severity.CRITICAL, T0 + timedelta(minutes=8)),
        "escalated": (AlertState.ESCALATED, False, Severity.HIGH, T0 + timedelta(minutes=7)),
        "taken escalation": (AlertState.ESCALATED, True, Severity.HIGH, T0 + timedelta(minutes=6)),
        "newer critical": (AlertState.RAISED, False, Severity.CRITICAL, T0 + timedelta(minutes=9)),
    }
    order = sorted(alerts, key=lambda name: urgency_key(*alerts[name]))
    assert order == ["escalated", "critical", "newer critical", "taken escalation", "old low"]


def test_the_board_is_sent_the_rules_the_server_uses() -> None:
    rules = board_rules()
    assert set(rules["open_states"]) == {s.value for s in OPEN_ALERT_STATES}  # type: ignore[arg-type]
    assert rules["open_states"][0] == "raised"  # type: ignore[index]
    assert rules["severity_weight"] == {s.value: s.weight for s in Severity}
    assert rules["answered_states"] == ["accepted", "en_route", "on_scene"]
    assert rules["first_when_untaken"] == "escalated"
