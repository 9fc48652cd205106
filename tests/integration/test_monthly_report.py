"""The monthly report's answers, device availability, 15-minute circle and PDF, on
real databases through the running server."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from datetime import UTC, datetime, time, timedelta

import httpx
import pytest

from dispatch.domain.lifecycle import AlertState, OrderState
from dispatch.store.db import Database
from dispatch.store.tables import Alert, AuditRecord, Caregiver, Device, Elder, Order
from tests.conftest import RunningServer
from tests.helpers import CENTER, bearer, login

# About 10 km north of the centre: beyond an e-bike's 15 minutes.
FAR = (CENTER[0] + 0.09, CENTER[1])
NOV = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)


def _alert(elder: Elder, alert_type: str, raised: datetime, device: str | None) -> Alert:
    return Alert(
        device_id=device,
        elder_id=elder.id,
        alert_type=alert_type,
        severity="medium",
        state=AlertState.RESOLVED,
        raised_at=raised,
        deadline_at=raised + timedelta(minutes=15),
        device_ts=raised,
        updated_at=raised,
        lat=elder.lat,
        lon=elder.lon,
        district=elder.district,
        street=elder.street,
        claimed_until=raised + timedelta(days=400),
    )


def _step(alert: Alert, to_state: str, after: timedelta, **kw: object) -> AuditRecord:
    return AuditRecord(
        alert_id=alert.id,
        entity=str(kw.pop("entity", "alert")),
        from_state=None,
        to_state=to_state,
        actor="system",
        at=alert.raised_at + after,
        published=True,
        **kw,
    )


def seed_month(db: Database) -> None:
    """Two elders of 东城区 (one near, one 10 km away), a caregiver by the near one,
    a device of each; in November: one day's outage of the near one's device and a
    press a caregiver accepted within 20 s, nobody acknowledging it."""
    near = Elder(
        name="王秀英",
        address="和平里3幢",
        lat=CENTER[0],
        lon=CENTER[1],
        district="东城区",
        street="和平街道",
    )
    far = Elder(
        name="赵玉兰",
        address="北郊5号",
        lat=FAR[0],
        lon=FAR[1],
        district="东城区",
        street="北郊街道",
    )
    carer = Caregiver(
        name="李桂兰",
        skills=["basic_care"],
        shift_start=time(0, 0),
        shift_end=time(23, 59, 59),
        transport="ebike",
        home_lat=CENTER[0],
        home_lon=CENTER[1],
    )
    with db.session() as session:
        session.add_all([near, far, carer])
        session.flush()
        session.add_all(
            [
                Device(id="btn-near", kind="panic_button", elder_id=near.id),
                Device(id="btn-far", kind="panic_button", elder_id=far.id),
            ]
        )
        session.flush()
        offline = _alert(near, "device_offline", NOV, "btn-near")
        press = _alert(far, "help_button", NOV + timedelta(days=3), None)
        session.add_all([offline, press])
        session.flush()
        session.add(
            Order(
                alert_id=press.id,
                caregiver_id=carer.id,
                state=OrderState.COMPLETED,
                offered_at=press.raised_at,
                expires_at=press.raised_at + timedelta(seconds=60),
                updated_at=press.raised_at,
                eta_s=900,
                distance_m=10_000,
            )
        )
        session.add_all(
            [
                _step(offline, "resolved", timedelta(days=1)),  # heard from again
                _step(
                    press, "accepted", timedelta(seconds=20), entity="order", caregiver_id=carer.id
                ),
                _step(press, "resolved", timedelta(hours=1)),
            ]
        )


async def test_answers_device_availability_and_the_circle(server: RunningServer) -> None:
    await asyncio.to_thread(seed_month, server.services.db)
    supervisor = await login(server.http, server.services.db, "supervisor")
    async with httpx.AsyncClient(
        base_url=server.http, headers=bearer(supervisor), timeout=60
    ) as http:
        east = await http.get(
            "/api/v1/reports/monthly", params={"month": "2026-11", "district": "东城区"}
        )
        west = await http.get(
            "/api/v1/reports/monthly", params={"month": "2026-11", "district": "西城区"}
        )
        charts = await http.get("/api/v1/reports/monthly/charts", params={"month": "2026-11"})
    assert east.status_code == 200, east.text
    k = east.json()["kpis"]
    # The press: a caregiver's accept within 20 s answers it, as on the board; the
    # outage alert was never answered.
    assert (k["alerts"], k["answered_within_60s"]) == (2, 0.5)
    # One device-day down of two devices over November's 30 days.
    assert k["device_availability"] == round(1 - 1 / 60, 4)
    # The caregiver's e-bike reaches the near elder within 15 minutes, not the far one.
    assert k["within_15_min"] == 0.5
    # The circle is as staffed now: not put on past months.
    assert [m["within_15_min"] for m in east.json()["trend"][:-1]] == [None] * 5
    assert east.json()["trend"][-2]["device_availability"] == 1.0  # October: no outage
    k = west.json()["kpis"]
    assert (k["alerts"], k["device_availability"], k["within_15_min"]) == (0, None, None)
    assert charts.status_code == 200, charts.text
    drawn = charts.json()["charts"]
    assert set(drawn) >= {"answered_within_60s", "device_availability", "alerts"}
    assert all(svg.lstrip().startswith("<?xml") and "<svg" in svg for svg in drawn.values())


def _pdf_text(pdf: bytes) -> str:
    done = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True, timeout=60
    )
    return done.stdout.decode()


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (scripts/test.sh)")
async def test_the_pdf_to_file(server: RunningServer) -> None:
    await asyncio.to_thread(seed_month, server.services.db)
    supervisor = await login(server.http, server.services.db, "supervisor")
    operator = await login(server.http, server.services.db, "operator", areas=("东城区",))
    url = "/api/v1/reports/monthly.pdf"
    async with httpx.AsyncClient(
        base_url=server.http, headers=bearer(supervisor), timeout=60
    ) as http:
        zh = await http.get(url, params={"month": "2026-11", "area": "东城区"})
        en = await http.get(url, params={"month": "2026-11", "lang": "en"})
        for bad in (
            {"month": "2026-13"},
            {"month": "2026-11", "area": "东城区/和平街道"},
            {"month": "2026-11", "lang": "fr"},
        ):
            refused = await http.get(url, params=bad)
            assert refused.status_code == 422, (bad, refused.text)
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(operator)) as http:
        assert (await http.get(url, params={"month": "2026-11"})).status_code == 403
    assert zh.status_code == 200, zh.text
    assert zh.headers["content-type"] == "application/pdf"
    assert "filename*=UTF-8''carebell-2026-11-" in zh.headers["content-disposition"]
    text = _pdf_text(zh.content)
    # The Chinese is text in the file (an embedded font), not boxes or images.
    for words in (
        "居家养老应急呼叫服务月报",
        "2026-11",
        "东城区",
        "60 秒内接听率",
        "50.0%",
        "设备在线率",
        "98.3%",
        "15 分钟服务圈覆盖率",
        "近六个月趋势",
    ):
        assert words in text, words
    text = _pdf_text(en.content)
    for words in ("Monthly report", "Whole city", "Answered within 60 s", "Device availability"):
        assert words in text, words
