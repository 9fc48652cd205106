"""The daily and monthly summary e-mails, sent over real SMTP (aiosmtpd speaking the
protocol) from real databases: what arrives, in whose language, once per period,
and a refusing server's failure kept and sent by the next run."""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlmodel import select

from config.settings import Settings
from dispatch.domain.access import Role
from dispatch.domain.lifecycle import AlertState
from dispatch.errors import InvalidInput
from dispatch.notify.email import SmtpMailer
from dispatch.registry import accounts
from dispatch.runtime.summaries import send_daily, send_monthly, send_when_due
from dispatch.store.db import Database
from dispatch.store.tables import Alert, Elder, SummaryMail
from simulators.local_services import free_port
from tests.integration.test_broker_tls import make_certificates

DAY = date(2026, 11, 10)
MORNING = datetime(2026, 11, 10, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai
RECIPIENTS = {"zhang@bureau.example": "zh-CN", "smith@partner.example": "en"}


class Inbox:
    """An SMTP server's DATA handler: keeps each message, or refuses while ``refuse``."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse = False
        self.refused = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            self.refused += 1
            return "451 4.3.0 mailbox busy, try again later"
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 OK"

    def to(self, address: str) -> EmailMessage:
        (found,) = [m for m in self.messages if m["To"] == address]
        return found


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, SmtpMailer]]:
    handler = Inbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    mailer = SmtpMailer(
        "127.0.0.1", port, "carebell@bureau.example", starttls=False, retry_pause_s=0.0
    )
    yield handler, mailer
    controller.stop()


def _settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, summary_recipients=RECIPIENTS)


def _alert(elder: Elder, raised: datetime, state: AlertState, code: str | None) -> Alert:
    return Alert(
        elder_id=elder.id,
        alert_type="help_button",
        severity="high",
        state=state,
        raised_at=raised,
        deadline_at=raised + timedelta(minutes=15),
        device_ts=raised,
        updated_at=raised,
        lat=elder.lat,
        lon=elder.lon,
        district=elder.district,
        street=elder.street,
        closure_code=code,
        claimed_until=raised + timedelta(days=400),
    )


def seed_day(db: Database) -> None:
    """东城区: two presses on DAY, one closed as a false alarm, one still open; 西城区:
    one resolved as a fall without injury; and a press the day after (not counted)."""
    east = Elder(name="王秀英", address="和平里3幢", lat=39.95, lon=116.41, district="东城区")
    west = Elder(name="赵玉兰", address="月坛5号", lat=39.91, lon=116.35, district="西城区")
    with db.session() as session:
        session.add_all([east, west])
        session.flush()
        session.add_all(
            [
                _alert(east, MORNING, AlertState.RESOLVED, "false_alarm"),
                _alert(east, MORNING + timedelta(hours=5), AlertState.EN_ROUTE, None),
                _alert(west, MORNING + timedelta(hours=2), AlertState.RESOLVED, "fall_no_injury"),
                _alert(west, MORNING + timedelta(days=1), AlertState.RAISED, None),
            ]
        )


def test_daily_summary_in_each_language_once(
    db: Database, database_url: str, inbox: tuple[Inbox, SmtpMailer]
) -> None:
    handler, mailer = inbox
    seed_day(db)
    settings = _settings(database_url)

    first = send_daily(db, settings, mailer, DAY)

    assert sorted(first.sent) == sorted(RECIPIENTS)
    assert not first.failed
    zh, en = handler.to("zhang@bureau.example"), handler.to("smith@partner.example")
    assert zh["From"] == "carebell@bureau.example"
    assert zh["Subject"] == "CareBell 每日报警汇总 2026-11-10"
    assert en["Subject"] == "CareBell daily alert summary 2026-11-10"
    assert ("carebell@bureau.example", ["smith@partner.example"]) in handler.envelopes
    zh_body = zh.get_content()
    en_body = en.get_content()
    east = zh_body[zh_body.index("【东城区】") : zh_body.index("【西城区】")]
    assert "报警 2 起" in east
    assert "仍未结案 1 起" in east
    assert "误报 (false_alarm): 1" in east
    west = en_body[en_body.index("[西城区]") :]
    assert "raised: 1" in west
    assert "still open: 0" in west
    assert "Fall without injury (fall_no_injury): 1" in west

    # A second run (a restart, a retry by cron) sends nothing again.
    second = send_daily(db, settings, mailer, DAY)
    assert sorted(second.skipped) == sorted(RECIPIENTS)
    assert not second.sent
    assert len(handler.messages) == 2
    with db.read() as session:
        rows = session.exec(select(SummaryMail)).all()
    assert {(r.kind, r.period, r.status, r.attempts) for r in rows} == {
        ("daily", "2026-11-10", "sent", 1)
    }


def test_a_refusing_server_is_retried_recorded_and_sent_later(
    sqlite_url: str, inbox: tuple[Inbox, SmtpMailer]
) -> None:
    handler, mailer = inbox
    db = Database(sqlite_url)
    db.create_schema()
    settings = _settings(sqlite_url)
    handler.refuse = True

    failed = send_daily(db, settings, mailer, DAY)

    assert sorted(failed.failed) == sorted(RECIPIENTS)
    assert not failed.sent
    assert "451" in failed.failed["zhang@bureau.example"]
    assert handler.refused == 2 * mailer.attempts  # each tried three times
    with db.read() as session:
        rows = session.exec(select(SummaryMail)).all()
    assert {(r.status, r.attempts) for r in rows} == {("failed", 3)}
    assert all("451" in r.error and r.sent_at is None for r in rows)

    handler.refuse = False
    later = send_daily(db, settings, mailer, DAY)

    assert sorted(later.sent) == sorted(RECIPIENTS)
    assert handler.to("smith@partner.example").get_content().count("No alerts that day.") == 1
    with db.read() as session:
        rows = session.exec(select(SummaryMail)).all()
    assert {(r.status, r.attempts, r.error) for r in rows} == {("sent", 4, "")}
    db.dispose()


def test_a_server_away_is_a_recorded_failure(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    db.create_schema()
    nobody = SmtpMailer(
        "127.0.0.1", free_port(), "carebell@bureau.example", starttls=False, retry_pause_s=0.0
    )
    outcome = send_daily(db, _settings(sqlite_url), nobody, DAY)
    assert sorted(outcome.failed) == sorted(RECIPIENTS)
    assert "ConnectionRefusedError" in outcome.failed["zhang@bureau.example"]
    db.dispose()


def test_monthly_report_attached_as_the_api_makes_it(
    sqlite_url: str, inbox: tuple[Inbox, SmtpMailer]
) -> None:
    handler, mailer = inbox
    db = Database(sqlite_url)
    db.create_schema()
    seed_day(db)
    settings = Settings(database_url=sqlite_url, summary_recipients={"li@bureau.example": "zh-CN"})

    outcome = send_monthly(db, settings, mailer, "2026-11")

    assert outcome.sent == ["li@bureau.example"]
    (msg,) = handler.messages
    assert msg["Subject"] == "CareBell 居家养老应急呼叫服务月报 2026-11"
    (pdf,) = list(msg.iter_attachments())
    assert pdf.get_content_type() == "application/pdf"
    assert pdf.get_filename() == "carebell-2026-11-city-zh-CN.pdf"
    content = pdf.get_content()
    assert content.startswith(b"%PDF-")
    assert len(content) > 5_000
    assert send_monthly(db, settings, mailer, "2026-11").skipped == ["li@bureau.example"]
    assert len(handler.messages) == 1
    db.dispose()


async def _until(check: Any, timeout_s: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_the_servers_loop_sends_when_due_and_never_twice(
    sqlite_url: str, inbox: tuple[Inbox, SmtpMailer]
) -> None:
    handler, mailer = inbox
    db = Database(sqlite_url)
    db.create_schema()
    settings = Settings(
        database_url=sqlite_url,
        summary_recipients=RECIPIENTS,
        summary_daily_at="07:00",
        summary_monthly_at="08:00",
        summary_check_s=0.05,
    )
    shanghai = ZoneInfo("Asia/Shanghai")
    now = [datetime(2026, 12, 1, 6, 59, tzinfo=shanghai)]
    loop = asyncio.create_task(send_when_due(db, settings, mailer, clock=lambda: now[0]))
    await asyncio.sleep(0.5)
    assert handler.messages == []  # before 07:00 nothing is due

    now[0] = datetime(2026, 12, 1, 7, 30, tzinfo=shanghai)
    await _until(lambda: len(handler.messages) == 2)
    assert {m["Subject"] for m in handler.messages} == {
        "CareBell 每日报警汇总 2026-11-30",
        "CareBell daily alert summary 2026-11-30",
    }
    now[0] = datetime(2026, 12, 1, 8, 5, tzinfo=shanghai)
    await _until(lambda: len(handler.messages) == 4, timeout_s=120)
    await asyncio.sleep(0.5)
    loop.cancel()
    # A restart of the server looks again: everything due was sent, so nothing goes.
    again = asyncio.create_task(send_when_due(db, settings, mailer, clock=lambda: now[0]))
    await asyncio.sleep(0.5)
    again.cancel()
    assert len(handler.messages) == 4
    assert sum(bool(list(m.iter_attachments())) for m in handler.messages) == 2
    db.dispose()


def test_two_senders_at_once_send_each_summary_once(
    sqlite_url: str, inbox: tuple[Inbox, SmtpMailer]
) -> None:
    """The server's loop and a cron run of the command at the same moment."""
    handler, mailer = inbox
    db = Database(sqlite_url)
    db.create_schema()
    settings = _settings(sqlite_url)
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda _: send_daily(db, settings, mailer, DAY), range(4)))
    assert sorted(r for o in outcomes for r in o.sent) == sorted(RECIPIENTS)
    assert sorted(m["To"] for m in handler.messages) == sorted(RECIPIENTS)
    db.dispose()


