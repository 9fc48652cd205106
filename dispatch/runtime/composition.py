"""The running server's parts, built once from Settings and shared by every endpoint."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError

from config.settings import Settings
from devices.gateway import MqttGateway
from devices.protocol import VoiceSignal
from devices.voice_link import MqttVoiceLink
from dispatch.background import cancelling
from dispatch.domain.catalog import Catalog
from dispatch.domain.live_events import LiveEventType
from dispatch.emergency.commands import CommandRelay
from dispatch.emergency.dispatcher import Dispatcher, DispatchPolicy
from dispatch.emergency.ingest import Inbound, Ingest, Outcome
from dispatch.emergency.ingest_process import IngestConfig, IngestProcess
from dispatch.emergency.supervision import Supervisor
from dispatch.homecare.menu import ServiceMenu, load_menu
from dispatch.homecare.service import HomeCare
from dispatch.live.bus import LiveBus, StreamEntry
from dispatch.live.fanout import Fanout
from dispatch.live.outbox import Outbox
from dispatch.matching.travel import DetourTravelModel, TravelModel
from dispatch.notify import rules as notification_rules
from dispatch.notify.cascade import Cascade
from dispatch.notify.notifier import Notifier
from dispatch.notify.providers import sms_sender
from dispatch.runtime import metrics
from dispatch.runtime.catalog_file import load_catalog
from dispatch.runtime.loops import LoopSupervisor
from dispatch.runtime.stall_probe import StallProbe
from dispatch.runtime.summaries import mailer_of, send_when_due
from dispatch.store import sealed
from dispatch.store.db import Database
from dispatch.store.retention import RetentionPolicy, prune
from dispatch.voice import record as voice_record
from dispatch.voice.capability import load_voice_catalog
from dispatch.voice.service import VoiceService

log = logging.getLogger(__name__)

# Live events that mean a dispatcher has work, whichever process wrote them. (An
# expired offer is re-offered in the round that expired it.)
WAKING_EVENTS = frozenset({LiveEventType.ALERT_RAISED, LiveEventType.ORDER_DECLINED})
OUTBOX_SWEEP_S = 2.0
NOTIFY_EVERY_S = 2.0  # how often the notifier looks for new steps and sends


@dataclass
class Services:
    settings: Settings
    db: Database
    bus: LiveBus
    outbox: Outbox
    fanout: Fanout
    catalog: Catalog
    ingest: Ingest
    travel: TravelModel
    menu: ServiceMenu
    homecare: HomeCare
    dispatcher: Dispatcher | None = None
    gateway: MqttGateway | None = None
    ingest_process: IngestProcess | None = None  # the gateway's, when it stores in a helper
    voice: VoiceService | None = None
    stall_probe: StallProbe | None = None
    device_supervision: Supervisor | None = None
    command_relay: CommandRelay | None = None
    loops: LoopSupervisor | None = None
    notifier: Notifier | None = None

    @property
    def loops_down(self) -> list[str]:
        """The background loops that are not running now (``/healthz`` names them)."""
        return self.loops.down if self.loops is not None else []

    async def after_change(self) -> None:
        """Call after committing transitions: publish them.

        Dispatchers in every process wake on the published events that give them
        work (WAKING_EVENTS), and look again every tick in case Redis was away.
        """
        await self.outbox.flush()

    def metrics_exposition(self) -> tuple[bytes, str]:
        """Prometheus' text format (reads the database: call it on its thread pool)."""
        return metrics.exposition()

    async def store_messages(self, batch: list[tuple[str, bytes]]) -> list[int]:
        """The gateway's handler: commit a batch of device messages, then publish.
        Answers the positions of the messages held for a fault of the server's (the
        gateway leaves them unacknowledged and hands them over again)."""
        at = datetime.now(UTC)
        started = time.perf_counter()
        try:
            if self.ingest_process is not None:
                stored = await self.ingest_process.store(batch, at)
            else:
                inbound = [Inbound(topic, payload, at) for topic, payload in batch]
                stored = await self.db.run(self.ingest.store, inbound)
        except Exception:
            metrics.BATCH_FAILURES.inc()
            raise
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
        metrics.BATCH_SIZE.observe(len(batch))
        outcomes = stored.outcomes
        metrics.count(outcomes)
        if self.gateway is not None and self.settings.device_receipts:
            # End to end: each device hears which of its events are committed, and
            # sends again what it does not hear of (docs/devices.md).
            self.gateway.tell_received(stored.received)
        if {Outcome.RAISED, Outcome.MERGED, Outcome.CLOSED} & set(outcomes):
            # Published beside, not before, the broker's acknowledgement: the batch
            # is committed, and the next batch need not wait for Redis.
            self.outbox.kick()
        if Outcome.RAISED in outcomes and self.dispatcher is not None:
            # This process's dispatcher need not wait for the alert to come back
            # from Redis (others still wake on the published alert.raised).
            self.dispatcher.wake()
        return [i for i, outcome in enumerate(outcomes) if outcome is Outcome.HELD]


