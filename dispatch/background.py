"""Helpers for the server's background loops."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

log = logging.getLogger(__name__)


def cancelling() -> bool:
    """True while the current task is being cancelled.

    A loop that retries on client errors must check it: a Redis or database
    client cancelled mid-call may raise its own connection error instead of
    CancelledError, and a loop that retried would never stop.
    """
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def stop_tasks(tasks: Iterable[asyncio.Task[object]], *, retry_s: float = 3.0) -> None:
    """Cancel the tasks and wait until every one has ended, cancelling again
    every ``retry_s`` any that are still running.

    One cancel is not always enough: a client library may turn it into an error
    that a loop then retries, and on Python 3.11 ``asyncio.wait_for`` drops a
    cancel that arrives as the awaited result does.
    """
    pending = set(tasks)
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=retry_s)
        if pending:
            log.warning("still stopping: %s", ", ".join(sorted(t.get_name() for t in pending)))
