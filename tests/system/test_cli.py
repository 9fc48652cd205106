"""The ``carebell`` command as a newcomer runs it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime
from datetime import time as dtime
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlmodel import select

from devices.mqtt import BrokerAddress
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


def test_a_command_imports_neither_the_server_nor_the_planner_before_it_runs() -> None:
    # Every command (and --help) used to import the whole server and the planner
    # before reading its arguments: about 4 s of CPU each, 1.5 s without them.
    heavy = ("fastapi", "uvicorn", "numba", "ortools", "dispatch.runtime.app")
    code = (
        "import sys\n"
        "from dispatch.runtime import cli\n"
        "cli.add_registered_commands(cli.cli)\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
    assert "demo" in _help_of([])  # the simulators' commands are still registered


def _help_of(args: list[str]) -> str:
    result = subprocess.run(
        [*CAREBELL, *args, "--help"], capture_output=True, text=True, check=True
    )
    return result.stdout


def _demo_token(port: int) -> str | None:
    with contextlib.suppress(httpx.TransportError):
        # The demo's own accounts: the supervisor sees every district.
        answer = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/auth/login",
            json={"username": "sup1", "password": "carebell"},
            timeout=5,
        )
        if answer.status_code == 200:
            token: str = answer.json()["token"]
            return token
    return None


# It starts the whole system from an empty folder: seeds the city and its 41
# accounts (argon2, deliberately slow), plans the day, signs 36 apps in.
@pytest.mark.timeout(300)
def test_demo_starts_its_own_services_and_takes_a_press_by_hand(tmp_path: Path) -> None:
    """As a newcomer runs it: from a folder of their own, with the default data dir
    and database, nothing listening where the settings point, the port from
    CAREBELL_HTTP_PORT; then `carebell press` from the same folder."""
    port = local_services.free_port()
    closed = local_services.free_port()  # nothing listens here: the demo must start its own
    env = {
        **os.environ,
        "CAREBELL_MQTT_URL": f"mqtt://127.0.0.1:{closed}",
        "CAREBELL_REDIS_URL": f"redis://127.0.0.1:{closed}/0",
        "CAREBELL_HTTP_PORT": str(port),
    }
    env.pop("CAREBELL_DATABASE_URL", None)
    log = (tmp_path / "demo.log").open("w")
    demo = subprocess.Popen(
        # Presses of its own are rare here: the one by hand is the one to follow.
        [*CAREBELL, "demo", "--press-every-s", "3600", "--time-scale", "200"],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while "Press Ctrl-C" not in (tmp_path / "demo.log").read_text():
            assert demo.poll() is None, (tmp_path / "demo.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "demo.log").read_text()[-3000:]
            time.sleep(0.5)
        token = _demo_token(port)
        assert token is not None
        pressed = subprocess.run(
            [*CAREBELL, "press", "pb-00000"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert pressed.returncode == 0, pressed.stderr
        # The press by hand is taken in: an alert from that button (in any state).
        pressed_alerts: list[dict[str, object]] = []
        while time.monotonic() < deadline and not pressed_alerts:
            assert demo.poll() is None, (tmp_path / "demo.log").read_text()
            alerts = httpx.get(
                f"http://127.0.0.1:{port}/api/v1/alerts",
                headers=bearer(token),
                timeout=5,
            ).json()
            pressed_alerts = [a for a in alerts if a["device_id"] == "pb-00000"]
            time.sleep(0.5)
        assert pressed_alerts, (tmp_path / "demo.log").read_text()[-3000:]
        output = (tmp_path / "demo.log").read_text()
        assert "started a private" in output
        assert "carebell press pb-00000" in output
        assert "mosquitto_pub" in output
        # The default data dir and database, under the folder it was started from.
        assert (tmp_path / "var" / "demo" / "services.json").is_file()
        assert (tmp_path / "var" / "carebell.db").is_file()
    finally:
        os.killpg(demo.pid, signal.SIGINT)
        try:
            demo.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
        log.close()
    # Ctrl-C stops the private services it started, without a traceback.
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path / "var")], capture_output=True)
    assert leftovers.stdout == b""
    output = (tmp_path / "demo.log").read_text()
    assert "Traceback" not in output, output[-3000:]
    assert not (tmp_path / "var" / "demo" / "services.json").exists()


def test_ctrl_c_while_the_demo_starts_stops_it_without_a_traceback(tmp_path: Path) -> None:
    """A newcomer who stops it as soon as the page answers, while the caregivers'
    apps are still signing in."""
    port = local_services.free_port()
    closed = local_services.free_port()
    env = {
        **os.environ,
        "CAREBELL_MQTT_URL": f"mqtt://127.0.0.1:{closed}",
        "CAREBELL_REDIS_URL": f"redis://127.0.0.1:{closed}/0",
        "CAREBELL_HTTP_PORT": str(port),
        "CAREBELL_DATABASE_URL": f"sqlite:///{tmp_path}/demo.db",
    }
    log = (tmp_path / "demo.log").open("w")
    demo = subprocess.Popen(
        [*CAREBELL, "demo", "--data-dir", str(tmp_path / "services")],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert demo.poll() is None, (tmp_path / "demo.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "demo.log").read_text()[-3000:]
            # Serving, and now signing every caregiver's app in.
            if "planned today's home visits" in (tmp_path / "demo.log").read_text():
                break
            time.sleep(0.1)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        os.killpg(demo.pid, signal.SIGINT)
        demo.wait(60)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
        log.close()
    output = (tmp_path / "demo.log").read_text()
    assert "Traceback" not in output, output[-3000:]
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path / "services")], capture_output=True)
    assert leftovers.stdout == b""


def test_demo_that_cannot_listen_says_so_in_one_line_and_touches_no_broker(
    tmp_path: Path, mosquitto: local_services.LocalServer
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {
            **os.environ,
            "CAREBELL_HTTP_PORT": str(port),
            "CAREBELL_MQTT_URL": mosquitto.url,
            "CAREBELL_MQTT_CLIENT_ID": "taken-port-demo",
        }
        result = subprocess.run(
            [*CAREBELL, "demo", "--data-dir", str(tmp_path)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert f"127.0.0.1:{port}" in result.stderr
    assert "CAREBELL_HTTP_PORT" in result.stderr
    assert "taken-port-demo" not in (Path(mosquitto.workdir) / "mosquitto.log").read_text()


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


def _listen(url: str, topic: str) -> tuple[mqtt.Client, queue.Queue[bytes]]:
    received: queue.Queue[bytes] = queue.Queue()
    address = BrokerAddress.parse(url)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    subscribed = threading.Event()
    client.on_message = lambda _c, _u, message: received.put(message.payload)
    client.on_subscribe = lambda *_args: subscribed.set()
    client.on_connect = lambda c, *_args: c.subscribe(topic, qos=1)
    client.connect(address.host, address.port)
    client.loop_start()
    assert subscribed.wait(10)
    return client, received


def test_press_sends_to_the_option_then_the_environment_else_says_why_not(
    tmp_path: Path, mosquitto: local_services.LocalServer
) -> None:
    closed = f"mqtt://127.0.0.1:{local_services.free_port()}"
    client, received = _listen(mosquitto.url, "carebell/v1/devices/pb-press/events")
    try:
        # The option wins over an environment that points nowhere.
        subprocess.run(
            [*CAREBELL, "press", "pb-press", "--type", "cancel", "--mqtt-url", mosquitto.url],
            cwd=tmp_path,
            env={**os.environ, "CAREBELL_MQTT_URL": closed},
            check=True,
            timeout=60,
        )
        assert json.loads(received.get(timeout=10))["type"] == "cancel"
        # The environment, when a broker answers there.
        subprocess.run(
            [*CAREBELL, "press", "pb-press"],
            cwd=tmp_path,
            env={**os.environ, "CAREBELL_MQTT_URL": mosquitto.url},
            check=True,
            timeout=60,
        )
        assert json.loads(received.get(timeout=10))["type"] == "press"
    finally:
        client.disconnect()
        client.loop_stop()
    # Nothing answers and no demo runs here: one line that says what to set.
    nowhere = subprocess.run(
        [*CAREBELL, "press", "pb-press"],
        cwd=tmp_path,
        env={**os.environ, "CAREBELL_MQTT_URL": closed},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert nowhere.returncode == 1
    assert "CAREBELL_MQTT_URL" in nowhere.stderr
    assert nowhere.stderr.strip().count("\n") == 0, nowhere.stderr
