"""A caregiver's own orders and shift switch."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from sqlmodel import col, select

from dispatch.api.deps import CaregiverDep, ServicesDep, SessionDep
from dispatch.domain.lifecycle import ACTIVE_ORDER_STATES
from dispatch.live.messages import alert_view, elder_view, order_view
from dispatch.store.tables import Alert, Caregiver, Elder, Order

router = APIRouter(prefix="/api/v1/me", tags=["caregiver"])


class Duty(BaseModel):
    model_config = ConfigDict(extra="forbid")
    on_duty: bool


@router.get("/orders")
def my_orders(session: SessionDep, principal: CaregiverDep) -> list[dict[str, Any]]:
    """My active orders, each with its alert and the elder's card."""
    orders = session.exec(
        select(Order)
        .where(
            Order.caregiver_id == principal.caregiver_id, col(Order.state).in_(ACTIVE_ORDER_STATES)
        )
        .order_by(col(Order.offered_at))
    ).all()
    out = []
    for order in orders:
        alert = session.get(Alert, order.alert_id)
        assert alert is not None
        elder = session.get(Elder, alert.elder_id) if alert.elder_id else None
        out.append(
            {"order": order_view(order), "alert": alert_view(alert), "elder": elder_view(elder)}
        )
    return out


@router.get("/shift")
def get_duty(session: SessionDep, principal: CaregiverDep) -> dict[str, bool]:
    """Whether I am on shift (offers come only then)."""
    caregiver = session.get(Caregiver, principal.caregiver_id)
    assert caregiver is not None
    return {"on_duty": caregiver.on_duty}


@router.post("/shift")
async def set_duty(services: ServicesDep, principal: CaregiverDep, body: Duty) -> dict[str, bool]:
    """Go on or off shift; off shift, no offer comes."""

    def update() -> None:
        with services.db.session() as session:
            caregiver = session.get(Caregiver, principal.caregiver_id)
            assert caregiver is not None
            caregiver.on_duty = body.on_duty
            session.add(caregiver)

    await services.db.run(update)
    return {"on_duty": body.on_duty}
