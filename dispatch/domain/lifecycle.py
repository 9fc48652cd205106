"""Alert and order lifecycles as explicit state machines.

An *alert* is what a device raised; an *order* is one offer of that alert to one
caregiver. A declined or expired order sends the alert back to dispatching so the
next caregiver can be offered; an alert that needs two caregivers follows the
furthest of its orders (dispatch/store/audit.py).

    alert:  raised → dispatching → offered → accepted → en_route → on_scene → resolved
            any open state → cancelled;  raised/dispatching/offered → escalated
            offered → dispatching (the order was declined or expired)
            escalated → dispatching (a caregiver frees up);  escalated → resolved
            accepted/en_route → dispatching (an operator reassigns by hand)

    order:  offered → accepted → en_route → on_scene → completed
            offered → declined | expired;  any open state → cancelled
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from dispatch.errors import IllegalTransition


class AlertState(StrEnum):
    RAISED = "raised"
    DISPATCHING = "dispatching"
    OFFERED = "offered"
    ACCEPTED = "accepted"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"
    ESCALATED = "escalated"


class OrderState(StrEnum):
    OFFERED = "offered"
    ACCEPTED = "accepted"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    COMPLETED = "completed"
    DECLINED = "declined"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class VisitState(StrEnum):
    """A planned home visit (meal help, cleaning, a welfare visit...).

    scheduled → planned (on a route) → in_progress → done
    planned → scheduled (left off a new plan);  in_progress → scheduled (diverted)
    planned/in_progress → missed (nobody home, elder unwell);  scheduled/planned → cancelled
    """

    SCHEDULED = "scheduled"
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    MISSED = "missed"
    CANCELLED = "cancelled"


class RequestState(StrEnum):
    """A service request on its way through assessment and approval."""

    REQUESTED = "requested"
    APPROVED = "approved"
    REFUSED = "refused"
    CANCELLED = "cancelled"


ALERT_TRANSITIONS: dict[AlertState, frozenset[AlertState]] = {
    AlertState.RAISED: frozenset(
        {AlertState.DISPATCHING, AlertState.ESCALATED, AlertState.CANCELLED}
    ),
    AlertState.DISPATCHING: frozenset(
        {AlertState.OFFERED, AlertState.ESCALATED, AlertState.CANCELLED}
    ),
    AlertState.OFFERED: frozenset(
        {AlertState.ACCEPTED, AlertState.DISPATCHING, AlertState.ESCALATED, AlertState.CANCELLED}
    ),
    # accepted/en_route → dispatching: an operator reassigns the alert by hand.
    AlertState.ACCEPTED: frozenset(
        {AlertState.EN_ROUTE, AlertState.ON_SCENE, AlertState.DISPATCHING, AlertState.CANCELLED}
    ),
    AlertState.EN_ROUTE: frozenset(
        {AlertState.ON_SCENE, AlertState.DISPATCHING, AlertState.CANCELLED}
    ),
    AlertState.ON_SCENE: frozenset({AlertState.RESOLVED, AlertState.CANCELLED}),
    AlertState.ESCALATED: frozenset(
        {AlertState.DISPATCHING, AlertState.RESOLVED, AlertState.CANCELLED}
    ),
    AlertState.RESOLVED: frozenset(),
    AlertState.CANCELLED: frozenset(),
}

ORDER_TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    OrderState.OFFERED: frozenset(
        {OrderState.ACCEPTED, OrderState.DECLINED, OrderState.EXPIRED, OrderState.CANCELLED}
    ),
    OrderState.ACCEPTED: frozenset(
        {OrderState.EN_ROUTE, OrderState.ON_SCENE, OrderState.CANCELLED}
    ),
    OrderState.EN_ROUTE: frozenset({OrderState.ON_SCENE, OrderState.CANCELLED}),
    OrderState.ON_SCENE: frozenset({OrderState.COMPLETED, OrderState.CANCELLED}),
    OrderState.COMPLETED: frozenset(),
    OrderState.DECLINED: frozenset(),
    OrderState.EXPIRED: frozenset(),
    OrderState.CANCELLED: frozenset(),
}

V = VisitState
VISIT_TRANSITIONS: dict[VisitState, frozenset[VisitState]] = {
    V.SCHEDULED: frozenset({V.PLANNED, V.CANCELLED}),
    V.PLANNED: frozenset({V.PLANNED, V.SCHEDULED, V.IN_PROGRESS, V.MISSED, V.CANCELLED}),
    V.IN_PROGRESS: frozenset({V.DONE, V.MISSED, V.SCHEDULED}),
    V.DONE: frozenset(),
    V.MISSED: frozenset(),
    V.CANCELLED: frozenset(),
}
# Visits the planner may still move; the others stay where and when they were.
MOVABLE_VISIT_STATES = frozenset({V.SCHEDULED, V.PLANNED})

REQUEST_TRANSITIONS: dict[RequestState, frozenset[RequestState]] = {
    RequestState.REQUESTED: frozenset(
        {RequestState.APPROVED, RequestState.REFUSED, RequestState.CANCELLED}
    ),
    RequestState.APPROVED: frozenset({RequestState.CANCELLED}),
    RequestState.REFUSED: frozenset(),
    RequestState.CANCELLED: frozenset(),
}

OPEN_ALERT_STATES = frozenset(s for s, nxt in ALERT_TRANSITIONS.items() if nxt)
ACTIVE_ORDER_STATES = frozenset(
    {OrderState.OFFERED, OrderState.ACCEPTED, OrderState.EN_ROUTE, OrderState.ON_SCENE}
)
# States that keep a caregiver from taking another emergency.
BUSY_ORDER_STATES = ACTIVE_ORDER_STATES

# The alert follows its current order: each order move implies this alert move.
ALERT_STATE_FOR_ORDER: dict[OrderState, AlertState] = {
    OrderState.OFFERED: AlertState.OFFERED,
    OrderState.ACCEPTED: AlertState.ACCEPTED,
    OrderState.EN_ROUTE: AlertState.EN_ROUTE,
    OrderState.ON_SCENE: AlertState.ON_SCENE,
    OrderState.COMPLETED: AlertState.RESOLVED,
    OrderState.DECLINED: AlertState.DISPATCHING,
    OrderState.EXPIRED: AlertState.DISPATCHING,
}

# How far an order has got; an alert with two caregivers follows the furthest one.
_PROGRESS = {
    AlertState.DISPATCHING: 0,
    AlertState.OFFERED: 1,
    AlertState.ACCEPTED: 2,
    AlertState.EN_ROUTE: 3,
    AlertState.ON_SCENE: 4,
    AlertState.RESOLVED: 5,
}


def alert_follows(
    alert: AlertState, order_now: OrderState, *, others_active: bool
) -> AlertState | None:
    """Where an alert in state ``alert`` goes when one of its orders reaches
    ``order_now``, if anywhere; ``others_active``: another order of the alert is
    still active (a two-caregiver alert, or a replacement already offered)."""
    follow = ALERT_STATE_FOR_ORDER.get(order_now)
    if follow is None or follow == alert:
        return None
    if order_now in (OrderState.DECLINED, OrderState.EXPIRED):
        # Back to dispatching only if nobody else is on it; otherwise the missing
        # caregiver is offered again while the alert carries on.
        return follow if not others_active and alert == AlertState.OFFERED else None
    if order_now == OrderState.COMPLETED:
        return follow if not others_active else None
    # Forward progress: the alert follows the furthest order.
    return follow if _PROGRESS[follow] > _PROGRESS.get(alert, 0) else None


S = TypeVar("S", AlertState, OrderState, VisitState, RequestState)


def _advance(machine: str, table: dict[S, frozenset[S]], current: S, target: S) -> S:
    if target not in table[current]:
        raise IllegalTransition(machine, current.value, target.value)
    return target


def advance_alert(current: AlertState, target: AlertState) -> AlertState:
    """Return ``target`` if the alert may move there, else raise IllegalTransition."""
    return _advance("alert", ALERT_TRANSITIONS, current, target)


def advance_order(current: OrderState, target: OrderState) -> OrderState:
    """Return ``target`` if the order may move there, else raise IllegalTransition."""
    return _advance("order", ORDER_TRANSITIONS, current, target)


def advance_visit(current: VisitState, target: VisitState) -> VisitState:
    return _advance("visit", VISIT_TRANSITIONS, current, target)


def advance_request(current: RequestState, target: RequestState) -> RequestState:
    return _advance("request", REQUEST_TRANSITIONS, current, target)
