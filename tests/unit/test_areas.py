"""The area tree's one rule: a scope sees what lies at or below it."""

from __future__ import annotations

import uuid

import pytest

from dispatch.domain.access import Principal, Role
from dispatch.domain.areas import (
    CITY_WIDE,
    NEAR_EDGE_DEG,
    AreaLevel,
    Extent,
    Place,
    covers,
    level_of,
    parent_of,
    parts_of,
)
from dispatch.domain.elders import mask_id_number

HOME = Place("东城区", "和平街道", "和平里社区")


def test_a_scope_covers_everything_below_it_and_nothing_beside_it() -> None:
    assert covers(CITY_WIDE, HOME)
    assert covers("东城区", HOME)
    assert covers("东城区/和平街道", HOME)
    assert covers("东城区/和平街道/和平里社区", HOME)
    assert not covers("东城区/和平街道/望湖社区", HOME)
    assert not covers("东城区/望湖街道", HOME)
    assert not covers("西城区", HOME)
    # A place known only to its district is not inside any of its streets.
    assert not covers("东城区/和平街道", Place("东城区"))


def test_a_place_is_covered_level_by_level_not_by_its_names_alone() -> None:
    # A street of the same name in another district is another street.
    assert not covers("东城区/和平街道", Place("西城区", "和平街道"))
    # Stored columns with a community but no street are known to the district only.
    assert Place.known("东城区", "", "和平里社区") == Place("东城区")
    assert not covers("东城区/和平街道", Place.known("东城区", "", "和平里社区"))


def test_keys_name_their_level_and_parent() -> None:
    assert level_of(CITY_WIDE) is AreaLevel.CITY
    assert level_of("东城区/和平街道") is AreaLevel.STREET
    assert parent_of("东城区/和平街道") == "东城区"
    assert parent_of("东城区") == CITY_WIDE
    assert parent_of(CITY_WIDE) is None
    for bad in ["", "a//b", "a/b/c/d", " a"]:
        with pytest.raises(ValueError, match="area key"):
            parts_of(bad)


def test_operators_see_places_under_their_areas_supervisors_everywhere() -> None:
    street = Principal("op", Role.OPERATOR, frozenset({"东城区/和平街道"}))
    assert street.may_see_place(HOME)
    assert not street.may_see_place(Place("东城区", "望湖街道"))
    # A street's operator sees nothing known only to its district (an alert of an
    # elder with no street), nor the district's other streets.
    assert not street.may_see_place(Place("东城区"))
    city = Principal("op2", Role.OPERATOR, frozenset({CITY_WIDE}))
    assert city.sees_every_area
    assert Principal("sup", Role.SUPERVISOR).may_see_place(HOME)
    caregiver = Principal("cg", Role.CAREGIVER, caregiver_id=uuid.uuid4())
    assert not caregiver.may_see_place(HOME)


def test_a_community_needs_its_street() -> None:
    with pytest.raises(ValueError, match="street"):
        Place("东城区", "", "和平里社区")


def test_id_numbers_are_masked_to_region_and_last_four() -> None:
    assert mask_id_number("330102194403150023") == "330102********0023"
    assert mask_id_number("") == ""
    assert mask_id_number("12345") == "*****"


def test_an_extent_holds_what_lies_in_it_or_near_its_edge() -> None:
    box = Extent(south=30.0, west=120.0, north=30.1, east=120.2)
    assert box.holds(30.05, 120.1)
    assert box.holds(30.1 + NEAR_EDGE_DEG / 2, 120.1)  # just over the edge
    assert not box.holds(30.1 + NEAR_EDGE_DEG * 2, 120.1)
    assert not box.holds(30.05, 119.9)
    with pytest.raises(ValueError, match="south-west"):
        Extent(south=30.1, west=120.0, north=30.0, east=120.2)
