"""Read models' shared pieces for the routers: queries a principal may run.

Area scoping is written here once: an operator sees the alerts (and devices) of
their areas, a supervisor or administrator every area (dispatch/domain/access.py).
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col

from dispatch.domain.access import Principal
from dispatch.store.tables import Alert


def in_areas(query: Any, principal: Principal, district: Any = None) -> Any:
    """``query`` (a select of any shape) narrowed to the principal's areas by
    ``district`` (a column; the alert's district unless given), unchanged for
    those who see every area."""
    if principal.sees_every_area:
        return query
    column = col(Alert.district) if district is None else district
    return query.where(column.in_(sorted(principal.areas)))
