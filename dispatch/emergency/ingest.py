"""From MQTT message to committed alert: the gateway's use case.

One batch of messages is stored in one transaction, so the broker is acknowledged
only for what is committed and commits stay cheap under load. Each message ends
in exactly one place: a new alert, a merge into the device's open alert, a device
state update, a duplicate (already stored: nothing to do), or the dead-letter
table with the reason it was refused.
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row, Table, bindparam, insert, tuple_, update
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlmodel import Session, SQLModel, col, select

from devices.protocol import DeviceEvent, DeviceStatus, parse_event, parse_status, parse_topic
from dispatch.domain import device_rules
from dispatch.domain.catalog import Catalog
from dispatch.domain.lifecycle import OPEN_ALERT_STATES, AlertState
from dispatch.domain.model import AlertType, GeoPoint
from dispatch.errors import PayloadError
from dispatch.store.audit import (
    NewAlert,
    alert_record,
    close_alert,
    move_alert,
    new_alert,
    raise_alert,
    record_note,
)
from dispatch.store.db import Database
from dispatch.store.tables import Alert, DeadLetter, Device, Elder
from dispatch.store.tables import DeviceEvent as DeviceEventRow

log = logging.getLogger(__name__)

# The tables themselves, for Core statements (SQLModel's classes do not declare them).
_EVENTS: Table = SQLModel.metadata.tables["device_event"]
_DEVICES: Table = SQLModel.metadata.tables["device"]
_ALERTS: Table = SQLModel.metadata.tables["alert"]
_AUDIT: Table = SQLModel.metadata.tables["audit_record"]


# The database is away or refused the connection: a retry later may succeed, so
# the batch is not acknowledged. Any other error is a fault with one message.
STORE_UNAVAILABLE = (OperationalError, InterfaceError)


def _uncounted(reason: str) -> None:
    """Refusals nobody counts (the server passes its metrics' counter)."""


@dataclass(frozen=True, slots=True)
class Inbound:
    """A message as the broker delivered it, stamped with the server's receipt time."""

    topic: str
    payload: bytes
    received_at: datetime


class Outcome(StrEnum):
    RAISED = "raised"
    MERGED = "merged"
    CLOSED = "closed"  # the elder cancelled, or the device reports the trouble over
    UPDATED = "updated"  # device state only, no alert
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


# Events that never raise an alert nor depend on the elder (device_rules): their
# devices need no elder nor open alerts loaded.
PLAIN_TELEMETRY = frozenset({"heartbeat"})


@dataclass(slots=True)
class _Loaded:
    """What one batch needs from the database, fetched up front (strong references:
    the session's identity map alone would let the rows be collected)."""

    events: list[DeviceEvent | None]
    statuses: list[DeviceStatus | None]
    states: dict[str, Row[Any]]  # every device of the batch: id, kind, elder, active, online
    full: set[str]  # the devices that sent more than plain telemetry
    elders: dict[uuid.UUID, Elder]  # theirs, as row objects
    stored: set[tuple[str, str]]  # (device id, event id) already in the database
    # (device id, alert type): the one to merge into, stored or raised in this batch
    open_alerts: dict[tuple[str, str], Alert | NewAlert]
    careful: set[str] = field(default_factory=set)  # devices that took the careful path
    # The batch's running view of each device's online flag, and the devices heard
    # from again (with the index of the message that said so): their "device
    # offline" alerts are closed at the end of the batch, in one query.
    online: dict[str, bool | None] = field(default_factory=dict)
    back_online: dict[str, int] = field(default_factory=dict)
    # Telemetry, written in a few statements at the end of the batch, not row by row.
    rows: list[dict[str, Any]] = field(default_factory=list)  # device_event rows
    updates: dict[str, dict[str, Any]] = field(default_factory=dict)  # device id -> changes
    # Alerts raised and audit records written by the fast path, inserted in bulk.
    new_alerts: list[NewAlert] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)

    def settle(self, device: Device) -> None:
        """Apply the device's pending bulk changes to its row object, before the ORM
        writes it (so an older heartbeat never overwrites a newer press)."""
        for column, value in self.updates.pop(device.id, {}).items():
            if column != "id":
                setattr(device, column, value)


