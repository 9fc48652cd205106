"""What a device message means: one pure decision.

``decide`` takes one message (already parsed, or refused by the parser), what
is known of its device (its state, its elder's limits, its open alerts), which
event ids are already stored, the catalogue and the receipt time, and answers
with an :class:`Effect`: raise, merge, close, withdraw, update the device,
duplicate, or reject with a reason. It reads and writes nothing; the ingest's two
writers (a batch in a few bulk statements, or one message at a time) only apply
effects, and :meth:`DeviceView.after` tells the batch writer what the device
looks like once an effect is applied. So both writers mean the same thing by
every message, whatever the batches.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypedDict

from devices.errors import PayloadError
from devices.protocol import DeviceEvent, DeviceStatus
from dispatch.domain import device_rules
from dispatch.domain.areas import Place
from dispatch.domain.catalog import Catalog
from dispatch.domain.lifecycle import AlertState
from dispatch.domain.model import AlertType, Severity

NOWHERE = Place("")  # a device with no elder: no area

# What Redis GEO can index (EPSG:900913): a latitude beyond it is refused by
# GEOADD/GEOSEARCH, so it must never reach the dispatcher.
GEO_MAX_LAT = 85.05112878

# The ids of alerts raised by device events derive from the event's idempotence
# key: the same message always means the same alert, whichever writer stores it.
_ALERT_IDS = uuid.UUID("6f1d3a52-8c2e-4b7a-9d0e-5a4c3b2a1f00")
_ALERT_ID_PREFIX = _ALERT_IDS.bytes

# Merges into one alert are audited (and shown live) for the first presses, at
# round counts, and after a lull; a burst in between only counts. 2,000 presses
# in a burst are a dozen entries on the board, not 1,999.
FIRST_MERGES_AUDITED = 5
_ROUND_COUNTS = (1, 2, 5)


NO_LIMITS = device_rules.ElderLimits()


class Outcome(StrEnum):
    RAISED = "raised"
    MERGED = "merged"
    CLOSED = "closed"  # the elder cancelled, or the device reports the trouble over
    UPDATED = "updated"  # device state only, no alert
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    # Not stored for a fault of the server's own (a bug, a schema the code does not
    # match): never dead-lettered, but left unacknowledged with the broker and tried
    # again, so it is stored once the fault is gone.
    HELD = "held"


@dataclass(frozen=True, slots=True)
class Refused:
    """A message the parser refused (bad topic, not JSON, invalid)."""

    reason: str
    detail: str
    device_id: str | None = None


Message = DeviceEvent | DeviceStatus | Refused


@dataclass(frozen=True, slots=True)
class OpenAlert:
    """An open alert of a device, with the alert table's columns (the live
    messages read them: dispatch.domain.live_events.AlertFields)."""

    id: uuid.UUID
    device_id: str | None
    elder_id: uuid.UUID | None
    alert_type: str
    severity: str
    raised_at: datetime
    deadline_at: datetime
    device_ts: datetime
    updated_at: datetime
    lat: float
    lon: float
    district: str
    street: str = ""
    community: str = ""
    state: AlertState = AlertState.RAISED
    press_count: int = 1
    escalation_reason: str | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    claimed_until: datetime | None = None

    def row(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def born(
        cls,
        kind: AlertType,
        *,
        id: uuid.UUID,
        device_id: str | None,
        elder_id: uuid.UUID | None,
        place: tuple[float, float],
        area: Place,
        at: datetime,
        device_ts: datetime,
    ) -> OpenAlert:
        """A new alert of ``kind``, born raised at ``at`` with its arrival deadline."""
        return cls(
            id=id,
            device_id=device_id,
            elder_id=elder_id,
            alert_type=kind.code,
            severity=kind.severity.value,
            raised_at=at,
            deadline_at=at + timedelta(seconds=kind.arrival_deadline_s),
            device_ts=device_ts,
            updated_at=at,
            lat=place[0],
            lon=place[1],
            # The elder's place when it was raised: operators' areas are checked on it.
            district=area.district,
            street=area.street,
            community=area.community,
        )


class DeviceChanges(TypedDict, total=False):
    """A device row's new values, by column: what a message says of the device."""

    online: bool
    offline_since: datetime | None
    offline_alerted: bool
    last_seen_at: datetime
    firmware: str
    battery: int
    signal: int
    lat: float
    lon: float
    worn: bool


