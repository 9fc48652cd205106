"""Credit scores of caregivers and providers for a month (docs/reports.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlalchemy import select as sa_select
from sqlmodel import col

from dispatch.api.deps import MenuDep, SessionDep, SettingsDep, allow
from dispatch.domain.access import Principal, Role
from dispatch.domain.credit import CreditFacts, pooled, score
from dispatch.domain.operator_work import month_bounds
from dispatch.homecare.coverage import month_of
from dispatch.store.credit_facts import credit_facts, load_credit_policy
from dispatch.store.tables import Caregiver, Provider

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

SupervisorDep = Annotated[Principal, Depends(allow(Role.SUPERVISOR, Role.ADMIN))]


@router.get("/credit")
def credit_report(
    session: SessionDep,
    settings: SettingsDep,
    menu: MenuDep,
    principal: SupervisorDep,
    month: str = Query(..., max_length=7, description="YYYY-MM, in the centre's time zone"),
) -> dict[str, Any]:
    """Each caregiver's and provider's score for the month, explained part by part
    (config/credit.yaml's weights); a low provider is flagged for review, a low
    caregiver is to be held back from automatic dispatch."""
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
    caregivers = []
    by_provider: dict[Any, list[CreditFacts]] = {}
    for cid, name, provider_id in people:
        mine = facts.get(cid, CreditFacts())
        if provider_id is not None:
            by_provider.setdefault(provider_id, []).append(mine)
        s = score(mine, policy)
        caregivers.append(
            {
                "caregiver_id": str(cid),
                "name": name,
                "provider_id": str(provider_id) if provider_id else None,
                "provider": providers.get(provider_id),
                **s.as_dict(),
                "hold_from_dispatch": s.standing == "low",
            }
        )
    provider_rows = []
    for pid, pname in providers.items():
        s = score(pooled(by_provider.get(pid, [])), policy)
        provider_rows.append(
            {
                "provider_id": str(pid),
                "name": pname,
                **s.as_dict(),
                "statement_review": s.standing == "low",
            }
        )
    order = {"low": 0, "fair": 1, "good": 2, "unscored": 3}

    def worst_first(row: dict[str, Any]) -> tuple[int, float, str]:
        return order[row["standing"]], row["score"] or 0.0, row["name"]

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
        "caregivers": sorted(caregivers, key=worst_first),
        "providers": sorted(provider_rows, key=worst_first),
    }
