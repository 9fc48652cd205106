"""The summaries the bureau's supervisors get by e-mail: yesterday's alerts per
district (daily) and the monthly report's PDF (monthly), each in the recipient's
language; and the record of what was sent, so a second run sends nothing twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from dispatch.domain.catalog import ClosureCode
from dispatch.notify.email import MailFailed, SmtpMailer
from dispatch.store.alert_history import CLOSED_STATES
from dispatch.store.db import Database
from dispatch.store.monthly_facts import alert_facts
from dispatch.store.tables import Alert, SummaryMail, UserAccount


@dataclass(frozen=True)
class DistrictDay:
    """One district's alerts raised on one day, as they stand now."""

    district: str
    raised: int
    answered: int
    caregiver_sent: int
    reached_by_deadline: int
    still_open: int
    closure_codes: Mapping[str, int] = field(default_factory=dict)


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    return start, start + timedelta(days=1)


def daily_figures(
    session: Session, day: date, zone: ZoneInfo, talking_kinds: Collection[str] = ()
) -> list[DistrictDay]:
    """Each district with an alert raised on ``day`` (the centre's local day)."""
    start, end = day_bounds(day, zone)
    in_day = (col(Alert.raised_at) >= start, col(Alert.raised_at) < end)
    districts = sorted(
        d for (d,) in session.execute(sa_select(col(Alert.district)).where(*in_day).distinct())
    )
    figures = []
    for district in districts:
        facts = alert_facts(session, start, end, district, talking_kinds)
        still_open = session.exec(
            select(Alert.id).where(
                *in_day,
                col(Alert.district) == district,
                col(Alert.state).not_in([s.value for s in CLOSED_STATES]),
            )
        ).all()
        figures.append(
            DistrictDay(
                district=district,
                raised=len(facts),
                answered=sum(f.answered_at is not None for f in facts),
                caregiver_sent=sum(f.caregiver_sent for f in facts),
                reached_by_deadline=sum(f.reached_by_deadline for f in facts),
                still_open=len(still_open),
                closure_codes=dict(Counter(f.closure_code for f in facts if f.closure_code)),
            )
        )
    return figures


TEXT: Mapping[str, Mapping[str, str]] = {
    "zh-CN": {
        "daily_subject": "CareBell 每日报警汇总 {day}",
        "daily_intro": "{day}（{zone}）各区报警情况：",
        "none": "当日无报警。",
        "district": "【{district}】",
        "no_district": "（未分区）",
        "raised": "报警 {n} 起",
        "answered": "已接听 {n} 起",
        "sent": "派员 {n} 起，其中按时到达 {reached} 起",
        "open": "仍未结案 {n} 起",
        "codes": "结案原因：",
        "monthly_subject": "CareBell 居家养老应急呼叫服务月报 {month}",
        "monthly_body": "附件为 {month} 全市月报（PDF）。",
        "footer": "此邮件由 CareBell 自动发送，请勿回复。",
    },
    "en": {
        "daily_subject": "CareBell daily alert summary {day}",
        "daily_intro": "Alerts raised on {day} ({zone}), by district:",
        "none": "No alerts that day.",
        "district": "[{district}]",
        "no_district": "(no district)",
        "raised": "raised: {n}",
        "answered": "answered: {n}",
        "sent": "caregiver sent: {n}, reached by the deadline: {reached}",
        "open": "still open: {n}",
        "codes": "closure codes:",
        "monthly_subject": "CareBell monthly report {month}",
        "monthly_body": "The city's monthly report for {month} is attached (PDF).",
        "footer": "Sent by CareBell; replies are not read.",
    },
}


def _code_label(code: str, codes: Mapping[str, ClosureCode], locale: str) -> str:
    known = codes.get(code)
    if known is None:
        return code
    return known.label_zh if locale == "zh-CN" else known.label_en


def daily_text(
    figures: Sequence[DistrictDay],
    day: date,
    zone: ZoneInfo,
    locale: str,
    codes: Mapping[str, ClosureCode],
) -> tuple[str, str]:
    """The daily summary's subject and plain-text body in ``locale``."""
    t = TEXT[locale]
    lines = [t["daily_intro"].format(day=day.isoformat(), zone=zone.key), ""]
    if not figures:
        lines.append(t["none"])
    for f in figures:
        lines.append(t["district"].format(district=f.district or t["no_district"]))
        lines.append("  " + t["raised"].format(n=f.raised))
        lines.append("  " + t["answered"].format(n=f.answered))
        lines.append("  " + t["sent"].format(n=f.caregiver_sent, reached=f.reached_by_deadline))
        lines.append("  " + t["open"].format(n=f.still_open))
        if f.closure_codes:
            lines.append("  " + t["codes"])
            for code, n in sorted(f.closure_codes.items(), key=lambda kv: (-kv[1], kv[0])):
                lines.append(f"    {_code_label(code, codes, locale)} ({code}): {n}")
        lines.append("")
    lines.append(t["footer"])
    return t["daily_subject"].format(day=day.isoformat()), "\n".join(lines) + "\n"