# Views and effects are values: nothing changes them once built (not frozen only
# because a frozen dataclass costs several times more to build, once per message).
@dataclass(slots=True)
class DeviceView:
    """What the decision needs to know of a device."""

    id: str
    kind: str
    active: bool = True
    online: bool | None = None
    elder_id: uuid.UUID | None = None
    area: Place = NOWHERE  # where the elder lives
    home: tuple[float, float] | None = None  # the elder's position
    limits: device_rules.ElderLimits = NO_LIMITS
    open_alerts: tuple[OpenAlert, ...] = ()  # in raised order: by raised_at, then id

    def after(self, effect: Effect) -> DeviceView:
        """The device once ``effect`` is applied (pure)."""
        changes = effect.device_changes
        online = changes.get("online", self.online)
        if online is self.online and effect.alert_id is None and not effect.closes:
            return self  # telemetry: nothing the next decision reads has changed
        closed = {c.alert_id for c in effect.closes}
        alerts = [a for a in self.open_alerts if a.id not in closed]
        if effect.merge is not None:
            merge = effect.merge
            alerts = [
                replace(a, press_count=merge.press_count, updated_at=merge.at)
                if a.id == merge.alert_id
                else a
                for a in alerts
            ]
        if effect.raised is not None:
            alerts.append(effect.raised_as_stored)
            # In the order the database lists them, so the view carried through a
            # batch is the view a reload would give.
            alerts.sort(key=raised_order)
        return replace(self, online=online, open_alerts=tuple(alerts))


@dataclass(frozen=True, slots=True)
class Close:
    """An open alert the message closes: withdrawn (cancelled) or resolved."""

    alert_id: uuid.UUID
    target: AlertState
    reason: str


@dataclass(frozen=True, slots=True)
class Merge:
    """A repeated press joins an open alert: counted, audited only when ``audited``."""

    alert_id: uuid.UUID
    press_count: int
    at: datetime
    audited: bool


@dataclass(frozen=True, slots=True)
class Note:
    """Something audited on an open alert without changing its state."""

    alert_id: uuid.UUID
    action: str
    detail: Mapping[str, Any]


@dataclass(slots=True)
class Effect:
    """What one message does. ``event`` is the device_event row to store (None:
    nothing stored), ``device_changes`` the device row's new values."""

    outcome: Outcome
    device_id: str | None = None
    event: DeviceEvent | None = None
    device_ts: datetime | None = None  # the event row's device time (receipt time if skewed)
    device_changes: DeviceChanges = field(default_factory=DeviceChanges)
    raised: OpenAlert | None = None
    escalate: str | None = None  # the raised alert goes straight to the operators: why
    merge: Merge | None = None
    closes: tuple[Close, ...] = ()
    note: Note | None = None
    reject: Refused | None = None
    flags: Mapping[str, Any] = field(default_factory=dict)  # what was odd and let through

    @property
    def raised_as_stored(self) -> OpenAlert:
        """The raised alert as stored: escalated at once when it must be called back."""
        assert self.raised is not None
        if self.escalate is None:
            return self.raised
        return replace(self.raised, state=AlertState.ESCALATED, escalation_reason=self.escalate)

    @property
    def alert_id(self) -> uuid.UUID | None:
        """The alert the event row points at: the one it raised or joined."""
        if self.raised is not None:
            return self.raised.id
        if self.merge is not None:
            return self.merge.alert_id
        return None


@dataclass(frozen=True, slots=True)
class Rules:
    """The settings the decision follows."""

    merge_window_s: float = 300.0
    max_clock_skew_s: float = 24 * 3600.0
    merge_lull_s: float = 10.0  # a press after this long quiet is always audited


