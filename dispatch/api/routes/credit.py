"""Credit scores of caregivers and providers for a month (docs/reports.md), applied
to dispatch by a supervisor (bonus and hold), and holds cleared."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from config.settings import Settings
from dispatch.api.deps import MenuDep, SessionDep, SettingsDep, SupervisorDep
from dispatch.domain.credit import CreditFacts, CreditPolicy, CreditScore, pooled, score
from dispatch.domain.operator_work import month_bounds
from dispatch.homecare.coverage import month_of
from dispatch.homecare.menu import ServiceMenu
from dispatch.store.credit_facts import credit_facts, load_credit_policy
from dispatch.store.credit_standing import apply_month, clear_hold, standings
from dispatch.store.tables import Caregiver, Provider

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

MonthQuery = Query(..., max_length=7, description="YYYY-MM, in the centre's time zone")


@dataclass(frozen=True)
class _Scored:
    caregiver_id: uuid.UUID
    name: str
    provider_id: uuid.UUID | None
    facts: CreditFacts
    score: CreditScore


def _month_scores(
    session: Session, settings: Settings, menu: ServiceMenu, month: str
) -> tuple[CreditPolicy, list[_Scored], dict[uuid.UUID, str]]:
    try:
        year, number = month_bounds(month)
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
    policy = load_credit_policy(settings.credit_file)
    zone = ZoneInfo(settings.timezone)
    start = datetime(year, number, 1, tzinfo=zone)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=zone)
    first, last = month_of(start.date())
    facts = credit_facts(session, start, end, first, last, away_radius_m=menu.start_radius_m)
    people = session.execute(
        sa_select(col(Caregiver.id), col(Caregiver.name), col(Caregiver.provider_id))
    ).all()
    providers = dict(session.execute(sa_select(col(Provider.id), col(Provider.name))).all())
    scored = []
    for cid, name, provider_id in people:
        mine = facts.get(cid, CreditFacts())
        scored.append(_Scored(cid, name, provider_id, mine, score(mine, policy)))
    return policy, scored, providers


def _provider_scores(
    policy: CreditPolicy, scored: list[_Scored], providers: dict[uuid.UUID, str]
) -> list[tuple[uuid.UUID, str, CreditScore]]:
    """Each provider's score: its caregivers' facts pooled."""
    by_provider: dict[uuid.UUID, list[CreditFacts]] = {}
    for s in scored:
        if s.provider_id is not None:
            by_provider.setdefault(s.provider_id, []).append(s.facts)
    return [
        (pid, name, score(pooled(by_provider.get(pid, [])), policy))
        for pid, name in providers.items()
    ]


def providers_to_review(
    session: Session, settings: Settings, menu: ServiceMenu, month: str
) -> set[str]:
    """The providers (by name, as on the statement) whose score for ``month`` is low:
    their statement is flagged for review."""
    policy, scored, providers = _month_scores(session, settings, menu, month)
    return {
        name for _, name, p in _provider_scores(policy, scored, providers) if p.standing == "low"
    }


_ORDER = {"low": 0, "fair": 1, "good": 2, "unscored": 3}


def _worst_first(row: dict[str, Any]) -> tuple[int, float, str]:
    return _ORDER[row["standing"]], row["score"] or 0.0, row["name"]


@router.get("/credit")
def credit_report(
    session: SessionDep,
    settings: SettingsDep,
    menu: MenuDep,
    principal: SupervisorDep,
    month: str = MonthQuery,
) -> dict[str, Any]:
    """Each caregiver's and provider's score for the month, explained part by part
    (config/credit.yaml's weights); a low provider is flagged for review, a low
    caregiver is to be held back from automatic dispatch (``POST .../apply``)."""
    policy, scored, providers = _month_scores(session, settings, menu, month)
    now_standing = standings(session, [s.caregiver_id for s in scored])
    caregivers = []
    for s in scored:
        standing = now_standing.get(s.caregiver_id)
        caregivers.append(
            {
                "caregiver_id": str(s.caregiver_id),
                "name": s.name,
                "provider_id": str(s.provider_id) if s.provider_id else None,
                "provider": providers.get(s.provider_id) if s.provider_id else None,
                **s.score.as_dict(),
                "hold_from_dispatch": s.score.standing == "low",
                # Held now (by the latest month applied, not cleared).
                "held": bool(standing and standing.held and standing.cleared_at is None),
            }
        )
    provider_rows = [
        {
            "provider_id": str(pid),
            "name": pname,
            **p.as_dict(),
            "statement_review": p.standing == "low",
        }
        for pid, pname, p in _provider_scores(policy, scored, providers)
    ]
    return {
        "month": month,
        "timezone": settings.timezone,
        "policy": {
            "weights": dict(policy.weights),
            "complaint_points": policy.complaint_points,
            "min_facts": policy.min_facts,
            "good_from": policy.good_from,
            "low_below": policy.low_below,
            "bonus_max_s": policy.bonus_max_s,
        },
        "caregivers": sorted(caregivers, key=_worst_first),
        "providers": sorted(provider_rows, key=_worst_first),
    }


@router.post("/credit/apply")
def apply_credit(
    session: SessionDep,
    settings: SettingsDep,
    menu: MenuDep,
    principal: SupervisorDep,
    month: str = MonthQuery,
) -> dict[str, Any]:
    """Put the month's scores to work: the dispatcher gives each caregiver the bonus
    of their latest applied month, and holds back those it scored low until a
    supervisor clears them (each hold audited)."""
    _, scored, _ = _month_scores(session, settings, menu, month)
    rows = apply_month(
        session,
        month,
        [(s.caregiver_id, s.score) for s in scored],
        principal.username,
        datetime.now(UTC),
    )
    return {
        "month": month,
        "held": [str(r.caregiver_id) for r in rows if r.held and r.cleared_at is None],
        "bonus_s": {str(r.caregiver_id): r.bonus_s for r in rows if r.bonus_s},
    }


class HoldClear(BaseModel):
    note: str = Field(min_length=1, max_length=1000)  # why: what the supervisor checked


@router.post("/credit/holds/{caregiver_id}/clear")
def clear_credit_hold(
    caregiver_id: uuid.UUID, body: HoldClear, session: SessionDep, principal: SupervisorDep
) -> dict[str, Any]:
    """A supervisor lets a held caregiver back into automatic dispatch (audited)."""
    row = clear_hold(session, caregiver_id, principal.username, body.note, datetime.now(UTC))
    return {
        "caregiver_id": str(row.caregiver_id),
        "month": row.month,
        "score": row.score,
        "applied_by": row.applied_by,
        "cleared_by": row.cleared_by,
        "cleared_at": row.cleared_at.isoformat() if row.cleared_at else None,
        "note": row.clear_note,
    }
