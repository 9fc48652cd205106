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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from devices.protocol import DeviceEvent, DeviceStatus, parse_event, parse_status, parse_topic
from dispatch.catalog import Catalog
from dispatch.domain.lifecycle import OPEN_ALERT_STATES
from dispatch.errors import PayloadError
from dispatch.store.audit import raise_alert, record_note
from dispatch.store.db import Database
from dispatch.store.tables import Alert, DeadLetter, Device, Elder
from dispatch.store.tables import DeviceEvent as DeviceEventRow

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Inbound:
    """A message as the broker delivered it, stamped with the server's receipt time."""

    topic: str
    payload: bytes
    received_at: datetime


class Outcome(StrEnum):
    RAISED = "raised"
    MERGED = "merged"
    UPDATED = "updated"  # device state only, no alert
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


class Ingest:
    def __init__(self, db: Database, catalog: Catalog, *, merge_window_s: float) -> None:
        self.db = db
        self.catalog = catalog
        self.merge_window = timedelta(seconds=merge_window_s)

    def store_batch(self, batch: Sequence[Inbound]) -> list[Outcome]:
        """Store every message of the batch; return when all of it is committed."""
        with self.db.session() as session:
            return [self._store(session, message) for message in batch]

    def _store(self, session: Session, message: Inbound) -> Outcome:
        # A savepoint per message: a refused message leaves no half-written rows,
        # and an event id another gateway stored first is a duplicate, not an error.
        try:
            with session.begin_nested():
                return self._route(session, message)
        except PayloadError as exc:
            log.warning("rejected message on %s: %s", message.topic[:200], exc)
            session.add(_dead_letter(message, exc))
            return Outcome.REJECTED
        except IntegrityError:
            return Outcome.DUPLICATE

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
        device.online = status.online
        device.last_seen_at = at
        session.add(device)
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
        device.last_seen_at = at
        device.online = True
        session.add(device)
        row = DeviceEventRow(
            device_id=device.id,
            event_id=event.event_id,
            type=event.type,
            device_ts=event.ts,
            received_at=at,
        )
        session.add(row)
        alert_type = self.catalog.alert_type_for(device.kind, event.type)
        if alert_type is None:
            return Outcome.UPDATED

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
            open_alert.press_count += 1
            open_alert.updated_at = at
            session.add(open_alert)
            row.alert_id = open_alert.id
            record_note(
                session,
                open_alert,
                action="merged",
                actor=f"device:{device.id}",
                at=at,
                detail={"merged_event_id": event.event_id, "press_count": open_alert.press_count},
            )
            return Outcome.MERGED

        elder = session.get(Elder, device.elder_id) if device.elder_id else None
        lat, lon = event.position or ((elder.lat, elder.lon) if elder else (None, None))
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
            device_ts=event.ts,
            actor=f"device:{device.id}",
        )
        row.alert_id = alert.id
        return Outcome.RAISED


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
