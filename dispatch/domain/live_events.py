"""The JSON messages of the live protocol (docs/protocol.md), built from views.

Pure functions: anything with the fields below (a row, or an alert a batch is
about to insert) in, plain dicts out, typed per kind of event (:class:`AlertEvent`
for every transition, :class:`CaregiverPositionEvent`, :class:`RouteChangedEvent`):
TypedDicts, so the wire format is the dicts themselves. Every message carries
``v`` (protocol version) and ``type``; the hub adds ``seq`` when it delivers one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal, NotRequired, Protocol, TypedDict

from dispatch.domain.areas import Place
from dispatch.domain.lifecycle import AlertState, OrderState

PROTOCOL_VERSION = 1


class AlertAction(StrEnum):
    """Audited steps on an alert that are not a change of its state."""

    MERGED = "merged"  # a repeated press joined the open alert
    CANCEL_LATE = "cancel_late"  # the device cancelled after help was under way
    ACKNOWLEDGED = "acknowledged"  # an operator took it
    NOTE = "note"
    CALLBACK = "callback"  # what the elder said when called back
    ESCALATED = "escalated"  # an operator handed it to a supervisor
    PHONE_CALL = "phone_call"  # the elder's number rang the board's phone
    CALL_STARTED = "call_started"  # voice (dispatch/voice/record.py)
    CALL_ANSWERED = "call_answered"
    CALL_ENDED = "call_ended"
    HANDED_OVER = "handed_over"  # an operator handed it to 120 / 110 / 119
    HANDOVER_OUTCOME = "handover_outcome"  # what the emergency service said it would do
    AMBULANCE_ARRIVED = "ambulance_arrived"
    NOTIFIED = "notified"  # a contact was sent the step, or could not be (dispatch/notify)
    FAMILY_ANSWER = "family_answer"  # a family member: "I am going" or "I cannot come"
    CASCADE_STARTED = "cascade_started"  # the elder's contacts are to be asked (dispatch/notify)
    CASCADE_ASKED = "cascade_asked"  # a round of contacts asked
    CASCADE_ANSWERED = "cascade_answered"  # a contact asked said yes or no (as an operator heard)
    CASCADE_EXHAUSTED = "cascade_exhausted"  # everyone asked, nobody said yes in time


class LiveEventType(StrEnum):
    """Every ``type`` the live streams carry (docs/protocol.md): an audited
    transition is ``<entity>.<new state>`` or ``alert.<action>``."""

    ALERT_RAISED = "alert.raised"
    ALERT_DISPATCHING = "alert.dispatching"
    ALERT_OFFERED = "alert.offered"
    ALERT_ACCEPTED = "alert.accepted"
    ALERT_EN_ROUTE = "alert.en_route"
    ALERT_ON_SCENE = "alert.on_scene"
    ALERT_RESOLVED = "alert.resolved"
    ALERT_CANCELLED = "alert.cancelled"
    ALERT_ESCALATED = "alert.escalated"
    ALERT_MERGED = "alert.merged"
    ALERT_CANCEL_LATE = "alert.cancel_late"
    ALERT_ACKNOWLEDGED = "alert.acknowledged"
    ALERT_NOTE = "alert.note"
    ALERT_CALLBACK = "alert.callback"
    ALERT_PHONE_CALL = "alert.phone_call"
    ALERT_CALL_STARTED = "alert.call_started"
    ALERT_CALL_ANSWERED = "alert.call_answered"
    ALERT_CALL_ENDED = "alert.call_ended"
    ALERT_HANDED_OVER = "alert.handed_over"
    ALERT_HANDOVER_OUTCOME = "alert.handover_outcome"
    ALERT_AMBULANCE_ARRIVED = "alert.ambulance_arrived"
    ALERT_NOTIFIED = "alert.notified"
    ALERT_FAMILY_ANSWER = "alert.family_answer"
    ALERT_CASCADE_STARTED = "alert.cascade_started"
    ALERT_CASCADE_ASKED = "alert.cascade_asked"
    ALERT_CASCADE_ANSWERED = "alert.cascade_answered"
    ALERT_CASCADE_EXHAUSTED = "alert.cascade_exhausted"
    ORDER_OFFERED = "order.offered"
    ORDER_ACCEPTED = "order.accepted"
    ORDER_EN_ROUTE = "order.en_route"
    ORDER_ON_SCENE = "order.on_scene"
    ORDER_COMPLETED = "order.completed"
    ORDER_DECLINED = "order.declined"
    ORDER_EXPIRED = "order.expired"
    ORDER_CANCELLED = "order.cancelled"
    CAREGIVER_POSITION = "caregiver.position"
    ROUTE_CHANGED = "route.changed"

    @classmethod
    def of_transition(cls, entity: str, to_state: str, action: str | None) -> LiveEventType:
        """The type of an audited transition; ValueError for a step the protocol
        does not name (add it above, and to docs/protocol.md)."""
        return cls(f"alert.{AlertAction(action).value}" if action else f"{entity}.{to_state}")


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


class ElderFields(Protocol):
    """What the live messages read of an elder."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def name(self) -> str: ...
    @property
    def address(self) -> str: ...
    @property
    def phone(self) -> str: ...
    @property
    def lat(self) -> float: ...
    @property
    def lon(self) -> float: ...
    @property
    def notes(self) -> str: ...
    @property
    def emergency_contact(self) -> str: ...
    @property
    def access_notes(self) -> str: ...