def test_supervisors_with_an_address_get_it_in_their_language(
    db: Database, database_url: str, inbox: tuple[Inbox, SmtpMailer]
) -> None:
    handler, mailer = inbox
    now = datetime.now(UTC)
    for name, role, email_address, locale in [
        ("sup-en", Role.SUPERVISOR, "sup-en@bureau.example", "en"),
        ("sup-none", Role.SUPERVISOR, "", "zh-CN"),
        ("sup-off", Role.SUPERVISOR, "sup-off@bureau.example", "zh-CN"),
        ("op", Role.OPERATOR, "op@bureau.example", "zh-CN"),
    ]:
        new = accounts.NewAccount(name, role, email=email_address, locale=locale)
        accounts.add_account(db, new, now=now)
    accounts.change_account(db, "sup-off", accounts.AccountChange(active=False), by="a", now=now)
    settings = Settings(
        database_url=database_url, summary_recipients={"zhang@bureau.example": "zh-CN"}
    )

    outcome = send_daily(db, settings, mailer, DAY)

    assert sorted(outcome.sent) == ["sup-en@bureau.example", "zhang@bureau.example"]
    assert handler.to("sup-en@bureau.example")["Subject"].startswith("CareBell daily")
    with pytest.raises(InvalidInput):
        accounts.add_account(db, accounts.NewAccount("x", Role.SUPERVISOR, email="x@"), now=now)