def decide(
    message: Message,
    device: DeviceView | None,
    stored: frozenset[tuple[str, str]] | set[tuple[str, str]],
    catalog: Catalog,
    rules: Rules,
    now: datetime,
) -> Effect:
    """What ``message``, received at ``now``, does (pure)."""
    if isinstance(message, Refused):
        return _rejected(message.reason, message.detail, message.device_id)
    if device is None:
        return _rejected(
            "unknown_device", f"device {message.device_id} is not registered", message.device_id
        )
    if not device.active:
        return _rejected("inactive_device", f"device {device.id} is deactivated", device.id)
    if isinstance(message, DeviceStatus):
        return _status(message, device, now)
    if (device.id, message.event_id) in stored:
        return Effect(Outcome.DUPLICATE, device.id)
    try:
        return _event(message, device, catalog, rules, now)
    except PayloadError as exc:
        return _rejected(exc.reason, exc.detail, device.id)


def raised_order(alert: OpenAlert) -> tuple[datetime, uuid.UUID]:
    """The order of a device's open alerts: by when raised; of alerts raised at
    one instant (a press and a long press received together), by id."""
    return (alert.raised_at, alert.id)


def _latest(alerts: Sequence[OpenAlert]) -> OpenAlert:
    """The alert a cancel or a repeated press means: the one raised last; of alerts
    raised at one instant (a press and a long press received together) the least
    severe, so the graver one stays with the operators, then by type. Never by
    list order or id: a batch's running view and a reload list such alerts in
    different orders, and ids are hashes that say nothing of the elder's press."""
    return max(alerts, key=lambda a: (a.raised_at, -Severity(a.severity).weight, a.alert_type))


def alert_id_of(device_id: str, event_id: str) -> uuid.UUID:
    """The id of the alert an event raises: uuid5 of its idempotence key."""
    digest = hashlib.sha1(_ALERT_ID_PREFIX + f"{device_id}/{event_id}".encode()).digest()
    return uuid.UUID(bytes=digest[:16], version=5)


def _rejected(reason: str, detail: str, device_id: str | None) -> Effect:
    return Effect(Outcome.REJECTED, device_id, reject=Refused(reason, detail, device_id))


def _status(status: DeviceStatus, device: DeviceView, now: datetime) -> Effect:
    changes: DeviceChanges = {}
    if status.firmware:
        changes["firmware"] = status.firmware
    if not status.online:
        # The will fired, or the device said goodbye: supervision raises the alert
        # if it is not back within the grace period (docs/devices.md).
        if device.online is not False:
            changes.update(DeviceChanges(online=False, offline_since=now))
        return Effect(Outcome.UPDATED, device.id, device_changes=changes)
    changes["last_seen_at"] = now
    closes: tuple[Close, ...] = ()
    if device.online is not True:
        changes.update(DeviceChanges(online=True, offline_since=None, offline_alerted=False))
        closes = _back_online(device)
    outcome = Outcome.CLOSED if closes else Outcome.UPDATED
    return Effect(outcome, device.id, device_changes=changes, closes=closes)


def _back_online(device: DeviceView) -> tuple[Close, ...]:
    """A device heard from again closes its own "device offline" alerts."""
    return tuple(
        Close(a.id, AlertState.RESOLVED, "the device is back online")
        for a in device.open_alerts
        if a.alert_type == device_rules.DEVICE_OFFLINE
    )


