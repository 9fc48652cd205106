"""Helpers for the server's background loops."""

from __future__ import annotations

import asyncio


def cancelling() -> bool:
    """True while the current task is being cancelled.

    A loop that retries on client errors must check it: a Redis or database
    client cancelled mid-call may raise its own connection error instead of
    CancelledError, and a loop that retried would never stop.
    """
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
