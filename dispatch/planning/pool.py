"""Solves run in a worker process, never in the server's.

OR-Tools calls back into Python for every arc it weighs and PyVRP holds the GIL
in stretches, so a solve in a thread of the server still stalls its event loop
(presses, offers and caregivers' answers wait). A worker process has a GIL of its
own; the problem goes in and the plan comes out by pickling (both are frozen
dataclasses).
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
from concurrent.futures import ProcessPoolExecutor

from dispatch.planning import backends
from dispatch.planning.model import Plan, RoutingProblem


class SolverPool:
    """Call :meth:`plan` from any thread (it blocks until the plan is back), and
    :meth:`close` once at shutdown. The worker starts at the first solve."""

    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def plan(
        self, problem: RoutingProblem, time_limit_s: float = 5.0, *, warm_start: Plan | None = None
    ) -> Plan:
        with self._lock:
            if self._executor is None:
                # forkserver: never fork a process that runs threads (the server's).
                self._executor = ProcessPoolExecutor(
                    self.workers,
                    mp_context=multiprocessing.get_context("forkserver"),
                    initializer=_ignore_ctrl_c,
                )
            executor = self._executor
        return executor.submit(backends.plan, problem, time_limit_s, warm_start=warm_start).result()

    def close(self) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)
                self._executor = None


def _ignore_ctrl_c() -> None:
    """In the worker: Ctrl-C reaches the whole process group, but the server stops
    its worker itself (close), so the worker ignores it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
