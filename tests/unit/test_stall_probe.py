"""The stall probe: a loop held by blocking work shows up as a stall."""

from __future__ import annotations

import asyncio
import time

import pytest

from dispatch.runtime.stall_probe import StallProbe


async def test_blocking_the_loop_is_reported_as_a_stall_at_least_that_long() -> None:
    probe = StallProbe(interval_s=0.01)
    running = asyncio.create_task(probe.run())
    await asyncio.sleep(0.05)
    time.sleep(0.3)  # noqa: ASYNC251 (blocking on purpose, as a solve or hash on the loop)
    await asyncio.sleep(0.05)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert probe.worst_s >= 0.25


def test_the_worst_stall_is_kept_and_an_early_wake_up_counts_as_none() -> None:
    probe = StallProbe()
    for late_s in (0.01, 0.2, -0.001, 0.05):
        probe.observe(late_s)
    assert probe.worst_s == 0.2


def test_an_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="interval_s"):
        StallProbe(interval_s=0)
