"""The gateway's ingest in a helper process of its own.

Paho's network thread and the ingest contend for one interpreter lock when they
share a process: every database call gives the lock up and waits to get it back
from a thread that is busy decoding MQTT. So the gateway keeps its one MQTT
connection (and paho) in the server process and hands each batch, as raw topics
and payloads, to one helper process that parses, validates and commits it with
its own engine. The helper answers with the outcomes only after the commit, and
the gateway acknowledges the broker only then: acknowledge-after-commit and the
event-id idempotence are the same as in-process.

Batches are stored one after another, in the order they arrive (one worker). A
helper that dies is replaced and its batch stored again: whatever it had
committed comes back as duplicates.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import multiprocessing
import os
import select
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from dispatch.domain.catalog import Catalog
from dispatch.emergency.ingest import Inbound, Ingest, Stored
from dispatch.store.db import Database

log = logging.getLogger(__name__)

# The forkserver is started once, single-threaded, with the ingest already
# imported: a new helper is a cheap fork of it, never of the threaded server.
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["dispatch.emergency.ingest_process"])


@dataclass(frozen=True, slots=True)
class IngestConfig:
    """What the helper needs to build its own Ingest (plain values: it is pickled)."""

    database_url: str
    catalog: Catalog
    merge_window_s: float
    timezone: str
    max_clock_skew_s: float = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class _Answer:
    """A committed batch, and why messages were refused."""

    stored: Stored
    rejected: dict[str, int]  # reason -> messages


class IngestProcess:
    """Store batches in a helper process; :meth:`close` when done."""

    def __init__(self, config: IngestConfig, *, on_rejected: Callable[[str, int], None]) -> None:
        self.config = config
        self.on_rejected = on_rejected  # called in this process: reason, messages refused
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=1,
            mp_context=_CONTEXT,
            initializer=_begin,
            initargs=(self.config, os.getpid()),
        )

    async def start(self) -> None:
        """Start the helper and wait until it is ready to store (its engine built)."""
        # From a thread: the first submit starts the forkserver and waits while it
        # imports CareBell (seconds on a busy machine), which would hold the loop.
        await asyncio.to_thread(lambda: self._pool.submit(_ready).result())

    async def store(self, batch: list[tuple[str, bytes]], at: datetime) -> Stored:
        """Return once the helper has committed the whole batch."""
        loop = asyncio.get_running_loop()
        try:
            answer = await loop.run_in_executor(self._pool, _store, batch, at)
        except BrokenProcessPool:
            log.error("the ingest process died; starting another and storing the batch again")
            self._pool.shutdown(wait=False)
            self._pool = self._start()
            answer = await loop.run_in_executor(self._pool, _store, batch, at)
        for reason, n in answer.rejected.items():
            self.on_rejected(reason, n)
        return answer.stored

    def close(self) -> None:
        """Wait for the batch in flight, then stop the helper."""
        self._pool.shutdown(wait=True)


# -- in the helper process -------------------------------------------------------

_ingest: Ingest | None = None
_rejected: collections.Counter[str] = collections.Counter()


def _begin(config: IngestConfig, server_pid: int) -> None:
    global _ingest
    _exit_with(server_pid)
    # Ctrl-C reaches the whole process group: the server stops the helper itself
    # (close) once the batch in flight is stored, so the helper ignores it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    _ingest = Ingest(
        Database(config.database_url, workers=1),
        config.catalog,
        merge_window_s=config.merge_window_s,
        max_clock_skew_s=config.max_clock_skew_s,
        tz=ZoneInfo(config.timezone),
        on_rejected=_count_rejected,
    )


def _exit_with(server_pid: int) -> None:
    """End this helper when the server process ends, however it ends.

    A server killed with SIGKILL cannot stop its helper, and the helper holds the
    forkserver's and the resource tracker's pipes open, so all three would live on
    (and keep the database open). Whatever the helper was committing rolls back;
    the broker delivers those messages again, unacknowledged as they are.
    """

    def watch() -> None:
        try:
            pidfd = os.pidfd_open(server_pid)  # Linux 5.3+: readable once it has ended
        except (AttributeError, OSError):
            while _alive(server_pid):
                time.sleep(1.0)
        else:
            select.select([pidfd], [], [])
        log.error("the server (pid %d) has ended; its ingest helper stops too", server_pid)
        os._exit(1)

    threading.Thread(target=watch, name="server-watch", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ready() -> None:
    assert _ingest is not None


def _count_rejected(reason: str) -> None:
    _rejected[reason] += 1


def _store(batch: list[tuple[str, bytes]], at: datetime) -> _Answer:
    assert _ingest is not None, "the helper's initializer builds the ingest"
    _rejected.clear()
    stored = _ingest.store([Inbound(topic, payload, at) for topic, payload in batch])
    return _Answer(stored, dict(_rejected))