def monthly_text(month: str, locale: str) -> tuple[str, str]:
    t = TEXT[locale]
    return (
        t["monthly_subject"].format(month=month),
        t["monthly_body"].format(month=month) + "\n\n" + t["footer"] + "\n",
    )


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    maintype: str
    subtype: str


def message(
    to: str, subject: str, body: str, attachments: Sequence[Attachment] = ()
) -> EmailMessage:
    msg = EmailMessage()
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body, charset="utf-8")
    for a in attachments:
        msg.add_attachment(a.content, maintype=a.maintype, subtype=a.subtype, filename=a.filename)
    return msg


@dataclass
class Outcome:
    sent: list[str] = field(default_factory=list)
    # sent before, by an earlier run, or being sent by another process now
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # recipient -> the error


def recipients(db: Database, configured: Mapping[str, str]) -> dict[str, str]:
    """Who gets the summaries, address -> locale: the active supervisors' accounts
    that have an address (in their account's language), and the configured list
    (which wins for an address in both)."""
    with db.read() as session:
        rows = session.exec(
            select(UserAccount.email, UserAccount.locale).where(
                UserAccount.role == "supervisor",
                col(UserAccount.active).is_(True),
                UserAccount.email != "",
            )
        ).all()
    found = {address: (locale if locale in TEXT else "zh-CN") for address, locale in rows}
    return found | dict(configured)


def already_sent(db: Database, kind: str, period: str) -> set[str]:
    with db.read() as session:
        rows = session.exec(
            select(SummaryMail.recipient).where(
                SummaryMail.kind == kind, SummaryMail.period == period, SummaryMail.status == "sent"
            )
        ).all()
    return set(rows)


# A claim older than this was left by a sender that stopped mid-way: taken over.
CLAIM_STALE = timedelta(minutes=10)


def _claim(
    db: Database, kind: str, period: str, recipient: str, locale: str, now: datetime
) -> bool:
    """Mark the summary as being sent by this caller; False when it was sent, or
    another process (the server's loop, a cron run) is sending it now. One
    conditional UPDATE or one INSERT under the unique constraint: atomic on both
    databases."""
    this = (
        col(SummaryMail.kind) == kind,
        col(SummaryMail.period) == period,
        col(SummaryMail.recipient) == recipient,
    )
    with db.session() as session:
        taken = session.execute(
            update(SummaryMail)
            .where(
                *this,
                or_(
                    col(SummaryMail.status) == "failed",
                    and_(
                        col(SummaryMail.status) == "sending",
                        col(SummaryMail.updated_at) < now - CLAIM_STALE,
                    ),
                ),
            )
            .values(status="sending", updated_at=now)
        )
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            return True
        if session.exec(select(SummaryMail.id).where(*this)).first() is not None:
            return False
    try:
        with db.session() as session:
            session.add(
                SummaryMail(
                    kind=kind,
                    period=period,
                    recipient=recipient,
                    locale=locale,
                    status="sending",
                    updated_at=now,
                )
            )
    except IntegrityError:  # another sender inserted it first
        return False
    return True


def _record(
    db: Database,
    kind: str,
    period: str,
    recipient: str,
    locale: str,
    *,
    attempts: int,
    error: str,
    now: datetime,
) -> None:
    with db.session() as session:
        row = session.exec(
            select(SummaryMail).where(
                SummaryMail.kind == kind,
                SummaryMail.period == period,
                SummaryMail.recipient == recipient,
            )
        ).first()
        if row is None:
            row = SummaryMail(
                kind=kind, period=period, recipient=recipient, locale=locale, status=""
            )
        row.locale = locale
        row.attempts += attempts
        row.status = "failed" if error else "sent"
        row.error = error
        row.sent_at = None if error else now
        row.updated_at = now
        session.add(row)


def send_summary(
    db: Database,
    mailer: SmtpMailer,
    kind: str,
    period: str,
    recipients: Mapping[str, str],
    compose: Mapping[str, tuple[str, str, Sequence[Attachment]]],
    now: datetime,
) -> Outcome:
    """Send ``kind`` for ``period`` to each recipient not sent it before, in their
    locale (``compose``: locale -> subject, body, attachments); each success or
    failure is recorded, a failure to be sent again by the next run."""
    outcome = Outcome()
    done = already_sent(db, kind, period)
    for recipient, locale in sorted(recipients.items()):
        if recipient in done or not _claim(db, kind, period, recipient, locale, now):
            outcome.skipped.append(recipient)
            continue
        subject, body, attachments = compose[locale]
        try:
            attempts = mailer.send(message(recipient, subject, body, attachments))
        except MailFailed as e:
            _record(db, kind, period, recipient, locale, attempts=e.attempts, error=str(e), now=now)
            outcome.failed[recipient] = str(e)
            continue
        _record(db, kind, period, recipient, locale, attempts=attempts, error="", now=now)
        outcome.sent.append(recipient)
    return outcome