def _event(
    event: DeviceEvent, device: DeviceView, catalog: Catalog, rules: Rules, now: datetime
) -> Effect:
    flags: dict[str, Any] = {}
    device_ts = event.ts
    if not _clock_plausible(event.ts, now, rules.max_clock_skew_s):
        # A press is never refused for its clock: it counts from its receipt.
        flags["clock_skew"] = event.ts.isoformat()[:64]
        device_ts = now
    if event.position is not None and abs(event.position[0]) > GEO_MAX_LAT:
        # Beyond what the map and the caregiver search can hold: not a place.
        flags["position_out_of_range"] = list(event.position)
        event = replace(event, position=None)
    try:
        code = device_rules.alert_code(catalog, device.kind, event, device.limits)
    except PayloadError as exc:
        if "position_out_of_range" in flags and event.type == "position":
            raise PayloadError("position_out_of_range", f"latitude beyond ±{GEO_MAX_LAT}") from exc
        raise
    changes = state_changes(device.kind, event, now)
    closes: tuple[Close, ...] = ()
    if device.online is False:
        changes.update(DeviceChanges(offline_since=None, offline_alerted=False))
        closes = _back_online(device)
    still_open = [a for a in device.open_alerts if a.id not in {c.alert_id for c in closes}]
    stored = Effect(
        Outcome.UPDATED,
        device.id,
        event=event,
        device_ts=device_ts,
        device_changes=changes,
        closes=closes,
        flags=flags,
    )
    if event.type == "cancel":
        return _cancel(stored, still_open, catalog, now)
    if event.type in device_rules.CLOSES:
        ends = device_rules.CLOSES[event.type]
        more = tuple(
            Close(a.id, AlertState.RESOLVED, f"{event.type} reported")
            for a in still_open
            if a.alert_type == ends
        )
        outcome = Outcome.CLOSED if more else Outcome.UPDATED
        return replace(stored, outcome=outcome, closes=closes + more)
    if code is None:
        return stored
    since = now - timedelta(seconds=rules.merge_window_s)
    joinable = [a for a in still_open if a.alert_type == code and a.raised_at >= since]
    if joinable:
        alert = _latest(joinable)
        count = alert.press_count + 1
        audited = _audit_merge(count, now - alert.updated_at, rules)
        merge = Merge(alert.id, count, now, audited)
        return replace(stored, outcome=Outcome.MERGED, merge=merge)
    place = event.position or device.home
    if place is None:
        reason = "position_out_of_range" if "position_out_of_range" in flags else "no_position"
        raise PayloadError(reason, f"device {device.id} has no elder and sent no usable position")
    kind = catalog.alert_types[code]
    alert = OpenAlert.born(
        kind,
        id=alert_id_of(device.id, event.event_id),
        device_id=device.id,
        elder_id=device.elder_id,
        place=place,
        area=device.area,
        at=now,
        device_ts=device_ts,
    )
    # Call back first: straight to the operators, never to the matcher.
    escalate = None if kind.auto_dispatch else device_rules.CALL_BACK_FIRST
    return replace(stored, outcome=Outcome.RAISED, raised=alert, escalate=escalate)


def _cancel(stored: Effect, still_open: list[OpenAlert], catalog: Catalog, now: datetime) -> Effect:
    """The elder pressed again to say it was a mistake: within the window the alert is
    withdrawn; later, the operators see the cancel and call back."""
    if not still_open:
        return stored
    latest = _latest(still_open)
    window = timedelta(seconds=catalog.policy.cancel_window_s)
    on_the_way = latest.state in (AlertState.EN_ROUTE, AlertState.ON_SCENE)
    if now - latest.raised_at <= window and not on_the_way:
        withdraw = Close(latest.id, AlertState.CANCELLED, "cancelled by the elder")
        return replace(stored, outcome=Outcome.CLOSED, closes=(*stored.closes, withdraw))
    note = Note(
        latest.id, "cancel_late", {"reason": "the elder pressed cancel; call back to confirm"}
    )
    return replace(stored, note=note)


def _audit_merge(press_count: int, quiet: timedelta, rules: Rules) -> bool:
    if press_count <= FIRST_MERGES_AUDITED or quiet >= timedelta(seconds=rules.merge_lull_s):
        return True
    scale = 10 ** (len(str(press_count)) - 1)
    return press_count % scale == 0 and press_count // scale in _ROUND_COUNTS


def _clock_plausible(ts: datetime, now: datetime, max_skew_s: float) -> bool:
    """Whether the device's clock is within the skew allowed of the receipt time
    (a time that close to now can be stored; year 9999 with an offset cannot)."""
    try:
        return abs((ts - now).total_seconds()) <= max_skew_s
    except OverflowError:
        return False


def state_changes(kind: str, event: DeviceEvent, at: datetime) -> DeviceChanges:
    """What an event says about the device itself: column -> new value."""
    changes: DeviceChanges = {"last_seen_at": at, "online": True}
    if event.battery is not None:
        changes["battery"] = event.battery
    if event.signal is not None:
        changes["signal"] = event.signal
    if event.position is not None:
        changes["lat"], changes["lon"] = event.position
    if event.type == "removing":
        changes["worn"] = False
    elif event.type in ("heartRate", "sos", "fall", "position") and kind == "wearable":
        changes["worn"] = True
    return changes