class OrderFields(Protocol):
    """What the live messages read of an order."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def alert_id(self) -> uuid.UUID: ...
    @property
    def caregiver_id(self) -> uuid.UUID: ...
    @property
    def state(self) -> OrderState: ...
    @property
    def offered_at(self) -> datetime: ...
    @property
    def expires_at(self) -> datetime: ...
    @property
    def eta_s(self) -> float: ...
    @property
    def distance_m(self) -> float: ...


class TransitionFields(Protocol):
    """What the live messages read of an audited transition (an audit record)."""

    @property
    def entity(self) -> str: ...
    @property
    def action(self) -> str | None: ...
    @property
    def from_state(self) -> str | None: ...
    @property
    def to_state(self) -> str: ...
    @property
    def actor(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def detail(self) -> dict[str, Any]: ...


# A caregiver learns how to get in (door code, key holder) only once they are on
# their way or there (docs/privacy.md): an offer they may decline does not carry it.
DOOR_ACCESS_STATES = frozenset({"en_route", "on_scene"})


class ElderView(TypedDict):
    """The elder's card, as an order's messages carry it."""

    id: str
    name: str
    address: str
    phone: str
    lat: float
    lon: float
    notes: str
    emergency_contact: str
    access_notes: str  # "" until the caregiver is on the way (DOOR_ACCESS_STATES)


def elder_view(elder: ElderFields | None, *, door_access: bool = True) -> ElderView | None:
    """The elder's card; ``door_access=False`` leaves the door access out."""
    if elder is None:
        return None
    return {
        "id": str(elder.id),
        "name": elder.name,
        "address": elder.address,
        "phone": elder.phone,
        "lat": elder.lat,
        "lon": elder.lon,
        "notes": elder.notes,
        "emergency_contact": elder.emergency_contact,
        "access_notes": elder.access_notes if door_access else "",
    }


def scrubbed(event: dict[str, Any], card: ElderView | None) -> dict[str, Any]:
    """A stored live message with nothing left of an anonymised elder but ``card``
    (their anonymised card, or None): the card an order carried, the contact a
    notification named, the home's exact position. Its kind, steps and times stay."""
    out = dict(event)
    if out.get("elder") is not None:
        out["elder"] = card
    alert = out.get("alert")
    if isinstance(alert, dict) and card is not None:
        out["alert"] = {**alert, "lat": card["lat"], "lon": card["lon"]}
    detail = out.get("detail")
    if isinstance(detail, dict) and "contact" in detail:
        out["detail"] = {**detail, "contact": ""}
    return out


class AlertFields(Protocol):
    """What the live messages read of an alert: its row object, or an alert a
    batch is about to insert (dispatch.domain.device_effects.OpenAlert)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def device_id(self) -> str | None: ...
    @property
    def elder_id(self) -> uuid.UUID | None: ...
    @property
    def alert_type(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def state(self) -> AlertState: ...
    @property
    def raised_at(self) -> datetime: ...
    @property
    def deadline_at(self) -> datetime: ...
    @property
    def lat(self) -> float: ...
    @property
    def lon(self) -> float: ...
    @property
    def press_count(self) -> int: ...
    @property
    def escalation_reason(self) -> str | None: ...
    @property
    def district(self) -> str: ...
    @property
    def street(self) -> str: ...
    @property
    def community(self) -> str: ...
    @property
    def acknowledged_at(self) -> datetime | None: ...
    @property
    def acknowledged_by(self) -> str | None: ...


class AlertView(TypedDict):
    """An alert as every transition message carries it (times in ISO 8601)."""

    id: str
    device_id: str | None
    elder_id: str | None
    alert_type: str
    severity: str
    state: str
    raised_at: str | None
    deadline_at: str | None
    lat: float
    lon: float
    press_count: int
    escalation_reason: str | None
    district: str
    street: str
    community: str
    acknowledged_at: str | None
    acknowledged_by: str | None


def alert_view(alert: AlertFields) -> AlertView:
    return {
        "id": str(alert.id),
        "device_id": alert.device_id,
        "elder_id": str(alert.elder_id) if alert.elder_id else None,
        "alert_type": alert.alert_type,
        "severity": alert.severity,
        "state": alert.state.value,
        "raised_at": iso(alert.raised_at),
        "deadline_at": iso(alert.deadline_at),
        "lat": alert.lat,
        "lon": alert.lon,
        "press_count": alert.press_count,
        "escalation_reason": alert.escalation_reason,
        # Where the elder lives: an operator's areas are checked against it.
        "district": alert.district,
        "street": alert.street,
        "community": alert.community,
        "acknowledged_at": iso(alert.acknowledged_at),
        "acknowledged_by": alert.acknowledged_by,
    }


def alert_place(alert: AlertFields) -> Place:
    """Where an alert lies for area scoping: its elder's place when it was raised."""
    return Place.known(alert.district, alert.street, alert.community)