class Ingest:
    def __init__(
        self,
        db: Database,
        catalog: Catalog,
        *,
        merge_window_s: float,
        tz: ZoneInfo = ZoneInfo("Asia/Shanghai"),
        on_rejected: Callable[[str], None] = _uncounted,
    ) -> None:
        self.db = db
        self.on_rejected = on_rejected  # called with the reason of each refused message
        self.catalog = catalog
        self.merge_window = timedelta(seconds=merge_window_s)
        self.tz = tz  # quiet hours are the city's local time

    def store_batch(self, batch: Sequence[Inbound]) -> list[Outcome]:
        """Store every message of the batch; return when all of it is committed.

        Optimistic first: what the batch needs is loaded up front, and the common
        messages (telemetry, a new alert, a repeated press) are written with no
        savepoint, all flushed at the commit. Should another writer have stored one
        of these events meanwhile, the commit fails and the batch is stored again
        one message at a time, each in a savepoint of its own.
        """
        try:
            with self.db.session() as session:
                loaded = self._preload(session, batch)
                outcomes = [
                    self._common(session, i, message, event, status, loaded)
                    or self._careful(session, message, event, loaded)
                    for i, (message, event, status) in enumerate(
                        zip(batch, loaded.events, loaded.statuses, strict=True)
                    )
                ]
                self._close_offline_alerts(session, batch, loaded, outcomes)
                session.flush()  # the row objects first, then the rows in bulk
                _write_alerts(session, loaded)
                _write_telemetry(session, loaded)
                return outcomes
        except IntegrityError:
            log.info("an event of this batch was stored meanwhile; storing it message by message")
        except STORE_UNAVAILABLE:
            raise  # nothing is acknowledged; the gateway tries the batch again
        except Exception:
            log.exception("storing a batch failed; storing it message by message")
        with self.db.session() as session:
            return [self._store(session, message) for message in batch]

    def _preload(self, session: Session, batch: Sequence[Inbound]) -> _Loaded:
        """Parse the batch's events and load, in a few queries, the devices (as plain
        rows), their elders, their open alerts and which of the events are stored."""
        events: list[DeviceEvent | None] = []
        statuses: list[DeviceStatus | None] = []
        for message in batch:
            event = status = None
            try:
                route = parse_topic(message.topic)
                if route.channel == "events":
                    event = parse_event(route.device_id, message.payload)
                else:
                    status = parse_status(route.device_id, message.payload)
            except PayloadError:
                pass  # a bad message: the careful path refuses it with its reason
            events.append(event)
            statuses.append(status)
        device_ids = {e.device_id for e in events if e is not None}
        device_ids |= {s.device_id for s in statuses if s is not None}
        if not device_ids:
            return _Loaded(events, statuses, {}, set(), {}, set(), {})
        states = {
            row.id: row
            for row in session.execute(
                select(_DEVICES.c.id, _DEVICES.c.kind, _DEVICES.c.elder_id)
                .add_columns(_DEVICES.c.active, _DEVICES.c.online)
                .where(_DEVICES.c.id.in_(device_ids))
            )
        }
        full = {
            e.device_id for e in events if e is not None and e.type not in PLAIN_TELEMETRY
        } & states.keys()
        elder_ids = {states[d].elder_id for d in full if states[d].elder_id}
        elders = (
            {e.id: e for e in session.exec(select(Elder).where(col(Elder.id).in_(elder_ids)))}
            if elder_ids
            else {}
        )
        pairs = [(e.device_id, e.event_id) for e in events if e is not None]
        stored = session.exec(
            select(DeviceEventRow.device_id, DeviceEventRow.event_id).where(
                tuple_(col(DeviceEventRow.device_id), col(DeviceEventRow.event_id)).in_(pairs)
            )
        ).all()
        since = min(m.received_at for m in batch) - self.merge_window
        open_alerts: dict[tuple[str, str], Alert | NewAlert] = {}
        for alert in (
            session.exec(
                select(Alert)
                .where(
                    col(Alert.device_id).in_(full),
                    col(Alert.state).in_(OPEN_ALERT_STATES),
                    Alert.raised_at >= since,
                )
                .order_by(col(Alert.raised_at))
            )
            if full
            else ()
        ):
            assert alert.device_id is not None  # selected by device
            open_alerts[(alert.device_id, alert.alert_type)] = alert  # the newest wins
        return _Loaded(
            events,
            statuses,
            states,
            full,
            elders,
            {(d, e) for d, e in stored},
            open_alerts,
            online={device_id: row.online for device_id, row in states.items()},
        )

    def _careful(
        self, session: Session, message: Inbound, event: DeviceEvent | None, loaded: _Loaded
    ) -> Outcome:
        # The careful path reads the database: what the batch raised so far must be
        # there, and a later press merges into the stored row.
        _write_alerts(session, loaded)
        for key, alert in loaded.open_alerts.items():
            if isinstance(alert, NewAlert):
                loaded.open_alerts[key] = session.get_one(Alert, alert.id)
        if event is not None:
            # What the careful path did (an alert raised, one cancelled) is not in
            # what _preload fetched: the device's later messages in this batch follow it.
            loaded.careful.add(event.device_id)
            if event.device_id in loaded.updates:  # its telemetry so far, before the ORM writes
                device = session.get(Device, event.device_id)
                if device is not None:
                    loaded.settle(device)
        return self._store(session, message)

    def _status_common(
        self, index: int, message: Inbound, status: DeviceStatus, loaded: _Loaded
    ) -> Outcome | None:
        """Online, or the will fired: device state only, written with the batch's telemetry."""
        state = loaded.states.get(status.device_id)
        if state is None or not state.active or state.id in loaded.careful:
            return None
        pending = loaded.updates.setdefault(state.id, {"id": state.id})
        if status.firmware:
            pending["firmware"] = status.firmware
        if status.online:
            pending.update(last_seen_at=message.received_at)
            self._heard_again(index, state.id, loaded)
        elif loaded.online.get(state.id) is not False:
            # Supervision raises the alert if it is not back within the grace period.
            pending.update(online=False, offline_since=message.received_at)
            loaded.online[state.id] = False
        return Outcome.UPDATED

    @staticmethod
    def _heard_again(index: int, device_id: str, loaded: _Loaded) -> None:
        """The device is online: any "device offline" alert of it closes with the batch."""
        loaded.updates[device_id].update(online=True, offline_since=None, offline_alerted=False)
        loaded.online[device_id] = True
        loaded.back_online.setdefault(device_id, index)

    def _close_offline_alerts(
        self, session: Session, batch: Sequence[Inbound], loaded: _Loaded, outcomes: list[Outcome]
    ) -> None:
        if not loaded.back_online:
            return
        for alert in session.exec(
            select(Alert).where(
                col(Alert.device_id).in_(loaded.back_online),
                Alert.alert_type == device_rules.DEVICE_OFFLINE,
                col(Alert.state).in_(OPEN_ALERT_STATES),
            )
        ):
            assert alert.device_id is not None  # selected by device
            index = loaded.back_online[alert.device_id]
            close_alert(
                session,
                alert,
                AlertState.RESOLVED,
                actor=f"device:{alert.device_id}",
                at=batch[index].received_at,
                reason="the device is back online",
            )
            outcomes[index] = Outcome.CLOSED

    def _common(
        self,
        session: Session,
        index: int,
        message: Inbound,
        event: DeviceEvent | None,
        status: DeviceStatus | None,
        loaded: _Loaded,
    ) -> Outcome | None:
        """A status, telemetry, a new alert or a repeated press, from what _preload
        fetched and with no savepoint (nothing here can fail after it starts
        writing). None: take the careful path."""
        if status is not None:
            return self._status_common(index, message, status, loaded)
        if event is None or event.device_id in loaded.careful:
            return None
        state = loaded.states.get(event.device_id)
        if state is None or not state.active:
            return None
        heard_again = loaded.online.get(state.id) is not True
        if heard_again and event.type not in PLAIN_TELEMETRY:
            return None
        if event.type == "cancel" or event.type in device_rules.CLOSES:
            return None
        full = state.id in loaded.full  # else only its plain telemetry was looked at
        elder = loaded.elders.get(state.elder_id) if full and state.elder_id else None
        try:
            code = device_rules.alert_code(self.catalog, state.kind, event, _limits(elder))
        except PayloadError:
            return None
        place = event.position or ((elder.lat, elder.lon) if elder else None)
        if code is not None and (place is None or not full):
            return None  # refused with its reason, or not loaded: the careful path
        alert_type = self.catalog.alert_types[code] if code is not None else None
        open_alert = loaded.open_alerts.get((state.id, code)) if code is not None else None
        merging = open_alert is not None and open_alert.state in OPEN_ALERT_STATES
        if alert_type is not None and not merging and not alert_type.auto_dispatch:
            return None  # call back first: escalated as it is raised, on the careful path
        key = (state.id, event.event_id)
        if key in loaded.stored:
            return Outcome.DUPLICATE
        loaded.stored.add(key)
        # No row objects (they cost more to build than the rows cost to store): the
        # event, the device's new state, an alert and its audit record are written
        # with the batch's others, in a few statements.
        at = message.received_at
        loaded.updates.setdefault(state.id, {"id": state.id}).update(
            state_changes(state.kind, event, at)
        )
        row = _event_fields(event, at)
        loaded.rows.append(row)
        if alert_type is None:
            if heard_again:
                self._heard_again(index, state.id, loaded)
            return Outcome.UPDATED
        if merging:
            assert open_alert is not None
            _merge_in_batch(session, loaded, open_alert, row, event, at)
            return Outcome.MERGED
        assert place is not None  # checked with the device above
        _raise_in_batch(loaded, alert_type, elder, place, row, event, at)
        return Outcome.RAISED

    def _merge(
        self, session: Session, alert: Alert, row: DeviceEventRow, event: DeviceEvent, at: datetime
    ) -> None:
        """A repeated press joins the open alert: counted and audited, not raised again."""
        alert.press_count += 1
        alert.updated_at = at
        session.add(alert)
        row.alert_id = alert.id
        record_note(
            session,
            alert,
            action="merged",
            actor=f"device:{event.device_id}",
            at=at,
            detail={"merged_event_id": event.event_id, "press_count": alert.press_count},
        )

    def _store(self, session: Session, message: Inbound) -> Outcome:
        # A savepoint per message: a refused message leaves no half-written rows,
        # and an event id another gateway stored first is a duplicate, not an error.
        try:
            with session.begin_nested():
                return self._route(session, message)
        except PayloadError as exc:
            log.warning("rejected message on %s: %s", message.topic[:200], exc)
            self.on_rejected(exc.reason)
            session.add(_dead_letter(message, exc))
            return Outcome.REJECTED
        except IntegrityError:
            return Outcome.DUPLICATE
        except STORE_UNAVAILABLE:
            raise
        except Exception as exc:  # a fault of ours: keep the message, don't hold up the rest
            log.exception("could not store a message on %s", message.topic[:200])
            error = PayloadError("internal_error", f"{type(exc).__name__}: {exc}")
            self.on_rejected(error.reason)
            session.add(_dead_letter(message, error))
            return Outcome.REJECTED

    def _route(self, session: Session, message: Inbound) -> Outcome:
        route = parse_topic(message.topic)
        device = session.get(Device, route.device_id)
        if device is None:
            raise PayloadError("unknown_device", f"device {route.device_id} is not registered")
        if not device.active:
            raise PayloadError("inactive_device", f"device {device.id} is deactivated")
        if route.channel == "status":
            status = parse_status(device.id, message.payload)
            return self._store_status(session, device, status, message.received_at)
        event = parse_event(device.id, message.payload)
        return self._store_event(session, device, event, message.received_at)

    def _store_status(
        self, session: Session, device: Device, status: DeviceStatus, at: datetime
    ) -> Outcome:
        if status.firmware:
            device.firmware = status.firmware
        if status.online:
            device.last_seen_at = at
            return self._back_online(session, device, at)
        # The will fired, or the device said goodbye: supervision raises the alert
        # if it is not back within the grace period (docs/devices.md).
        if device.online is not False:
            device.online, device.offline_since = False, at
        session.add(device)
        return Outcome.UPDATED

    def device_offline(self, session: Session, device: Device, at: datetime, why: str) -> Outcome:
        """Raise "device offline" for the elder who depends on it, unless quiet hours say not."""
        if device.online is not False:
            device.online, device.offline_since = False, at
        device.offline_alerted = True  # this absence is dealt with, alarm or not
        session.add(device)
        rule = self.catalog.supervision.get(device.kind)
        if device.elder_id is None or rule is None:
            return Outcome.UPDATED
        if rule.is_quiet(at.astimezone(self.tz).time()):
            return Outcome.UPDATED  # e.g. a wearable taken off for the night
        kind = self.catalog.alert_types[device_rules.DEVICE_OFFLINE]
        self._raise(session, device, kind, at, at, None, detail={"why": why})
        return Outcome.RAISED

    def _back_online(self, session: Session, device: Device, at: datetime) -> Outcome:
        """A device heard from again closes its own "device offline" alert."""
        device.online, device.offline_since, device.offline_alerted = True, None, False
        session.add(device)
        closed = self._close_open(
            session, device, device_rules.DEVICE_OFFLINE, at, "the device is back online"
        )
        return Outcome.CLOSED if closed else Outcome.UPDATED

    def _close_open(
        self, session: Session, device: Device, alert_type: str, at: datetime, reason: str
    ) -> bool:
        open_alerts = session.exec(
            select(Alert).where(
                Alert.device_id == device.id,
                Alert.alert_type == alert_type,
                col(Alert.state).in_(OPEN_ALERT_STATES),
            )
        ).all()
        for alert in open_alerts:
            close_alert(
                session,
                alert,
                AlertState.RESOLVED,
                actor=f"device:{device.id}",
                at=at,
                reason=reason,
            )
        return bool(open_alerts)

    def _cancel_recent(self, session: Session, device: Device, at: datetime) -> Outcome:
        """The elder pressed again to say it was a mistake: within the window the alert is
        withdrawn; later, the operators see the cancel and call back."""
        latest = session.exec(
            select(Alert)
            .where(Alert.device_id == device.id, col(Alert.state).in_(OPEN_ALERT_STATES))
            .order_by(col(Alert.raised_at).desc())
        ).first()
        if latest is None:
            return Outcome.UPDATED
        actor = f"device:{device.id}"
        window = timedelta(seconds=self.catalog.policy.cancel_window_s)
        if at - latest.raised_at <= window and latest.state not in (
            AlertState.EN_ROUTE,
            AlertState.ON_SCENE,
        ):
            close_alert(
                session,
                latest,
                AlertState.CANCELLED,
                actor=actor,
                at=at,
                reason="cancelled by the elder",
            )
            return Outcome.CLOSED
        record_note(
            session,
            latest,
            action="cancel_late",
            actor=actor,
            at=at,
            detail={"reason": "the elder pressed cancel; call back to confirm"},
        )
        return Outcome.UPDATED

    def _store_event(
        self, session: Session, device: Device, event: DeviceEvent, at: datetime
    ) -> Outcome:
        seen = session.exec(
            select(DeviceEventRow.id).where(
                DeviceEventRow.device_id == device.id, DeviceEventRow.event_id == event.event_id
            )
        ).first()
        if seen is not None:
            return Outcome.DUPLICATE
        elder = session.get(Elder, device.elder_id) if device.elder_id else None
        code = device_rules.alert_code(self.catalog, device.kind, event, _limits(elder))
        was_offline = device.online is False
        row = _record_event(session, device, event, at)
        if was_offline:
            self._back_online(session, device, at)
        if event.type == "cancel":
            return self._cancel_recent(session, device, at)
        if event.type in device_rules.CLOSES:
            closes = device_rules.CLOSES[event.type]
            ended = self._close_open(session, device, closes, at, f"{event.type} reported")
            return Outcome.CLOSED if ended else Outcome.UPDATED
        if code is None:
            return Outcome.UPDATED
        alert_type = self.catalog.alert_types[code]

        open_alert = session.exec(
            select(Alert)
            .where(
                Alert.device_id == device.id,
                Alert.alert_type == alert_type.code,
                col(Alert.state).in_(OPEN_ALERT_STATES),
                Alert.raised_at >= at - self.merge_window,
            )
            .order_by(col(Alert.raised_at).desc())
        ).first()
        if open_alert is not None:
            self._merge(session, open_alert, row, event, at)
            return Outcome.MERGED
        self._raise(session, device, alert_type, at, event.ts, event.position, row=row)
        return Outcome.RAISED

    def _raise(
        self,
        session: Session,
        device: Device,
        alert_type: AlertType,
        at: datetime,
        device_ts: datetime,
        position: tuple[float, float] | None,
        *,
        row: DeviceEventRow | None = None,
        detail: dict[str, Any] | None = None,
    ) -> Alert:
        elder = session.get(Elder, device.elder_id) if device.elder_id else None
        lat, lon = position or ((elder.lat, elder.lon) if elder else (None, None))
        if lat is None or lon is None:
            raise PayloadError(
                "no_position", f"device {device.id} has no elder and sent no position"
            )
        alert = raise_alert(
            session,
            alert_type,
            device_id=device.id,
            elder=elder,
            lat=lat,
            lon=lon,
            at=at,
            device_ts=device_ts,
            actor=f"device:{device.id}",
        )
        if row is not None:
            row.alert_id = alert.id
        if not alert_type.auto_dispatch:
            # Call back first: straight to the operators, never to the matcher.
            alert.escalation_reason = device_rules.CALL_BACK_FIRST
            move_alert(
                session,
                alert,
                AlertState.ESCALATED,
                actor="system:policy",
                at=at,
                detail={"reason": device_rules.CALL_BACK_FIRST, **(detail or {})},
            )
        return alert


