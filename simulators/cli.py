"""The simulators' commands: ``carebell demo`` and ``carebell simulate``.

They join the product's command line (dispatch/runtime/cli.py) through the
``carebell.commands`` entry point in pyproject.toml.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import httpx
import typer
import uvicorn

from config.settings import Settings
from dispatch.domain.model import TransportMode
from dispatch.planning import compile as planner_code
from dispatch.runtime.app import create_app
from dispatch.runtime.cli import configure_logging
from dispatch.store.db import Database
from dispatch.voice.capability import load_voice_catalog
from simulators import local_services
from simulators.caregiver_app import AppBehaviour, CaregiverAppSim, CaregiverProfile
from simulators.city import (
    DEMO_PASSWORD,
    caregiver_username,
    generate_city,
    seed_accounts,
    seed_city,
)
from simulators.devices import DevicePublisher, press_now_and_then
from simulators.voice_device import talk_for_the_city

log = logging.getLogger("carebell")


def register(cli: typer.Typer) -> None:
    """Add demo and simulate to the ``carebell`` command."""
    cli.command()(demo)
    cli.command()(simulate)


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    return local_services.port_open(parts.hostname or "127.0.0.1", parts.port or default_port)


def demo(
    port: Annotated[int, typer.Option(help="HTTP port of the demo server.")] = 8000,
    data_dir: Annotated[Path, typer.Option(help="Where private broker/Redis keep files.")] = Path(
        "var/demo"
    ),
    press_every_s: Annotated[float, typer.Option(help="Mean seconds between presses.")] = 20.0,
    time_scale: Annotated[float, typer.Option(help="How much faster caregivers move.")] = 10.0,
    log_level: str = "info",
) -> None:
    """Run the whole system on embedded defaults with a simulated city.

    Starts private Mosquitto and Redis processes when none answer at
    CAREBELL_MQTT_URL and CAREBELL_REDIS_URL, seeds the demo city from
    config/demo_city.yaml into the database (SQLite by default), serves the API
    and WebSockets, connects every caregiver's simulated app and presses a
    random elder's button now and then. Ctrl-C stops everything.
    """
    configure_logging(log_level)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_demo(port, data_dir, press_every_s, time_scale))


async def _demo(port: int, data_dir: Path, press_every_s: float, time_scale: float) -> None:
    settings = Settings(http_port=port)
    started: list[local_services.LocalServer] = []
    try:
        if not _reachable(settings.mqtt_url, 1883):
            broker = local_services.broker(data_dir / "mqtt").start()
            started.append(broker)
            settings = settings.model_copy(
                update={"mqtt_url": broker.url, "mqtt_protocol": broker.mqtt_protocol}
            )
            log.info("started a private %s at %s", broker.name, broker.url)
        if not _reachable(settings.redis_url, 6379):
            redis = local_services.redis(data_dir / "redis").start()
            started.append(redis)
            settings = settings.model_copy(update={"redis_url": redis.url})
            log.info("started a private Redis at %s", redis.url)

        city = generate_city()
        db = Database(settings.database_url)
        db.create_schema()
        with db.session() as session:
            seeded = seed_city(session, city)
        if seeded:
            seed_accounts(db, city)
            log.info(
                "seeded %s: %d elders, %d devices, %d caregivers, demo accounts",
                city.name,
                len(city.elders),
                len(city.devices),
                len(city.caregivers),
            )
        db.dispose()

        app = create_app(settings)
        server = uvicorn.Server(
            uvicorn.Config(app, host=settings.http_host, port=port, log_level="warning")
        )
        serving = asyncio.create_task(server.serve())
        while not server.started:
            if serving.done():
                await serving  # raises why it could not start
                return
            await asyncio.sleep(0.05)
        homecare = app.state.services.homecare
        if not planner_code.compiled_on_disk():  # scripts/setup.sh compiles it
            log.info("%s: today's plan waits for it", planner_code.NOTICE)
        today = await homecare.plan(homecare.today())
        log.info("planned today's home visits: %d on routes", today.planned)

        base = f"http://{settings.http_host}:{port}"
        rng = random.Random(city.name)
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            tokens = [
                await _login(http, caregiver_username(i), DEMO_PASSWORD)
                for i in range(1, len(city.caregivers) + 1)
            ]
        apps = [
            CaregiverAppSim(
                base.replace("http", "ws", 1),
                CaregiverProfile(str(c.id), c.home_lat, c.home_lon, TransportMode(c.transport)),
                AppBehaviour(time_scale=time_scale, decline_share=0.1, work_visits=True),
                random.Random(str(c.id)),
                token,
            )
            for c, token in zip(city.caregivers, tokens, strict=True)
        ]
        publisher = DevicePublisher(settings.mqtt_url, settings.mqtt_protocol)
        await asyncio.to_thread(publisher.connect)
        example = city.devices[0].id
        typer.echo(
            f"\nCareBell demo is running.\n"
            f"  Live board:      {base}/board/\n"
            f"  Caregiver app:   {base}/app/\n"
            f"  API docs:        {base}/docs\n"
            f"  Demo log-ins:    sup1, op1, cg01…cg{len(city.caregivers):02d} "
            f"(password {DEMO_PASSWORD})\n"
            f"  Press by hand:   mosquitto_pub -h {urlsplit(settings.mqtt_url).hostname} "
            f"-p {urlsplit(settings.mqtt_url).port} -q 1 "
            f"-t carebell/v1/devices/{example}/events "
            f'-m \'{{"event_id":"hand-1","type":"press","ts":"2026-01-01T08:00:00+08:00"}}\'\n'
            f"Press Ctrl-C to stop.\n"
        )
        simulations = [asyncio.create_task(app.run()) for app in apps]
        # The elders' devices that talk answer the operators' calls (docs/voice.md).
        simulations.append(
            asyncio.create_task(
                talk_for_the_city(
                    settings.mqtt_url,
                    [(d.id, d.kind) for d in city.devices],
                    load_voice_catalog(settings.alert_types_file),
                    data_dir / "voice",
                    loopback_only=settings.voice_loopback_only,
                )
            )
        )
        simulations.append(
            asyncio.create_task(
                press_now_and_then(
                    publisher,
                    [(d.id, d.kind) for d in city.devices],
                    mean_interval_s=press_every_s,
                    rng=rng,
                )
            )
        )
        try:
            await serving  # until Ctrl-C: uvicorn handles the signal and shuts down
        finally:
            for task in simulations:
                task.cancel()
            await asyncio.gather(*simulations, return_exceptions=True)
            publisher.close()
    finally:
        for process in reversed(started):
            process.stop()


async def _login(http: httpx.AsyncClient, username: str, password: str) -> str:
    response = await http.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )
    response.raise_for_status()
    token: str = response.json()["token"]
    return token


def simulate(
    scenario: Annotated[
        Path | None,
        typer.Option(help="A scenario file (config/scenarios/NAME.yaml): run it and report."),
    ] = None,
    spawn: Annotated[
        bool, typer.Option(help="With --scenario: start a private stack (needed for faults).")
    ] = False,
    report: Annotated[Path, typer.Option(help="Where the JSON report goes.")] = Path("var/reports"),
    api: Annotated[str, typer.Option(help="Base URL of a running CareBell server.")] = (
        "http://127.0.0.1:8000"
    ),
    username: Annotated[
        str, typer.Option(envvar="CAREBELL_USERNAME", help="A supervisor's or admin's account.")
    ] = "sup1",
    password: Annotated[
        str, typer.Option(envvar="CAREBELL_PASSWORD", help="Its password (demo: carebell).")
    ] = DEMO_PASSWORD,
    press_every_s: Annotated[
        float, typer.Option(help="Without --scenario: mean seconds between presses.")
    ] = 5.0,
    seed: int = 1,
    log_level: str = "warning",
) -> None:
    """Simulate devices (and, with a scenario, caregivers' apps) against CareBell.

    Without --scenario it presses random registered devices over one MQTT
    connection until Ctrl-C. With --scenario it runs the load test the file
    describes (each device its own MQTT client, caregivers over the WebSocket
    protocol), prints the report, writes it as JSON, and exits 1 if an SLO was
    missed. The broker is CAREBELL_MQTT_URL unless --spawn starts a private stack.
    """
    configure_logging(log_level)
    if scenario is not None:
        raise typer.Exit(_run_scenario(scenario, spawn, report, api, username, password))
    settings = Settings()
    devices: list[tuple[str, str]] = []
    with httpx.Client(base_url=api, timeout=10) as http:
        login = http.post("/api/v1/auth/login", json={"username": username, "password": password})
        if login.status_code != 200:
            raise typer.BadParameter(f"{api} refused the log-in of {username!r}")
        http.headers["Authorization"] = f"Bearer {login.json()['token']}"
        while True:
            page = http.get(
                "/api/v1/devices", params={"active": True, "limit": 1000, "offset": len(devices)}
            ).raise_for_status()
            devices += [(d["id"], d["kind"]) for d in page.json()]
            if len(page.json()) < 1000:
                break
    if not devices:
        raise typer.BadParameter(f"{api} has no active devices to simulate")
    publisher = DevicePublisher(settings.mqtt_url, settings.mqtt_protocol)
    publisher.connect()
    typer.echo(f"simulating {len(devices)} devices against {settings.mqtt_url}; Ctrl-C stops")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            press_now_and_then(
                publisher, devices, mean_interval_s=press_every_s, rng=random.Random(seed)
            )
        )
    publisher.close()


def _run_scenario(
    path: Path, spawn: bool, report_dir: Path, api: str, username: str, password: str
) -> int:
    from simulators import loadrun, report
    from simulators.scenario import load_scenario

    scenario = load_scenario(path)
    if spawn:
        stack = loadrun.spawn_stack(
            loadrun.workdir_for(scenario.name), devices=scenario.devices, seed=scenario.seed
        )
    else:
        settings = Settings()
        stack = loadrun.Stack(
            api=api, mqtt_url=settings.mqtt_url, mqtt_protocol=settings.mqtt_protocol
        )
    try:
        result = asyncio.run(loadrun.run(scenario, stack, username=username, password=password))
    finally:
        stack.stop()
    summary = report.summarize(result)
    report.print_summary(summary)
    target = report_dir / f"{scenario.name}.json"
    report.write_json(summary, target)
    report.write_html(summary, result, target.with_suffix(".html"))
    typer.echo(f"report: {target} and {target.with_suffix('.html')}")
    return 0 if summary["ok"] else 1
