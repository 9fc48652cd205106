"""A flooding device's messages wait behind the others' and none is lost."""

from __future__ import annotations

import collections

import pytest

from devices.fair_share import FairShare

Item = tuple[str, int]  # (device, its message number)


def _fair(burst: int = 3, rate_per_s: float = 1.0) -> FairShare[Item]:
    return FairShare(lambda item: item[0], burst=burst, rate_per_s=rate_per_s)


def _queue(*items: Item) -> collections.deque[Item]:
    return collections.deque(items)


def test_a_flood_waits_behind_another_devices_message() -> None:
    fair = _fair(burst=3)
    queue = _queue(*(("flood", n) for n in range(100)), ("quiet", 0))
    batch = fair.take(queue, 10, now_s=0.0)
    assert batch[:4] == [("flood", 0), ("flood", 1), ("flood", 2), ("quiet", 0)]
    # The room left goes to the flood, in its own order: the batch is full.
    assert batch[4:] == [("flood", n) for n in range(3, 9)]
    assert list(queue) == [("flood", n) for n in range(9, 100)]


def test_every_message_is_taken_once_and_each_devices_order_kept() -> None:
    fair = _fair(burst=2)
    arrived = [(device, n) for n in range(50) for device in ("a", "b", "a", "c")]
    queue = collections.deque(arrived)
    taken: list[Item] = []
    now = 0.0
    while queue:
        taken += fair.take(queue, 7, now_s=now)
        now += 0.5
    assert sorted(taken) == sorted(arrived)
    for device in "abc":
        assert [i for i in taken if i[0] == device] == [i for i in arrived if i[0] == device]


def test_devices_over_budget_share_the_room_left_in_turn() -> None:
    fair = _fair(burst=1)
    queue = _queue(*(("a", n) for n in range(5)), *(("b", n) for n in range(5)))
    batch = fair.take(queue, 6, now_s=0.0)
    assert batch == [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2)]


def test_the_budget_comes_back_at_the_rate() -> None:
    fair = _fair(burst=2, rate_per_s=1.0)
    queue = _queue(("a", 0), ("a", 1), ("a", 2), ("b", 0))
    assert fair.take(queue, 3, now_s=0.0) == [("a", 0), ("a", 1), ("b", 0)]
    assert list(queue) == [("a", 2)]
    queue.extend([("b", 1), ("a", 3)])
    # A second later "a" has one message of budget again: its next goes in order.
    assert fair.take(queue, 1, now_s=1.0) == [("a", 2)]
    assert fair.take(queue, 1, now_s=1.0) == [("b", 1)]


def test_messages_of_no_device_are_never_held_back() -> None:
    fair = _fair(burst=1)
    queue = _queue(("", 0), ("", 1), ("", 2))
    assert fair.take(queue, 3, now_s=0.0) == [("", 0), ("", 1), ("", 2)]


def test_a_budget_that_lets_nothing_through_is_refused() -> None:
    with pytest.raises(ValueError, match="burst"):
        _fair(burst=0)
    with pytest.raises(ValueError, match="rate"):
        _fair(rate_per_s=0)
