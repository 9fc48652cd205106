"""What the SMS provider tells us after it took a message: delivery reports (the
phone got it, or could not) and the contacts' replies (up-link messages).

A report turns a ``sent`` notification ``delivered`` (or ``failed``, with the
operator's code); a reply from a phone the cascade asked answers its question,
"1"/是 as yes and "2"/否 as no, as if the operator had heard it. Both go on the
alert's timeline. The provider pushes them again when we do not answer, so each
is applied once: a report finds its notification no longer ``sent``, a reply
finds its question answered already.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlmodel import Session, col, select

from dispatch.domain.actor import Actor
from dispatch.domain.cascade import NEEDED_STATES, reply_answer
from dispatch.domain.live_events import AlertAction
from dispatch.notify.cascade import ContactAnswer, answer
from dispatch.notify.notifier import ACTOR
from dispatch.notify.rules import CASCADE
from dispatch.store.audit import record_note
from dispatch.store.db import Database
from dispatch.store.tables import Alert, Notification

# Waiting for an answer: the question went out (or is about to) and nobody answered.
AWAITING = ("queued", "sending", "sent", "delivered")


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """One report: the provider's message id, the phone, and whether it arrived."""

    provider_id: str
    phone: str
    delivered: bool
    code: str = ""  # the operator's status code ("DELIVERED", "MN:0001" ...)
    text: str = ""


@dataclass(frozen=True, slots=True)
class Reply:
    """One text a phone sent back to the centre's number."""

    phone: str
    text: str


def mobile(number: str) -> str:
    """A mainland mobile as the contacts keep it: no +86 / 86 prefix, no spaces."""
    digits = "".join(ch for ch in number if ch.isdigit())
    if len(digits) == 13 and digits.startswith("86"):
        return digits[2:]
    return digits


class Applied(StrEnum):
    APPLIED = "applied"
    PENDING = "pending"  # its notification is still being stored as sent: push it again
    IGNORED = "ignored"  # not ours, or reported already


def _being_sent(session: Session, phone: str) -> bool:
    sending = session.exec(select(Notification.phone).where(Notification.status == "sending")).all()
    return any(mobile(p) == mobile(phone) for p in sending)


def apply_report(session: Session, report: DeliveryReport, now: datetime) -> Applied:
    """Mark the notification the report is about. A report may come before the
    notifier stored the message id (it is PENDING then, so the provider pushes it
    again); one about no notification waiting for it is IGNORED."""
    notices = session.exec(
        select(Notification).where(
            Notification.provider_id == report.provider_id,
            Notification.status == "sent",
        )
    ).all()
    notice = next((n for n in notices if mobile(n.phone) == mobile(report.phone)), None)
    if notice is None:
        return Applied.PENDING if _being_sent(session, report.phone) else Applied.IGNORED
    alert = session.get(Alert, notice.alert_id, with_for_update=True)
    assert alert is not None
    notice.status = "delivered" if report.delivered else "failed"
    if not report.delivered:
        why = f"{notice.channel} {notice.phone}: not delivered: {report.code} {report.text}"
        notice.error = "; ".join(e for e in (notice.error, why.strip()) if e)
    notice.updated_at = now
    session.add(notice)
    record_note(
        session,
        alert,
        action=AlertAction.NOTIFIED,
        actor=ACTOR,
        at=now,
        detail={
            "contact": notice.contact_name,
            "step": notice.step,
            "channel": notice.channel,
            "status": notice.status,
            "error": "" if report.delivered else f"{report.code} {report.text}".strip(),
        },
    )
    return Applied.APPLIED


def _question_for(session: Session, phone: str) -> Notification | None:
    """The newest unanswered cascade question sent to this phone, on an alert that
    still needs someone."""
    found = session.exec(
        select(Notification, Alert)
        .join(Alert, col(Alert.id) == Notification.alert_id)
        .where(
            Notification.step == CASCADE,
            col(Notification.status).in_(AWAITING),
            col(Alert.state).in_(NEEDED_STATES),
        )
        .order_by(col(Notification.created_at).desc())
    ).all()
    return next((n for n, _ in found if mobile(n.phone) == mobile(phone)), None)


def apply_reply(session: Session, reply: Reply, now: datetime) -> uuid.UUID | None:
    """Answer the cascade question this phone was asked; the alert's id, or None
    when no question waits for this phone. A reply that is neither yes nor no is
    put on the timeline for the operator, who calls back."""
    notice = _question_for(session, reply.phone)
    if notice is None:
        return None
    said = reply_answer(reply.text)
    actor = Actor.phone(mobile(reply.phone))
    if said is None:
        alert = session.get(Alert, notice.alert_id, with_for_update=True)
        assert alert is not None
        record_note(
            session,
            alert,
            action=AlertAction.NOTE,
            actor=actor,
            at=now,
            detail={"contact": notice.contact_name, "text": reply.text[:200], "via": "sms"},
        )
        return alert.id
    answer(
        session,
        notice.alert_id,
        notice.contact_id,
        ContactAnswer.YES if said else ContactAnswer.NO,
        actor=actor,
        now=now,
        via="sms",
    )
    return notice.alert_id


def record_reports(
    db: Database, reports: list[DeliveryReport], now: datetime
) -> dict[Applied, int]:
    """Apply a pushed batch of reports in one transaction; how many came to what."""
    with db.session() as session:
        outcomes = [apply_report(session, r, now) for r in reports]
    return {a: outcomes.count(a) for a in Applied}


def record_replies(db: Database, replies: list[Reply], now: datetime) -> int:
    """Apply a pushed batch of replies in one transaction; how many answered something."""
    with db.session() as session:
        return sum(apply_reply(session, r, now) is not None for r in replies)
