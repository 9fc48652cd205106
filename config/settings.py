"""The one place that reads the environment.

Every setting comes from an environment variable prefixed ``CAREBELL_`` (for
example ``CAREBELL_DATABASE_URL``) or, below those in priority, from the TOML
file named by ``CAREBELL_CONFIG_FILE``. Build ``Settings()`` once at start-up
and pass plain values down.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from config import CONFIG_DIR


class IceServer(BaseModel):
    """A STUN or TURN server the browsers' WebRTC uses (coturn in docker-compose.yml)."""

    model_config = ConfigDict(extra="forbid")

    urls: str = Field(pattern=r"^(stun|stuns|turn|turns):")
    username: str | None = None
    credential: str | None = None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CAREBELL_", extra="forbid")

    database_url: str = "sqlite:///var/carebell.db"
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    redis_url: str = "redis://127.0.0.1:6379/0"
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=0, le=65535)

    # Which parts this process runs; a deployment may split them across processes.
    roles: set[Literal["api", "gateway", "dispatcher"]] = {"api", "gateway", "dispatcher"}

    timezone: str = "Asia/Shanghai"
    # When the call centre's shifts begin, in the centre's time zone (the operators'
    # work per shift, docs/reports.md), as JSON: ["08:00", "16:00", "00:00"].
    operator_shift_starts: list[str] = Field(default=["00:00", "08:00", "16:00"], min_length=1)
    alert_types_file: Path = CONFIG_DIR / "alert_types.yaml"
    services_file: Path = CONFIG_DIR / "services.yaml"  # the home-service menu and its rules
    credit_file: Path = CONFIG_DIR / "credit.yaml"  # credit scores: weights, thresholds, bonus
    # The care map's base map: a tile URL template ({z}/{x}/{y}, {s} for subdomains),
    # e.g. the bureau's own tile server; empty: district outlines only, no network.
    map_tiles_url: str = ""
    # The tiles' coordinates: wgs84 (Tianditu, OpenStreetMap) or gcj02 (AMap,
    # Tencent): positions are shifted to GCJ-02 before drawing on a gcj02 map.
    map_tiles_crs: Literal["wgs84", "gcj02"] = "wgs84"
    map_tiles_attribution: str = ""
    # Fernet keys sealing the most sensitive fields at rest, newest first, as JSON:
    # ["<new>", "<old>"] (docs/privacy.md: `carebell keys new`, `carebell keys rotate`).
    # Empty: stored as they are (the demo).
    data_keys: list[str] = []
    # The capability-assessment scale (GB/T 42195-2022; see the file for what is verified).
    assessment_file: Path = CONFIG_DIR / "assessment.yaml"
    # Prefix of every Redis key, so several deployments or tests can share one server.
    redis_prefix: str = "carebell"

    # The gateway's MQTT client id, which names its persistent session on the broker:
    # unique per process. Empty: carebell-<host name>-<replica>, so a process keeps
    # its session across restarts and two processes never take each other's.
    mqtt_client_id: str = Field(default="", max_length=128)
    # Which of several processes on one host this is (0, 1, 2, ...).
    replica: int = Field(default=0, ge=0)
    mqtt_protocol: Literal["5", "3.1.1"] = "5"
    mqtt_session_expiry_s: int = 7 * 24 * 3600
    # MQTT 5 shared-subscription group; empty means a plain subscription.
    mqtt_share_group: str = "carebell"
    # Parse, validate and commit device messages in a helper process beside the
    # gateway (one MQTT connection, two OS processes): the gateway then takes about
    # twice the telemetry (docs/devices.md). Needs a database both processes can
    # open (not an in-memory SQLite).
    gateway_ingest_process: bool = True
    # Each device's fair share of the gateway (devices/fair_share.py): this many
    # messages at once, then this many a second, go in arrival order; beyond that a
    # device's messages wait behind every other device's (never dropped).
    gateway_device_burst: int = Field(default=20, ge=1)
    gateway_device_rate_per_s: float = Field(default=1.0, gt=0)

    merge_window_s: float = Field(default=300.0, ge=0)
    offer_timeout_s: float = Field(default=30.0, gt=0)
    dispatch_tick_s: float = Field(default=1.0, gt=0)
    # The board sounds again for an alert nobody has acknowledged after this long,
    # and puts it before the supervisors after board_escalate_after_s.
    board_realert_s: float = Field(default=30.0, gt=0)
    board_escalate_after_s: float = Field(default=120.0, gt=0)
    # How often the gateway looks for devices that stopped checking in.
    supervision_sweep_s: float = Field(default=30.0, gt=0)
    # How often the dispatcher looks for planned visits an emergency interrupted.
    replan_check_s: float = Field(default=10.0, gt=0)
    max_clock_skew_s: float = Field(default=24 * 3600.0, gt=0)
    # Tell each device which of its events are stored (carebell/v1/devices/{id}/received).
    device_receipts: bool = True
    # A background loop that fails is started again after loop_restart_s, doubling up
    # to loop_restart_max_s; it counts as running again after loop_settle_s without
    # failing (until then /healthz answers 503 naming it).
    loop_restart_s: float = Field(default=0.5, gt=0)
    loop_restart_max_s: float = Field(default=30.0, gt=0)
    loop_settle_s: float = Field(default=5.0, gt=0)
    # Retention (docs/operations.md): device events that raised nothing (heartbeats,
    # telemetry) for days, no shorter than the broker keeps a gateway's queue (the
    # idempotence window); refused messages; finished log-in sessions; and closed
    # alerts with their orders, audit records and calls for years.
    retention_device_events_days: float = Field(default=14.0, gt=0)
    retention_dead_letters_days: float = Field(default=90.0, gt=0)
    retention_sessions_days: float = Field(default=7.0, gt=0)
    retention_records_years: float = Field(default=10.0, gt=0)
    retention_sweep_s: float = Field(default=3600.0, gt=0)

    # Voice (docs/voice.md). STUN/TURN for browsers behind NAT, as JSON:
    # [{"urls": "turn:turn.example.org:3478", "username": "…", "credential": "…"}].
    voice_ice_servers: list[IceServer] = []
    # Keep WebRTC media on 127.0.0.1: a demo or a test with every party on one machine.
    voice_loopback_only: bool = False
    # The bureau records its calls (kept with the alert, played back by supervisors).
    voice_record_calls: bool = False
    voice_recordings_dir: Path = Path("var/recordings")
    # A leg nobody answers ends as "unavailable" after this long.
    voice_ring_timeout_s: float = Field(default=45.0, gt=0)
    # The centre's phone system (SIP over WebSocket, RFC 7118) the board's browser
    # phone registers with, as sip:<operator>@<domain>; unset: no phone line.
    voice_sip_ws_url: str | None = Field(default=None, pattern=r"^wss?://")
    voice_sip_domain: str = "carebell.local"

    # SMS to families and contacts (docs/contacts.md, "SMS"): "none" sends nothing.
    sms_provider: Literal["none", "aliyun"] = "none"
    sms_aliyun_endpoint: str = Field(default="https://dysmsapi.aliyuncs.com", pattern=r"^https?://")
    sms_aliyun_access_key_id: str = ""
    sms_aliyun_access_key_secret: str = ""
    sms_aliyun_sign_name: str = ""  # the approved signature, e.g. 某某区居家养老
    # The secret in the addresses the provider pushes delivery reports and replies to
    # (?token=...); empty: those addresses are off.
    sms_receipt_token: str = ""

    # E-mail for the daily and monthly summaries (docs/contacts.md, "E-mail"):
    # smtp://user:password@host:587 (STARTTLS unless smtp_starttls is false) or
    # smtps://user:password@host:465 (TLS from the start); unset: no e-mail.
    smtp_url: str | None = Field(default=None, pattern=r"^smtps?://[^/]+$")
    smtp_from: str = "carebell@localhost"
    smtp_starttls: bool = True
    smtp_timeout_s: float = Field(default=30.0, gt=0)
    # The CA the mail server's certificate is checked with (a bureau's own); unset:
    # the system's CAs.
    smtp_ca_file: Path | None = None
    # Who gets the summaries, address -> locale, as JSON:
    # {"zhang@bureau.gov.cn": "zh-CN", "smith@partner.org": "en"}.
    summary_recipients: dict[str, Literal["zh-CN", "en"]] = {}
    # The server sends them itself (a loop in the dispatcher's process) from these
    # local times: yesterday's daily summary each day, last month's report on the
    # 1st; unset: only `carebell summaries` (cron) sends them.
    summary_daily_at: str | None = Field(default=None, pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    summary_monthly_at: str | None = Field(default=None, pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    summary_check_s: float = Field(default=60.0, gt=0)  # how often the loop looks
    summary_retry_s: float = Field(default=900.0, gt=0)  # after a failure, wait this long

    @property
    def gateway_client_id(self) -> str:
        """The MQTT client id (and Redis consumer name) of this process's gateway."""
        return self.mqtt_client_id or f"carebell-{socket.gethostname()}-{self.replica}"

    @model_validator(mode="after")
    def _device_events_outlive_redelivery(self) -> Settings:
        # A message the broker redelivers after its event was pruned would count twice.
        if self.retention_device_events_days * 86400 < self.mqtt_session_expiry_s:
            raise ValueError(
                "retention_device_events_days must cover mqtt_session_expiry_s"
                " (the broker may deliver an event again until then)"
            )
        return self

    @field_validator("database_url")
    @classmethod
    def _normalise_postgres(cls, url: str) -> str:
        # psycopg 3 is the driver we ship; accept the URLs people paste from Heroku-style configs.
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url.removeprefix(prefix)
        return url

    @field_validator("operator_shift_starts")
    @classmethod
    def _shift_starts(cls, starts: list[str]) -> list[str]:
        parsed = [time.fromisoformat(s) for s in starts]  # ValueError names a bad one
        if len(set(parsed)) != len(parsed):
            raise ValueError("a shift start is named twice")
        return starts

    @field_validator("voice_ice_servers", mode="before")
    @classmethod
    def _ice_servers_from_json(cls, value: object) -> object:
        # The environment gives JSON text; so may a caller passing it on as it is.
        return json.loads(value) if isinstance(value, str) else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("CAREBELL_CONFIG_FILE")
        if config_file:
            if not Path(config_file).is_file():
                raise FileNotFoundError(f"CAREBELL_CONFIG_FILE={config_file} does not exist")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)
