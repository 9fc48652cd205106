"""WebSocket endpoints: the operators' board and the caregivers' app (docs/protocol.md)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, Field, ValidationError
from redis.exceptions import RedisError
from starlette.websockets import WebSocketDisconnected

from dispatch.domain.access import BOARD_ROLES, Principal
from dispatch.domain.live_events import PROTOCOL_VERSION, caregiver_position_event
from dispatch.emergency.orders import CaregiverAction, act_on_order, request_help
from dispatch.errors import CareBellError, IllegalTransition, NotFound
from dispatch.live.bus import StreamEntry
from dispatch.live.fanout import seq_key
from dispatch.registry import accounts
from dispatch.voice.session import Party, PartyKind

if TYPE_CHECKING:
    from dispatch.domain.catalog import Catalog
    from dispatch.live.bus import LiveBus
    from dispatch.live.fanout import Fanout
    from dispatch.store.db import Database
    from dispatch.voice.service import VoiceService

log = logging.getLogger(__name__)
router = APIRouter()


class HubParts(Protocol):
    """What the two sockets use of the running server (the composition root keeps
    it in ``app.state.services``); nothing else of it."""

    @property
    def db(self) -> Database: ...

    @property
    def bus(self) -> LiveBus: ...

    @property
    def fanout(self) -> Fanout: ...

    @property
    def catalog(self) -> Catalog: ...

    @property
    def voice(self) -> VoiceService | None: ...

    async def after_change(self) -> None: ...


MAX_QUEUED = 1_000  # entries waiting for one socket before it is deemed too slow
CLOSE_TOO_SLOW = 4008
CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403


class LiveConnection:
    """One socket's outgoing queue and writer: live entries in seq order, plus replies."""

    def __init__(
        self,
        websocket: WebSocket,
        stream_name: str,
        accepts: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        self.websocket = websocket
        self.stream_name = stream_name
        self.accepts = accepts  # e.g. an operator sees only alerts of their areas
        self.queue: asyncio.Queue[StreamEntry | dict[str, Any]] = asyncio.Queue()
        self.last_sent: tuple[int, int] = (0, 0)
        self.too_slow = asyncio.Event()

    def deliver(self, entry: StreamEntry) -> None:
        if self.queue.qsize() >= MAX_QUEUED:
            self.too_slow.set()
            return
        self.queue.put_nowait(entry)

    def reply(self, message: dict[str, Any]) -> None:
        self.queue.put_nowait({"v": PROTOCOL_VERSION, **message})

    async def send(self, item: StreamEntry | dict[str, Any]) -> None:
        if isinstance(item, StreamEntry):
            key = seq_key(item.seq)
            if key <= self.last_sent:
                return  # already sent by the replay
            self.last_sent = key
            if self.accepts is not None and not self.accepts(item.message):
                return
            item = {**item.message, "seq": item.seq, "stream": self.stream_name}
        await self.websocket.send_text(json.dumps(item, ensure_ascii=False))

    async def write_loop(self) -> None:
        while True:
            await self.send(await self.queue.get())


async def _serve(
    websocket: WebSocket,
    services: HubParts,
    stream: str,
    stream_name: str,
    last_seq: str | None,
    inbound: Any = None,
    accepts: Callable[[dict[str, Any]], bool] | None = None,
    voice_party: Party | None = None,
    voice_areas: Callable[[str], bool] | None = None,
) -> None:
    """Subscribe, replay what the client missed, then stream until it leaves."""
    if last_seq and not _valid_seq(last_seq):
        await websocket.close(CLOSE_BAD_REQUEST, "last_seq is not a stream id")
        return
    conn = LiveConnection(websocket, stream_name, accepts)
    fanout = services.fanout
    # Subscribe first, then replay: live entries queue up meanwhile, and the
    # writer skips those the replay already sent.
    await fanout.subscribe(stream, conn)
    voice = services.voice if voice_party is not None else None
    if voice is not None and voice_party is not None:
        voice.attach(voice_party, conn, voice_areas)
    try:
        await _stream(websocket, services, conn, stream, last_seq, inbound)
    except WebSocketDisconnect:
        pass  # the client left
    finally:
        fanout.unsubscribe(stream, conn)
        if voice is not None and voice_party is not None:
            await voice.detach(voice_party, conn)


async def _stream(
    websocket: WebSocket,
    services: HubParts,
    conn: LiveConnection,
    stream: str,
    last_seq: str | None,
    inbound: Any,
) -> None:
    await conn.send({"v": PROTOCOL_VERSION, "type": "hello", "stream": conn.stream_name})
    if last_seq:
        oldest = await services.bus.oldest_seq(stream)
        if oldest is not None and seq_key(oldest) > seq_key(last_seq):
            await conn.send(
                {
                    "v": PROTOCOL_VERSION,
                    "type": "resync",
                    "reason": "history was trimmed; reload the snapshot over REST",
                }
            )
        for entry in await services.bus.read_since(stream, last_seq, count=10_000):
            await conn.send(entry)
    tasks = {
        asyncio.create_task(conn.write_loop()),
        asyncio.create_task(_read_loop(websocket, conn, inbound)),
    }
    too_slow = asyncio.create_task(conn.too_slow.wait())
    try:
        done, _ = await asyncio.wait(tasks | {too_slow}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks | {too_slow}:
            task.cancel()
        await asyncio.gather(*tasks, too_slow, return_exceptions=True)
    if too_slow in done:
        await websocket.close(CLOSE_TOO_SLOW, "too slow; reconnect with last_seq")
    for task in done - {too_slow}:
        error = task.exception()
        # WebSocketDisconnected: the server closed the socket itself (shutting down).
        if error is not None and not isinstance(error, WebSocketDisconnect | WebSocketDisconnected):
            raise error


async def _read_loop(websocket: WebSocket, conn: LiveConnection, inbound: Any) -> None:
    while True:
        text = await websocket.receive_text()
        if inbound is None:
            continue  # a socket that only listens
        try:
            message = json.loads(text)
            if not isinstance(message, dict):
                raise ValueError("a message must be a JSON object")
        except ValueError as exc:
            conn.reply({"type": "error", "code": "bad_json", "message": str(exc)[:200]})
            continue
        await inbound(message, conn)


def _valid_seq(seq: str) -> bool:
    try:
        seq_key(seq)
    except ValueError:
        return False
    return True


async def _authenticate(
    websocket: WebSocket, services: HubParts, token: str | None
) -> Principal | None:
    """Accept the socket and return who it is, or close it with 4401 and return None."""
    await websocket.accept()
    user = (
        await services.db.run(accounts.user_for_token, services.db, token, now=datetime.now(UTC))
        if token
        else None
    )
    if user is None:
        log.warning("4401 %s: no valid token", websocket.url.path)
        await websocket.close(CLOSE_UNAUTHORIZED, "log in first: no valid token")
        return None
    if user.must_change_password:  # a one-time password opens nothing but its change
        log.warning("4403 %s: %s must change their password", websocket.url.path, user.username)
        await websocket.close(CLOSE_FORBIDDEN, "password_change_required")
        return None
    return accounts.principal_of(user)


async def _refuse(websocket: WebSocket, principal: Principal, why: str) -> None:
    log.warning(
        "4403 %s for %s (%s): %s", websocket.url.path, principal.username, principal.role, why
    )
    await websocket.close(CLOSE_FORBIDDEN, why)


def _area_filter(principal: Principal) -> Callable[[dict[str, Any]], bool] | None:
    if principal.sees_every_area:
        return None

    def visible(message: dict[str, Any]) -> bool:
        alert = message.get("alert")
        return alert is None or principal.may_see_area(alert.get("district", ""))

    return visible


@router.websocket("/ws/v1/board")
async def board(
    websocket: WebSocket, token: str | None = None, last_seq: str | None = None
) -> None:
    services: HubParts = websocket.app.state.services
    principal = await _authenticate(websocket, services, token)
    if principal is None:
        return
    if principal.role not in BOARD_ROLES:
        await _refuse(websocket, principal, f"a {principal.role} has no board")
        return
    # Operators' actions go through REST; the socket carries only their calls'
    # signalling (docs/voice.md).
    party = Party(PartyKind.OPERATOR, principal.username)

    async def inbound(message: dict[str, Any], conn: LiveConnection) -> None:
        if services.voice is not None and str(message.get("type", "")).startswith("voice."):
            await services.voice.from_browser(party, message, conn)

    await _serve(
        websocket,
        services,
        services.bus.board_stream,
        "board",
        last_seq,
        inbound,
        accepts=_area_filter(principal),
        voice_party=party,
        voice_areas=None if principal.sees_every_area else principal.may_see_area,
    )


class ActionMessage(BaseModel):
    type: str = Field(pattern="^action$")
    action: CaregiverAction
    order_id: UUID
    ref: str | None = Field(default=None, max_length=64)
    note: str | None = Field(default=None, max_length=2000)


class PositionMessage(BaseModel):
    type: str = Field(pattern="^position$")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


@router.websocket("/ws/v1/caregivers/{caregiver_id}")
async def caregiver(
    websocket: WebSocket,
    caregiver_id: UUID,
    token: str | None = None,
    last_seq: str | None = None,
) -> None:
    services: HubParts = websocket.app.state.services
    principal = await _authenticate(websocket, services, token)
    if principal is None:
        return
    if principal.caregiver_id != caregiver_id:
        await _refuse(websocket, principal, "this is another caregiver's stream")
        return

    async def act(action: ActionMessage) -> dict[str, Any]:
        at = datetime.now(UTC)
        if action.action is CaregiverAction.NEED_HELP:
            backup = await services.db.run(
                request_help, services.db, services.catalog, caregiver_id, action.order_id, at=at
            )
            await services.after_change()
            return {
                "type": "reply",
                "ref": action.ref,
                "ok": True,
                "order_id": str(action.order_id),
                "backup_alert_id": str(backup.id),
            }
        detail = {"note": action.note} if action.note else None
        order = await services.db.run(
            act_on_order,
            services.db,
            caregiver_id,
            action.order_id,
            action.action,
            at=at,
            detail=detail,
        )
        await services.after_change()
        return {
            "type": "reply",
            "ref": action.ref,
            "ok": True,
            "order_id": str(order.id),
            "state": order.state.value,
        }

    party = Party(PartyKind.CAREGIVER, str(caregiver_id))

    async def inbound(message: dict[str, Any], conn: LiveConnection) -> None:
        ref = message.get("ref")
        if str(message.get("type", "")).startswith("voice."):
            if services.voice is not None:
                await services.voice.from_browser(party, message, conn)
            return
        try:
            if message.get("type") == "position":
                pos = PositionMessage.model_validate(message)
                await services.bus.set_position(str(caregiver_id), pos.lat, pos.lon)
                event = caregiver_position_event(
                    str(caregiver_id), pos.lat, pos.lon, datetime.now(UTC)
                )
                await services.bus.publish([(services.bus.board_stream, event)])
                return
            action = ActionMessage.model_validate(message)
            # An app that resends an action after losing its connection gets the
            # first answer again: each ref is carried out once.
            key = f"{caregiver_id}:{action.ref}" if action.ref else None
            earlier = await services.bus.recall_reply(key) if key else None
            if earlier is not None:
                conn.reply({**json.loads(earlier), "repeated": True})
                return
            reply = await act(action)
            if key:
                await services.bus.remember_reply(key, json.dumps(reply))
            conn.reply(reply)
        except ValidationError as exc:
            conn.reply(
                {"type": "error", "ref": ref, "code": "invalid", "message": exc.errors()[0]["msg"]}
            )
        except IllegalTransition as exc:
            conn.reply(
                {"type": "error", "ref": ref, "code": "illegal_transition", "message": str(exc)}
            )
        except NotFound as exc:
            conn.reply({"type": "error", "ref": ref, "code": "not_found", "message": str(exc)})
        except (CareBellError, RedisError) as exc:
            log.warning("caregiver %s message failed: %s", caregiver_id, exc)
            conn.reply({"type": "error", "ref": ref, "code": "unavailable", "message": str(exc)})

    try:
        await _serve(
            websocket,
            services,
            services.bus.caregiver_stream(str(caregiver_id)),
            "caregiver",
            last_seq,
            inbound,
            voice_party=party,
        )
    finally:
        # The phone is gone: offer it nothing until it reports a position again
        # (waiting for the position to age out would waste an offer timeout).
        with contextlib.suppress(RedisError, OSError):
            await services.bus.forget_position(str(caregiver_id))
