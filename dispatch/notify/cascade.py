"""The responder cascade's loop: asks an elder's contacts who can help, round after
round, per the pure policy in dispatch/domain/cascade.py.

A cascade starts by itself for an open alert the dispatcher escalated for a reason
the rule names ("everyone too far", ...), or when an operator starts it. Each
round is an audited step (``cascade_asked``) and one notification per contact
(step ``cascade``), which the notifier sends like any other, with its fallback.
An operator records what a contact answered (``cascade_answered``); a yes ends
the cascade, a no moves on at once, silence after the timeout moves on too.
The cascade never moves, withdraws or closes anything else, so a caregiver (or
the hand-over to 120) stays in the loop.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from dispatch.background import cancelling
from dispatch.domain.actor import Actor
from dispatch.domain.cascade import (
    NEEDED_STATES,
    Asked,
    Candidate,
    CascadeRule,
    Next,
    contacts_alone,
    next_step,
    ranked,
)
from dispatch.domain.contact_hours import reachable
from dispatch.domain.lifecycle import ACTIVE_ORDER_STATES, OPEN_ALERT_STATES
from dispatch.domain.live_events import AlertAction
from dispatch.domain.model import GeoPoint, great_circle_m
from dispatch.errors import Conflict, NotFound
from dispatch.notify.rules import CASCADE
from dispatch.store.audit import record_note
from dispatch.store.db import Database
from dispatch.store.reads import contacts_of
from dispatch.store.tables import (
    Alert,
    AuditRecord,
    Elder,
    ElderContact,
    Handover,
    Notification,
    Order,
)

log = logging.getLogger(__name__)
ACTOR = Actor.system("cascade")
STARTED = AlertAction.CASCADE_STARTED.value
ENDED = (AlertAction.CASCADE_EXHAUSTED.value,)
# A contact who said no, or whom no channel reached, is not waited for.
NOT_COMING = frozenset({"failed", "declined"})


class ContactAnswer(StrEnum):
    YES = "yes"  # they are going
    NO = "no"


def _started(session: Session, alert_id: uuid.UUID) -> bool:
    return (
        session.exec(
            select(AuditRecord.id).where(
                AuditRecord.alert_id == alert_id, AuditRecord.action == STARTED
            )
        ).first()
        is not None
    )


def _candidates(
    session: Session, alert: Alert, rule: CascadeRule, local: time | None = None
) -> list[Candidate]:
    """The contacts to ask, in order; at ``local`` time, only those whose hours
    allow it (the others are asked when their hours begin, if it still runs)."""
    contacts = session.exec(contacts_of(alert.elder_id)).all() if alert.elder_id else []
    elder = session.get(Elder, alert.elder_id)
    home = GeoPoint(elder.lat, elder.lon) if elder else None
    return ranked(
        (
            Candidate(c.id, c.name, c.role, c.key_holder, c.position, _distance_m(home, c))
            for c in contacts
            if c.phones  # a contact with no phone cannot be asked
            and (local is None or reachable(c.hours, local))
        ),
        rule,
    )


def _distance_m(home: GeoPoint | None, contact: ElderContact) -> float | None:
    """How far the contact lives from the elder, when both are known."""
    if home is None or contact.lat is None or contact.lon is None:
        return None
    return great_circle_m(home, GeoPoint(contact.lat, contact.lon))


def _asked(session: Session, alert_id: uuid.UUID) -> list[Notification]:
    return list(
        session.exec(
            select(Notification).where(
                Notification.alert_id == alert_id, Notification.step == CASCADE
            )
        ).all()
    )


def start(
    session: Session,
    alert: Alert,
    rule: CascadeRule,
    *,
    actor: Actor,
    reason: str,
    now: datetime,
) -> AuditRecord:
    """Start the cascade for ``alert`` (Conflict if one was started already); the
    loop asks the first round on its next pass."""
    if alert.state not in OPEN_ALERT_STATES:
        raise Conflict(f"the alert is {alert.state.value}: nobody needs asking")
    if _started(session, alert.id):
        raise Conflict("the contacts are being asked already (or were)")
    caregiver_on_it = (
        session.exec(
            select(Order.id).where(
                Order.alert_id == alert.id, col(Order.state).in_(ACTIVE_ORDER_STATES)
            )
        ).first()
        is not None
    )
    handed_over = (
        session.exec(select(Handover.id).where(Handover.alert_id == alert.id)).first() is not None
    )
    order = [c.name for c in _candidates(session, alert, rule)]
    return record_note(
        session,
        alert,
        action=STARTED,
        actor=actor,
        at=now,
        detail={
            "reason": reason,
            "order": order,
            # A medical alert with only contacts on it: the operator keeps a
            # caregiver coming or hands it to 120 (the board shows this).
            "contacts_alone": contacts_alone(
                alert.alert_type, rule, caregiver_on_it=caregiver_on_it, handed_over=handed_over
            ),
        },
    )


def answer(
    session: Session,
    alert_id: uuid.UUID,
    contact_id: uuid.UUID,
    said: ContactAnswer,
    *,
    actor: Actor,
    now: datetime,
    via: str = "phone",
) -> Notification:
    """Record what an asked contact answered: ``via`` "phone" as the operator heard
    it (they called back, or answered the call), "sms" as they texted back."""
    alert = session.get(Alert, alert_id, with_for_update=True)
    if alert is None:
        raise NotFound("alert", str(alert_id))
    asked = [n for n in _asked(session, alert_id) if n.contact_id == contact_id]
    if not asked:
        raise NotFound("contact asked", str(contact_id))
    notice = asked[-1]
    notice.status = "acknowledged" if said is ContactAnswer.YES else "declined"
    notice.updated_at = now
    session.add(notice)
    record_note(
        session,
        alert,
        action=AlertAction.CASCADE_ANSWERED.value,
        actor=actor,
        at=now,
        detail={"contact": notice.contact_name, "answer": said.value, "via": via},
    )
    return notice


def start_by_operator(
    db: Database, alert_id: uuid.UUID, rule: CascadeRule, *, operator: str, now: datetime
) -> list[str]:
    """An operator starts the cascade; the names in the order they will be asked."""
    with db.session() as session:
        alert = session.get(Alert, alert_id, with_for_update=True)
        if alert is None:
            raise NotFound("alert", str(alert_id))
        record = start(
            session, alert, rule, actor=Actor.operator(operator), reason="operator", now=now
        )
        order: list[str] = record.detail["order"]
        return order


def record_answer(
    db: Database,
    alert_id: uuid.UUID,
    contact_id: uuid.UUID,
    said: ContactAnswer,
    *,
    operator: str,
    now: datetime,
) -> Notification:
    with db.session() as session:
        notice = answer(
            session, alert_id, contact_id, said, actor=Actor.operator(operator), now=now
        )
        session.flush()
        session.refresh(notice)
        return notice


class Cascade:
    def __init__(
        self,
        db: Database,
        rule: CascadeRule,
        *,
        lookback: timedelta = timedelta(hours=2),
        timezone: str = "Asia/Shanghai",
    ) -> None:
        self.db, self.rule, self.lookback = db, rule, lookback
        self.zone = ZoneInfo(timezone)  # contacts' hours are local

    async def run(self, every_s: float) -> None:
        while True:
            try:
                await self.pass_once()
            except SQLAlchemyError:  # the database away: the next pass tries again
                if cancelling():
                    raise
                log.exception("cascade pass failed")
            await asyncio.sleep(every_s)

    async def pass_once(self, now: datetime | None = None) -> int:
        """Start the cascades the dispatcher's escalations call for, and move each
        running one on; how many steps were taken."""
        return await asyncio.to_thread(self.step, now or datetime.now(UTC))

    def step(self, now: datetime) -> int:
        with self.db.read() as session:
            started = select(AuditRecord.alert_id).where(AuditRecord.action == STARTED)
            ended = select(AuditRecord.alert_id).where(col(AuditRecord.action).in_(ENDED))
            open_ = col(Alert.state).in_(NEEDED_STATES)
            to_start = session.exec(
                select(Alert.id).where(
                    open_,
                    col(Alert.elder_id).is_not(None),
                    col(Alert.escalation_reason).in_(self.rule.when),
                    col(Alert.raised_at) >= now - self.lookback,
                    col(Alert.id).not_in(started),
                )
            ).all()
            running = session.exec(
                select(Alert.id).where(
                    open_, col(Alert.id).in_(started), col(Alert.id).not_in(ended)
                )
            ).all()
        steps = 0
        for alert_id in to_start:
            steps += self._start_one(alert_id, now)
        for alert_id in running:
            steps += self._move_on(alert_id, now)
        return steps

    def _start_one(self, alert_id: uuid.UUID, now: datetime) -> int:
        with self.db.session() as session:
            alert = session.get(Alert, alert_id, with_for_update=True)
            if alert is None or alert.state not in NEEDED_STATES or _started(session, alert.id):
                return 0  # another process started it, or it closed meanwhile
            start(
                session,
                alert,
                self.rule,
                actor=ACTOR,
                reason=alert.escalation_reason or "",
                now=now,
            )
        # Ask the first round at once rather than a pass later.
        return 1 + self._move_on(alert_id, now)

    def _move_on(self, alert_id: uuid.UUID, now: datetime) -> int:
        with self.db.session() as session:
            # The alert's row lock keeps two processes from asking the same round.
            alert = session.get(Alert, alert_id, with_for_update=True)
            if alert is None or alert.state not in NEEDED_STATES:
                return 0  # closed, or a caregiver is there: nobody more is asked
            notices = _asked(session, alert.id)
            asked = [
                Asked(
                    n.contact_id,
                    n.created_at,
                    acknowledged=n.status == "acknowledged",
                    failed=n.status in NOT_COMING,
                )
                for n in notices
            ]
            local = now.astimezone(self.zone).time()
            candidates = _candidates(session, alert, self.rule, local)
            decision = next_step(candidates, asked, self.rule, now)
            if decision.next is Next.ASK:
                self._ask(
                    session,
                    alert,
                    decision.ask,
                    round_=len({n.audit_id for n in notices}) + 1,
                    now=now,
                )
                return 1
            if decision.next is Next.EXHAUSTED:
                record_note(
                    session,
                    alert,
                    action=AlertAction.CASCADE_EXHAUSTED.value,
                    actor=ACTOR,
                    at=now,
                    detail={"asked": len(asked)},
                )
                return 1
            return 0

    def _ask(
        self,
        session: Session,
        alert: Alert,
        who: tuple[Candidate, ...],
        *,
        round_: int,
        now: datetime,
    ) -> None:
        record = record_note(
            session,
            alert,
            action=AlertAction.CASCADE_ASKED.value,
            actor=ACTOR,
            at=now,
            detail={"round": round_, "contacts": [c.name for c in who]},
        )
        session.flush()  # the record's id, for the notifications
        assert record.id is not None
        for candidate in who:
            contact = session.get(ElderContact, candidate.contact_id)
            session.add(
                Notification(
                    alert_id=alert.id,
                    audit_id=record.id,
                    contact_id=candidate.contact_id,
                    contact_name=candidate.name,
                    phone=contact.phones[0] if contact and contact.phones else "",
                    step=CASCADE,
                    channels=list(self.rule.channels),
                    channel=self.rule.channels[0],
                    created_at=now,
                    updated_at=now,
                )
            )
