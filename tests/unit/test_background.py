"""Stopping background tasks, including one that drops a cancel."""

from __future__ import annotations

import asyncio

from dispatch.background import stop_tasks


async def test_a_task_that_drops_a_cancel_is_cancelled_again_until_it_stops() -> None:
    cancels = 0

    async def stubborn() -> None:
        nonlocal cancels
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancels += 1
                if cancels == 1:  # as a client library that turns a cancel into a retry
                    asyncio.current_task().uncancel()  # type: ignore[union-attr]
                    continue
                raise

    async def obedient() -> None:
        await asyncio.sleep(3600)

    tasks = [asyncio.create_task(stubborn()), asyncio.create_task(obedient())]
    await asyncio.sleep(0)
    await asyncio.wait_for(stop_tasks(tasks, retry_s=0.05), 5)
    assert all(t.cancelled() for t in tasks)
    assert cancels == 2
