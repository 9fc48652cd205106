"""What the operators' board reads: alert cards, today's KPIs, caregivers live."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import col, select

from config.settings import Settings
from dispatch.api.deps import (
    BoardDep,
    BusDep,
    CatalogDep,
    DatabaseDep,
    SessionDep,
    SettingsDep,
    VoiceDep,
)
from dispatch.api.routes.alerts import visible_alert
from dispatch.api.routes.voice import call_view
from dispatch.api.schemas import AuditPublic
from dispatch.domain.access import Principal
from dispatch.domain.areas import CaregiverShare
from dispatch.domain.kpis import ANSWER_TARGET_S, AlertTimes, compute, counts_as_answer
from dispatch.domain.lifecycle import ACTIVE_ORDER_STATES, OPEN_ALERT_STATES, OrderState
from dispatch.domain.urgency import board_rules
from dispatch.registry.workforce import on_shift
from dispatch.store.db import Database
from dispatch.store.reads import ELDER_PLACE, caregiver_share, in_areas
from dispatch.store.tables import (
    Alert,
    AuditRecord,
    Caregiver,
    Device,
    Elder,
    Order,
    VoiceCall,
)
from dispatch.voice.phone import normalise_number
from dispatch.voice.service import VoiceService

router = APIRouter(prefix="/api/v1", tags=["board"])


@router.get("/alerts/{alert_id}/card")
def alert_card(
    session: SessionDep, voice: VoiceDep, principal: BoardDep, request: Request, alert_id: uuid.UUID
) -> dict[str, Any]:
    """Everything the alert detail shows: elder, device, orders and the timeline."""
    alert = visible_alert(session, request, principal, alert_id)
    elder = session.get(Elder, alert.elder_id) if alert.elder_id else None
    device = session.get(Device, alert.device_id) if alert.device_id else None
    orders = session.exec(
        select(Order).where(Order.alert_id == alert.id).order_by(col(Order.offered_at))
    ).all()
    timeline = session.exec(
        select(AuditRecord).where(AuditRecord.alert_id == alert.id).order_by(col(AuditRecord.id))
    ).all()
    calls = session.exec(
        select(VoiceCall).where(VoiceCall.alert_id == alert.id).order_by(col(VoiceCall.started_at))
    ).all()
    talks = voice is not None and device is not None and voice.voices.of(device.kind).talks
    return {
        "alert": alert.model_dump(mode="json"),
        # The ID number stays out of the card (docs/privacy.md): the full record has it.
        "elder": elder.model_dump(mode="json", exclude={"id_number"}) if elder else None,
        "device": device.model_dump(mode="json") if device else None,
        # The elder's number as the phone system dials it (digits, no country code).
        "voice": {"talks": talks, "dial": normalise_number(elder.phone) if elder else None},
        "calls": [call_view(c, principal) for c in calls],
        "orders": [o.model_dump(mode="json") for o in orders],
        "timeline": [
            AuditPublic.model_validate(r, from_attributes=True).model_dump(mode="json")
            for r in timeline
        ],
    }


def _today_start(settings: Settings) -> datetime:
    local = datetime.now(ZoneInfo(settings.timezone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


def _kpi_rows(
    db: Database, voice: VoiceService | None, principal: Principal, since: datetime
) -> tuple[list[AlertTimes], int, int]:
    with db.session() as session:
        alerts = session.exec(in_areas(select(Alert), principal).where(Alert.raised_at >= since))
        alerts = list(alerts.all())
        ids = [a.id for a in alerts]
        records = (
            session.exec(select(AuditRecord).where(col(AuditRecord.alert_id).in_(ids))).all()
            if ids
            else []
        )
        open_count = session.exec(
            in_areas(select(func.count()).select_from(Alert), principal).where(
                col(Alert.state).in_(OPEN_ALERT_STATES)
            )
        ).one()
        offline = session.exec(
            in_areas(
                select(func.count())
                .select_from(Device)
                .join(Elder, col(Elder.id) == col(Device.elder_id), isouter=True)
                .where(col(Device.online).is_(False), col(Device.active).is_(True)),
                principal,
                ELDER_PLACE,
            )
        ).one()
    arrived: dict[uuid.UUID, datetime] = {}
    talking = _alerts_from_talking_devices(voice, db, session_alerts=alerts)
    answered = _answered_at(records, talking)
    for r in sorted(records, key=lambda r: r.at):
        if r.entity == "order" and r.to_state == "on_scene":
            arrived.setdefault(r.alert_id, r.at)
    times = [
        AlertTimes(
            a.id,
            a.raised_at,
            a.deadline_at,
            answered.get(a.id),
            arrived.get(a.id),
            closure_code=a.closure_code,
        )
        for a in alerts
    ]
    return times, int(open_count), int(offline)


def _answered_at(
    records: Iterable[AuditRecord], talking: set[uuid.UUID]
) -> dict[uuid.UUID, datetime]:
    """When each alert was answered, as the KPIs count it (``counts_as_answer``)."""
    answered: dict[uuid.UUID, datetime] = {}
    for r in sorted(records, key=lambda r: r.at):
        talks = r.alert_id in talking
        if counts_as_answer(
            action=r.action, entity=r.entity, to_state=r.to_state, device_talks=talks
        ):
            answered.setdefault(r.alert_id, r.at)
    return answered


def _open_answered(
    db: Database, voice: VoiceService | None, principal: Principal
) -> list[dict[str, Any]]:
    with db.session() as session:
        query = in_areas(select(Alert), principal).where(col(Alert.state).in_(OPEN_ALERT_STATES))
        alerts = list(session.exec(query).all())
        ids = [a.id for a in alerts]
        records = (
            session.exec(select(AuditRecord).where(col(AuditRecord.alert_id).in_(ids))).all()
            if ids
            else []
        )
    talking = _alerts_from_talking_devices(voice, db, session_alerts=alerts)
    answered = _answered_at(records, talking)
    return [
        {
            "alert_id": str(a.id),
            "talks": a.id in talking,
            "answered_at": answered[a.id].isoformat() if a.id in answered else None,
        }
        for a in alerts
    ]


@router.get("/board/answered")
async def board_answered(
    db: DatabaseDep, voice: VoiceDep, principal: BoardDep
) -> list[dict[str, Any]]:
    """Each open alert's "answered" as the KPIs count it, for the queue's countdown:
    an alert from a device that talks is answered when a voice call with it
    connected; any other when an operator acknowledged it or a caregiver accepted."""
    return await db.run(_open_answered, db, voice, principal)


def _alerts_from_talking_devices(
    voice: VoiceService | None, db: Database, session_alerts: list[Alert]
) -> set[uuid.UUID]:
    """Alerts whose device talks: their KPI "answered" is a connected voice call."""
    ids = {a.device_id for a in session_alerts if a.device_id}
    if voice is None or not ids:
        return set()
    with db.session() as session:
        kinds = dict(
            session.exec(select(Device.id, Device.kind).where(col(Device.id).in_(ids))).all()
        )
    return {a.id for a in session_alerts if voice.voices.of(kinds.get(a.device_id or "")).talks}


@router.get("/kpis/today")
async def kpis_today(
    db: DatabaseDep, bus: BusDep, settings: SettingsDep, voice: VoiceDep, principal: BoardDep
) -> dict[str, Any]:
    """Open alerts, time to answer (p50, p97.5), share reached by the deadline,
    caregivers available now and devices offline, for the principal's areas."""
    times, open_count, offline = await db.run(
        _kpi_rows, db, voice, principal, _today_start(settings)
    )
    live = await caregivers_live(db, bus, settings, principal)
    kpis = compute(
        times,
        now=datetime.now(UTC),
        open_alerts=open_count,
        caregivers_available=sum(c["state"] == "free" for c in live),
        devices_offline=offline,
    )
    return asdict(kpis)


