"""Tells an elder's contacts of their alert's steps, per the notification rules.

The notifier reads the steps from the committed audit records (the same rows the
outbox relays), so an alert's step is acknowledged once committed and no step is
lost: a record is turned into notifications at most once per contact (a unique
constraint), the first pass after a start looks back ``lookback`` for what was
committed while no notifier ran. Each notification is sent on its rule's first
channel; a failed channel falls back to the next; when none is left it is
``failed`` with the reason, on the alert's timeline like every attempt's end.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, col, select

from dispatch.background import cancelling
from dispatch.domain.actor import Actor
from dispatch.domain.contact_hours import reachable
from dispatch.domain.lifecycle import OrderState
from dispatch.domain.live_events import AlertAction
from dispatch.notify.rules import ACTION_STEPS, Rules, channel_after, step_of
from dispatch.notify.sms import SmsFailed, SmsMessage, SmsSender
from dispatch.store.audit import record_note
from dispatch.store.db import Database
from dispatch.store.reads import contacts_of
from dispatch.store.tables import (
    Alert,
    AuditRecord,
    Caregiver,
    Elder,
    ElderContact,
    Notification,
    Order,
)

log = logging.getLogger(__name__)
ACTOR = Actor.system("notifier")
# A step's audit record is stamped inside its transaction and committed moments
# later: passes after the first look back this far, past the previous pass.
COMMIT_MARGIN = timedelta(seconds=60)
BATCH = 100
KEPT = ("channel", "status", "attempts", "error", "provider_id", "sent_at", "phone")
# A notification being sent is leased this long; one whose notifier died mid-send
# is queued again after it (it may then go out twice, never not at all).
SENDING_LEASE = timedelta(minutes=2)
HELD = "held"  # waiting for the contact's reachable hours to begin


class Notifier:
    def __init__(
        self,
        db: Database,
        rules: Rules,
        channels: Mapping[str, SmsSender],
        *,
        lookback: timedelta = timedelta(hours=1),
        timezone: str = "Asia/Shanghai",
    ) -> None:
        self.db, self.rules, self.channels = db, rules, channels
        self.lookback, self.zone = lookback, ZoneInfo(timezone)
        self._since: datetime | None = None
        self._handled: dict[int, datetime] = {}  # audit id -> its time, within the window

    async def run(self, every_s: float) -> None:
        while True:
            try:
                await self.pass_once()
            except SQLAlchemyError:  # the database away: the next pass tries again
                if cancelling():
                    raise
                log.exception("notification pass failed")
            await asyncio.sleep(every_s)

    async def pass_once(self, now: datetime | None = None) -> None:
        """Make the notifications of newly committed steps, then send what is queued."""
        await asyncio.to_thread(self.enqueue, now)
        for notice_id in await asyncio.to_thread(self._queued, now):
            await self.send(notice_id)

    def _reachable(self, contact: ElderContact, now: datetime) -> bool:
        return reachable(contact.hours, now.astimezone(self.zone).time())

    def enqueue(self, now: datetime | None = None) -> int:
        """Notifications for the steps committed since the last pass; how many were made."""
        now = now or datetime.now(UTC)
        since = now - self.lookback if self._since is None else self._since - COMMIT_MARGIN
        states = [s for s in self.rules.steps if s not in ACTION_STEPS.values()]
        actions = [a for a, s in ACTION_STEPS.items() if s in self.rules.steps]
        made = 0
        try:
            with self.db.session() as session:
                found = session.exec(
                    select(AuditRecord.id, AuditRecord.at).where(
                        AuditRecord.entity == "alert",
                        col(AuditRecord.at) >= since,
                        (col(AuditRecord.action).is_(None) & col(AuditRecord.to_state).in_(states))
                        | col(AuditRecord.action).in_(actions),
                    )
                ).all()
                # Passes overlap by the commit margin: what this notifier handled is
                # skipped here rather than looked at again.
                new = sorted(i for i, _ in found if i is not None and i not in self._handled)
                for record_id in new:
                    record = session.get(AuditRecord, record_id)
                    if record is not None:
                        made += self._notices_of(session, record, now)
        except IntegrityError:  # another process made them first: nothing lost
            log.info("notifications already made elsewhere")
            return 0
        self._handled.update({i: at for i, at in found if i is not None})
        self._handled = {i: at for i, at in self._handled.items() if at >= since}
        self._since = now
        return made

    def _notices_of(self, session: Session, record: AuditRecord, now: datetime) -> int:
        step = step_of(record.entity, record.from_state, record.to_state, record.action)
        if step is None or record.id is None:
            return 0
        done = set(
            session.exec(
                select(Notification.contact_id).where(Notification.audit_id == record.id)
            ).all()
        )
        alert = session.get(Alert, record.alert_id)
        if alert is None or alert.elder_id is None:
            return 0
        contacts = session.exec(contacts_of(alert.elder_id)).all()
        made = 0
        for contact in contacts:
            if contact.id in done:
                continue
            channels = self.rules.channels_for(
                alert_type=alert.alert_type,
                severity=alert.severity,
                role=contact.role,
                key_holder=contact.key_holder,
                step=step,
            )
            if not channels:
                continue
            # Outside the hours the contact gave, the message waits for them
            # (held, with the reason), and goes once they begin.
            held = not self._reachable(contact, now)
            session.add(
                Notification(
                    alert_id=alert.id,
                    audit_id=record.id,
                    contact_id=contact.id,
                    contact_name=contact.name,
                    phone=contact.phones[0] if contact.phones else "",
                    step=step,
                    channels=list(channels),
                    channel=channels[0],
                    status=HELD if held else "queued",
                    error=f"outside the contact's hours {contact.hours}" if held else "",
                    created_at=now,
                    updated_at=now,
                )
            )
            made += 1
        return made

    def _queued(self, now: datetime | None = None) -> list[UUID]:
        """What waits to be sent, with what a notifier that died mid-send left and
        what was held for contacts whose hours have begun."""
        now = now or datetime.now(UTC)
        stale = now - SENDING_LEASE
        with self.db.session() as session:
            held = session.exec(
                select(Notification, ElderContact)
                .join(ElderContact, col(ElderContact.id) == Notification.contact_id)
                .where(Notification.status == HELD)
            ).all()
            for notice, contact in held:
                if self._reachable(contact, now):
                    notice.status, notice.error, notice.updated_at = "queued", "", now
                    session.add(notice)
            session.execute(
                update(Notification)
                .where(col(Notification.status) == "sending", col(Notification.updated_at) < stale)
                .values(status="queued")
            )
            return list(
                session.exec(
                    select(Notification.id)
                    .where(Notification.status == "queued")
                    .order_by(col(Notification.created_at))
                    .limit(BATCH)
                ).all()
            )

    def _claim(self, notice_id: UUID) -> Notification | None:
        """The notice, marked ``sending`` by this notifier, or None when another took it."""
        with self.db.session() as session:
            claimed = session.execute(
                update(Notification)
                .where(col(Notification.id) == notice_id, col(Notification.status) == "queued")
                .values(status="sending", updated_at=datetime.now(UTC))
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                return None
            return session.get(Notification, notice_id)

    def _message(self, notice: Notification) -> tuple[SmsMessage, list[str]]:
        """The message, and the contact's phones as they are now, the first one
        noted when the notice was made first."""
        with self.db.session() as session:
            alert = session.get(Alert, notice.alert_id)
            elder = session.get(Elder, alert.elder_id) if alert and alert.elder_id else None
            record = session.get(AuditRecord, notice.audit_id)
            on_the_way = self._on_the_way(session, notice) if notice.step == "en_route" else {}
            contact = session.get(ElderContact, notice.contact_id)
        current = list(contact.phones) if contact else []
        phones = list(dict.fromkeys(p for p in [notice.phone, *current] if p))
        at = (record.at if record else notice.created_at).astimezone(self.zone)
        message = SmsMessage(
            phone=notice.phone,
            template_code=self.rules.templates[notice.step],
            params={
                "elder": elder.name if elder else "",
                "time": at.strftime("%H:%M"),
                "alert_type": alert.alert_type if alert else "",
                **on_the_way,
            },
        )
        return message, phones

    @staticmethod
    def _on_the_way(session: Session, notice: Notification) -> dict[str, str]:
        """Who is on the way and about how many minutes off: the offer's travel time
        less the time since the offer (at least a minute)."""
        record = session.get(AuditRecord, notice.audit_id)
        order = session.get(Order, record.order_id) if record and record.order_id else None
        if order is None:
            order = session.exec(
                select(Order)
                .where(Order.alert_id == notice.alert_id, Order.state == OrderState.EN_ROUTE)
                .order_by(col(Order.updated_at).desc())
            ).first()
        if order is None or record is None:
            return {}
        caregiver = session.get(Caregiver, order.caregiver_id)
        left_s = order.eta_s - (record.at - order.offered_at).total_seconds()
        return {
            "caregiver": caregiver.name if caregiver else "",
            "eta_min": str(max(1, math.ceil(left_s / 60))),
        }

    async def send(self, notice_id: UUID) -> Notification | None:
        """Try the notice's channels from the current one on, until one takes it."""
        notice = await asyncio.to_thread(self._claim, notice_id)
        if notice is None:
            return None
        message, phones = await asyncio.to_thread(self._message, notice)
        channel: str | None = notice.channel
        errors: list[str] = []
        while channel is not None:
            sender = self.channels.get(channel)
            if not phones:
                notice.attempts += 1
                errors.append(f"{channel}: the contact has no phone")
            elif sender is None:
                notice.attempts += 1
                errors.append(f"{channel}: channel not configured")
            elif await self._try_phones(sender, channel, message, phones, notice, errors):
                break
            notice.channel = channel
            channel = channel_after(notice.channels, channel)
        else:
            notice.status = "failed"
        notice.error = "; ".join(errors)
        notice.updated_at = datetime.now(UTC)
        return await asyncio.to_thread(self._finish, notice)

    @staticmethod
    async def _try_phones(
        sender: SmsSender,
        channel: str,
        message: SmsMessage,
        phones: list[str],
        notice: Notification,
        errors: list[str],
    ) -> bool:
        """Send on one channel to the contact's phones in order until one is taken."""
        for phone in phones:
            notice.attempts += 1
            try:
                receipt = await sender.send(replace(message, phone=phone))
            except SmsFailed as failed:
                errors.append(f"{channel} {phone}: {failed}")
                continue
            notice.channel, notice.status, notice.phone = channel, "sent", phone
            notice.provider_id = receipt.provider_id
            notice.sent_at = datetime.now(UTC)
            return True
        return False

    def _finish(self, notice: Notification) -> Notification:
        """Store the outcome and put it on the alert's timeline, in one transaction."""
        with self.db.session() as session:
            stored = session.get(Notification, notice.id, with_for_update=True)
            alert = session.get(Alert, notice.alert_id)
            assert stored is not None
            assert alert is not None
            for name in KEPT:
                setattr(stored, name, getattr(notice, name))
            stored.updated_at = notice.updated_at
            session.add(stored)
            record_note(
                session,
                alert,
                action=AlertAction.NOTIFIED,
                actor=ACTOR,
                at=notice.updated_at,
                detail={
                    "contact": notice.contact_name,
                    "step": notice.step,
                    "channel": notice.channel,
                    "status": notice.status,
                    "error": notice.error,
                },
            )
            session.flush()
            session.refresh(stored)
            return stored
