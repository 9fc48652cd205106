"""The loop supervisor on plain coroutines: restarts, what it reports down, stopping."""

from __future__ import annotations

import asyncio

import pytest

from dispatch.runtime.loops import LoopSupervisor


def supervisor() -> LoopSupervisor:
    return LoopSupervisor(first_backoff_s=0.01, max_backoff_s=0.04, settle_s=0.2)


async def test_a_loop_that_fails_is_down_then_started_again_until_it_settles() -> None:
    loops = supervisor()
    runs = 0
    running = asyncio.Event()

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs <= 2:
            raise KeyError("removed alert type")
        running.set()
        await asyncio.Event().wait()

    loops.start("dispatcher", flaky)
    await running.wait()
    assert runs == 3
    assert loops.restarts["dispatcher"] == 2
    assert loops.down == ["dispatcher"]  # running, not yet for settle_s
    # The settle timer was set before this sleep's and ends sooner: it has fired.
    await asyncio.sleep(loops.settle_s * 1.5)
    assert loops.down == []
    await loops.stop()
    assert loops.restarts["dispatcher"] == 2


async def test_a_loop_that_returns_is_started_again() -> None:
    loops = supervisor()
    calls = 0
    twice = asyncio.Event()

    async def returns() -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            twice.set()

    loops.start("outbox", returns)
    await twice.wait()
    assert loops.restarts["outbox"] >= 1
    await loops.stop()


async def test_stop_cancels_healthy_loops_and_reports_none_down() -> None:
    loops = supervisor()
    cancelled = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    loops.start("fanout", forever)
    await asyncio.sleep(0)
    assert loops.down == []
    await loops.stop()
    assert cancelled.is_set()
    assert loops.restarts["fanout"] == 0


async def test_a_loop_name_is_started_once() -> None:
    loops = supervisor()
    loops.start("gateway", asyncio.Event().wait)
    with pytest.raises(ValueError, match="already running"):
        loops.start("gateway", asyncio.Event().wait)
    await loops.stop()
