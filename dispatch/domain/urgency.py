"""The board's queue order and what counts as answered, for the server and the page.

The alert list's ``sort=urgency`` orders by these rules, and the board page gets
them from ``/api/v1/board/settings`` rather than keeping a copy of its own.
"""

from __future__ import annotations

from datetime import datetime

from dispatch.domain.lifecycle import OPEN_ALERT_STATES, AlertState
from dispatch.domain.model import Severity

# An escalated alert no operator has taken goes before everything else.
JUMPS_THE_QUEUE = AlertState.ESCALATED
# Open states in the order an alert passes through them (the board's filters).
OPEN_STATES_IN_ORDER = tuple(s for s in AlertState if s in OPEN_ALERT_STATES)
# An open alert in one of these a caregiver has accepted: answered, as the KPI
# counts it (docs/operations.md), even before an operator acknowledges it.
ANSWERED_BY_A_CAREGIVER = frozenset({AlertState.ACCEPTED, AlertState.EN_ROUTE, AlertState.ON_SCENE})


def urgency_key(
    state: AlertState, acknowledged: bool, severity: Severity, raised_at: datetime
) -> tuple[int, int, datetime]:
    """Sort key, most urgent first: escalated and untaken, then by severity, then
    the longest waiting."""
    untaken_escalation = state == JUMPS_THE_QUEUE and not acknowledged
    return (0 if untaken_escalation else 1, -severity.weight, raised_at)


def board_rules() -> dict[str, object]:
    """The rules as the board page reads them."""
    return {
        "open_states": [s.value for s in OPEN_STATES_IN_ORDER],
        "answered_states": sorted(s.value for s in ANSWERED_BY_A_CAREGIVER),
        "first_when_untaken": JUMPS_THE_QUEUE.value,
        "severity_weight": {s.value: s.weight for s in Severity},
    }
