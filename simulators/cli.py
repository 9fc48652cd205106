"""The simulators' commands: ``carebell demo`` and ``carebell simulate``.

They join the product's command line (dispatch/runtime/cli.py) through the
``carebell.commands`` entry point in pyproject.toml.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import secrets
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

import httpx
import typer

from config.settings import Settings
from dispatch.notify.rules import CASCADE
from dispatch.notify.rules import load as load_rules
from dispatch.runtime.cli import configure_logging, settings_with
from simulators import local_services
from simulators.city import DEMO_PASSWORD, FAMILY_ACCOUNTS, caregiver_username, family_username
from simulators.contact_answers import AnswerHabits, ContactAnswers, FamilyPageAnswers
from simulators.devices import DevicePublisher, press_now_and_then
from simulators.sms_provider import AliyunSmsStandIn

if TYPE_CHECKING:
    from fastapi import FastAPI

    from simulators.caregiver_app import CaregiverAppSim
    from simulators.city import City

log = logging.getLogger("carebell")


def register(cli: typer.Typer) -> None:
    """Add demo, press and simulate to the ``carebell`` command."""
    cli.command()(demo)
    cli.command()(press)
    cli.command()(simulate)


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    return local_services.port_open(parts.hostname or "127.0.0.1", parts.port or default_port)


DEFAULT_DATA_DIR = Path("var/demo")
# Where a running demo says which broker it uses, so `carebell press` finds a private one.
SERVICES_FILE = "services.json"


def demo(
    port: Annotated[
        int | None, typer.Option(help="HTTP port of the demo server [default: CAREBELL_HTTP_PORT].")
    ] = None,
    data_dir: Annotated[
        Path,
        typer.Option(
            help="Where private broker/Redis keep files; given, also the SQLite database"
            " (unless CAREBELL_DATABASE_URL is set), so two demos never share one."
        ),
    ] = DEFAULT_DATA_DIR,
    press_every_s: Annotated[float, typer.Option(help="Mean seconds between presses.")] = 20.0,
    time_scale: Annotated[float, typer.Option(help="How much faster caregivers move.")] = 10.0,
    contacts_answer_share: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Of the contacts the cascade asks by SMS, and of the family accounts told of"
            " an alert on the family page, how many answer (half of them yes).",
        ),
    ] = 0.6,
    log_level: Annotated[
        str, typer.Option(help="debug also logs every HTTP request of the simulated apps.")
    ] = "info",
) -> None:
    """Run the whole system on embedded defaults with a simulated city.

    Starts private Mosquitto and Redis processes when none answer at
    CAREBELL_MQTT_URL and CAREBELL_REDIS_URL, seeds the demo city from
    config/demo_city.yaml into the database (SQLite by default), serves the API
    and WebSockets, connects every caregiver's simulated app and presses a
    random elder's button now and then. Ctrl-C stops everything.
    """
    configure_logging(log_level)
    data_dir = data_dir.resolve()  # the private servers run in folders of their own
    settings = settings_with(http_port=port)
    # The port first: a demo that cannot serve must not touch the broker either.
    try:
        listening = bind_http(settings.http_host, settings.http_port)
    except OSError as exc:
        typer.echo(
            f"carebell demo: cannot listen on {settings.http_host}:{settings.http_port} "
            f"({exc.strerror}); choose another with --port or CAREBELL_HTTP_PORT",
            err=True,
        )
        raise typer.Exit(1) from None
    started: list[local_services.LocalServer] = []
    services_file = data_dir / SERVICES_FILE
    press_command = "carebell press"
    if data_dir != (Path.cwd() / DEFAULT_DATA_DIR).resolve():
        press_command += f" --data-dir {data_dir}"
        settings = _database_in(settings, data_dir)
    with contextlib.suppress(KeyboardInterrupt):
        try:
            settings = _private_services(settings, data_dir, started)
            services_file.write_text(
                json.dumps({"mqtt_url": settings.mqtt_url, "mqtt_protocol": settings.mqtt_protocol})
            )
            asyncio.run(
                _demo(
                    settings,
                    listening,
                    data_dir,
                    press_command,
                    press_every_s,
                    time_scale,
                    AnswerHabits(answer_share=contacts_answer_share),
                )
            )
        finally:
            services_file.unlink(missing_ok=True)
            listening.close()
            for process in reversed(started):
                process.stop()


def _database_in(settings: Settings, data_dir: Path) -> Settings:
    """The demo's SQLite file inside ``data_dir``, unless a database was chosen."""
    if "database_url" in settings.model_fields_set:
        return settings  # CAREBELL_DATABASE_URL or the config file named one
    data_dir.mkdir(parents=True, exist_ok=True)
    return settings.model_copy(update={"database_url": f"sqlite:///{data_dir / 'carebell.db'}"})


