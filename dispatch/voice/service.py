"""The voice shell: applies the call state machine and relays its signalling.

Browsers (operators' boards, caregivers' apps) reach it over their live sockets,
devices over MQTT (DeviceLink). It keeps the calls hosted through this process
and the parties waiting for an operator (an SOS that opened a voice session, a
caregiver who tapped "call the centre"), and writes each milestone to the record.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import ValidationError

from devices.protocol import VoiceDownPayload, VoiceSignal
from dispatch.domain.areas import Place
from dispatch.domain.device_effects import NOWHERE
from dispatch.domain.live_events import LiveEventType
from dispatch.errors import CareBellError, IllegalTransition
from dispatch.store.db import Database
from dispatch.store.tables import Caregiver
from dispatch.voice import record
from dispatch.voice.capability import VoiceCatalog
from dispatch.voice.facts import FactsLookup
from dispatch.voice.session import (
    Answer,
    Call,
    CallEvent,
    Connected,
    Dial,
    EndReason,
    HangUp,
    Hold,
    LegState,
    Party,
    PartyKind,
    Send,
    hang_up_all,
    receive,
)

log = logging.getLogger(__name__)

DEVICE_ANSWERS = {"busy": EndReason.BUSY, "unavailable": EndReason.UNAVAILABLE}
# Operators get the waiting list at most this often: in a surge thousands of callers
# come and go within a minute, and a list per caller per operator held the loop.
WAITING_BEAT_S = 0.1


class Channel(Protocol):
    """A browser's live socket (dispatch/ws/hub.LiveConnection fits)."""

    def reply(self, message: dict[str, Any]) -> None: ...


