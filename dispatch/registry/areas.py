"""The bureau's area tree: city, districts, streets, communities (rules in
dispatch/domain/areas.py)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlmodel import Session, col, select

from dispatch.domain.areas import CITY_WIDE, SEPARATOR, Place, level_of, parts_of
from dispatch.errors import Conflict, InvalidInput, NotFound
from dispatch.registry.changes import record_change
from dispatch.store.db import Database
from dispatch.store.tables import Area


def list_areas(db: Database) -> list[Area]:
    with db.read() as session:
        return list(session.exec(select(Area).order_by(col(Area.key))).all())


def add_area(
    db: Database,
    name: str,
    parent: str | None,
    *,
    actor: str,
    now: datetime,
    lat: float | None = None,
    lon: float | None = None,
) -> Area:
    """Add a node under ``parent`` (an area key; None for the city itself)."""
    if SEPARATOR in name or name != name.strip() or not name or name == CITY_WIDE:
        raise InvalidInput([f"an area's name may not be empty or hold {SEPARATOR!r}: {name!r}"])
    if parent is None:
        key = CITY_WIDE
    else:
        try:
            above = parts_of(parent)
        except ValueError as exc:
            raise InvalidInput([str(exc)]) from exc
        if len(above) >= 3:
            raise InvalidInput(["a community is the smallest area: nothing goes below it"])
        key = SEPARATOR.join((*above, name))
    with db.session() as session:
        if parent is not None and session.get(Area, parent) is None:
            raise NotFound("area", parent)
        if session.get(Area, key) is not None:
            raise Conflict(f"area {key!r} already exists")
        area = Area(
            key=key, name=name, level=level_of(key).value, parent_key=parent, lat=lat, lon=lon
        )
        session.add(area)
        record_change(session, "area", key, "created", actor, {}, area.model_dump(), now)
        return area


def check_known(session: Session, keys: Iterable[str]) -> None:
    """Refuse area keys that are malformed, or unknown once the bureau has a tree.

    An install with no areas entered yet (the demo, an upgrade) takes district
    names as they are, as it always did.
    """
    problems: list[str] = []
    wanted = list(keys)
    for key in wanted:
        try:
            parts_of(key)
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise InvalidInput(problems)
    if session.exec(select(Area.key).limit(1)).first() is None:
        return
    known = set(session.exec(select(Area.key).where(col(Area.key).in_(wanted))).all())
    unknown = [k for k in wanted if k not in known and k != CITY_WIDE]
    if unknown:
        raise InvalidInput([f"unknown area {k!r}" for k in unknown])


def check_place(session: Session, place: Place) -> None:
    """Refuse an address whose district, street or community is not in the tree."""
    if place.district:
        check_known(session, [place.key])