def _private_services(
    settings: Settings, data_dir: Path, started: list[local_services.LocalServer]
) -> Settings:
    """Start a broker and a Redis of the demo's own where none answers; return the
    settings that point at what the demo will use."""
    if not _reachable(settings.mqtt_url, 1883):
        broker = local_services.broker(data_dir / "mqtt").start()
        started.append(broker)
        settings = settings.model_copy(
            update={"mqtt_url": broker.url, "mqtt_protocol": broker.mqtt_protocol}
        )
        log.info(
            "started a private %s at %s (demo only: no TLS, no log-in, loopback only)",
            broker.name,
            broker.url,
        )
    if not _reachable(settings.redis_url, 6379):
        redis = local_services.redis(data_dir / "redis").start()
        started.append(redis)
        settings = settings.model_copy(update={"redis_url": redis.url})
        log.info("started a private Redis at %s", redis.url)
    data_dir.mkdir(parents=True, exist_ok=True)
    return settings


async def _demo(
    settings: Settings,
    listening: socket.socket,
    data_dir: Path,
    press_command: str,
    press_every_s: float,
    time_scale: float,
    habits: AnswerHabits,
) -> None:
    # The server, the city and the voice parts are imported by the demo alone:
    # at the top, every command (and --help) would load them first.
    import uvicorn

    from dispatch.runtime.app import create_app
    from dispatch.store.db import Database
    from dispatch.voice.capability import load_voice_catalog
    from simulators.city import generate_city, seed_accounts, seed_city
    from simulators.voice_device import talk_for_the_city

    port = listening.getsockname()[1]
    base = f"http://{settings.http_host}:{port}"
    sms, settings = _sms_stand_in(settings, base)
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
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    serving = asyncio.create_task(server.serve(sockets=[listening]))
    while not server.started:
        if serving.done():
            await serving  # raises why it could not start
            return
        await asyncio.sleep(0.05)
    try:
        apps, publisher = await _start_the_city(app, city, settings, port, time_scale)
        families = await _family_pages(base, habits, city)
    except Exception:
        if not server.should_exit:
            raise
        await serving  # Ctrl-C while it was starting: stop as quietly as after
        return
    rng = random.Random(city.name)
    example = city.devices[0].id
    broker_at = urlsplit(settings.mqtt_url)
    typer.echo(
        f"\nCareBell demo is running.\n"
        f"  Live board:      {base}/board/\n"
        f"  Caregiver app:   {base}/app/\n"
        f"  API docs:        {base}/docs\n"
        f"  Family page:     {base}/family/\n"
        f"  Demo log-ins:    sup1, op1, cg01…cg{len(city.caregivers):02d}, fam01…fam03 "
        f"(password {DEMO_PASSWORD})\n"
        f"  Press by hand:   .venv/bin/{press_command} {example}\n"
        f"  or with Mosquitto's client: mosquitto_pub -h {broker_at.hostname} "
        f"-p {broker_at.port} -q 1 -t carebell/v1/devices/{example}/events "
        f'-m \'{{"event_id":"hand-1","type":"press","ts":"2026-01-01T08:00:00+08:00"}}\'\n'
        f"Press Ctrl-C to stop.\n"
    )
    simulations = [asyncio.create_task(app.run()) for app in apps]
    # The contacts the cascade asks text back now and then (docs/contacts.md).
    answers = ContactAnswers(
        sms, load_rules().templates[CASCADE], habits, random.Random(f"{city.name} contacts")
    )
    simulations.append(asyncio.create_task(answers.run()))
    # The family accounts answer on their family pages now and then.
    simulations.extend(asyncio.create_task(f.run()) for f in families)
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
        sms.__exit__(None, None, None)
        for page in families:
            await page.http.aclose()


async def _family_pages(base: str, habits: AnswerHabits, city: City) -> list[FamilyPageAnswers]:
    """The demo's family accounts on their family pages, each seeded by its name."""
    pages = []
    for i in range(1, FAMILY_ACCOUNTS + 1):
        http = httpx.AsyncClient(base_url=base, timeout=30)
        token = await _login(http, family_username(i), DEMO_PASSWORD)
        http.headers["Authorization"] = f"Bearer {token}"
        rng = random.Random(f"{city.name} {family_username(i)}")
        pages.append(FamilyPageAnswers(http, habits, rng, name=family_username(i)))
    return pages


DEMO_SMS_KEY = ("LTAI-carebell-demo", "demo-secret")