def _limits(elder: Elder | None) -> device_rules.ElderLimits:
    if elder is None:
        return device_rules.ElderLimits()
    return device_rules.ElderLimits(
        heart_rate_min=elder.heart_rate_min,
        heart_rate_max=elder.heart_rate_max,
        home=GeoPoint(elder.lat, elder.lon),
        geofence_radius_m=elder.geofence_radius_m,
    )


def state_changes(kind: str, event: DeviceEvent, at: datetime) -> dict[str, Any]:
    """What an event says about the device itself (pure): column -> new value."""
    changes: dict[str, Any] = {"last_seen_at": at, "online": True}
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


def _event_fields(event: DeviceEvent, at: datetime) -> dict[str, Any]:
    """The device_event row of an event (the idempotence key and when it came)."""
    return {
        "device_id": event.device_id,
        "event_id": event.event_id,
        "type": event.type,
        "device_ts": event.ts,
        "received_at": at,
        "alert_id": None,  # the alert it raised or joined, if any
    }


def _merge_in_batch(
    session: Session,
    loaded: _Loaded,
    alert: Alert | NewAlert,
    row: dict[str, Any],
    event: DeviceEvent,
    at: datetime,
) -> None:
    """A repeated press joins the open alert, stored or raised in this batch: counted
    and audited, not raised again (Ingest._merge, with rows for the batch)."""
    alert.press_count += 1
    alert.updated_at = at
    if isinstance(alert, Alert):
        session.add(alert)
    row["alert_id"] = alert.id
    loaded.records.append(
        alert_record(
            alert,
            from_state=alert.state.value,
            action="merged",
            actor=f"device:{event.device_id}",
            at=at,
            detail={"merged_event_id": event.event_id, "press_count": alert.press_count},
        )
    )


