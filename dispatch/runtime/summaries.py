"""`carebell summaries`: the daily and monthly summary e-mails (docs/contacts.md,
"E-mail"). The monthly one attaches the report GET /api/v1/reports/monthly.pdf
makes, built by the same code."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from sqlalchemy.exc import SQLAlchemyError

from config.settings import Settings
from dispatch.domain.operator_work import month_bounds
from dispatch.notify.email import SmtpMailer
from dispatch.notify.summaries import (
    Attachment,
    Outcome,
    already_sent,
    daily_figures,
    daily_text,
    monthly_text,
    recipients,
    send_summary,
)
from dispatch.runtime.catalog_file import load_catalog
from dispatch.store import sealed
from dispatch.store.db import Database
from dispatch.voice.capability import load_voice_catalog

LOCALES = ("zh-CN", "en")
log = logging.getLogger(__name__)


def _talking_kinds(settings: Settings) -> frozenset[str]:
    voices = load_voice_catalog(settings.alert_types_file)
    return frozenset(kind for kind, v in voices.kinds.items() if v.talks)


def send_daily(db: Database, settings: Settings, mailer: SmtpMailer, day: date) -> Outcome:
    zone = ZoneInfo(settings.timezone)
    codes = load_catalog(settings.alert_types_file).closure_codes
    with db.read() as session:
        figures = daily_figures(session, day, zone, _talking_kinds(settings))
    compose = {}
    for locale in LOCALES:
        subject, body = daily_text(figures, day, zone, locale, codes)
        compose[locale] = (subject, body, ())
    return send_summary(
        db,
        mailer,
        "daily",
        day.isoformat(),
        recipients(db, settings.summary_recipients),
        compose,
        datetime.now(UTC),
    )


def monthly_pdf(db: Database, settings: Settings, month: str, locale: str) -> bytes:
    """The city's monthly report as the API's PDF makes it."""
    # Imported here: the web framework and the report's layout are not needed by
    # the command's start-up (tests/system/test_cli.py).
    from dispatch.api.monthly_pdf import render_pdf
    from dispatch.api.routes.monthly import Sources, monthly_figures
    from dispatch.homecare.menu import load_menu
    from dispatch.matching.travel import DetourTravelModel

    zone = ZoneInfo(settings.timezone)
    now = datetime.now(UTC)
    with db.read() as session:
        src = Sources(
            session, load_menu(settings.services_file), zone, _talking_kinds(settings), now
        )
        figures = monthly_figures(src, DetourTravelModel(), month, None)
    codes = load_catalog(settings.alert_types_file).closure_codes
    return render_pdf(figures, lang=locale, made_at=now.astimezone(zone), codes=codes)


def send_monthly(db: Database, settings: Settings, mailer: SmtpMailer, month: str) -> Outcome:
    month_bounds(month)  # ValueError for anything but YYYY-MM
    to = recipients(db, settings.summary_recipients)
    wanted = set(to.values())
    compose: dict[str, tuple[str, str, Sequence[Attachment]]] = {}
    for locale in LOCALES:
        if locale not in wanted:
            continue  # a PDF takes seconds: only the languages someone reads
        subject, body = monthly_text(month, locale)
        pdf = Attachment(
            f"carebell-{month}-city-{locale}.pdf",
            monthly_pdf(db, settings, month, locale),
            "application",
            "pdf",
        )
        compose[locale] = (subject, body, (pdf,))
    return send_summary(db, mailer, "monthly", month, to, compose, datetime.now(UTC))


def mailer_of(settings: Settings) -> SmtpMailer | None:
    """The mailer the settings name, or None where e-mail is off."""
    if settings.smtp_url is None:
        return None
    return SmtpMailer.from_url(
        settings.smtp_url,
        settings.smtp_from,
        starttls=settings.smtp_starttls,
        timeout_s=settings.smtp_timeout_s,
        ca_file=None if settings.smtp_ca_file is None else str(settings.smtp_ca_file),
    )


def _due(local: datetime, at: str | None) -> bool:
    return at is not None and local.time() >= time.fromisoformat(at)


def _missing(db: Database, settings: Settings, kind: str, period: str) -> bool:
    return bool(set(recipients(db, settings.summary_recipients)) - already_sent(db, kind, period))


def send_due(db: Database, settings: Settings, mailer: SmtpMailer, now: datetime) -> bool:
    """Send what is due at ``now`` and not yet sent: yesterday's daily summary after
    ``summary_daily_at``, last month's report on or after the 1st's
    ``summary_monthly_at``. False when a send failed."""
    local = now.astimezone(ZoneInfo(settings.timezone))
    ok = True
    yesterday = local.date() - timedelta(days=1)
    if _due(local, settings.summary_daily_at) and _missing(
        db, settings, "daily", yesterday.isoformat()
    ):
        outcome = send_daily(db, settings, mailer, yesterday)
        ok = ok and not outcome.failed
    # Not only on the 1st: a server down that day sends it when it is back.
    last_month = (local.date().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    if (local.day > 1 or _due(local, settings.summary_monthly_at)) and (
        settings.summary_monthly_at is not None and _missing(db, settings, "monthly", last_month)
    ):
        outcome = send_monthly(db, settings, mailer, last_month)
        ok = ok and not outcome.failed
    return ok


async def send_when_due(
    db: Database,
    settings: Settings,
    mailer: SmtpMailer,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    """The server's summaries loop: look every ``summary_check_s``; after a failure
    (recorded, the mail server or database away) wait ``summary_retry_s``."""
    while True:
        try:
            ok = await asyncio.to_thread(send_due, db, settings, mailer, clock())
        except SQLAlchemyError as exc:
            log.warning("summaries: the database is away, again later: %s", exc)
            ok = False
        if not ok:
            log.warning("summaries: not all sent; again in %.0f s", settings.summary_retry_s)
        await asyncio.sleep(settings.summary_check_s if ok else settings.summary_retry_s)


def summaries(
    daily: Annotated[bool, typer.Option("--daily", help="Send the daily summary.")] = False,
    monthly: Annotated[bool, typer.Option("--monthly", help="Send the monthly report.")] = False,
    day: Annotated[
        str, typer.Option(help="The day summed up, YYYY-MM-DD (default: yesterday).")
    ] = "",
    month: Annotated[str, typer.Option(help="The month, YYYY-MM (default: last month).")] = "",
) -> None:
    """E-mail the daily summary and/or the monthly report to CAREBELL_SUMMARY_RECIPIENTS.

    Each recipient gets each period's summary once: what a run sent is recorded and a
    second run skips it; a failure is recorded and sent by the next run. Exits 1 when
    any failed."""
    if daily == monthly:
        raise typer.BadParameter("give one of --daily or --monthly")
    settings = Settings()
    mailer = mailer_of(settings)
    if mailer is None:
        typer.echo("refused: CAREBELL_SMTP_URL is not set", err=True)
        raise typer.Exit(2)
    today = datetime.now(ZoneInfo(settings.timezone)).date()
    sealed.use_keys(settings.data_keys)
    db = Database(settings.database_url)
    db.create_schema()
    try:
        if daily:
            try:
                which = date.fromisoformat(day) if day else today - timedelta(days=1)
            except ValueError:
                raise typer.BadParameter(f"--day {day!r} is not YYYY-MM-DD") from None
            period = which.isoformat()
            outcome = send_daily(db, settings, mailer, which)
        else:
            last_month = today.replace(day=1) - timedelta(days=1)
            period = month or last_month.strftime("%Y-%m")
            try:
                month_bounds(period)
            except ValueError as e:
                raise typer.BadParameter(f"--month: {e}") from None
            outcome = send_monthly(db, settings, mailer, period)
    finally:
        db.dispose()
    kind = "daily" if daily else "monthly"
    for recipient in outcome.sent:
        typer.echo(f"{kind} {period}: sent to {recipient}")
    if not (outcome.sent or outcome.skipped or outcome.failed):
        typer.echo(
            "refused: nobody to send it to (CAREBELL_SUMMARY_RECIPIENTS, or a supervisor"
            " account's e-mail)",
            err=True,
        )
        raise typer.Exit(2)
    for recipient in outcome.skipped:
        typer.echo(f"{kind} {period}: {recipient} already had it")
    for recipient, error in outcome.failed.items():
        typer.echo(f"{kind} {period}: FAILED to {recipient}: {error}", err=True)
    if outcome.failed:
        raise typer.Exit(1)