def _sms_stand_in(settings: Settings, base: str) -> tuple[AliyunSmsStandIn, Settings]:
    """The demo's SMS provider: the local stand-in, reporting each message's
    delivery after a moment and pushing the contacts' replies to the server."""
    token = secrets.token_urlsafe(16)
    stand_in = AliyunSmsStandIn(
        dict([DEMO_SMS_KEY]),
        report_url=f"{base}/api/v1/sms/aliyun/report?token={token}",
        up_url=f"{base}/api/v1/sms/aliyun/up?token={token}",
        report_delay_s=2.0,
    ).__enter__()
    return stand_in, settings.model_copy(
        update={
            "sms_provider": "aliyun",
            "sms_aliyun_endpoint": stand_in.url,
            "sms_aliyun_access_key_id": DEMO_SMS_KEY[0],
            "sms_aliyun_access_key_secret": DEMO_SMS_KEY[1],
            "sms_aliyun_sign_name": "CareBell演示",
            "sms_receipt_token": token,
        }
    )


async def _start_the_city(
    app: FastAPI, city: City, settings: Settings, port: int, time_scale: float
) -> tuple[list[CaregiverAppSim], DevicePublisher]:
    """Plan today's visits, sign every caregiver's app in, connect the devices."""
    from dispatch.domain.model import TransportMode
    from dispatch.planning import compile as planner_code
    from simulators.caregiver_app import AppBehaviour, CaregiverAppSim, CaregiverProfile

    homecare = app.state.services.homecare
    if not planner_code.compiled_on_disk():  # scripts/setup.sh compiles it
        log.info("%s: today's plan waits for it", planner_code.NOTICE)
    today = await homecare.plan(homecare.today())
    log.info("planned today's home visits: %d on routes", today.planned)

    base = f"http://{settings.http_host}:{port}"
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
            name=caregiver_username(i),
        )
        for i, (c, token) in enumerate(zip(city.caregivers, tokens, strict=True), start=1)
    ]
    publisher = DevicePublisher(settings.mqtt_url, settings.mqtt_protocol)
    await asyncio.to_thread(publisher.connect)
    return apps, publisher


def bind_http(host: str, port: int) -> socket.socket:
    """The demo's listening socket, bound before anything else starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def press(
    device_id: Annotated[str, typer.Argument(help="The device, e.g. pb-00000.")],
    type_: Annotated[
        str,
        typer.Option("--type", help="The event: press, cancel, sos, fall, ... (docs/devices.md)"),
    ] = "press",
    mqtt_url: Annotated[
        str | None,
        typer.Option(help="The broker [default: CAREBELL_MQTT_URL, else the demo's own broker]."),
    ] = None,
    data_dir: Annotated[
        Path, typer.Option(help="The running demo's --data-dir, where it names its broker.")
    ] = DEFAULT_DATA_DIR,
) -> None:
    """Send one device event, as the device would, to the broker the system uses.

    That is --mqtt-url when given; else CAREBELL_MQTT_URL (or the config file's)
    when a broker answers there; else the private broker a running `carebell demo`
    started. No Mosquitto client is needed.
    """
    settings = settings_with(mqtt_url=mqtt_url)
    url, protocol = settings.mqtt_url, settings.mqtt_protocol
    if mqtt_url is None and not _reachable(url, 1883):
        demo_file = data_dir / SERVICES_FILE
        if not demo_file.is_file():
            typer.echo(
                f"carebell press: no broker answers at {url} and no demo is running "
                f"(no {demo_file}); set --mqtt-url or CAREBELL_MQTT_URL",
                err=True,
            )
            raise typer.Exit(1)
        running = json.loads(demo_file.read_text())
        url, protocol = running["mqtt_url"], running["mqtt_protocol"]
    publisher = DevicePublisher(url, protocol)
    try:
        publisher.connect()
        event_id = publisher.publish_event(device_id, type_)
    except (OSError, ConnectionError) as exc:
        typer.echo(f"carebell press: cannot reach the broker at {url}: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        publisher.close()
    typer.echo(f"{type_} from {device_id} sent to {url} (event {event_id})")


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
    api: Annotated[
        str | None,
        typer.Option(
            help="Base URL of a running CareBell server "
            "[default: http://CAREBELL_HTTP_HOST:CAREBELL_HTTP_PORT]."
        ),
    ] = None,
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
    settings = Settings()
    api = api or f"http://{settings.http_host}:{settings.http_port}"
    if scenario is not None:
        raise typer.Exit(_run_scenario(scenario, spawn, report, api, username, password))
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
