"""Database rows. The database is the record: alerts, orders and the audit trail.

Datetimes are stored and returned as UTC-aware values on every backend.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, String, UniqueConstraint, text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from dispatch.domain.lifecycle import (
    ACTIVE_ORDER_STATES,
    AlertState,
    OrderState,
    RequestState,
    VisitState,
)
from dispatch.store import partitions
from dispatch.store.sealed import SealedText


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class EnumText(TypeDecorator[StrEnum]):
    """A StrEnum stored as its plain text value, the same on every backend."""

    impl = String(32)
    cache_ok = True

    def __init__(self, enum: type[StrEnum]) -> None:
        super().__init__()
        self.enum = enum

    def process_bind_param(self, value: StrEnum | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> StrEnum | None:
        return None if value is None else self.enum(value)


def _state(enum: type[StrEnum], default: StrEnum) -> Any:
    return Field(default=default, sa_column=Column(EnumText(enum), nullable=False, index=True))


def _utc(nullable: bool = False) -> Any:
    # A nullable time defaults to None: a row made in Python and answered before it
    # is read back (a new hand-over) still has the field, as the document says.
    if nullable:
        return Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    return Field(sa_column=Column(UTCDateTime(), nullable=False))


def _sealed() -> Any:
    """Text encrypted at rest (dispatch/store/sealed.py)."""
    return Field(default="", sa_column=Column(SealedText(), nullable=False))


def _json() -> Any:
    return Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Area(SQLModel, table=True):
    """A node of the bureau's area tree (dispatch/domain/areas.py): its key is the
    path of names below the city ("东城区/和平街道"); the city itself is "*"."""

    key: str = Field(primary_key=True, max_length=200)
    name: str
    level: str = Field(max_length=16)  # city | district | street | community
    parent_key: str | None = Field(default=None, max_length=200, index=True)
    lat: float | None = None
    lon: float | None = None


class Elder(SQLModel, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # The bureau's own id for the elder (their file number): bulk imports match on it.
    external_id: str | None = Field(default=None, max_length=64, unique=True, index=True)
    name: str
    phone: str = ""  # the number to call first (the landline, or the elder's mobile)
    phones: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # 居民身份证号: sensitive (PIPL art. 28), shown whole to admins only; sealed at rest.
    id_number: str = _sealed()
    birth_date: date | None = None
    sex: str = ""  # female | male
    address: str
    lat: float
    lon: float
    district: str = Field(default="", index=True)
    street: str = ""
    community: str = ""
    building: str = ""
    unit: str = ""
    room: str = ""
    living_situation: str = ""  # alone | with_spouse | with_family
    # 特困, 低保, 低保边缘, 失独, 空巢, 留守, 重残, 高龄 (codes in dispatch/domain/elders.py)
    hardship: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    economic_status: str = ""  # the subsidy table's column (config/services.yaml)
    notes: str = _sealed()  # key health notes for whoever goes (sealed at rest)
    medicines: str = ""
    allergies: str = ""
    family_doctor: str = ""
    emergency_contact: str = ""  # family to call: the first contact, as one line for the card
    access_notes: str = _sealed()  # how to get in: door code, key with a neighbour (sealed)
    # What is normal for this elder (a wearable's reports are checked against it).
    heart_rate_min: int | None = None
    heart_rate_max: int | None = None
    geofence_radius_m: float | None = None  # around home; None: no safe area
    # Planned services: the assessed care-need level (config/services.yaml) and
    # whether the elder must be visited every month (living alone, hardship).
    care_level: int = 0
    regular_visits: bool = False
    # Deactivated (moved away, deceased, in an institution): kept, with every alert
    # and visit, but no longer served.
    active: bool = True
    deactivated_at: datetime | None = _utc(nullable=True)
    deactivation_reason: str | None = None


class ElderContact(SQLModel, table=True):
    """Someone to call about an elder, in the order to call them."""

    __tablename__ = "elder_contact"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    elder_id: uuid.UUID = Field(foreign_key="elder.id", index=True)
    position: int  # 0 is called first
    name: str
    relation: str = ""  # 女儿, 儿子, 邻居, 社区网格员 …
    phones: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    role: str = "family"  # family | guardian | neighbour | community | doctor
    hours: str = ""  # when they can be reached, e.g. "08:00-22:00"; "" any time
    key_holder: bool = False  # holds a key to the elder's home
    # Where they live (WGS-84), when known: the cascade asks the nearer first.
    lat: float | None = None
    lon: float | None = None
    # Taken off the elder's list after they were sent something: the row stays, so
    # what they were sent still names them; nobody asks them again.
    removed_at: datetime | None = _utc(nullable=True)


class Assessment(SQLModel, table=True):
    """One capability assessment of an elder (config/assessment.yaml's scale)."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    elder_id: uuid.UUID = Field(foreign_key="elder.id", index=True)
    standard: str  # the scale's standard, e.g. "GB/T 42195-2022"
    assessed_on: date
    assessor: str  # who assessed (a name: assessors need not have accounts)
    scores: dict[str, int] = _json()  # item code -> score
    findings: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    by_indicator: dict[str, int] = _json()
    total: int
    grade: str
    care_level: int
    next_due: date
    notes: str = ""
    recorded_by: str  # the account that entered it
    recorded_at: datetime = _utc()


class RegistryChange(SQLModel, table=True):
    """Append-only: who changed which fields of a registry record, before and after."""

    __tablename__ = "registry_change"

    id: int | None = Field(default=None, primary_key=True)
    entity: str = Field(max_length=32)  # elder | caregiver | provider | facility | area | user
    entity_id: str = Field(max_length=64, index=True)
    action: str = Field(max_length=32)  # created | updated | deactivated | anonymised
    actor: str  # the user name
    at: datetime = _utc()
    fields: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    before: dict[str, Any] = _json()
    after: dict[str, Any] = _json()


class RecordAccess(SQLModel, table=True):
    """Every read of an elder's full record: who, when, through which screen or call."""

    __tablename__ = "record_access"

    id: int | None = Field(default=None, primary_key=True)
    elder_id: uuid.UUID = Field(foreign_key="elder.id", index=True)
    actor: str
    role: str = Field(max_length=16)
    at: datetime = _utc()
    via: str  # "GET /api/v1/elders/{id}", or the screen the page names


class Device(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(index=True)  # panic_button | door_bell | wearable
    elder_id: uuid.UUID | None = Field(default=None, foreign_key="elder.id", index=True)
    active: bool = True
    # Live state, from what the device last said.
    online: bool | None = None
    last_seen_at: datetime | None = _utc(nullable=True)
    battery: int | None = None  # percent
    signal: int | None = None  # dBm
    firmware: str | None = None
    worn: bool | None = None  # wearables: false once taken off
    offline_since: datetime | None = _utc(nullable=True)
    offline_alerted: bool = False  # "device offline" raised for this absence
    lat: float | None = None  # wearables: where it last said it was
    lon: float | None = None


class DeviceCredential(SQLModel, table=True):
    """A device's broker password, as the broker's hash; the secret itself is never kept."""

    __tablename__ = "device_credential"

    device_id: str = Field(foreign_key="device.id", primary_key=True, max_length=64)
    broker_hash: str  # Mosquitto's $7$ PBKDF2-SHA512 format
    issued_at: datetime = _utc()


class Provider(SQLModel, table=True):
    """A service organisation that employs caregivers and is paid for visits."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(unique=True)
    phone: str = ""
    address: str = ""
    active: bool = True


class Facility(SQLModel, table=True):
    """A day-care centre, an elders' canteen or a service station (routes may start
    and end at a station)."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str
    kind: str = Field(max_length=16)  # day_care | canteen | station
    provider_id: uuid.UUID | None = Field(default=None, foreign_key="provider.id", index=True)
    address: str = ""
    area: str = ""  # an area key (dispatch/domain/areas.py)
    lat: float
    lon: float
    opening_hours: str = ""  # e.g. "Mo-Fr 08:00-17:00"
    active: bool = True


class Caregiver(SQLModel, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # The bureau's or provider's own id for the caregiver: bulk imports match on it.
    external_id: str | None = Field(default=None, max_length=64, unique=True, index=True)
    name: str
    phone: str = ""
    skills: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    shift_start: time
    shift_end: time
    transport: str = "ebike"
    home_lat: float
    home_lon: float
    active: bool = True
    on_duty: bool = True  # the caregiver's own "on shift" switch in the app
    provider: str = ""  # the service provider organisation that employs them (its name)
    provider_id: uuid.UUID | None = Field(default=None, foreign_key="provider.id", index=True)
    # Planned routes start and end here when set (a service station), else at home.
    station_lat: float | None = None
    station_lon: float | None = None
    station_id: uuid.UUID | None = Field(default=None, foreign_key="facility.id")
    # [{"skill", "name", "expires_on"}]: an expired certificate takes its skill out
    # of matching (dispatch/domain/workforce.py).
    certificates: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    # ISO weekday ("1" = Monday) -> ["HH:MM", "HH:MM"]; empty: shift_start-shift_end daily.
    weekly_shifts: dict[str, list[str]] = _json()
    leave_days: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class Alert(SQLModel, table=True):
    # Lists and reports go newest first and by a time range of raising.
    __table_args__ = (Index("ix_alert_raised_at", "raised_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # None for alerts a person raised (a caregiver's visit exception), not a device.
    device_id: str | None = Field(default=None, foreign_key="device.id", index=True)
    elder_id: uuid.UUID | None = Field(default=None, foreign_key="elder.id", index=True)
    alert_type: str
    severity: str
    state: AlertState = _state(AlertState, AlertState.RAISED)
    raised_at: datetime = _utc()
    deadline_at: datetime = _utc()
    device_ts: datetime = _utc()
    updated_at: datetime = _utc()
    lat: float
    lon: float
    press_count: int = 1
    escalation_reason: str | None = None
    # Where the elder lived when it was raised (dispatch/domain/areas.py): an operator
    # scoped to a district, street or community sees the alerts that lie under it.
    district: str = Field(default="", index=True)
    street: str = ""
    community: str = ""
    acknowledged_at: datetime | None = _utc(nullable=True)
    acknowledged_by: str | None = None  # the operator who took ownership
    # A dispatcher process holds an alert while it matches it; see dispatcher.claim.
    claimed_until: datetime | None = _utc(nullable=True)
    # Why it was closed (config/alert_types.yaml closure_codes), counted by reports.
    closure_code: str | None = Field(default=None, max_length=32, index=True)
    closure_note: str | None = Field(default=None, max_length=4000)


class Handover(SQLModel, table=True):
    """An alert handed to the public emergency service (120, 110 or 119): who handed
    over and when, the outcome, the arrival. The sheet read out is built from the
    record when asked (its health notes and door access stay sealed at rest)."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    alert_id: uuid.UUID = Field(foreign_key="alert.id", index=True)
    service: str = Field(max_length=8)  # 120 | 110 | 119
    handed_by: str = Field(max_length=64)
    handed_at: datetime = _utc()
    outcome: str | None = Field(default=None, max_length=32)  # None: still waiting for it
    outcome_note: str = ""
    outcome_at: datetime | None = _utc(nullable=True)
    arrived_at: datetime | None = _utc(nullable=True)  # the ambulance (or police) at the door


class CreditStanding(SQLModel, table=True):
    """A caregiver's credit for a month as a supervisor applied it
    (dispatch/domain/credit.py): the bonus the matcher gives, and a hold from
    automatic dispatch for a low score until a supervisor clears it."""

    __tablename__ = "credit_standing"

    caregiver_id: uuid.UUID = Field(foreign_key="caregiver.id", primary_key=True)
    month: str = Field(primary_key=True, max_length=7)  # YYYY-MM
    score: float | None = None
    standing: str = Field(default="unscored", max_length=16)  # good | fair | low | unscored
    bonus_s: float = 0.0
    held: bool = False
    applied_by: str = Field(default="", max_length=64)
    applied_at: datetime = _utc()
    cleared_by: str | None = Field(default=None, max_length=64)
    cleared_at: datetime | None = _utc(nullable=True)
    clear_note: str = ""


class ShiftHandover(SQLModel, table=True):
    """An operator's shift hand-over: the open alerts and the callbacks due in their
    areas at the shift change, as they stood, with the outgoing operator's notes;
    acknowledged by the incoming operator."""

    __tablename__ = "shift_handover"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    handed_by: str = Field(max_length=64)
    handed_at: datetime = _utc()
    areas: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    notes: str = ""
    # [{"alert_id", "alert_type", "severity", "state", "district", "street", "community",
    #   "raised_at", "acknowledged_by"}], and for callbacks [{"alert_id", "at", "by", "note"}]
    open_alerts: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    callbacks_due: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    acknowledged_by: str | None = Field(default=None, max_length=64)
    acknowledged_at: datetime | None = _utc(nullable=True)


class Order(SQLModel, table=True):
    __table_args__ = (
        # The database, not process memory, guarantees one emergency per caregiver.
        Index(
            "one_active_order_per_caregiver",
            "caregiver_id",
            unique=True,
            sqlite_where=text(
                "state IN (" + ",".join(f"'{s.value}'" for s in ACTIVE_ORDER_STATES) + ")"
            ),
            postgresql_where=text(
                "state IN (" + ",".join(f"'{s.value}'" for s in ACTIVE_ORDER_STATES) + ")"
            ),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    alert_id: uuid.UUID = Field(foreign_key="alert.id", index=True)
    caregiver_id: uuid.UUID = Field(foreign_key="caregiver.id", index=True)
    state: OrderState = _state(OrderState, OrderState.OFFERED)
    offered_at: datetime = _utc()
    expires_at: datetime = _utc()
    updated_at: datetime = _utc()
    eta_s: float
    distance_m: float


class UserAccount(SQLModel, table=True):
    """Someone who logs in: an operator, supervisor, caregiver or administrator."""

    __tablename__ = "user_account"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    display_name: str = ""
    password_hash: str  # argon2id
    role: str = Field(max_length=16)
    areas: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    caregiver_id: uuid.UUID | None = Field(default=None, foreign_key="caregiver.id")
    provider_id: uuid.UUID | None = Field(default=None, foreign_key="provider.id")  # its staff
    locale: str = "zh-CN"
    # Where the summaries go, for a supervisor (docs/contacts.md, "E-mail"); empty: none.
    email: str = Field(default="", max_length=254)
    active: bool = True
    # Set for a new or reset password: the holder must choose their own at log-in.
    must_change_password: bool = False
    created_at: datetime | None = _utc(nullable=True)
    password_changed_at: datetime | None = _utc(nullable=True)
    # Set when wrong passwords locked the account; a supervisor or the time clears it.
    locked_until: datetime | None = _utc(nullable=True)


class SessionToken(SQLModel, table=True):
    """A login session; only the token's SHA-256 is kept."""

    __tablename__ = "session_token"
    __table_args__ = (Index("ix_session_token_expires_at", "expires_at"),)  # purged by age

    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: uuid.UUID = Field(foreign_key="user_account.id", index=True)
    expires_at: datetime = _utc()


class ActionReply(SQLModel, table=True):
    """The answer a caregiver's action got, by the app's ``ref``, written in the
    action's own transaction: an app that sends the action again (its answer
    lost) gets this answer, whatever happened after the commit."""

    __tablename__ = "action_reply"
    __table_args__ = (Index("ix_action_reply_created_at", "created_at"),)  # pruned by age

    caregiver_id: uuid.UUID = Field(foreign_key="caregiver.id", primary_key=True)
    ref: str = Field(primary_key=True, max_length=64)
    reply: dict[str, Any] = _json()
    created_at: datetime = _utc()


class ServiceRequest(SQLModel, table=True):
    """An order for planned home services, once or recurring, waiting for approval."""

    __tablename__ = "service_request"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    elder_id: uuid.UUID = Field(foreign_key="elder.id", index=True)
    item: str  # a code on the service menu
    source: str  # who asked: operator | family | elder
    requested_by: str = ""  # the name or account of whoever asked
    state: RequestState = _state(RequestState, RequestState.REQUESTED)
    reason: str = ""  # why it was refused, or the approval's note
    first_day: date
    last_day: date | None = None
    weekdays: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    window_start: time  # local time
    window_end: time
    notes: str = ""
    created_at: datetime = _utc()
    decided_at: datetime | None = _utc(nullable=True)
    decided_by: str | None = None


class Visit(SQLModel, table=True):
    """One home visit on one day, from a request or the monthly regular visits.

    The planner puts it on a caregiver's route (caregiver, sequence, planned start);
    an emergency may divert its caregiver (needs_replan). Money is in fen.
    """

    __table_args__ = (UniqueConstraint("request_id", "day", name="one_visit_per_request_day"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    request_id: uuid.UUID | None = Field(default=None, foreign_key="service_request.id")
    elder_id: uuid.UUID = Field(foreign_key="elder.id", index=True)
    service: str  # menu item code
    day: date = Field(index=True)  # local date
    window_start: datetime = _utc()
    window_end: datetime = _utc()
    state: VisitState = _state(VisitState, VisitState.SCHEDULED)
    caregiver_id: uuid.UUID | None = Field(default=None, foreign_key="caregiver.id", index=True)
    partner_id: uuid.UUID | None = Field(default=None, foreign_key="caregiver.id")  # two-person
    sequence: int | None = None  # position on the caregiver's route
    planned_start: datetime | None = _utc(nullable=True)
    needs_replan: bool = False
    started_at: datetime | None = _utc(nullable=True)
    finished_at: datetime | None = _utc(nullable=True)
    start_distance_m: float | None = None  # from the elder's address, when started
    notes: str = ""
    exception: str | None = None  # nobody_home | elder_unwell
    alert_id: uuid.UUID | None = Field(default=None, foreign_key="alert.id")
    price_fen: int = 0
    subsidy_fen: int = 0
    self_pay_fen: int = 0


class FollowUp(SQLModel, table=True):
    """A follow-up call on a finished visit, and what the elder said."""

    __tablename__ = "follow_up"

    visit_id: uuid.UUID = Field(foreign_key="visit.id", primary_key=True)
    reason: str  # first_visit | sample
    created_at: datetime = _utc()
    done_at: datetime | None = _utc(nullable=True)
    operator: str | None = None
    reached: bool | None = None
    satisfaction: int | None = None  # 1-5
    comment: str = ""


class AuditRecord(SQLModel, table=True):
    """Append-only: one row per transition, also the outbox of live events.

    ``event`` is the message the live hub publishes; ``published`` turns true once
    Redis has it, so events written while Redis was down still go out later.
    ``lease_until`` marks a record a process is publishing right now; a process
    that dies mid-publish leaves a lease that expires, and another takes it over.
    """

    __tablename__ = "audit_record"
    __table_args__ = (
        # The reports ask "when did this alert's first order go on scene (or the alert
        # close)": one probe of this index per alert, never a read of the rows.
        Index("ix_audit_record_alert_step", "alert_id", "entity", "to_state", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    alert_id: uuid.UUID = Field(foreign_key="alert.id", index=True)
    order_id: uuid.UUID | None = Field(default=None, foreign_key="order.id")
    caregiver_id: uuid.UUID | None = None
    entity: str  # "alert" | "order"
    from_state: str | None
    to_state: str
    actor: str  # an Actor (dispatch/domain/actor.py): "device:<id>", "operator:<name>", ...
    # What happened when the state did not change: "merged", "acknowledged", ...
    action: str | None = None
    at: datetime = _utc()
    detail: dict[str, Any] = _json()
    event: dict[str, Any] = _json()
    published: bool = Field(default=False, index=True)
    lease_until: datetime | None = _utc(nullable=True)


class VoiceCall(SQLModel, table=True):
    """One voice call: the operator who hosted it, whom they spoke to, and when.

    ``parties`` lists every leg ("device:pb-1", "caregiver:<id>", "phone:+86…");
    ``answered_at`` is when the first leg carried audio (the KPI "answered").
    """

    __tablename__ = "voice_call"

    id: uuid.UUID = Field(primary_key=True)
    alert_id: uuid.UUID | None = Field(default=None, foreign_key="alert.id", index=True)
    host: str = Field(index=True)  # the operator's user name
    requested_by: str | None = None  # "device:…"/"caregiver:…" when the call was asked for
    parties: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    started_at: datetime = _utc()
    answered_at: datetime | None = _utc(nullable=True)
    ended_at: datetime | None = _utc(nullable=True)
    end_reason: str | None = None
    recording: str | None = None  # file name under the recordings folder
    # The server process that relays the call (its MQTT client id, stable across
    # restarts): calls live in its memory, so it closes its own left open at start.
    served_by: str | None = None
    # Quality review: a supervisor's sample of answered calls (two per operator a month).
    sampled_at: datetime | None = _utc(nullable=True)
    reviewed_by: str | None = None
    review_note: str | None = None


def _event_day(context: Any) -> date:
    row = context.get_current_parameters()
    return partitions.event_day(row["device_ts"], row["received_at"])


class DeviceEvent(SQLModel, table=True):
    """Every accepted device event once: (device, event id) is the idempotence key.

    On PostgreSQL the table is partitioned by ``event_day`` and the key enforced
    as (device, event id, event_day), the same day for every delivery of an
    event (dispatch/store/partitions.py); these declarations are SQLite's."""

    __tablename__ = "device_event"
    __table_args__ = (
        UniqueConstraint("device_id", "event_id"),
        Index("ix_device_event_received_at", "received_at"),  # pruned by age
        Index(
            "ix_device_event_alert",
            "alert_id",
            sqlite_where=text("alert_id IS NOT NULL"),
            postgresql_where=text("alert_id IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    device_id: str = Field(foreign_key="device.id")
    event_id: str = Field(max_length=128)
    type: str
    device_ts: datetime = _utc()
    received_at: datetime = _utc()
    alert_id: uuid.UUID | None = Field(default=None, foreign_key="alert.id")
    # Derived from the two times when not given (a column default, so Core inserts
    # of the ingest get it too).
    event_day: date = Field(sa_column_kwargs={"default": _event_day})


class DeadLetter(SQLModel, table=True):
    """A device message that was refused, kept for an operator to inspect."""

    __tablename__ = "dead_letter"
    __table_args__ = (Index("ix_dead_letter_received_at", "received_at"),)  # pruned by age

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = _utc()
    topic: str
    payload: str  # UTF-8 text, or "base64:" + the bytes when they are not text
    reason: str = Field(index=True)
    detail: str


class Notification(SQLModel, table=True):
    """One message to one of an elder's contacts about one step of an alert.

    Made by the notifier from the step's committed audit record (``audit_id``), at
    most once per record and contact; ``channel`` is the channel tried last (a failed
    one falls back to the next the rule names); ``failed`` is kept, never dropped.
    """

    __table_args__ = (UniqueConstraint("audit_id", "contact_id", name="one_notice_per_step"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    alert_id: uuid.UUID = Field(foreign_key="alert.id", index=True)
    audit_id: int = Field(foreign_key="audit_record.id")
    contact_id: uuid.UUID = Field(foreign_key="elder_contact.id")
    contact_name: str = ""
    phone: str = ""
    step: str = Field(max_length=32)  # raised | en_route | on_scene | resolved | ...
    channels: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    channel: str = Field(max_length=16)
    status: str = Field(default="queued", max_length=16, index=True)
    attempts: int = 0
    error: str = ""
    provider_id: str = ""
    created_at: datetime = _utc()
    sent_at: datetime | None = _utc(nullable=True)
    updated_at: datetime = _utc()


class FamilyLink(SQLModel, table=True):
    """A family account linked to an elder: the family page shows that elder's
    alerts to that account, and nothing of anyone else's (docs/contacts.md)."""

    __tablename__ = "family_link"
    __table_args__ = (UniqueConstraint("user_id", "elder_id", name="one_link_per_elder"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="user_account.id", index=True)
    elder_id: uuid.UUID = Field(foreign_key="elder.id", index=True)
    relation: str = Field(default="", max_length=40)  # 女儿, 儿子 … as the family member is
    linked_by: str = Field(max_length=64)  # the administrator, or "invitation:<created by>"
    linked_at: datetime = _utc()


class FamilyInvitation(SQLModel, table=True):
    """A one-time code an administrator gives a family member, who enters it on the
    family page to link their account to the elder. Only its SHA-256 is kept."""

    __tablename__ = "family_invitation"

    code_hash: str = Field(primary_key=True, max_length=64)
    elder_id: uuid.UUID = Field(foreign_key="elder.id", index=True)
    relation: str = Field(default="", max_length=40)
    created_by: str = Field(max_length=64)
    created_at: datetime = _utc()
    expires_at: datetime = _utc()
    used_by: str | None = Field(default=None, max_length=64)
    used_at: datetime | None = _utc(nullable=True)


class SummaryMail(SQLModel, table=True):
    """One summary e-mail (daily or monthly) for one period to one recipient: the
    record that keeps a second run from sending it twice, and keeps a failure."""

    __tablename__ = "summary_mail"
    __table_args__ = (
        UniqueConstraint("kind", "period", "recipient", name="one_summary_per_period"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    kind: str = Field(max_length=16)  # daily | monthly
    period: str = Field(max_length=10)  # YYYY-MM-DD | YYYY-MM
    recipient: str = Field(max_length=254)
    locale: str = Field(max_length=8)
    status: str = Field(max_length=16)  # sending | sent | failed
    attempts: int = 0
    error: str = ""
    sent_at: datetime | None = _utc(nullable=True)
    updated_at: datetime = _utc()
