"""The family page's server side over real services: accounts linked by an
administrator or an invitation code, their elder's alerts live on the family
socket (and nobody else's), told as a story, and the answer on the timeline."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from sqlmodel import select

from dispatch.registry import accounts, family
from dispatch.store.db import Database
from dispatch.store.tables import Device, Elder, ElderContact
from simulators.city import generate_city, seed_accounts, seed_city
from simulators.devices import DevicePublisher
from tests.conftest import RunningServer
from tests.helpers import (
    CENTER,
    PASSWORD,
    LiveClient,
    SmallCity,
    bearer,
    login,
    seed_small_city,
)
from tests.integration.test_access import ws_close_code
from tests.integration.test_end_to_end import on_shift


@pytest.fixture
async def city(server: RunningServer) -> SmallCity:
    return await asyncio.to_thread(seed_small_city, server.services.db)


def another_elder(server: RunningServer) -> tuple[uuid.UUID, str]:
    """A second elder, two streets away, with a wearable of her own (a fall needs a
    first aider: the caregiver on shift here is not one, so he stays free)."""
    elder = Elder(
        name="赵淑芬", address="东四街道", lat=CENTER[0] + 0.004, lon=CENTER[1], district="东城区"
    )
    button = Device(id=f"wr-{uuid.uuid4().hex[:6]}", kind="wearable", elder_id=elder.id)
    with server.services.db.session() as session:
        session.add(elder)
        session.flush()
        session.add(button)
    return elder.id, button.id


async def family_account(http: httpx.AsyncClient, name: str) -> str:
    """An administrator makes a family account; its holder sets a password; a token."""
    made = await http.post(
        "/api/v1/users", json={"username": name, "role": "family", "display_name": "王丽"}
    )
    assert made.status_code == 201, made.text
    async with httpx.AsyncClient(base_url=str(http.base_url)) as own:
        first = await own.post(
            "/api/v1/auth/login",
            json={"username": name, "password": made.json()["one_time_password"]},
        )
        token: str = first.json()["token"]
        changed = await own.post(
            "/api/v1/auth/password",
            json={"current_password": made.json()["one_time_password"], "new_password": PASSWORD},
            headers=bearer(token),
        )
        assert changed.status_code == 200, changed.text
    return token


async def test_a_family_member_follows_their_elders_press_and_says_they_are_going(
    server: RunningServer, city: SmallCity, publisher: DevicePublisher
) -> None:
    db = server.services.db
    other_elder, other_button = await asyncio.to_thread(another_elder, server)
    admin = await login(server.http, db, "admin")
    operator = await login(server.http, db, "operator", areas=("东城区",))
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(admin)) as http:
        daughter = await family_account(http, "wangli")
        linked = await http.post(
            f"/api/v1/elders/{city.elder_id}/family",
            json={"username": "wangli", "relation": "女儿"},
        )
        assert linked.status_code == 201, linked.text
        again = await http.post(
            f"/api/v1/elders/{city.elder_id}/family", json={"username": "wangli"}
        )
        assert again.status_code == 409
        # Only family accounts are linked: an operator's is refused.
        operator_name = (await http.get("/api/v1/auth/me", headers=bearer(operator))).json()[
            "username"
        ]
        wrong = await http.post(
            f"/api/v1/elders/{city.elder_id}/family", json={"username": operator_name}
        )
        assert wrong.status_code == 422
        family_list = (await http.get(f"/api/v1/elders/{city.elder_id}/family")).json()
        assert [(f["username"], f["relation"]) for f in family_list] == [("wangli", "女儿")]

    near = await on_shift(server, city.near_id, 0.0045)
    family = await LiveClient.connect(f"{server.ws}/ws/v1/family", daughter)
    board = await LiveClient.connect(f"{server.ws}/ws/v1/board", operator)

    # The other elder's press reaches the board but not this family.
    await asyncio.to_thread(publisher.publish_event, other_button, "fall")
    others = await board.next("alert.raised", alert__elder_id=str(other_elder))
    await asyncio.to_thread(publisher.publish_event, city.device_id, "press")
    raised = await family.next("family.step", step="alert.raised")
    assert raised["elder_id"] == str(city.elder_id)
    assert raised["stream"] == "family"
    assert raised["seq"]
    # A few fields only: no elder's card, no position, no caregivers' data.
    assert set(raised) == {
        "v",
        "type",
        "step",
        "at",
        "alert_id",
        "elder_id",
        "state",
        "seq",
        "stream",
    }
    alert_id = raised["alert_id"]

    offer = await near.next("order.offered", alert__id=alert_id)
    order_id = offer["order"]["id"]
    for action in ("accept", "en_route"):
        await near.send(type="action", action=action, order_id=order_id, ref=action)
        await near.next("reply", ref=action)
    await family.next("family.step", step="order.en_route", alert_id=alert_id)

    async with httpx.AsyncClient(base_url=server.http, headers=bearer(daughter)) as http:
        [told] = (await http.get("/api/v1/family/alerts")).json()
        assert told["id"] == alert_id
        assert told["elder_name"] == "王秀英"
        assert told["open"]
        kinds = [line["kind"] for line in told["story"]]
        assert kinds == ["raised", "accepted", "en_route"]
        en_route = told["story"][2]
        assert en_route["caregiver"] == "李桂兰"
        assert en_route["eta_min"] >= 1
        assert [e["elder_name"] for e in (await http.get("/api/v1/family/elders")).json()] == [
            "王秀英"
        ]

        # She is 300 m away; the caregiver was 500 m away when offered.
        going = await http.post(
            f"/api/v1/family/alerts/{alert_id}/answer",
            json={"answer": "going", "lat": CENTER[0] + 0.0027, "lon": CENTER[1]},
        )
        assert going.status_code == 200, going.text
        assert going.json()["story"][-1]["kind"] == "family_answer"
        # Bad input is a clear 422; another elder's alert does not exist for her.
        half = await http.post(
            f"/api/v1/family/alerts/{alert_id}/answer", json={"answer": "going", "lat": 39.9}
        )
        assert half.status_code == 422
        bogus = await http.post(
            f"/api/v1/family/alerts/{alert_id}/answer", json={"answer": "maybe"}
        )
        assert bogus.status_code == 422
        not_hers = await http.post(
            f"/api/v1/family/alerts/{others['alert']['id']}/answer", json={"answer": "going"}
        )
        assert not_hers.status_code == 404
        # The board's resources are not hers.
        assert (await http.get("/api/v1/alerts")).status_code == 403
        assert (await http.get(f"/api/v1/alerts/{alert_id}/audit")).status_code == 403

    # The operator sees the answer on the timeline: who, how far, and the caregiver's.
    answered = await board.next("alert.family_answer", alert__id=alert_id)
    assert answered["actor"] == "family:wangli"
    detail = answered["detail"]
    assert (detail["answer"], detail["who"], detail["relation"]) == ("going", "王丽", "女儿")
    assert 280 < detail["distance_m"] < 320
    assert detail["caregiver"] == "李桂兰"
    assert detail["nearer"] is True
    await family.next("family.step", step="alert.family_answer", alert_id=alert_id)

    await near.send(type="action", action="arrive", order_id=order_id, ref="arrive")
    await near.send(
        type="action", action="complete", order_id=order_id, ref="complete", code="needed_help"
    )
    await family.next("family.step", step="alert.resolved", alert_id=alert_id)
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(daughter)) as http:
        late = await http.post(
            f"/api/v1/family/alerts/{alert_id}/answer", json={"answer": "cannot_come"}
        )
        assert late.status_code == 409
    steps = [m.get("step") for m in family.received if m["type"] == "family.step"]
    assert all(m.get("elder_id") == str(city.elder_id) for m in family.received if m.get("step"))
    assert "alert.notified" not in steps
    assert "caregiver.position" not in steps
    for client in (family, board, near):
        await client.close()


async def test_an_invitation_code_links_once_and_only_a_family_socket_opens(
    server: RunningServer, city: SmallCity
) -> None:
    db = server.services.db
    admin = await login(server.http, db, "admin")
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(admin)) as http:
        son = await family_account(http, "wangqiang")
        niece = await family_account(http, "xiaomei")
        issued = await http.post(
            f"/api/v1/elders/{city.elder_id}/family/invitations", json={"relation": "儿子"}
        )
        assert issued.status_code == 201, issued.text
        code = issued.json()["code"]
        assert len(code) == 9
        assert code[4] == "-"
        # Operators may not make codes.
        operator = await login(server.http, db, "operator", areas=("东城区",))
        refused = await http.post(
            f"/api/v1/elders/{city.elder_id}/family/invitations", headers=bearer(operator)
        )
        assert refused.status_code == 403

    async with httpx.AsyncClient(base_url=server.http, headers=bearer(son)) as http:
        assert (await http.get("/api/v1/family/alerts")).json() == []
        wrong = await http.post("/api/v1/family/link", json={"code": "2222-2222"})
        assert wrong.status_code == 422
        # Typed in lower case without the dash, it still reads.
        took = await http.post("/api/v1/family/link", json={"code": code.replace("-", "").lower()})
        assert took.status_code == 201, took.text
        assert (took.json()["elder_name"], took.json()["relation"]) == ("王秀英", "儿子")
        assert took.json()["linked_by"].startswith("invitation:admin-")
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(niece)) as http:
        used = await http.post("/api/v1/family/link", json={"code": code})
        assert used.status_code == 422
        assert (await http.get("/api/v1/family/elders")).json() == []

    # A family account has no board; other accounts have no family stream.
    for token, path in ((son, "/ws/v1/board"), (admin, "/ws/v1/family")):
        assert await ws_close_code(f"{server.ws}{path}", token=token) == 4403
    # Nor does a token in the URL open it (docs/protocol.md).
    assert await ws_close_code(f"{server.ws}/ws/v1/family?token={son}") == 4400

    # Unlinked by the administrator, the son sees that elder no more.
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(admin)) as http:
        gone = await http.delete(f"/api/v1/elders/{city.elder_id}/family/wangqiang")
        assert gone.status_code == 204
        assert (
            await http.delete(f"/api/v1/elders/{city.elder_id}/family/wangqiang")
        ).status_code == 404
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(son)) as http:
        assert (await http.get("/api/v1/family/elders")).json() == []


def test_the_demo_city_has_family_accounts_linked_to_elders_with_contacts(db: Database) -> None:
    city = generate_city()
    with db.session() as session:
        assert seed_city(session, city)
    seed_accounts(db, city)
    user = accounts.get_user(db, "fam01")
    assert user.role == "family"
    [linked] = family.linked_elders(db, user.id)
    assert (linked.elder_id, linked.relation) == (city.elders[0].id, "女儿")
    with db.read() as session:
        contacts = session.exec(
            select(ElderContact).where(ElderContact.elder_id == linked.elder_id)
        ).all()
    assert {(c.role, c.key_holder) for c in contacts} == {("family", False), ("neighbour", True)}
    assert [c.name for c in contacts if c.role == "family"] == [user.display_name]
