"""The live protocol's vocabulary (pure): one enum names every event type."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dispatch.domain.lifecycle import AlertState, OrderState
from dispatch.domain.live_events import AlertAction, LiveEventType

DISPATCH = Path(__file__).parents[2] / "dispatch"


@pytest.mark.parametrize("state", list(AlertState))
def test_every_alert_state_has_its_event_type(state: AlertState) -> None:
    assert LiveEventType.of_transition("alert", state.value, None) == f"alert.{state.value}"


@pytest.mark.parametrize("state", list(OrderState))
def test_every_order_state_has_its_event_type(state: OrderState) -> None:
    assert LiveEventType.of_transition("order", state.value, None) == f"order.{state.value}"


@pytest.mark.parametrize("action", list(AlertAction))
def test_every_alert_action_has_its_event_type(action: AlertAction) -> None:
    assert LiveEventType.of_transition("alert", "offered", action.value) == f"alert.{action.value}"


def test_a_step_the_protocol_does_not_name_is_refused() -> None:
    with pytest.raises(ValueError, match="shrugged"):
        LiveEventType.of_transition("alert", "offered", "shrugged")
    with pytest.raises(ValueError, match="napping"):
        LiveEventType.of_transition("order", "napping", None)


def test_every_action_written_in_the_code_is_in_the_vocabulary() -> None:
    # An audited action missing from AlertAction would fail its write at run time.
    written = {
        m.group(1)
        for path in DISPATCH.rglob("*.py")
        for m in re.finditer(r'\baction="([a-z_]+)"', path.read_text(encoding="utf-8"))
    }
    assert written, "the search found no action at all: the pattern is stale"
    assert written <= {a.value for a in AlertAction}