@dataclass(frozen=True, slots=True)
class _CaregiverRows:
    caregivers: list[Caregiver]
    orders: dict[uuid.UUID, OrderState]
    share: CaregiverShare | None  # an operator's share; None: every caregiver


def _caregiver_rows(db: Database, principal: Principal) -> _CaregiverRows:
    with db.session() as session:
        caregivers = list(session.exec(select(Caregiver).where(col(Caregiver.active).is_(True))))
        active = session.exec(
            select(Order.caregiver_id, Order.state).where(col(Order.state).in_(ACTIVE_ORDER_STATES))
        ).all()
        share = caregiver_share(session, principal)
    return _CaregiverRows(caregivers, {cid: OrderState(s) for cid, s in active}, share)


_ORDER_TO_LIVE = {
    OrderState.OFFERED: "offered",
    OrderState.ACCEPTED: "en_route",
    OrderState.EN_ROUTE: "en_route",
    OrderState.ON_SCENE: "on_scene",
}


@router.get("/caregivers/live")
async def caregivers_live(
    db: DatabaseDep, bus: BusDep, settings: SettingsDep, principal: BoardDep
) -> list[dict[str, Any]]:
    """Every caregiver with a live position and what they are doing (an operator:
    those on the alerts of their areas, and those in or near their districts)."""
    rows = await db.run(_caregiver_rows, db, principal)
    caregivers, orders = rows.caregivers, rows.orders
    positions = await bus.positions([str(c.id) for c in caregivers])
    now_local = datetime.now(ZoneInfo(settings.timezone))
    fresh_after = time.time() - timedelta(minutes=5).total_seconds()
    out = []
    for c in caregivers:
        pos = positions.get(str(c.id))
        if pos is None:
            continue
        if rows.share is not None and not rows.share.sees(str(c.id), pos.lat, pos.lon):
            continue
        if c.id in orders:
            state = _ORDER_TO_LIVE[orders[c.id]]
        elif not c.on_duty or pos.seen_at < fresh_after or not on_shift(c, now_local):
            state = "off_shift"
        else:
            state = "free"
        out.append(
            {
                "id": str(c.id),
                "name": c.name,
                "lat": pos.lat,
                "lon": pos.lon,
                "state": state,
                "seen_at": datetime.fromtimestamp(pos.seen_at, UTC).isoformat(),
            }
        )
    return out


