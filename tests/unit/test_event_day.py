"""The day a device event is kept under (dispatch/store/partitions.py): the same
for every delivery of one event, and always near its receipt."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from dispatch.store.partitions import WINDOW_DAYS, event_day

RECEIVED = datetime(2026, 12, 2, 23, 59, 59, tzinfo=UTC)


def test_an_honest_clock_gives_its_own_day_on_every_delivery() -> None:
    stamped = datetime(2026, 12, 2, 23, 59, 58, tzinfo=UTC)
    first = event_day(stamped, RECEIVED)
    # Delivered again after midnight and again a week later: the same day.
    assert first == date(2026, 12, 2)
    assert event_day(stamped, RECEIVED + timedelta(seconds=2)) == first
    assert event_day(stamped, RECEIVED + timedelta(days=7)) == first


def test_days_are_utc_days() -> None:
    beijing = timezone(timedelta(hours=8))
    assert event_day(datetime(2026, 12, 3, 7, 0, tzinfo=beijing), RECEIVED) == date(2026, 12, 2)


def test_a_wild_clock_is_clamped_to_near_its_receipt() -> None:
    assert event_day(datetime(9999, 12, 31, tzinfo=UTC), RECEIVED) == date(2026, 12, 3)
    last = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(-timedelta(hours=23, minutes=59)))
    assert event_day(last, RECEIVED) == date(2026, 12, 3)  # beyond UTC's last day
    earliest = (RECEIVED - timedelta(days=WINDOW_DAYS)).date()
    assert event_day(datetime(1970, 1, 1, tzinfo=UTC), RECEIVED) == earliest
