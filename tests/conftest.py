"""Fixtures: private Mosquitto and Redis processes, SQLite and PostgreSQL databases
(a private PostgreSQL cluster when none answers), and an in-process CareBell
server. Each test gets its own database and Redis key prefix, so tests are
isolated and may run in parallel (pytest -n).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from config.settings import Settings
from simulators import local_services

if TYPE_CHECKING:
    from dispatch.store.db import Database
    from simulators.devices import DevicePublisher

# The server, the database and the MQTT client are imported by the fixtures that
# use them, so the unit tier does not load them (seconds of its inner loop).


def pytest_sessionstart(session: pytest.Session) -> None:
    """scripts/setup.sh compiles the planner's search once; if that has not been
    done (or kernel.py changed since), it compiles here, outside every test's time
    limit, rather than in the first test that plans."""
    from dispatch.planning import compile

    compile.main()


def use_light_password_hashes() -> None:
    """Hash the tests' passwords with argon2id at its lightest cost, in this process.

    The product's cost (about 0.3 s of CPU per hash and per log-in, more on a
    busy machine) is what a password needs, not what a test of log-in or
    access needs: hundreds of accounts are made and signed in across the suite.
    Stored hashes carry their own parameters, so every check stays a real argon2id
    check; subprocesses (the ``carebell`` command) keep the product's cost."""
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    from dispatch.registry import accounts

    accounts._hasher = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))


POSTGRES_ADMIN_URL = os.environ.get(
    "CAREBELL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def _postgres_answers(url: str) -> bool:
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.OperationalError:
        return False
    return True


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A PostgreSQL superuser's URL: CAREBELL_TEST_POSTGRES_URL when a server answers
    there, else a private cluster started for this session and removed after it."""
    if _postgres_answers(POSTGRES_ADMIN_URL):
        yield POSTGRES_ADMIN_URL
        return
    # Under /tmp itself: as root the cluster runs as "postgres", which must reach it.
    workdir = Path(tempfile.mkdtemp(prefix="carebell-postgres-"))
    try:
        server = local_services.postgres(workdir).start(timeout_s=60)
        try:
            yield server.url
        finally:
            server.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[local_services.LocalServer]:
    server = local_services.mosquitto(tmp_path_factory.mktemp("mosquitto")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[local_services.LocalServer]:
    server = local_services.redis(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def private_mosquitto(tmp_path: Path) -> Iterator[local_services.LocalServer]:
    """A broker of this test's own, to kill and restart."""
    server = local_services.mosquitto(tmp_path / "mosquitto").start()
    yield server
    server.stop()


def _postgres_database(admin_url: str) -> Iterator[str]:
    import psycopg

    name = f"carebell_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same test against the embedded default and against PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/carebell.db"
    else:
        yield from _postgres_database(request.getfixturevalue("postgres_admin_url"))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/carebell.db"


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    yield from _postgres_database(postgres_admin_url)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    from dispatch.store.db import Database

    database = Database(Settings(database_url=database_url).database_url)
    database.create_schema()
    yield database
    database.dispose()


@pytest.fixture
def settings(
    database_url: str,
    mosquitto: local_services.LocalServer,
    redis_server: local_services.LocalServer,
) -> Settings:
    tag = uuid.uuid4().hex[:8]
    return Settings(
        database_url=database_url,
        mqtt_url=mosquitto.url,
        redis_url=redis_server.url,
        redis_prefix=f"test-{tag}",
        mqtt_client_id=f"gateway-{tag}",
        # Each test's gateway gets the test's own share group, so tests sharing
        # the session broker never take each other's messages.
        mqtt_share_group=f"g{tag}",
        http_port=local_services.free_port(),
        dispatch_tick_s=0.2,
    )


class RunningServer:
    def __init__(self, settings: Settings, app: object) -> None:
        self.settings = settings
        self.app = app
        self.http = f"http://127.0.0.1:{settings.http_port}"
        self.ws = f"ws://127.0.0.1:{settings.http_port}"

    @property
    def services(self):  # type: ignore[no-untyped-def]
        return self.app.state.services  # type: ignore[attr-defined]


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    """CareBell serving on a free port inside the test's event loop."""
    import uvicorn

    from dispatch.runtime.app import create_app

    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=settings.http_port, log_level="warning")
    uv = uvicorn.Server(config)
    task = asyncio.create_task(uv.serve())
    while not uv.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    yield RunningServer(settings, app)
    uv.should_exit = True
    await asyncio.wait_for(task, 15)


@pytest.fixture
def publisher(settings: Settings) -> Iterator[DevicePublisher]:
    """A device-side MQTT client on the test's broker."""
    from simulators.devices import DevicePublisher

    pub = DevicePublisher(settings.mqtt_url)
    pub.connect()
    yield pub
    pub.close()