@asynccontextmanager
async def running_services(settings: Settings) -> AsyncIterator[Services]:
    """Build every part, run the background tasks, and tear all down on exit."""
    sealed.use_keys(settings.data_keys)  # before the first read of a sealed field
    db = Database(settings.database_url)
    await db.run(db.create_schema)
    metrics.watch(db)
    bus = LiveBus.from_url(settings.redis_url, settings.redis_prefix)
    outbox = Outbox(db, bus)
    catalog = load_catalog(settings.alert_types_file)
    menu = load_menu(settings.services_file)
    tz = ZoneInfo(settings.timezone)
    travel = DetourTravelModel()
    services = Services(
        settings=settings,
        db=db,
        bus=bus,
        outbox=outbox,
        fanout=Fanout(bus),
        catalog=catalog,
        ingest=Ingest(
            db,
            catalog,
            merge_window_s=settings.merge_window_s,
            max_clock_skew_s=settings.max_clock_skew_s,
            tz=tz,
            on_rejected=metrics.count_rejected,
        ),
        travel=travel,
        menu=menu,
        homecare=HomeCare(db, bus, menu, travel, tz),
    )
    if "dispatcher" in settings.roles:
        services.dispatcher = Dispatcher(
            db,
            bus,
            outbox,
            services.catalog,
            services.travel,
            tz=ZoneInfo(settings.timezone),
            policy=DispatchPolicy(offer_timeout_s=settings.offer_timeout_s),
            tick_s=settings.dispatch_tick_s,
        )
    if "gateway" in settings.roles:
        if settings.gateway_ingest_process:
            services.ingest_process = IngestProcess(
                IngestConfig(
                    settings.database_url,
                    catalog,
                    settings.merge_window_s,
                    settings.timezone,
                    settings.max_clock_skew_s,
                ),
                on_rejected=metrics.count_rejected,
            )
        services.gateway = MqttGateway(
            settings.mqtt_url,
            handler=services.store_messages,
            client_id=settings.gateway_client_id,
            protocol=settings.mqtt_protocol,
            session_expiry_s=settings.mqtt_session_expiry_s,
            share_group=settings.mqtt_share_group,
            batches_in_flight=2 if services.ingest_process is not None else 1,
            device_burst=settings.gateway_device_burst,
            device_rate_per_s=settings.gateway_device_rate_per_s,
        )
        metrics.GATEWAY_BACKLOG.set_function(
            lambda: services.gateway.backlog if services.gateway else 0
        )
    services.stall_probe = StallProbe()
    loops = services.loops = LoopSupervisor(
        first_backoff_s=settings.loop_restart_s,
        max_backoff_s=max(settings.loop_restart_s, settings.loop_restart_max_s),
        settle_s=settings.loop_settle_s,
    )
    try:
        probe = services.stall_probe
        loops.start("stall-probe", lambda: probe.run())
        loops.start("fanout", lambda: services.fanout.run())
        loops.start("outbox", lambda: outbox.run(OUTBOX_SWEEP_S))
        await _start_voice(services, loops)
        if services.dispatcher is not None:
            dispatcher = services.dispatcher

            def wake_on(entry: StreamEntry) -> None:
                if entry.message.get("type") in WAKING_EVENTS:
                    dispatcher.wake()

            await services.fanout.on_entry(bus.board_stream, wake_on)
            loops.start("dispatcher", lambda: dispatcher.run())
            loops.start(
                "replan", lambda: services.homecare.replan_on_diversion(settings.replan_check_s)
            )
            loops.start("retention", lambda: _prune_every(db, settings))
            mailer = mailer_of(settings)
            if mailer is not None and (settings.summary_daily_at or settings.summary_monthly_at):
                loops.start("summaries", lambda: send_when_due(db, settings, mailer))
            sms = sms_sender(settings)
            if sms is not None:  # no channel configured: nobody is told, nothing is queued
                rules = notification_rules.load()
                notifier = services.notifier = Notifier(
                    db, rules, {"sms": sms}, timezone=settings.timezone
                )
                loops.start("notify", lambda: notifier.run(NOTIFY_EVERY_S))
                if rules.cascade is not None:  # asks go out through the notifier
                    cascade = Cascade(db, rules.cascade, timezone=settings.timezone)
                    loops.start("cascade", lambda: cascade.run(NOTIFY_EVERY_S))
        if services.gateway is not None:
            gateway = services.gateway
            if services.ingest_process is not None:
                await services.ingest_process.start()
            await gateway.start()
            loops.start("gateway", lambda: gateway.run())
            relay = services.command_relay = CommandRelay(
                bus, gateway.publish_all, consumer=settings.gateway_client_id
            )
            loops.start("device-commands", lambda: relay.run())
            devices = services.device_supervision = Supervisor(db, services.ingest)
            loops.start(
                "supervision",
                lambda: devices.run(settings.supervision_sweep_s, services.after_change),
            )
        yield services
    finally:
        await loops.stop()
        if services.voice is not None:
            services.voice.close()
        if services.gateway is not None:
            await services.gateway.stop()
        if services.ingest_process is not None:
            await asyncio.to_thread(services.ingest_process.close)
        await asyncio.to_thread(services.homecare.solvers.close)
        await bus.close()
        await asyncio.to_thread(db.dispose)  # waits for database work in flight