class DeviceLink(Protocol):
    async def send(self, device_id: str, payload: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class Waiting:
    """A party asking to talk, until an operator answers (or the alert closes)."""

    party: Party
    since: datetime
    name: str
    alert_id: uuid.UUID | None = None
    place: Place = NOWHERE  # the elder's: operators of other areas do not see the call
    alert_type: str | None = None

    def view(self) -> dict[str, Any]:
        return {
            "party": str(self.party),
            "since": self.since.isoformat(),
            "name": self.name,
            "alert_id": str(self.alert_id) if self.alert_id else None,
            "district": self.place.district,
            "alert_type": self.alert_type,
        }


class VoiceService:
    def __init__(
        self,
        db: Database,
        voices: VoiceCatalog,
        device_link: DeviceLink,
        published: Callable[[], Awaitable[None]],
        *,
        ring_timeout_s: float = 45.0,
        server_id: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.db = db
        self.voices = voices
        self.device_link = device_link
        self.published = published  # publish what was just written (the outbox)
        self.ring_timeout_s = ring_timeout_s
        self.server_id = server_id  # on each call's row: who closes it after a restart
        self.clock = clock
        self.calls: dict[uuid.UUID, Call] = {}
        self.requested_by: dict[uuid.UUID, str] = {}
        self.channels: dict[Party, list[Channel]] = {}
        self.waiting: dict[Party, Waiting] = {}
        self.areas: dict[int, Callable[[Place], bool]] = {}  # an operator's socket: may see
        self._timers: set[asyncio.TimerHandle] = set()
        self._owed: dict[int, Channel] = {}  # operators' sockets owed the new waiting list
        self._owed_beat: asyncio.TimerHandle | None = None
        self._lock = asyncio.Lock()  # one event at a time: each reads and replaces a call
        self._facts = FactsLookup(db)  # a burst of alerts reads its devices in one query

    # Browsers coming and going.

    def attach(
        self, party: Party, channel: Channel, may_see: Callable[[Place], bool] | None = None
    ) -> None:
        """Reach ``party`` on ``channel``; an operator's ``may_see(place)`` keeps
        callers of other areas off their board."""
        self.channels.setdefault(party, []).append(channel)
        if may_see is not None:
            self.areas[id(channel)] = may_see
        if party.kind is PartyKind.OPERATOR and self._visible(channel):
            channel.reply(self._waiting_message(channel))  # someone already waits

    async def detach(self, party: Party, channel: Channel) -> None:
        """A socket closed; a party left with no socket drops out of its calls."""
        self.areas.pop(id(channel), None)
        self._owed.pop(id(channel), None)
        left = [c for c in self.channels.get(party, []) if c is not channel]
        if left:
            self.channels[party] = left
            return
        self.channels.pop(party, None)
        self._withdraw(party)  # a caregiver who asked for a call and left
        async with self._lock:
            for call in list(self.calls.values()):
                if call.host == party:
                    ended, sends = hang_up_all(call, party, self.clock())
                    await self._settle(ended, sends, "ended")
                elif call.has(party) and call.leg(party).live:
                    await self._apply(call, HangUp(party, party, EndReason.FAILED))

    # What browsers say.

    async def from_browser(self, party: Party, message: dict[str, Any], channel: Channel) -> None:
        """Apply a ``voice.*`` message from a board or an app; errors go back on ``channel``."""
        kind = str(message.get("type", "")).removeprefix("voice.")
        try:
            async with self._lock:
                await self._from_browser(party, kind, message, channel)
        except (IllegalTransition, KeyError, ValueError, ValidationError) as exc:
            channel.reply(
                {
                    "type": "voice.error",
                    "call_id": message.get("call_id"),
                    "code": "refused",
                    "message": str(exc)[:200],
                }
            )

    async def _from_browser(
        self, party: Party, kind: str, message: dict[str, Any], channel: Channel
    ) -> None:
        if kind == "request":  # one tap: "call the centre"
            await self._ask(party, alert_id=None)
            return
        if kind == "cancel_request":
            self._withdraw(party)
            return
        if kind.startswith("phone_"):
            await self._phone(party, kind.removeprefix("phone_"), message)
            return
        call_id = uuid.UUID(str(message["call_id"]))
        if kind == "dial":
            await self._dial(party, call_id, message, channel)
            return
        call = self.calls[call_id]
        hosting = call.host == party
        match kind:
            case "answer" if not hosting:
                await self._apply(call, Answer(party, str(message["sdp"])))
            case "decline" if not hosting:
                await self._apply(call, HangUp(party, party, EndReason.DECLINED))
            case "connected" if hosting:
                await self._apply(call, Connected(Party.parse(str(message["party"]))))
            case "hold" if hosting:
                on = bool(message.get("on", True))
                await self._apply(call, Hold(Party.parse(str(message["party"])), on))
            case "hangup" if hosting and message.get("party"):
                await self._apply(call, HangUp(Party.parse(str(message["party"])), party))
            case "hangup" if hosting:
                ended, sends = hang_up_all(call, party, self.clock())
                await self._settle(ended, sends, "ended")
            case "hangup":
                await self._apply(call, HangUp(party, party))
            case "failed" if hosting:
                target = Party.parse(str(message["party"]))
                await self._apply(call, HangUp(target, party, EndReason.FAILED))
            case _:
                raise ValueError(f"{party.kind.value} cannot send voice.{kind} on this call")

    async def _dial(
        self, host: Party, call_id: uuid.UUID, message: dict[str, Any], channel: Channel
    ) -> None:
        if host.kind is not PartyKind.OPERATOR:
            raise ValueError("only an operator dials")
        to = Party.parse(str(message["to"]))
        if to.kind is PartyKind.DEVICE:
            facts = await self._facts.get(to.id)
            if facts is None or not self.voices.of(facts.kind).talks:
                channel.reply(
                    {
                        "type": "voice.hangup",
                        "call_id": str(call_id),
                        "party": str(to),
                        "reason": EndReason.CANNOT_TALK.value,
                    }
                )
                return
        elif to.kind is PartyKind.CAREGIVER and to not in self.channels:
            channel.reply(
                {
                    "type": "voice.hangup",
                    "call_id": str(call_id),
                    "party": str(to),
                    "reason": EndReason.UNAVAILABLE.value,
                }
            )
            return
        elif to.kind is not PartyKind.CAREGIVER:
            raise ValueError(f"{to.kind.value} calls go through the phone system")
        call = self.calls.get(call_id)
        if call is None:
            alert = message.get("alert_id")
            call = Call(call_id, host, self.clock(), alert_id=uuid.UUID(alert) if alert else None)
        elif call.host != host:
            raise ValueError("another operator hosts this call")
        waiting = self.waiting.get(to)
        if waiting is not None and not call.legs:
            self.requested_by[call_id] = str(to)
        self._withdraw(to)
        await self._apply(call, Dial(to, str(message["sdp"])))
        self._ring_timer(call_id, to)

    async def _phone(self, host: Party, what: str, message: dict[str, Any]) -> None:
        """A call the board's phone line made or took (SIP, signalled by the browser
        itself): on the record like any other call."""
        if host.kind is not PartyKind.OPERATOR:
            raise ValueError("only an operator's phone line reports calls")
        call_id = uuid.UUID(str(message["call_id"]))
        number = Party(PartyKind.PHONE, str(message["number"]))
        if what == "started":
            alert = message.get("alert_id")
            call = Call(call_id, host, self.clock(), alert_id=uuid.UUID(alert) if alert else None)
            if message.get("direction") == "incoming":
                self.requested_by[call_id] = str(number)
            await self._apply(call, Dial(number, ""))
            return
        call = self.calls[call_id]
        if call.host != host:
            raise ValueError("another operator hosts this call")
        if what == "answered":
            await self._apply(call, Connected(number))
        elif what == "ended":
            reason = EndReason(str(message.get("reason", EndReason.HUNG_UP.value)))
            await self._apply(call, HangUp(number, host, reason))
        else:
            raise ValueError(f"unknown phone report {what!r}")

    # What devices say.

    async def from_device(self, signal: VoiceSignal) -> None:
        party = Party(PartyKind.DEVICE, signal.device_id)
        try:
            call = self.calls[uuid.UUID(signal.call_id)]
        except (KeyError, ValueError):
            return  # another process hosts it, or it is over
        try:
            async with self._lock:
                call = self.calls.get(call.id, call)
                if signal.type == "answer" and signal.sdp:
                    await self._apply(call, Answer(party, signal.sdp))
                else:
                    reason = DEVICE_ANSWERS.get(signal.type, EndReason.HUNG_UP)
                    await self._apply(call, HangUp(party, party, reason))
        except (IllegalTransition, KeyError) as exc:
            log.info("device %s: voice %s ignored: %s", signal.device_id, signal.type, exc)

    # Alerts that open a voice session by themselves.

    async def on_live_event(self, message: dict[str, Any]) -> None:
        """Board stream hook: an alert that calls opens a session; a closed one withdraws it."""
        alert = message.get("alert") or {}
        device_id = alert.get("device_id")
        if not device_id:
            return
        party = Party(PartyKind.DEVICE, device_id)
        kind = message.get("type")
        if kind == LiveEventType.ALERT_RAISED:
            if not self.voices.any_calls_on(alert.get("alert_type", "")):
                return  # no device kind opens a session for it: nothing to look up
            facts = await self._facts.get(device_id)
            if facts is None or not self.voices.calls_on(facts.kind, alert.get("alert_type", "")):
                return
            if any(c.has(party) and c.leg(party).live for c in self.calls.values()):
                return  # already talking to the centre
            waiting = Waiting(
                party,
                self.clock(),
                facts.elder_name or device_id,
                uuid.UUID(alert["id"]),
                facts.place,
                alert.get("alert_type"),
            )
            self.waiting[party] = waiting
            self._tell_operators(waiting)
        elif kind in (LiveEventType.ALERT_RESOLVED, LiveEventType.ALERT_CANCELLED):
            asked = self.waiting.get(party)
            if asked is not None and str(asked.alert_id) == alert.get("id"):
                self._withdraw(party)

    async def _ask(self, party: Party, alert_id: uuid.UUID | None) -> None:
        name = await self.db.run(_party_name, self.db, party)
        waiting = Waiting(party, self.clock(), name, alert_id)
        self.waiting[party] = waiting
        self._tell_operators(waiting)

    def _withdraw(self, party: Party) -> None:
        waiting = self.waiting.pop(party, None)
        if waiting is not None:
            self._tell_operators(waiting)

    def _visible(self, channel: Channel, waiting: list[Waiting] | None = None) -> list[Waiting]:
        """Who waits (oldest first), as ``channel``'s operator may see them (callers of
        their areas)."""
        may_see = self.areas.get(id(channel))
        if waiting is None:
            waiting = sorted(self.waiting.values(), key=lambda w: w.since)
        return [w for w in waiting if may_see is None or not w.place.district or may_see(w.place)]

    def _waiting_message(
        self, channel: Channel, waiting: list[Waiting] | None = None
    ) -> dict[str, Any]:
        views = [w.view() for w in self._visible(channel, waiting)]
        return {"type": "voice.waiting", "waiting": views}

    def _tell_operators(self, changed: Waiting) -> None:
        """Owe every operator who may see ``changed``'s area the new list; it goes out
        once a beat, however many callers came and went in it."""
        for party, channels in self.channels.items():
            if party.kind is not PartyKind.OPERATOR:
                continue
            for channel in channels:
                may_see = self.areas.get(id(channel))
                if may_see is None or not changed.place.district or may_see(changed.place):
                    self._owed[id(channel)] = channel
        if self._owed and self._owed_beat is None:
            loop = asyncio.get_running_loop()
            self._owed_beat = loop.call_later(WAITING_BEAT_S, self._send_owed)

    def _send_owed(self) -> None:
        self._owed_beat = None
        owed, self._owed = self._owed, {}
        waiting = sorted(self.waiting.values(), key=lambda w: w.since)  # once a beat
        for channel in owed.values():
            channel.reply(self._waiting_message(channel, waiting))

    # Applying the machine's decisions.

    async def _apply(self, call: Call, event: CallEvent) -> None:
        outcome = receive(call, event, self.clock())
        await self._settle(outcome.call, list(outcome.sends), outcome.milestone)

    async def _settle(self, call: Call, sends: list[Send], milestone: str | None) -> None:
        if call.ended:
            self.calls.pop(call.id, None)
        else:
            self.calls[call.id] = call
        for send in sends:  # signalling first: media setup waits for no write
            await self._deliver(send)
        if milestone is not None:
            requested_by = self.requested_by.get(call.id)
            if call.ended:
                self.requested_by.pop(call.id, None)
            await self.db.run(
                record.save_milestone,
                self.db,
                call,
                milestone,
                self.clock(),
                requested_by=requested_by,
                served_by=self.server_id,
            )
            await self.published()
        # The call's view last: a board told a call ended finds it on the record.
        if call.host in self.channels:
            self._tell(call.host, _call_view(call))
        for leg in call.legs:
            if leg.party.kind is PartyKind.CAREGIVER and leg.state is not LegState.RINGING:
                self._tell(leg.party, _call_view(call))

    async def _deliver(self, send: Send) -> None:
        if send.to.kind is PartyKind.PHONE:
            return  # the browser's SIP line signals phone calls itself
        if send.to.kind is PartyKind.DEVICE:
            body = {k: v for k, v in send.message.items() if k in DOWN_FIELDS}
            body["type"] = body["type"].removeprefix("voice.")
            body["ts"] = self.clock().isoformat()
            payload = VoiceDownPayload.model_validate(body).model_dump_json(exclude_none=True)
            try:
                await self.device_link.send(send.to.id, payload.encode())
            except CareBellError as exc:
                log.warning("device %s unreachable for voice: %s", send.to.id, exc)
        else:
            self._tell(send.to, send.message)

    def _tell(self, party: Party, message: dict[str, Any]) -> None:
        for channel in self.channels.get(party, []):
            channel.reply(message)

    def _ring_timer(self, call_id: uuid.UUID, party: Party) -> None:
        loop = asyncio.get_running_loop()

        def expire() -> None:
            self._timers.discard(handle)
            task = loop.create_task(self._ring_expired(call_id, party))
            task.add_done_callback(_log_failure)

        handle = loop.call_later(self.ring_timeout_s, expire)
        self._timers.add(handle)

    async def _ring_expired(self, call_id: uuid.UUID, party: Party) -> None:
        async with self._lock:
            call = self.calls.get(call_id)
            if call is not None and call.has(party) and call.leg(party).state is LegState.RINGING:
                await self._apply(call, HangUp(party, call.host, EndReason.UNAVAILABLE))

    def close(self) -> None:
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        if self._owed_beat is not None:
            self._owed_beat.cancel()
            self._owed_beat = None


DOWN_FIELDS = frozenset({"type", "call_id", "sdp", "on", "alert_id"})


def _call_view(call: Call) -> dict[str, Any]:
    return {
        "type": "voice.call",
        "call_id": str(call.id),
        "alert_id": str(call.alert_id) if call.alert_id else None,
        "host": str(call.host),
        "state": call.state.value,
        "answered_at": call.answered_at.isoformat() if call.answered_at else None,
        "legs": [
            {
                "party": str(leg.party),
                "state": leg.state.value,
                "answered_at": leg.answered_at.isoformat() if leg.answered_at else None,
                "end_reason": leg.end_reason.value if leg.end_reason else None,
            }
            for leg in call.legs
        ],
    }


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("voice timer failed", exc_info=task.exception())


def _party_name(db: Database, party: Party) -> str:
    with db.read() as session:
        if party.kind is PartyKind.CAREGIVER:
            caregiver = session.get(Caregiver, uuid.UUID(party.id))
            return caregiver.name if caregiver else party.id
    return party.id
