"""Read models' shared pieces for the routers: queries a principal may run.

Area scoping is written here once: an operator sees what lies under their areas
(alerts, elders, devices), a supervisor or administrator every area
(dispatch/domain/access.py). It is the domain's rule (dispatch/domain/areas.covers)
asked in SQL, so a page of results is a page of what the caller may see.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import and_, false, func, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from dispatch.domain.access import Principal, Role
from dispatch.domain.areas import CaregiverShare, Extent, scope_levels
from dispatch.domain.lifecycle import ACTIVE_ORDER_STATES
from dispatch.store.tables import Alert, Caregiver, Elder, ElderContact, Order

# The (district, street, community) columns of what lies somewhere.
ALERT_PLACE: tuple[Any, Any, Any] = (col(Alert.district), col(Alert.street), col(Alert.community))
ELDER_PLACE: tuple[Any, Any, Any] = (col(Elder.district), col(Elder.street), col(Elder.community))


def under_areas(areas: Iterable[str], place: Sequence[Any]) -> Any:
    """A condition true where ``place`` (its three level columns) lies under any of
    ``areas``: each scope's levels equal, one by one (areas.covers)."""
    terms = [
        and_(*(column == level for column, level in zip(place, scope_levels(scope), strict=False)))
        for scope in sorted(areas)
    ]
    return or_(*terms) if terms else false()


def in_areas(query: Any, principal: Principal, place: Sequence[Any] = ALERT_PLACE) -> Any:
    """``query`` (a select of any shape) narrowed to the principal's areas by
    ``place`` (the alert's columns unless given; ELDER_PLACE for elders and their
    devices), unchanged for those who see every area."""
    if principal.sees_every_area:
        return query
    if principal.role is not Role.OPERATOR:
        return query.where(false())  # as may_see_place: only operators have areas
    return query.where(under_areas(principal.areas, place))


def orders_in_scope(query: Any, principal: Principal) -> Any:
    """``query`` (a select joining Order and Alert) narrowed to the orders the
    principal may see: a provider's staff their own caregivers', others by area."""
    if principal.role is Role.PROVIDER_STAFF:
        return query.join(Caregiver, col(Caregiver.id) == col(Order.caregiver_id)).where(
            col(Caregiver.provider_id) == principal.provider_id
        )
    return in_areas(query, principal)


def caregiver_share(session: Session, principal: Principal) -> CaregiverShare | None:
    """The caregivers ``principal`` sees (areas.CaregiverShare); None: every one."""
    if principal.sees_every_area:
        return None
    ours = session.execute(
        in_areas(
            sa_select(col(Order.caregiver_id))
            .join(Alert, col(Alert.id) == col(Order.alert_id))
            .where(col(Order.state).in_(ACTIVE_ORDER_STATES)),
            principal,
        )
    ).scalars()
    boxes = session.execute(
        in_areas(
            sa_select(
                func.min(Elder.lat), func.min(Elder.lon), func.max(Elder.lat), func.max(Elder.lon)
            ).group_by(col(Elder.district)),
            principal,
            ELDER_PLACE,
        )
    ).all()
    return CaregiverShare([Extent(s, w, n, e) for s, w, n, e in boxes], {str(c) for c in ours})


def contacts_of(elder_id: uuid.UUID) -> SelectOfScalar[ElderContact]:
    """The elder's contacts now, in the order to call them."""
    return (
        select(ElderContact)
        .where(ElderContact.elder_id == elder_id, col(ElderContact.removed_at).is_(None))
        .order_by(col(ElderContact.position))
    )
