"""Credit in dispatch, with the real dispatcher, database and Redis: a held caregiver
is not offered anything until a supervisor clears the hold; a bonus breaks a near-tie."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from dispatch.emergency.orders import CaregiverAction
from dispatch.store.credit_standing import clear_hold
from dispatch.store.tables import CreditStanding
from tests.integration.test_dispatch import City, city  # noqa: F401 (fixture)

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _stand(town: City, who: uuid.UUID, *, held: bool = False, bonus_s: float = 0.0) -> None:
    with town.db.session() as session:
        session.add(
            CreditStanding(
                caregiver_id=who, month="2026-11", score=40.0 if held else 98.0,
                standing="low" if held else "good", bonus_s=bonus_s, held=held,
                applied_by="supervisor-1", applied_at=NOW,
            )
        )  # fmt: skip


async def test_a_held_caregiver_is_not_offered_until_the_hold_is_cleared(
    city: City,  # noqa: F811
) -> None:
    held = await city.caregiver(100)
    other = await city.caregiver(2000)
    _stand(city, held, held=True)
    first = city.raise_alert("help_button")
    await city.dispatcher.run_round()
    [order] = city.orders(first)
    assert order.caregiver_id == other
    # Taken: the next round cannot hand the first alert back to the nearer one.
    city.act(order, CaregiverAction.ACCEPT)

    with city.db.session() as session:
        clear_hold(session, held, "supervisor-1", "spoke with her; the phone was broken", NOW)
    second = city.raise_alert("door_bell")
    await city.dispatcher.run_round()
    assert [o.caregiver_id for o in city.orders(second)] == [held]


async def test_a_good_standing_wins_a_near_tie_in_a_real_round(
    city: City,  # noqa: F811
) -> None:
    await city.caregiver(300)
    trusted = await city.caregiver(400)  # 100 m further: about 25 s later by e-bike
    _stand(city, trusted, bonus_s=60.0)
    alert = city.raise_alert("help_button")
    await city.dispatcher.run_round()
    assert [o.caregiver_id for o in city.orders(alert)] == [trusted]
