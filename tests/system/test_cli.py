"""The ``carebell`` command as a newcomer runs it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from datetime import time as dtime
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from dispatch.domain.lifecycle import RequestState, VisitState
from dispatch.store.db import Database
from dispatch.store.tables import ServiceRequest, Visit
from simulators import local_services
from tests.conftest import RunningServer
from tests.helpers import PASSWORD, bearer, login, make_user, seed_small_city, wait_until

CAREBELL = [sys.executable, "-m", "dispatch"]


@pytest.mark.parametrize("command", ["serve", "demo", "simulate", "plan"])
def test_each_command_explains_itself(command: str) -> None:
    result = subprocess.run(
        [*CAREBELL, command, "--help"], capture_output=True, text=True, check=True
    )
    assert "Usage" in result.stdout
    assert len(result.stdout) > 300


def test_demo_starts_its_own_services_and_resolves_alerts(tmp_path: Path) -> None:
    port = local_services.free_port()
    closed = local_services.free_port()  # nothing listens here: the demo must start its own
    env = {
        **os.environ,
        "CAREBELL_DATABASE_URL": f"sqlite:///{tmp_path}/demo.db",
        "CAREBELL_MQTT_URL": f"mqtt://127.0.0.1:{closed}",
        "CAREBELL_REDIS_URL": f"redis://127.0.0.1:{closed}/0",
    }
    log = (tmp_path / "demo.log").open("w")
    demo = subprocess.Popen(
        [
            *CAREBELL,
            "demo",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "services"),
            "--press-every-s",
            "0.5",
            "--time-scale",
            "200",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        resolved: list[dict[str, object]] = []
        while time.monotonic() < deadline and not resolved:
            assert demo.poll() is None, (tmp_path / "demo.log").read_text()
            with contextlib.suppress(httpx.TransportError):
                # The demo's own accounts: the supervisor sees every district.
                login_ = httpx.post(
                    f"http://127.0.0.1:{port}/api/v1/auth/login",
                    json={"username": "sup1", "password": "carebell"},
                    timeout=5,
                )
                if login_.status_code == 200:
                    resolved = httpx.get(
                        f"http://127.0.0.1:{port}/api/v1/alerts",
                        params={"status": "resolved"},
                        headers=bearer(login_.json()["token"]),
                        timeout=2,
                    ).json()
            time.sleep(0.5)
        assert resolved, (tmp_path / "demo.log").read_text()[-3000:]
        output = (tmp_path / "demo.log").read_text()
        assert "started a private" in output
        assert "mosquitto_pub" in output
    finally:
        os.killpg(demo.pid, signal.SIGINT)
        try:
            demo.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
        log.close()
    # Ctrl-C stops the private services it started.
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path / "services")], capture_output=True)
    assert leftovers.stdout == b""


async def test_simulate_presses_registered_devices_of_a_running_server(
    server: RunningServer,
) -> None:
    city = await asyncio.to_thread(seed_small_city, server.services.db)
    operator = await asyncio.to_thread(make_user, server.services.db, "supervisor")
    env = {
        **os.environ,
        "CAREBELL_MQTT_URL": server.settings.mqtt_url,
        "CAREBELL_USERNAME": operator,
        "CAREBELL_PASSWORD": PASSWORD,
    }
    simulate = await asyncio.create_subprocess_exec(
        *CAREBELL,
        "simulate",
        "--api",
        server.http,
        "--press-every-s",
        "0.2",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        token = await login(server.http, server.services.db, "supervisor")
        async with httpx.AsyncClient(base_url=server.http, headers=bearer(token)) as http:

            async def some_alert() -> list[object]:
                alerts: list[object] = (await http.get("/api/v1/alerts")).json()
                return alerts

            alerts = await wait_until(some_alert, timeout_s=20)
        assert {a["device_id"] for a in alerts} <= {city.device_id, city.wearable_id}  # type: ignore[index]
    finally:
        simulate.send_signal(signal.SIGINT)
        output, _ = await asyncio.wait_for(simulate.communicate(), 20)
    assert b"simulating 2 devices" in output


def test_plan_puts_a_days_approved_visits_on_routes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/plan.db"
    db = Database(url)
    db.create_schema()
    city = seed_small_city(db)
    with db.session() as session:
        session.add(
            ServiceRequest(
                elder_id=city.elder_id,
                item="cleaning",
                source="operator",
                state=RequestState.APPROVED,
                first_day=date(2026, 12, 7),
                weekdays=[1],
                window_start=dtime(9, 0),
                window_end=dtime(12, 0),
                created_at=datetime.now(UTC),
            )
        )
    result = subprocess.run(
        [*CAREBELL, "plan", "--day", "2026-12-14", "--time-limit-s", "1"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "CAREBELL_DATABASE_URL": url},
    )
    assert "2026-12-14: 1 visits on routes, 0 left unplanned" in result.stdout
    with db.session() as session:
        visit = session.exec(select(Visit)).one()
    assert visit.state is VisitState.PLANNED
    assert visit.caregiver_id in (city.near_id, city.far_id)
    db.dispose()
