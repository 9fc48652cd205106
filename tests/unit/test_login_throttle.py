"""Wrong passwords: a window per user name and per address, and the lock."""

from __future__ import annotations

import pytest

from dispatch.domain.login_throttle import LoginLimits, LoginThrottle

LIMITS = LoginLimits(per_user=3, per_address=5, window_s=60, lock_after=4, lock_s=600)


def test_a_name_waits_once_its_window_is_full_and_until_the_oldest_failure_leaves() -> None:
    throttle = LoginThrottle(LIMITS)
    for t in (0.0, 10.0, 20.0):
        assert throttle.retry_after("op1", "10.0.0.1", t) == 0
        throttle.failed("op1", "10.0.0.1", t)
    assert throttle.retry_after("op1", "10.0.0.9", 30.0) == pytest.approx(30.0)
    assert throttle.retry_after("op1", "10.0.0.9", 60.5) == 0  # the first has left
    assert throttle.retry_after("op2", "10.0.0.1", 30.0) == 0  # another name goes on


def test_one_address_trying_many_names_is_held_back() -> None:
    throttle = LoginThrottle(LIMITS)
    for i in range(5):
        throttle.failed(f"name{i}", "10.0.0.1", float(i))
    assert throttle.retry_after("fresh", "10.0.0.1", 5.0) == pytest.approx(55.0)
    assert throttle.retry_after("fresh", "10.0.0.2", 5.0) == 0


def test_failures_in_a_row_lock_a_name_until_released_or_the_time_passes() -> None:
    throttle = LoginThrottle(LIMITS)
    locked = [throttle.failed("op1", f"10.0.0.{i}", i * 100.0) for i in range(4)]
    assert locked == [False, False, False, True]
    assert throttle.retry_after("op1", "10.0.0.50", 301.0) == pytest.approx(599.0)
    assert throttle.retry_after("op1", "10.0.0.50", 901.0) == 0  # the lock ran out
    throttle.failed("op1", "10.0.0.1", 1000.0)
    throttle.release("op1")
    assert throttle.retry_after("op1", "10.0.0.1", 1000.0) == 0


def test_a_success_starts_the_count_again() -> None:
    throttle = LoginThrottle(LIMITS)
    for i in range(3):
        throttle.failed("op1", "a", i * 100.0)
    throttle.succeeded("op1")
    assert [throttle.failed("op1", "a", 400.0 + i * 100) for i in range(4)][-1] is True


def test_memory_stays_bounded() -> None:
    throttle = LoginThrottle(LoginLimits(max_keys=10))
    for i in range(100):
        throttle.failed(f"name{i}", f"addr{i}", 0.0)
    assert len(throttle._by_user) == len(throttle._by_address) == 10


def test_limits_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="at least one"):
        LoginLimits(per_user=0)
