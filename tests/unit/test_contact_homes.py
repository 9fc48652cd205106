"""Where an elder's contacts live, as an import row and the API's validation read it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dispatch.registry.elder_fields import Contact
from dispatch.registry.imports import _elder_body


def test_an_import_row_carries_a_contact_s_home_and_role() -> None:
    body = _elder_body(
        {
            "name": "陈淑珍",
            "contact1_name": "赵阿姨",
            "contact1_phones": "13800138002",
            "contact1_role": "neighbour",
            "contact1_lat": "39.9170",
            "contact1_lon": "116.4110",
            "contact2_name": "王丽",
        }
    )
    first, second = (Contact.model_validate(c) for c in body["contacts"])
    assert (first.role, first.lat, first.lon) == ("neighbour", 39.917, 116.411)
    assert (second.role, second.lat, second.lon) == ("family", None, None)


@pytest.mark.parametrize(
    "where", [{"lat": 39.9}, {"lon": 116.4}, {"lat": 91, "lon": 116.4}, {"lat": 39.9, "lon": 181}]
)
def test_a_contact_s_home_is_both_coordinates_in_range_or_none(where: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        Contact.model_validate({"name": "赵阿姨", **where})
