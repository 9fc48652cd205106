"""Area scoping in SQL (dispatch/store/reads.in_areas) is the domain's rule
(dispatch/domain/areas.covers): every place of a small tree against every scope,
on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools

from sqlmodel import col, select

from dispatch.domain.access import Principal, Role
from dispatch.domain.areas import Place, covers
from dispatch.store.db import Database
from dispatch.store.reads import ELDER_PLACE, in_areas
from dispatch.store.tables import Elder
from tests.helpers import CENTER

# Every place of a small tree (two districts; two streets each, one of the same name;
# two communities each) and every scope over it, the domain's rule against the SQL.
_NAMES = {"district": ["东城区", "西城区"], "street": ["和平街道", "望湖街道"]}
_COMMUNITIES = ["和平里社区", "望湖社区"]


def _every_place() -> list[Place]:
    places = [Place(d) for d in _NAMES["district"]]
    for d, s in itertools.product(_NAMES["district"], _NAMES["street"]):
        places.append(Place(d, s))
        places.extend(Place(d, s, c) for c in _COMMUNITIES)
    return places


def test_the_sql_filter_is_the_domains_rule_on_every_place(db: Database) -> None:
    places = _every_place()
    with db.session() as session:
        for i, p in enumerate(places):
            row = Elder(name=p.key, address=str(i), lat=CENTER[0], lon=CENTER[1])
            row.district, row.street, row.community = p.levels
            session.add(row)
    scopes = [p.key for p in places]
    cases = [(s,) for s in scopes] + list(itertools.combinations(scopes[:6], 2)) + [()]
    with db.read() as session:
        for areas in cases:
            operator = Principal("op", Role.OPERATOR, frozenset(areas))
            query = in_areas(select(Elder.name), operator, ELDER_PLACE).order_by(col(Elder.name))
            found = set(session.exec(query).all())
            expected = {p.key for p in places if any(covers(a, p) for a in areas)}
            assert found == expected, areas
            assert expected == {p.key for p in places if operator.may_see_place(p)}