def _raise_in_batch(
    loaded: _Loaded,
    alert_type: AlertType,
    elder: Elder | None,
    place: tuple[float, float],
    row: dict[str, Any],
    event: DeviceEvent,
    at: datetime,
) -> None:
    """A new alert, raised and audited, written with the batch's others."""
    alert = new_alert(
        alert_type,
        device_id=event.device_id,
        elder=elder,
        lat=place[0],
        lon=place[1],
        at=at,
        device_ts=event.ts,
    )
    row["alert_id"] = alert.id
    loaded.new_alerts.append(alert)
    loaded.records.append(
        alert_record(
            alert,
            from_state=None,
            actor=f"device:{event.device_id}",
            at=at,
            detail={"press_count": 1},
        )
    )
    loaded.open_alerts[(event.device_id, alert.alert_type)] = alert  # a second press merges


def _write_alerts(session: Session, loaded: _Loaded) -> None:
    """Insert the alerts the batch raised so far and the audit records so far."""
    if loaded.new_alerts:
        session.execute(insert(_ALERTS), [alert.row() for alert in loaded.new_alerts])
        loaded.new_alerts.clear()
    if loaded.records:
        session.execute(insert(_AUDIT), loaded.records)
        loaded.records.clear()


def _write_telemetry(session: Session, loaded: _Loaded) -> None:
    """The batch's telemetry in a few statements: one insert for the event rows, one
    update per set of changed columns (Core: the ORM would build and then check an
    object or a parameter set per row)."""
    if loaded.rows:
        session.execute(insert(_EVENTS), loaded.rows)
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for changes in loaded.updates.values():
        if len(changes) == 1:
            continue  # nothing but the id (a will for a device already offline)
        by_columns.setdefault(tuple(sorted(changes)), []).append(
            {f"new_{column}": value for column, value in changes.items()}
        )
    for columns, params in by_columns.items():
        statement = (
            update(_DEVICES)
            .where(_DEVICES.c.id == bindparam("new_id"))
            .values({c: bindparam(f"new_{c}") for c in columns if c != "id"})
        )
        session.execute(statement, params)


def _record_event(
    session: Session, device: Device, event: DeviceEvent, at: datetime
) -> DeviceEventRow:
    """Store the event and what it says about its device, as row objects."""
    for column, value in state_changes(device.kind, event, at).items():
        setattr(device, column, value)
    session.add(device)
    row = DeviceEventRow(**_event_fields(event, at))
    session.add(row)
    return row


def _dead_letter(message: Inbound, exc: PayloadError) -> DeadLetter:
    try:
        text = message.payload.decode("utf-8")
        if "\x00" in text:  # PostgreSQL text cannot hold NUL; keep the exact bytes instead
            raise UnicodeDecodeError("utf-8", message.payload, 0, 1, "NUL byte")
    except UnicodeDecodeError:
        text = "base64:" + base64.b64encode(message.payload).decode()
    return DeadLetter(
        received_at=message.received_at,
        topic=message.topic[:1024],
        payload=text[:65536],
        reason=exc.reason,
        detail=exc.detail[:1000],
    )
