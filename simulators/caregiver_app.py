"""A caregiver's phone app, simulated over the real WebSocket protocol.

It shares its position, takes offers after a human-like delay (declining a
share of them), travels to the elder at its mode's speed (sped up by
``time_scale`` for demos), reports arrival, stays a while and completes. With
``work_visits`` it also works its planned home visits when they fall due: goes
to the door, starts, stays the visit's time and finishes (or, now and then,
finds nobody home); an emergency taken meanwhile leaves the visit to be re-planned.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from dispatch.domain.model import GeoPoint, TransportMode, great_circle_m
from dispatch.matching.travel import DEFAULT_SPEEDS_M_S
from simulators.socket_login import socket_login

log = logging.getLogger(__name__)


@dataclass
class CaregiverProfile:
    caregiver_id: str
    lat: float
    lon: float
    transport: TransportMode


@dataclass(frozen=True)
class AppBehaviour:
    accept_delay_s: tuple[float, float] = (1.0, 4.0)
    decline_share: float = 0.0
    ignore_share: float = 0.0  # offers never answered (they expire)
    service_s: tuple[float, float] = (60.0, 180.0)
    position_every_s: float = 10.0
    time_scale: float = 10.0  # demo time runs this much faster than real time
    work_visits: bool = False
    nobody_home_share: float = 0.05
    visits_every_s: float = 20.0  # how often the app reads its route


class CaregiverAppSim:
    def __init__(
        self,
        ws_base: str,
        profile: CaregiverProfile,
        behaviour: AppBehaviour,
        rng: random.Random,
        token: str,
        observer: Callable[[str, dict[str, Any]], None] | None = None,
        name: str | None = None,
    ) -> None:
        self.name = name  # given (the demo): the app logs each step it takes
        self.url = f"{ws_base}/ws/v1/caregivers/{profile.caregiver_id}"
        self.http_base = ws_base.replace("ws", "http", 1)
        self.token = token
        self.profile, self.behaviour, self.rng = profile, behaviour, rng
        self.observer = observer  # told of "offered", "accepted", "arrived" with the offer
        self.last_seq: str | None = None
        self.busy = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._ws: ClientConnection | None = None

    async def run(self) -> None:
        """Stay connected (reconnecting with the last seq) until cancelled."""
        if self.behaviour.work_visits:
            self._spawn(self._work_visits())
        try:
            while True:
                url = self.url + (f"?last_seq={self.last_seq}" if self.last_seq else "")
                try:
                    async with websockets.connect(
                        url, compression=None, subprotocols=socket_login(self.token)
                    ) as ws:
                        self._ws = ws
                        await self._session(ws)
                except (OSError, websockets.ConnectionClosed, websockets.InvalidStatus) as exc:
                    log.debug("caregiver %s reconnecting: %s", self.profile.caregiver_id, exc)
                finally:
                    self._ws = None
                await asyncio.sleep(1.0)
        finally:
            for task in self._tasks:
                task.cancel()

    async def _session(self, ws: ClientConnection) -> None:
        reporter = asyncio.create_task(self._report_positions())
        try:
            async for raw in ws:
                message = json.loads(raw)
                self.last_seq = message.get("seq", self.last_seq)
                if message.get("type") == "order.offered" and not self.busy:
                    self._observe("offered", message)
                    if self.rng.random() < self.behaviour.ignore_share:
                        continue  # the phone stays in a pocket; the offer expires
                    self.busy = True
                    self._spawn(self._handle(message))
        finally:
            reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporter

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _work_visits(self) -> None:
        """Read the route now and then; do each planned visit once it is due."""
        headers = {"Authorization": f"Bearer {self.token}"}
        async with httpx.AsyncClient(base_url=self.http_base, headers=headers) as http:
            while True:
                try:
                    await self._next_visit(http)
                except (httpx.HTTPError, KeyError, ValueError) as exc:
                    log.debug("caregiver %s visits: %s", self.profile.caregiver_id, exc)
                await asyncio.sleep(self.behaviour.visits_every_s)

    async def _next_visit(self, http: httpx.AsyncClient) -> None:
        if self.busy:
            return
        route = (await http.get("/api/v1/me/visits")).raise_for_status().json()
        now = datetime.now(UTC)
        due = [
            v
            for v in route
            if v["state"] == "planned" and datetime.fromisoformat(v["planned_start"]) <= now
        ]
        if not due:
            return
        visit, b = due[0], self.behaviour
        await self._travel(GeoPoint(visit["elder_lat"], visit["elder_lon"]))
        if self.busy:
            return  # an emergency came first
        url = f"/api/v1/me/visits/{visit['id']}"
        if self.rng.random() < b.nobody_home_share:
            await http.post(
                f"{url}/exception", json={"kind": "nobody_home", "notes": "敲门无人应答"}
            )
            return
        p = self.profile
        await http.post(f"{url}/start", json={"lat": p.lat, "lon": p.lon})
        await asyncio.sleep(visit["duration_min"] * 60 / b.time_scale)
        if not self.busy:  # taken away meanwhile: the server re-plans the visit
            await http.post(f"{url}/finish", json={"notes": "服务完成"})

    async def _send(self, message: dict[str, Any]) -> None:
        """Send on the current connection, waiting out a reconnect (like a phone would)."""
        while True:
            ws = self._ws
            if ws is not None:
                with contextlib.suppress(websockets.ConnectionClosed):
                    await ws.send(json.dumps(message))
                    return
            await asyncio.sleep(0.5)

    async def _report_positions(self) -> None:
        while True:
            p = self.profile
            await self._send({"type": "position", "lat": p.lat, "lon": p.lon})
            await asyncio.sleep(self.behaviour.position_every_s)

    async def _act(self, order_id: str, action: str, **extra: str) -> None:
        await self._send({"type": "action", "action": action, "order_id": order_id, **extra})

    async def _handle(self, offer: dict[str, Any]) -> None:
        b, order_id = self.behaviour, offer["order"]["id"]
        try:
            await asyncio.sleep(self.rng.uniform(*b.accept_delay_s))
            if self.rng.random() < b.decline_share:
                await self._act(order_id, "decline")
                self._narrate("declines", offer)
                return
            await self._act(order_id, "accept")
            self._observe("accepted", offer)
            await self._act(order_id, "en_route")
            self._narrate("accepts and sets off to", offer)
            target = offer["alert"]
            await self._travel(GeoPoint(target["lat"], target["lon"]))
            await self._act(order_id, "arrive")
            self._observe("arrived", offer)
            self._narrate("is at", offer)
            await asyncio.sleep(self.rng.uniform(*b.service_s) / b.time_scale)
            # Completing closes the alert, with a code as the app asks for.
            await self._act(order_id, "complete", code=self._closure_code(offer))
            self._narrate("completes", offer)
        finally:
            self.busy = False

    def _closure_code(self, offer: dict[str, Any]) -> str:
        """What a caregiver at the door usually finds: help was needed; now and then
        a fall without injury, or a press by mistake."""
        if offer["alert"].get("alert_type") == "fall":
            return "fall_no_injury"
        return "accidental_press" if self.rng.random() < 0.15 else "needed_help"

    def _narrate(self, step: str, offer: dict[str, Any]) -> None:
        if self.name is not None:
            alert = offer["alert"]
            log.info(
                "%s %s alert %s (%s)", self.name, step, alert["id"][:8], alert.get("alert_type", "")
            )

    def _observe(self, what: str, offer: dict[str, Any]) -> None:
        if self.observer is not None:
            self.observer(what, offer)

    async def _travel(self, target: GeoPoint) -> None:
        p, b = self.profile, self.behaviour
        speed = DEFAULT_SPEEDS_M_S[p.transport] * b.time_scale
        while True:
            here = GeoPoint(p.lat, p.lon)
            remaining = great_circle_m(here, target)
            if remaining < 20:
                p.lat, p.lon = target.lat, target.lon
                return
            step = min(1.0, speed / remaining)
            p.lat += (target.lat - p.lat) * step
            p.lon += (target.lon - p.lon) * step
            await self._send({"type": "position", "lat": p.lat, "lon": p.lon})
            await asyncio.sleep(1.0)
