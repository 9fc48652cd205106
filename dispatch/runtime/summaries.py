"""`carebell summaries`: the daily and monthly summary e-mails (docs/contacts.md,
"E-mail"). The monthly one attaches the report GET /api/v1/reports/monthly.pdf
makes, built by the same code."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from config.settings import Settings
from dispatch.api.monthly_pdf import render_pdf
from dispatch.api.routes.monthly import Sources, monthly_figures
from dispatch.domain.operator_work import month_bounds
from dispatch.homecare.menu import load_menu
from dispatch.matching.travel import DetourTravelModel
from dispatch.notify.email import SmtpMailer
from dispatch.notify.summaries import (
    Attachment,
    Outcome,
    daily_figures,
    daily_text,
    monthly_text,
    send_summary,
)
from dispatch.runtime.catalog_file import load_catalog
from dispatch.store import sealed
from dispatch.store.db import Database
from dispatch.voice.capability import load_voice_catalog

LOCALES = ("zh-CN", "en")


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
        settings.summary_recipients,
        compose,
        datetime.now(UTC),
    )


def monthly_pdf(db: Database, settings: Settings, month: str, locale: str) -> bytes:
    """The city's monthly report as the API's PDF makes it."""
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
    wanted = set(settings.summary_recipients.values())
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
    return send_summary(
        db, mailer, "monthly", month, settings.summary_recipients, compose, datetime.now(UTC)
    )


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
    if settings.smtp_url is None:
        typer.echo("refused: CAREBELL_SMTP_URL is not set", err=True)
        raise typer.Exit(2)
    if not settings.summary_recipients:
        typer.echo("refused: CAREBELL_SUMMARY_RECIPIENTS is empty", err=True)
        raise typer.Exit(2)
    mailer = SmtpMailer.from_url(
        settings.smtp_url,
        settings.smtp_from,
        starttls=settings.smtp_starttls,
        timeout_s=settings.smtp_timeout_s,
    )
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
    for recipient in outcome.skipped:
        typer.echo(f"{kind} {period}: {recipient} already had it")
    for recipient, error in outcome.failed.items():
        typer.echo(f"{kind} {period}: FAILED to {recipient}: {error}", err=True)
    if outcome.failed:
        raise typer.Exit(1)