@router.get("/board/closure-codes")
async def closure_codes(catalog: CatalogDep, principal: BoardDep) -> list[dict[str, str]]:
    """The codes an operator closes an alert with, in the configured order."""
    return [asdict(code) for code in catalog.closure_codes.values()]


@router.get("/board/settings")
async def board_settings(settings: SettingsDep, principal: BoardDep) -> dict[str, Any]:
    """What the board page needs to behave: alarm timings, the answer target, the
    clock, and the queue's rules (open states, what counts as answered, urgency)."""
    return {
        **board_rules(),
        "realert_s": settings.board_realert_s,
        "escalate_after_s": settings.board_escalate_after_s,
        "answer_target_s": ANSWER_TARGET_S,
        "timezone": settings.timezone,
        "offer_timeout_s": settings.offer_timeout_s,
    }


@router.get("/map/areas")
def map_areas(session: SessionDep, principal: BoardDep) -> list[dict[str, Any]]:
    """Each district's extent from where its elders live: the map's offline base layer."""
    extent = (
        sa_select(
            col(Elder.district),
            func.min(Elder.lat),
            func.min(Elder.lon),
            func.max(Elder.lat),
            func.max(Elder.lon),
            func.count(),
        )
        .where(col(Elder.district) != "")
        .group_by(col(Elder.district))
        .order_by(col(Elder.district))
    )
    # The extent of the elders the caller may see: a street's operator sees their street's.
    rows = session.execute(in_areas(extent, principal, ELDER_PLACE)).all()
    return [
        {"district": d, "south": s, "west": w, "north": n, "east": e, "elders": count}
        for d, s, w, n, e, count in rows
    ]


@router.get("/map/devices-offline")
def map_devices_offline(session: SessionDep, principal: BoardDep) -> list[dict[str, Any]]:
    """Active devices offline now, at their elder's home (or where a wearable last was)."""
    query = (
        select(Device, Elder)
        .join(Elder, col(Elder.id) == col(Device.elder_id))
        .where(col(Device.active).is_(True), col(Device.online).is_(False))
    )
    # Scoped before the limit: in a big city the first 2,000 may all lie elsewhere.
    rows = session.exec(in_areas(query, principal, ELDER_PLACE).limit(2000)).all()
    return [
        {
            "device_id": d.id,
            "kind": d.kind,
            "lat": d.lat if d.lat is not None else e.lat,
            "lon": d.lon if d.lon is not None else e.lon,
            "elder": e.name,
            "district": e.district,
            "last_seen_at": d.last_seen_at.isoformat() if d.last_seen_at else None,
        }
        for d, e in rows
    ]