async def _start_voice(services: Services, loops: LoopSupervisor) -> None:
    """Voice signalling (docs/voice.md): the devices' MQTT link and the board stream hook."""
    settings = services.settings

    async def from_device(signal: VoiceSignal) -> None:
        if services.voice is not None:
            await services.voice.from_device(signal)

    # Calls live in this process's memory: those it left open when it stopped are over.
    stale = await services.db.run(
        voice_record.close_stale_calls, services.db, settings.mqtt_client_id, datetime.now(UTC)
    )
    if stale:
        log.warning("voice: %d call(s) the last run left open ended (server_restart)", len(stale))
        await services.after_change()
    link = MqttVoiceLink(settings.mqtt_url, from_device)
    voice = VoiceService(
        services.db,
        load_voice_catalog(settings.alert_types_file),
        link,
        services.after_change,
        ring_timeout_s=settings.voice_ring_timeout_s,
        server_id=settings.mqtt_client_id,
    )
    services.voice = voice

    def on_entry(entry: StreamEntry) -> None:
        task = asyncio.get_running_loop().create_task(voice.on_live_event(entry.message))
        task.add_done_callback(_log_failure)

    await services.fanout.on_entry(services.bus.board_stream, on_entry)
    loops.start("voice-link", lambda: link.run())


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("voice: %s", task.exception(), exc_info=task.exception())


async def _prune_every(db: Database, settings: Settings) -> None:
    """Delete what is past its retention, now and every ``retention_sweep_s``."""
    policy = RetentionPolicy(
        device_events_days=settings.retention_device_events_days,
        dead_letters_days=settings.retention_dead_letters_days,
        sessions_days=settings.retention_sessions_days,
        records_years=settings.retention_records_years,
    )
    while True:
        try:
            await db.run(prune, db, policy, datetime.now(UTC))
        except SQLAlchemyError as exc:  # away: the next sweep tries again
            if cancelling():
                raise
            log.warning("pruning failed, again in %.0f s: %s", settings.retention_sweep_s, exc)
        await asyncio.sleep(settings.retention_sweep_s)
