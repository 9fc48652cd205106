"""WebSocket endpoints: the operators' board and the caregivers' app (docs/protocol.md)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, Field, ValidationError
from redis.exceptions import RedisError
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.websockets import WebSocketDisconnected

from dispatch.api import browser_session
from dispatch.domain.access import BOARD_ROLES, Principal, Role
from dispatch.domain.areas import CaregiverShare, Place
from dispatch.domain.family import STORY_EVENT_TYPES
from dispatch.domain.lifecycle import ACTIVE_ORDER_STATES
from dispatch.domain.live_events import (
    PROTOCOL_VERSION,
    LiveEventType,
    caregiver_position_event,
    place_in_view,
)
from dispatch.emergency.family import elder_ids_of
from dispatch.emergency.orders import (
    CaregiverAction,
    act_and_claim,
    help_reply,
    order_reply,
    request_help,
)
from dispatch.errors import CareBellError, IllegalTransition, InvalidInput, NotFound
from dispatch.live.bus import StreamEntry
from dispatch.live.fanout import seq_key
from dispatch.live.outbox import BATCH as OUTBOX_BATCH
from dispatch.live.outbox import Claim
from dispatch.live.sessions import LiveSessions
from dispatch.registry import accounts
from dispatch.store import replies
from dispatch.store.db import Database
from dispatch.store.reads import caregiver_share
from dispatch.voice.session import Party, PartyKind
from dispatch.ws.coalesce import PositionCoalescer

if TYPE_CHECKING:
    from dispatch.domain.catalog import Catalog
    from dispatch.live.bus import LiveBus
    from dispatch.live.fanout import Fanout
    from dispatch.live.outbox import Outbox
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

    @property
    def outbox(self) -> Outbox: ...

    async def after_change(self) -> None: ...


MAX_QUEUED = 1_000  # entries waiting for one socket before it is deemed too slow
CLOSE_TOO_SLOW = 4008
CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
SUBPROTOCOL = "carebell.v1"
TOKEN_PREFIX = "bearer."  # Sec-WebSocket-Protocol: carebell.v1, bearer.<token>
AUTH_TIMEOUT_S = 10.0  # for the first message, when the header carries no token
RECHECK_S = 30.0  # how often an open socket asks whether its session still stands


class LiveConnection:
    """One socket's outgoing queue and writer: live entries in seq order, plus replies."""

    def __init__(
        self,
        websocket: WebSocket,
        stream_name: str,
        accepts: Callable[[dict[str, Any]], bool] | None = None,
        shape: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self.websocket = websocket
        self.stream_name = stream_name
        self.accepts = accepts  # e.g. an operator sees only alerts of their areas
        self.shape = shape  # e.g. a family's socket gets a few fields of what it accepts
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
            message = item.message if self.shape is None else self.shape(item.message)
            item = {**message, "seq": item.seq, "stream": self.stream_name}
        await self.websocket.send_text(json.dumps(item, ensure_ascii=False))

    async def write_loop(self) -> None:
        while True:
            await self.send(await self.queue.get())


async def _serve(
    websocket: WebSocket,
    services: HubParts,
    session: SocketSession,
    stream: str,
    stream_name: str,
    last_seq: str | None,
    inbound: Any = None,
    accepts: Callable[[dict[str, Any]], bool] | None = None,
    voice_party: Party | None = None,
    voice_areas: Callable[[Place], bool] | None = None,
    shape: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> None:
    """Subscribe, replay what the client missed, then stream until it leaves."""
    if last_seq and not _valid_seq(last_seq):
        await websocket.close(CLOSE_BAD_REQUEST, "last_seq is not a stream id")
        return
    conn = LiveConnection(websocket, stream_name, accepts, shape)
    fanout = services.fanout
    # Subscribe first, then replay: live entries queue up meanwhile, and the
    # writer skips those the replay already sent.
    await fanout.subscribe(stream, conn)
    voice = services.voice if voice_party is not None else None
    if voice is not None and voice_party is not None:
        voice.attach(voice_party, conn, voice_areas)
    sessions: LiveSessions = websocket.app.state.live_sessions
    ended = sessions.watch(session.token)
    try:
        await _stream(
            websocket,
            services,
            conn,
            stream,
            last_seq,
            inbound,
            _session_ends(services, session, ended),
        )
    except WebSocketDisconnect:
        pass  # the client left
    finally:
        sessions.forget(session.token, ended)
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
    session_ends: Coroutine[Any, Any, None],
) -> None:
    ending = asyncio.create_task(session_ends)
    try:
        await conn.send({"v": PROTOCOL_VERSION, "type": "hello", "stream": conn.stream_name})
    except BaseException:
        ending.cancel()
        raise
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
    watchers = {too_slow, ending}
    try:
        done, _ = await asyncio.wait(tasks | watchers, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks | watchers:
            task.cancel()
        await asyncio.gather(*tasks, *watchers, return_exceptions=True)
    if too_slow in done:
        await websocket.close(CLOSE_TOO_SLOW, "too slow; reconnect with last_seq")
    elif ending in done and ending.exception() is None:
        log.info("4401 %s: the session ended", websocket.url.path)
        await websocket.close(CLOSE_UNAUTHORIZED, "the session ended: log in again")
    for task in done - watchers:
        error = task.exception()
        # WebSocketDisconnected: the server closed the socket itself (shutting down).
        if error is not None and not isinstance(error, WebSocketDisconnect | WebSocketDisconnected):
            raise error


async def _read_loop(websocket: WebSocket, conn: LiveConnection, inbound: Any) -> None:
    while True:
        frame = await websocket.receive()
        if frame["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(frame.get("code", 1000))
        text = frame.get("text")
        if text is None:  # a binary frame: the protocol is JSON text only
            conn.reply({"type": "error", "code": "bad_json", "message": "send JSON text frames"})
            continue
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


async def _publish_committed(services: HubParts, claim: Claim | None) -> None:
    """Publish what a caregiver's action committed. The action stands whatever
    happens here: should the database or Redis be too busy now, the outbox's
    sweep publishes it, and the app gets its reply.

    ``claim``: the records the action's own transaction claimed (its step with
    them); an outbox pass only when they are not all, or could not go out.
    """
    try:
        if claim is not None:
            whole = bool(claim.records) and len(claim.records) < OUTBOX_BATCH
            if await services.outbox.publish_claimed(claim) and whole:
                return
        await services.after_change()
    except (OperationalError, RedisError, OSError) as exc:
        log.warning("an action's live events wait for the outbox's sweep: %s", exc)


def _valid_seq(seq: str) -> bool:
    try:
        seq_key(seq)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class SocketSession:
    """Who is on a socket, and the log-in session that lets them be."""

    principal: Principal
    token: str
    expires_at: datetime
    user_id: UUID


async def _authenticate(websocket: WebSocket, services: HubParts) -> SocketSession | None:
    """Accept the socket and return who it is, or close it (4400, 4401, 4403) and
    return None.

    The token comes in the ``Sec-WebSocket-Protocol`` header, offered as
    ``bearer.<token>`` beside ``carebell.v1`` (the one the server picks, so the
    token is never echoed), or in the pages' HttpOnly session cookie (from this
    server's own origin only), or else in the first message,
    ``{"type": "auth", "token": "…"}``. A token in the URL is refused: URLs end up
    in proxy and access logs.
    """
    offered: list[str] = websocket.scope.get("subprotocols", [])
    token = next(
        (p.removeprefix(TOKEN_PREFIX) for p in offered if p.startswith(TOKEN_PREFIX)), None
    )
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    if "token" in websocket.query_params:
        log.warning("4400 %s: a token in the URL", websocket.url.path)
        await websocket.close(
            CLOSE_BAD_REQUEST, "never put the token in the URL (docs/protocol.md)"
        )
        return None
    cookie = websocket.cookies.get(browser_session.COOKIE)
    if token is None and cookie:
        # The pages' cookie: a page of another site would send it too (were it not
        # SameSite=Strict), so the handshake's Origin must be this server's own.
        refused = browser_session.foreign_origin(websocket.headers)
        if refused is not None:
            log.warning("4403 %s: cross-origin (%s)", websocket.url.path, refused)
            await websocket.close(CLOSE_FORBIDDEN, browser_session.CROSS_ORIGIN_REFUSED)
            return None
        token = cookie
    if token is None:
        token = await _first_message_token(websocket)
    found = (
        await services.db.run(accounts.session_for_token, services.db, token, now=datetime.now(UTC))
        if token
        else None
    )
    if token is None or found is None:
        log.warning("4401 %s: no valid token", websocket.url.path)
        await websocket.close(CLOSE_UNAUTHORIZED, "log in first: no valid token")
        return None
    user, expires_at = found
    if user.must_change_password:  # a one-time password opens nothing but its change
        log.warning("4403 %s: %s must change their password", websocket.url.path, user.username)
        await websocket.close(CLOSE_FORBIDDEN, "password_change_required")
        return None
    return SocketSession(accounts.principal_of(user), token, expires_at, user.id)


async def _first_message_token(websocket: WebSocket) -> str | None:
    """The token of a first ``{"type": "auth", "token": …}`` message, or None."""
    try:
        first = await asyncio.wait_for(websocket.receive(), AUTH_TIMEOUT_S)
        message = json.loads(first.get("text") or "null")
    except (TimeoutError, ValueError, WebSocketDisconnect):
        return None
    if not isinstance(message, dict) or message.get("type") != "auth":
        return None
    token = message.get("token")
    return token if isinstance(token, str) and 0 < len(token) <= 256 else None


async def _session_ends(services: HubParts, session: SocketSession, ended: asyncio.Event) -> None:
    """Return when the socket's session has ended: logged out here (at once),
    elsewhere or disabled (within RECHECK_S), or expired (on time)."""
    while True:
        left_s = (session.expires_at - datetime.now(UTC)).total_seconds()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ended.wait(), max(0.0, min(left_s, RECHECK_S)))
        if ended.is_set():
            return
        found = await services.db.run(
            accounts.session_for_token, services.db, session.token, now=datetime.now(UTC)
        )
        if found is None:
            return


async def _refuse(websocket: WebSocket, principal: Principal, why: str) -> None:
    log.warning(
        "4403 %s for %s (%s): %s", websocket.url.path, principal.username, principal.role, why
    )
    await websocket.close(CLOSE_FORBIDDEN, why)


def _area_filter(
    principal: Principal, share: CaregiverShare | None
) -> Callable[[dict[str, Any]], bool] | None:
    """What a board socket lets through: alerts where the principal may see them, and
    caregivers' positions by the same share as /api/v1/caregivers/live, kept up to
    date by the orders of the alerts that pass."""
    if principal.sees_every_area:
        return None

    def visible(message: dict[str, Any]) -> bool:
        if message.get("type") == LiveEventType.CAREGIVER_POSITION:
            return share is not None and share.sees(
                str(message.get("caregiver_id")), message["lat"], message["lon"]
            )
        alert = message.get("alert")
        if alert is None:
            return True
        if not principal.may_see_place(place_in_view(alert)):
            return False
        order = message.get("order")
        if share is not None and order and order.get("caregiver_id"):
            if order.get("state") in ACTIVE_ORDER_STATES:
                share.on_our_alerts.add(order["caregiver_id"])
            else:
                share.on_our_alerts.discard(order["caregiver_id"])
        return True

    return visible


@router.websocket("/ws/v1/board")
async def board(websocket: WebSocket, last_seq: str | None = None) -> None:
    services: HubParts = websocket.app.state.services
    session = await _authenticate(websocket, services)
    if session is None:
        return
    principal = session.principal
    if principal.role not in BOARD_ROLES:
        await _refuse(websocket, principal, f"a {principal.role} has no board")
        return
    # Operators' actions go through REST; the socket carries only their calls'
    # signalling (docs/voice.md).
    party = Party(PartyKind.OPERATOR, principal.username)

    async def inbound(message: dict[str, Any], conn: LiveConnection) -> None:
        if services.voice is not None and str(message.get("type", "")).startswith("voice."):
            await services.voice.from_browser(party, message, conn)

    share = await services.db.run(_share_of, services.db, principal)

    await _serve(
        websocket,
        services,
        session,
        services.bus.board_stream,
        "board",
        last_seq,
        inbound,
        accepts=_area_filter(principal, share),
        voice_party=party,
        voice_areas=None if principal.sees_every_area else principal.may_see_place,
    )


def _share_of(db: Database, principal: Principal) -> CaregiverShare | None:
    with db.read() as session:
        return caregiver_share(session, principal)


class FamilyView:
    """What a family's socket lets through: the story steps of its linked elders'
    alerts, as a few fields (the page reads the story itself over REST). The links
    are read again every RECHECK_S, so an elder unlinked stops showing within it."""

    def __init__(self, elder_ids: frozenset[UUID]) -> None:
        self.elder_ids = frozenset(str(e) for e in elder_ids)

    def accepts(self, message: dict[str, Any]) -> bool:
        alert = message.get("alert")
        return (
            message.get("type") in STORY_EVENT_TYPES
            and isinstance(alert, dict)
            and alert.get("elder_id") in self.elder_ids
        )

    @staticmethod
    def shape(message: dict[str, Any]) -> dict[str, Any]:
        alert = message["alert"]
        return {
            "v": PROTOCOL_VERSION,
            "type": "family.step",
            "step": message["type"],
            "at": message.get("at"),
            "alert_id": alert["id"],
            "elder_id": alert["elder_id"],
            "state": alert["state"],
        }


@router.websocket("/ws/v1/family")
async def family(websocket: WebSocket, last_seq: str | None = None) -> None:
    services: HubParts = websocket.app.state.services
    session = await _authenticate(websocket, services)
    if session is None:
        return
    principal = session.principal
    user_id = session.user_id
    if principal.role is not Role.FAMILY:
        await _refuse(websocket, principal, f"a {principal.role} has no family stream")
        return
    view = FamilyView(await services.db.run(elder_ids_of, services.db, user_id))

    async def reread_links() -> None:
        while True:
            await asyncio.sleep(RECHECK_S)
            with contextlib.suppress(OperationalError):
                view.elder_ids = FamilyView(
                    await services.db.run(elder_ids_of, services.db, user_id)
                ).elder_ids

    rereading = asyncio.create_task(reread_links())
    try:
        await _serve(
            websocket,
            services,
            session,
            services.bus.board_stream,
            "family",
            last_seq,
            accepts=view.accepts,
            shape=view.shape,
        )
    finally:
        rereading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await rereading


class ActionMessage(BaseModel):
    type: str = Field(pattern="^action$")
    action: CaregiverAction
    order_id: UUID
    ref: str | None = Field(default=None, max_length=64)
    note: str | None = Field(default=None, max_length=2000)
    code: str | None = Field(default=None, max_length=32)  # the closure code, to complete


class PositionMessage(BaseModel):
    type: str = Field(pattern="^position$")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


@router.websocket("/ws/v1/caregivers/{caregiver_id}")
async def caregiver(
    websocket: WebSocket,
    caregiver_id: UUID,
    last_seq: str | None = None,
) -> None:
    services: HubParts = websocket.app.state.services
    session = await _authenticate(websocket, services)
    if session is None:
        return
    principal = session.principal
    if principal.caregiver_id != caregiver_id:
        await _refuse(websocket, principal, "this is another caregiver's stream")
        return

    async def act(action: ActionMessage) -> tuple[dict[str, Any], Claim | None]:
        """Carry out the action and keep its answer with it (by ``ref``); with the
        live events its transaction claimed."""
        at = datetime.now(UTC)
        if action.action is CaregiverAction.NEED_HELP:
            backup = await services.db.run(
                request_help,
                services.db,
                services.catalog,
                caregiver_id,
                action.order_id,
                at=at,
                ref=action.ref,
            )
            return help_reply(action.ref, action.order_id, backup), None
        detail: dict[str, Any] = {"note": action.note} if action.note else {}
        if action.action is CaregiverAction.COMPLETE:
            # An alert closes with a reason reports can count, whoever closes it.
            codes = services.catalog.closure_codes
            if action.code not in codes:
                raise InvalidInput([f"completing needs a closure code, one of: {', '.join(codes)}"])
            detail["code"] = action.code
        order, claimed = await services.db.run(
            act_and_claim,
            services.db,
            services.outbox,
            caregiver_id,
            action.order_id,
            action.action,
            at=at,
            detail=detail or None,
            ref=action.ref,
        )
        return order_reply(action.ref, order), claimed

    async def answered(ref: str | None) -> dict[str, Any] | None:
        if ref is None:
            return None
        earlier = await services.db.run(replies.recall, services.db, caregiver_id, ref)
        return None if earlier is None else {**earlier, "repeated": True}

    party = Party(PartyKind.CAREGIVER, str(caregiver_id))

    async def publish_position(lat: float, lon: float) -> None:
        await services.bus.set_position(str(caregiver_id), lat, lon)
        event = caregiver_position_event(str(caregiver_id), lat, lon, datetime.now(UTC))
        await services.bus.publish([(services.bus.board_stream, event)])

    positions = PositionCoalescer(publish_position)

    async def inbound(message: dict[str, Any], conn: LiveConnection) -> None:
        ref = message.get("ref")
        if str(message.get("type", "")).startswith("voice."):
            if services.voice is not None:
                await services.voice.from_browser(party, message, conn)
            return
        try:
            if message.get("type") == "position":
                pos = PositionMessage.model_validate(message)
                await positions.offer(pos.lat, pos.lon)
                return
            action = ActionMessage.model_validate(message)
            # An app that resends an action after losing its connection gets the
            # first answer again: each ref is carried out once, and its answer is
            # in the database with it.
            earlier = await answered(action.ref)
            if earlier is not None:
                conn.reply(earlier)
                return
            claimed: Claim | None = None
            try:
                reply, claimed = await act(action)  # committed with its answer
            except (IllegalTransition, IntegrityError):
                # The same ref at once on two sockets: the first committed.
                if (earlier := await answered(action.ref)) is None:
                    raise
                reply = earlier
            conn.reply(reply)
            # Publishing the step comes after the answer is kept: if it fails, a
            # retry with the same ref still gets the first answer (the outbox
            # publishes the step later).
            try:
                await _publish_committed(services, claimed)
            except Exception:
                log.exception("caregiver %s: publishing after %s failed", caregiver_id, action.ref)
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
        except InvalidInput as exc:
            conn.reply({"type": "error", "ref": ref, "code": "invalid", "message": str(exc)})
        except (CareBellError, RedisError, OperationalError) as exc:
            # The database too busy (a surge) is the app's to retry, not a reason
            # to close its socket.
            log.warning("caregiver %s message failed: %s", caregiver_id, exc)
            conn.reply({"type": "error", "ref": ref, "code": "unavailable", "message": str(exc)})

    try:
        await _serve(
            websocket,
            services,
            session,
            services.bus.caregiver_stream(str(caregiver_id)),
            "caregiver",
            last_seq,
            inbound,
            voice_party=party,
        )
    finally:
        await positions.close()
        # The phone is gone: offer it nothing until it reports a position again
        # (waiting for the position to age out would waste an offer timeout).
        with contextlib.suppress(RedisError, OSError):
            await services.bus.forget_position(str(caregiver_id))
