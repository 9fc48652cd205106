"""The SMTP address's parts and the daily summary's text, without a server."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest

from dispatch.domain.catalog import ClosureCode
from dispatch.notify.email import SmtpMailer
from dispatch.notify.summaries import DistrictDay, daily_text, message


def test_smtp_and_smtps_addresses() -> None:
    plain = SmtpMailer.from_url("smtp://mail%40bureau:p%3Ass@mail.bureau.cn", "a@b.cn")
    assert (plain.host, plain.port, plain.username, plain.password) == (
        "mail.bureau.cn",
        587,
        "mail@bureau",
        "p:ss",
    )
    assert (plain.tls, plain.starttls) == (False, True)
    tls = SmtpMailer.from_url("smtps://u:p@mail.bureau.cn", "a@b.cn", starttls=True)
    assert (tls.port, tls.tls, tls.starttls) == (465, True, False)  # TLS already
    local = SmtpMailer.from_url("smtp://127.0.0.1:2525", "a@b.cn", starttls=False)
    assert (local.port, local.username, local.starttls) == (2525, "", False)
    with pytest.raises(ValueError, match="smtp"):
        SmtpMailer.from_url("http://mail.bureau.cn", "a@b.cn")


def test_daily_text_names_codes_in_the_readers_language() -> None:
    day = DistrictDay("东城区", 3, 2, 2, 1, 1, {"false_alarm": 2, "made_up": 1})
    codes = {"false_alarm": ClosureCode("false_alarm", "False alarm", "误报")}
    zone = ZoneInfo("Asia/Shanghai")
    subject, body = daily_text([day], date(2026, 11, 10), zone, "zh-CN", codes)
    assert subject == "CareBell 每日报警汇总 2026-11-10"
    assert "派员 2 起，其中按时到达 1 起" in body
    assert "误报 (false_alarm): 2" in body
    assert "made_up (made_up): 1" in body  # a code no longer configured still counts
    _, english = daily_text([], date(2026, 11, 10), zone, "en", codes)
    assert "No alerts that day." in english


def test_message_is_utf8_with_its_headers() -> None:
    msg = message("li@bureau.example", "月报", "正文\n")
    assert (msg["To"], msg["Subject"]) == ("li@bureau.example", "月报")
    assert msg.get_content_charset() == "utf-8"
    assert msg.get_content() == "正文\n"