class Passwords:
    """aiosmtpd's authenticator: one account."""

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            b"carebell@bureau",
            b"s3cret:pw",
        )
        return AuthResult(success=ok)


@pytest.mark.parametrize("scheme", ["smtp", "smtps"])
def test_tls_and_log_in_as_the_address_says(sqlite_url: str, tmp_path: Path, scheme: str) -> None:
    """STARTTLS (the server refuses to log in without it) or TLS from the start, the
    certificate checked against the configured CA, then AUTH with the address's
    percent-encoded password."""
    tls = make_certificates(tmp_path / "tls")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls.certfile, tls.keyfile)
    handler, port = Inbox(), free_port()
    common: dict[str, Any] = {
        "hostname": "127.0.0.1",
        "port": port,
        "authenticator": Passwords(),
    }
    if scheme == "smtps":
        # aiosmtpd cannot tell TLS from the start is TLS: it offers AUTH when told to.
        controller = Controller(handler, ssl_context=context, auth_require_tls=False, **common)
    else:
        controller = Controller(
            handler, tls_context=context, require_starttls=True, auth_require_tls=True, **common
        )
    controller.start()
    try:
        url = f"{scheme}://carebell%40bureau:s3cret%3Apw@localhost:{port}"
        mailer = SmtpMailer.from_url(url, "carebell@bureau.example", ca_file=str(tls.cafile))
        db = Database(sqlite_url)
        db.create_schema()
        assert send_daily(db, _settings(sqlite_url), mailer, DAY).failed == {}
        assert len(handler.messages) == 2
        # Without the bureau's CA the server's certificate is not trusted: nothing sent.
        untrusted = replace(mailer, ca_file=None, attempts=1)
        failed = send_daily(db, _settings(sqlite_url), untrusted, date(2026, 11, 11))
        assert "CERTIFICATE_VERIFY_FAILED" in failed.failed["zhang@bureau.example"]
        db.dispose()
    finally:
        controller.stop()