def place_in_view(view: Mapping[str, object]) -> Place:
    """The place of an alert as :func:`alert_view` wrote it ("" where a field is missing)."""
    district, street, community = (
        str(view.get(level) or "") for level in ("district", "street", "community")
    )
    return Place.known(district, street, community)


class OrderView(TypedDict):
    id: str
    alert_id: str
    caregiver_id: str
    state: str
    offered_at: str | None
    expires_at: str | None
    eta_s: float
    distance_m: int


def order_view(order: OrderFields) -> OrderView:
    return {
        "id": str(order.id),
        "alert_id": str(order.alert_id),
        "caregiver_id": str(order.caregiver_id),
        "state": order.state.value,
        "offered_at": iso(order.offered_at),
        "expires_at": iso(order.expires_at),
        "eta_s": round(order.eta_s, 1),
        "distance_m": round(order.distance_m),
    }


# Every alert.* and order.* message: what happened ("from" the state before), to
# which alert, by whom; an order's messages add the order and the elder's card.
AlertEvent = TypedDict(
    "AlertEvent",
    {
        "v": int,
        "type": LiveEventType,
        "at": str | None,
        "actor": str,
        "from": str | None,
        "alert": AlertView,
        "detail": dict[str, Any],  # the audit record's detail, free-form per step
        "order": NotRequired[OrderView],
        "elder": NotRequired[ElderView | None],
    },
)


class CaregiverPositionEvent(TypedDict):
    v: int
    type: Literal[LiveEventType.CAREGIVER_POSITION]
    at: str | None
    caregiver_id: str
    lat: float
    lon: float


class RouteChangedEvent(TypedDict):
    """A caregiver's home-care route for ``day`` was planned anew: fetch it again."""

    v: int
    type: Literal[LiveEventType.ROUTE_CHANGED]
    day: str  # ISO date


LiveEvent = AlertEvent | CaregiverPositionEvent | RouteChangedEvent


def transition_event(
    record: TransitionFields,
    alert: AlertFields,
    order: OrderFields | None,
    elder: ElderFields | None,
) -> AlertEvent:
    """The live message for one audited transition."""
    message = alert_event(
        LiveEventType.of_transition(record.entity, record.to_state, record.action),
        alert,
        at=record.at,
        actor=record.actor,
        from_state=record.from_state,
        detail=record.detail,
    )
    if order is not None:
        message["order"] = order_view(order)
        message["elder"] = elder_view(elder, door_access=order.state in DOOR_ACCESS_STATES)
    return message


def alert_event(
    type_: LiveEventType,
    alert: AlertFields,
    *,
    at: datetime,
    actor: str,
    from_state: str | None,
    detail: dict[str, Any],
) -> AlertEvent:
    """The live message for something that happened to an alert."""
    return {
        "v": PROTOCOL_VERSION,
        "type": type_,
        "at": iso(at),
        "actor": actor,
        "from": from_state,
        "alert": alert_view(alert),
        "detail": detail,
    }


def caregiver_position_event(
    caregiver_id: str, lat: float, lon: float, at: datetime
) -> CaregiverPositionEvent:
    return {
        "v": PROTOCOL_VERSION,
        "type": LiveEventType.CAREGIVER_POSITION,
        "at": iso(at),
        "caregiver_id": caregiver_id,
        "lat": lat,
        "lon": lon,
    }


def route_changed_event(day: date) -> RouteChangedEvent:
    return {"v": PROTOCOL_VERSION, "type": LiveEventType.ROUTE_CHANGED, "day": day.isoformat()}
