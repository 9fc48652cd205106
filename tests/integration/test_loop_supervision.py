"""Every background loop runs under the supervisor: a fault injected into any one
of them is logged with its traceback, counted, named by /healthz (503) until the
loop runs again, and the loop is started again (real broker, Redis and SQLite)."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from config.settings import Settings
from devices.protocol import voice_up_topic
from simulators.devices import DevicePublisher
from tests.conftest import RunningServer
from tests.helpers import wait_until

LOOPS = [
    "stall-probe",
    "fanout",
    "outbox",
    "voice-link",
    "dispatcher",
    "replan",
    "gateway",
    "device-commands",
    "supervision",
    "retention",
]


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url  # the loops, not the engine, are under test here


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "loop_restart_s": 0.05,
            "loop_settle_s": 0.5,
            "supervision_sweep_s": 0.2,
            "replan_check_s": 0.2,
            "retention_sweep_s": 0.2,
        }
    )


class InjectedFault(RuntimeError):
    pass


def fail_once(obj: object, name: str, *, in_task: str | None = None) -> None:
    """Make ``obj.name`` raise InjectedFault on its next call (from the task named
    ``in_task``, when given), and behave as before after that."""
    original: Callable[..., Any] = getattr(obj, name)
    armed = True

    def should_fail() -> bool:
        nonlocal armed
        task = asyncio.current_task() if in_task else None
        if armed and (in_task is None or (task is not None and task.get_name() == in_task)):
            armed = False
            return True
        return False

    if inspect.iscoroutinefunction(original):

        @functools.wraps(original)
        async def failing_async(*args: Any, **kwargs: Any) -> Any:
            if should_fail():
                raise InjectedFault(f"injected into {name}")
            return await original(*args, **kwargs)

        setattr(obj, name, failing_async)
    else:

        @functools.wraps(original)
        def failing(*args: Any, **kwargs: Any) -> Any:
            if should_fail():
                raise InjectedFault(f"injected into {name}")
            return original(*args, **kwargs)

        setattr(obj, name, failing)


async def inject(loop: str, server: RunningServer, publisher: DevicePublisher) -> None:
    """Put a fault in the way of ``loop`` and give it the work that meets it."""
    services = server.services
    match loop:
        case "stall-probe":
            fail_once(services.stall_probe, "observe")
        case "fanout":
            fired = False

            def hook(_entry: object) -> None:
                nonlocal fired
                if not fired:
                    fired = True
                    raise InjectedFault("injected into a stream hook")

            await services.fanout.on_entry(services.bus.board_stream, hook)
            await services.bus.publish([(services.bus.board_stream, {"type": "test.poke"})])
        case "outbox":
            fail_once(services.outbox, "flush", in_task="outbox")
            services.outbox.kick()
        case "voice-link":
            link = services.voice.device_link
            fail_once(link, "handler")
            await wait_until(lambda: asyncio.sleep(0, link.ready.is_set()))
            body = {"type": "hangup", "call_id": "fault", "ts": datetime.now(UTC).isoformat()}
            info = publisher.client.publish(
                voice_up_topic("pb-fault"), json.dumps(body).encode(), qos=1
            )
            await asyncio.to_thread(info.wait_for_publish, 10)
        case "dispatcher":
            fail_once(services.dispatcher, "run_round")
        case "replan":
            fail_once(services.homecare, "_diverted_today")
        case "gateway":
            fail_once(services.gateway._ready, "wait")  # met after the next batch
            await asyncio.to_thread(publisher.publish_event, "pb-unknown", "press")
        case "device-commands":
            relay = services.command_relay
            fail_once(relay.bus, "read_group")
        case "retention":
            fail_once(services.db, "run", in_task="retention")
        case "supervision":
            fail_once(services.device_supervision, "sweep")
        case _:
            raise AssertionError(loop)


async def restarts(http: httpx.AsyncClient, loop: str) -> float:
    text = (await http.get("/metrics")).text
    found = re.search(rf'^carebell_loop_restarts_total{{loop="{loop}"}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def health(http: httpx.AsyncClient) -> Callable[[], Awaitable[tuple[int, list[str]]]]:
    async def check() -> tuple[int, list[str]]:
        response = await http.get("/healthz")
        return response.status_code, response.json()["loops_down"]

    return check


@pytest.mark.parametrize("loop", LOOPS)
async def test_a_failing_loop_is_reported_and_started_again(
    loop: str,
    server: RunningServer,
    publisher: DevicePublisher,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert sorted(server.services.loops.names) == sorted(LOOPS)
    caplog.set_level(logging.ERROR, logger="dispatch.runtime.loops")
    async with httpx.AsyncClient(base_url=server.http) as http:
        await wait_until(lambda: _ok(health(http)))
        before = await restarts(http, loop)

        await inject(loop, server, publisher)

        async def reported_down() -> bool:
            status, down = await health(http)()
            return status == 503 and down == [loop]

        await wait_until(reported_down)
        assert await restarts(http, loop) == before + 1
        failure = next(r for r in caplog.records if f"loop {loop} failed" in r.getMessage())
        assert failure.exc_info is not None
        assert failure.exc_info[0] is InjectedFault
        # Started again, and once it has run a while the server is whole again.
        await wait_until(lambda: _ok(health(http)))
        assert server.services.loops.restarts[loop] == 1


async def _ok(check: Callable[[], Awaitable[tuple[int, list[str]]]]) -> bool:
    status, down = await check()
    return status == 200 and down == []
