"""Log-in throttling and account locks over HTTP: 429 with Retry-After, a lock a
supervisor releases, both audited, and an unknown name answered like a real one."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlmodel import select

from dispatch.domain.login_throttle import LoginLimits, LoginThrottle
from dispatch.store.tables import RegistryChange
from tests.conftest import RunningServer
from tests.helpers import PASSWORD, bearer, login, make_user


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


async def _log_in(http: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await http.post("/api/v1/auth/login", json={"username": username, "password": password})


async def test_wrong_passwords_are_throttled_alike_for_real_and_unknown_names(
    server: RunningServer,
) -> None:
    real = await asyncio.to_thread(make_user, server.services.db, "operator")
    async with httpx.AsyncClient(base_url=server.http) as http:
        answers = {}
        for name in (real, "nobody-by-this-name"):
            answers[name] = [await _log_in(http, name, "wrong-password") for _ in range(6)]
        seen = {
            name: [(r.status_code, r.json(), r.headers.get("retry-after") is not None) for r in rs]
            for name, rs in answers.items()
        }
        assert seen[real] == seen["nobody-by-this-name"]
        assert [code for code, _, _ in seen[real]] == [401] * 5 + [429]
        assert seen[real][-1][2], "a 429 says when to come back"
        assert 0 < int(answers[real][-1].headers["retry-after"]) <= 60
        # The right password waits too: the window is per name, not per guess.
        assert (await _log_in(http, real, PASSWORD)).status_code == 429


async def test_one_address_guessing_many_names_is_throttled(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.http) as http:
        codes = [(await _log_in(http, f"guess-{i}", "x")).status_code for i in range(21)]
    assert codes == [401] * 20 + [429]


async def test_failures_in_a_row_lock_the_account_until_a_supervisor_releases_it(
    server: RunningServer,
) -> None:
    server.app.state.login_throttle = LoginThrottle(  # type: ignore[attr-defined]
        LoginLimits(per_user=100, per_address=100, lock_after=3)
    )
    db = server.services.db
    victim = await asyncio.to_thread(make_user, db, "operator")
    async with httpx.AsyncClient(base_url=server.http) as http:
        codes = [(await _log_in(http, victim, "wrong")).status_code for _ in range(3)]
        assert codes == [401, 401, 401]
        locked = await _log_in(http, victim, PASSWORD)
        assert locked.status_code == 429
        assert 800 < int(locked.headers["retry-after"]) <= 900
        # Locked in the database too: another process, or a restart, refuses it as well.
        server.app.state.login_throttle = LoginThrottle()  # type: ignore[attr-defined]
        assert (await _log_in(http, victim, PASSWORD)).status_code == 429
        assert (await _log_in(http, victim, "wrong")).status_code == 429

        operator = bearer(await login(server.http, db, "operator"))
        refused = await http.post(f"/api/v1/users/{victim}/unlock", headers=operator)
        assert refused.status_code == 403
        supervisor = bearer(await login(server.http, db, "supervisor"))
        released = await http.post(f"/api/v1/users/{victim}/unlock", headers=supervisor)
        assert released.status_code == 200
        assert released.json()["locked_until"] is None
        assert (await _log_in(http, victim, PASSWORD)).status_code == 200

    with db.read() as session:
        changes = session.exec(
            select(RegistryChange).where(RegistryChange.entity_id == victim)
        ).all()
    assert [(c.entity, c.action) for c in changes] == [("user", "locked"), ("user", "unlocked")]
    assert changes[0].actor == "system:login"
    assert changes[1].actor.startswith("supervisor-")


async def test_every_process_counts_the_same_wrong_passwords(server: RunningServer) -> None:
    """The counts are in Redis, not in one process's memory: a process that saw
    none of the five wrong passwords (its own memory fresh) answers 429 too."""
    real = await asyncio.to_thread(make_user, server.services.db, "operator")
    async with httpx.AsyncClient(base_url=server.http) as http:
        codes = [(await _log_in(http, real, "wrong-password")).status_code for _ in range(5)]
        assert codes == [401] * 5
        server.app.state.login_throttle = LoginThrottle()  # type: ignore[attr-defined]
        refused = await _log_in(http, real, PASSWORD)
        assert refused.status_code == 429
        assert 0 < int(refused.headers["retry-after"]) <= 60
