"""Telling the elder that help is coming: live events become device commands.

Someone who pressed a button should not be left wondering whether anyone heard.
A device that can show or say something gets, on its commands topic (QoS 1):
the alert was received, a caregiver is on the way (with the expected arrival),
the alert is closed. The relay reads the board stream through a Redis consumer
group, so each event is handled by one gateway process, and acknowledges it only
once the broker has the command: a process that dies re-reads its unacknowledged
events when it starts again (a command may then arrive twice; never not at all).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import RedisError

from devices.errors import BrokerUnavailable
from devices.protocol import CommandPayload, commands_topic
from dispatch.background import cancelling
from dispatch.domain.live_events import LiveEventType
from dispatch.live.bus import LiveBus

log = logging.getLogger(__name__)
GROUP = "device-commands"

_TEXT = {
    "alert_received": (
        "已收到您的呼叫，正在为您安排护理员。",
        "We have your call; help is being arranged.",
    ),
    "caregiver_on_the_way": (
        "护理员已出发，预计 {minutes} 分钟后到达。",
        "A caregiver is on the way, about {minutes} min.",
    ),
    "alert_closed": ("本次呼叫已处理完毕。", "Your call is closed."),
}


# The live events a device hears about, and the command each sends it.
_COMMAND_FOR: dict[str, str] = {
    LiveEventType.ALERT_RAISED: "alert_received",
    LiveEventType.ORDER_ACCEPTED: "caregiver_on_the_way",
    LiveEventType.ALERT_RESOLVED: "alert_closed",
    LiveEventType.ALERT_CANCELLED: "alert_closed",
}


def command_for(message: dict[str, Any], at: datetime) -> tuple[str, CommandPayload] | None:
    """The command a live event sends to the device that raised the alert, if any."""
    alert = message.get("alert")
    if not isinstance(alert, dict) or not alert.get("device_id"):
        return None
    kind = _COMMAND_FOR.get(str(message.get("type")))
    if kind is None:
        return None
    eta_s = None
    if kind == "caregiver_on_the_way":
        eta_s = round(float(message.get("order", {}).get("eta_s", 0)))
    zh, en = _TEXT[kind]
    minutes = max(1, round((eta_s or 0) / 60))
    payload = CommandPayload(
        type=kind,
        alert_id=str(alert["id"]),
        ts=at,
        eta_s=eta_s,
        text_zh=zh.format(minutes=minutes),
        text_en=en.format(minutes=minutes),
    )
    return str(alert["device_id"]), payload


class CommandRelay:
    def __init__(
        self,
        bus: LiveBus,
        publish: Callable[[Sequence[tuple[str, bytes]]], Awaitable[None]],
        consumer: str,
    ) -> None:
        self.bus = bus
        self.publish = publish  # (topic, payload) pairs; returns once the broker has all
        self.consumer = consumer  # stable across restarts: its unacked events come back

    async def run(self) -> None:
        stream = self.bus.board_stream
        pending = True  # first what this consumer took before it stopped
        while True:
            try:
                await self.bus.ensure_group(stream, GROUP)
                entries = await self.bus.read_group(stream, GROUP, self.consumer, pending=pending)
                if pending and not entries:
                    pending = False
                    continue
                now = datetime.now(UTC)
                commands = []
                for entry in entries:
                    command = command_for(entry.message, now)
                    if command is not None:
                        device_id, payload = command
                        body = json.dumps(payload.model_dump(mode="json"), ensure_ascii=False)
                        commands.append((commands_topic(device_id), body.encode()))
                # All of a read's commands go out together; the read is acknowledged
                # once the broker has every one (or read again).
                await self.publish(commands)
                await self.bus.ack(stream, GROUP, [entry.seq for entry in entries])
            except (RedisError, OSError, BrokerUnavailable) as exc:
                if cancelling():
                    raise  # stopping: the client library turned our cancel into an error
                log.warning("device commands held back: %s", exc)
                pending = True
                await asyncio.sleep(1.0)
