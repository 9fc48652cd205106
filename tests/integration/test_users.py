"""Account administration: only admins, one-time passwords, the first change, disabling."""

from __future__ import annotations

import httpx

from tests.conftest import RunningServer
from tests.helpers import bearer, login

NEW_PASSWORD = "Brass-otter-lantern-71"


async def _log_in(http: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await http.post("/api/v1/auth/login", json={"username": username, "password": password})


async def test_only_admins_reach_the_accounts(server: RunningServer) -> None:
    db = server.services.db
    async with httpx.AsyncClient(base_url=server.http) as http:
        for role in ["operator", "supervisor"]:
            token = await login(server.http, db, role)
            headers = bearer(token)
            assert (await http.get("/api/v1/users", headers=headers)).status_code == 403
            made = await http.post(
                "/api/v1/users", headers=headers, json={"username": "x1", "role": "admin"}
            )
            assert made.status_code == 403, role
            patched = await http.patch(
                "/api/v1/users/x1", headers=headers, json={"reset_password": True}
            )
            assert patched.status_code == 403, role
        assert (await http.get("/api/v1/users")).status_code == 401


async def test_a_new_account_must_choose_its_password_before_anything_else(
    server: RunningServer,
) -> None:
    admin = bearer(await login(server.http, server.services.db, "admin"))
    async with httpx.AsyncClient(base_url=server.http) as http:
        made = await http.post(
            "/api/v1/users",
            headers=admin,
            json={"username": "op.east", "role": "operator", "areas": ["东城区"]},
        )
        assert made.status_code == 201, made.text
        issued = made.json()
        assert issued["must_change_password"] is True
        once = issued["one_time_password"]
        assert len(once) >= 12
        listed = (await http.get("/api/v1/users", headers=admin)).json()
        mine = [u for u in listed if u["username"] == "op.east"]
        assert mine
        assert "one_time_password" not in mine[0]

        session = (await _log_in(http, "op.east", once)).json()
        assert session["user"]["must_change_password"] is True
        own = bearer(session["token"])
        refused = await http.get("/api/v1/alerts", headers=own)
        assert refused.status_code == 403
        assert "password_change_required" in refused.json()["detail"]

        weak = await http.post(
            "/api/v1/auth/password",
            headers=own,
            json={"current_password": once, "new_password": "password123"},
        )
        assert weak.status_code == 422
        assert weak.json()["problems"]
        named = await http.post(
            "/api/v1/auth/password",
            headers=own,
            json={"current_password": once, "new_password": "op.east-river-2026"},
        )
        assert named.status_code == 422
        wrong = await http.post(
            "/api/v1/auth/password",
            headers=own,
            json={"current_password": "not-it", "new_password": NEW_PASSWORD},
        )
        assert wrong.status_code == 403
        changed = await http.post(
            "/api/v1/auth/password",
            headers=own,
            json={"current_password": once, "new_password": NEW_PASSWORD},
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["must_change_password"] is False
        assert (await http.get("/api/v1/alerts", headers=own)).status_code == 200
        assert (await _log_in(http, "op.east", once)).status_code == 401
        assert (await _log_in(http, "op.east", NEW_PASSWORD)).status_code == 200


async def test_disabling_ends_sessions_and_log_ins_and_reenabling_restores_them(
    server: RunningServer,
) -> None:
    db = server.services.db
    admin = bearer(await login(server.http, db, "admin"))
    async with httpx.AsyncClient(base_url=server.http) as http:
        once = (
            await http.post(
                "/api/v1/users", headers=admin, json={"username": "sup.a", "role": "supervisor"}
            )
        ).json()["one_time_password"]
        token = (await _log_in(http, "sup.a", once)).json()["token"]
        await http.post(
            "/api/v1/auth/password",
            headers=bearer(token),
            json={"current_password": once, "new_password": NEW_PASSWORD},
        )
        assert (await http.get("/api/v1/alerts", headers=bearer(token))).status_code == 200

        off = await http.patch("/api/v1/users/sup.a", headers=admin, json={"active": False})
        assert off.status_code == 200
        assert off.json()["active"] is False
        assert (await http.get("/api/v1/alerts", headers=bearer(token))).status_code == 401
        assert (await _log_in(http, "sup.a", NEW_PASSWORD)).status_code == 401

        on = await http.patch("/api/v1/users/sup.a", headers=admin, json={"active": True})
        assert on.json()["active"] is True
        assert (await _log_in(http, "sup.a", NEW_PASSWORD)).status_code == 200


async def test_a_reset_issues_a_new_one_time_password_and_ends_sessions(
    server: RunningServer,
) -> None:
    db = server.services.db
    admin = bearer(await login(server.http, db, "admin"))
    async with httpx.AsyncClient(base_url=server.http) as http:
        first = (
            await http.post(
                "/api/v1/users", headers=admin, json={"username": "op.b", "role": "operator"}
            )
        ).json()["one_time_password"]
        token = (await _log_in(http, "op.b", first)).json()["token"]
        reset = await http.patch("/api/v1/users/op.b", headers=admin, json={"reset_password": True})
        second = reset.json()["one_time_password"]
        assert second
        assert second != first
        assert (await http.get("/api/v1/auth/me", headers=bearer(token))).status_code == 401
        assert (await _log_in(http, "op.b", first)).status_code == 401
        again = (await _log_in(http, "op.b", second)).json()
        assert again["user"]["must_change_password"] is True


async def test_bad_requests_get_clear_answers(server: RunningServer) -> None:
    db = server.services.db
    admin = bearer(await login(server.http, db, "admin"))
    async with httpx.AsyncClient(base_url=server.http) as http:
        body = {"username": "dup", "role": "operator"}
        assert (await http.post("/api/v1/users", headers=admin, json=body)).status_code == 201
        assert (await http.post("/api/v1/users", headers=admin, json=body)).status_code == 409
        bad_role = {"username": "r1", "role": "mayor"}
        assert (await http.post("/api/v1/users", headers=admin, json=bad_role)).status_code == 422
        no_cg = {"username": "cg1", "role": "caregiver"}
        assert (await http.post("/api/v1/users", headers=admin, json=no_cg)).status_code == 422
        missing = await http.patch("/api/v1/users/nobody", headers=admin, json={"active": False})
        assert missing.status_code == 404
        who = (await http.get("/api/v1/auth/me", headers=admin)).json()["username"]
        selfoff = await http.patch(f"/api/v1/users/{who}", headers=admin, json={"active": False})
        assert selfoff.status_code == 403


async def test_a_supervisors_email_is_set_checked_and_shown(server: RunningServer) -> None:
    db = server.services.db
    admin = bearer(await login(server.http, db, "admin"))
    async with httpx.AsyncClient(base_url=server.http) as http:
        body = {"username": "sup-mail", "role": "supervisor", "email": "not an address"}
        bad = await http.post("/api/v1/users", headers=admin, json=body)
        assert bad.status_code == 422
        assert "email" in bad.text
        body["email"] = "wang@bureau.example"
        made = await http.post("/api/v1/users", headers=admin, json=body)
        assert made.status_code == 201
        assert made.json()["email"] == "wang@bureau.example"
        wrong = await http.patch("/api/v1/users/sup-mail", headers=admin, json={"email": "x@"})
        assert wrong.status_code == 422
        kept = (await http.get("/api/v1/users/sup-mail", headers=admin)).json()
        assert kept["email"] == "wang@bureau.example"  # the bad change lost nothing
        cleared = await http.patch("/api/v1/users/sup-mail", headers=admin, json={"email": ""})
        assert cleared.json()["email"] == ""
