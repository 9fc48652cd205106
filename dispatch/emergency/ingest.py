"""From MQTT message to committed alert: the gateway's use case.

One batch of messages is stored in one transaction, so the broker is acknowledged
only for what is committed and commits stay cheap under load. What each message
means is decided by one pure function (dispatch.domain.device_effects.decide);
this module loads what the decision reads and applies the effects it answers:
a new alert, a merge into the device's open alert, a close, a device state
update, a duplicate (already stored: nothing to do), or the dead-letter table
with the reason it was refused. A message the server fails on (a bug, a schema
the code does not match) is the server's fault, not the message's: it is held,
never dead-lettered, and the gateway leaves it unacknowledged and tries again.
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Table,
    any_,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlmodel import Session, SQLModel

from devices.protocol import DeviceEvent, parse_event, parse_status, parse_topic
from dispatch.domain import device_rules
from dispatch.domain.actor import DEVICE_POLICY, Actor
from dispatch.domain.areas import Place
from dispatch.domain.catalog import Catalog
from dispatch.domain.device_effects import (
    NO_LIMITS,
    NOWHERE,
    DeviceView,
    Effect,
    Message,
    OpenAlert,
    Outcome,
    Refused,
    Rules,
    decide,
)
from dispatch.domain.lifecycle import OPEN_ALERT_STATES, AlertState
from dispatch.domain.model import GeoPoint
from dispatch.errors import PayloadError
from dispatch.store import partitions
from dispatch.store.audit import alert_record, close_alert
from dispatch.store.db import Database
from dispatch.store.tables import Alert, Device

__all__ = ["STORE_UNAVAILABLE", "Inbound", "Ingest", "Outcome", "Stored"]

log = logging.getLogger(__name__)

# The tables themselves, for Core statements (SQLModel's classes do not declare them).
_EVENTS: Table = SQLModel.metadata.tables["device_event"]
_DEVICES: Table = SQLModel.metadata.tables["device"]
_ALERTS: Table = SQLModel.metadata.tables["alert"]
# What a device message's decision reads of an open alert (the table has more).
_OPEN_ALERT_COLUMNS = [_ALERTS.c[f.name] for f in fields(OpenAlert)]
_AUDIT: Table = SQLModel.metadata.tables["audit_record"]
_ELDERS: Table = SQLModel.metadata.tables["elder"]
_LETTERS: Table = SQLModel.metadata.tables["dead_letter"]

# The database is away or refused the connection: a retry later may succeed, so
# the batch is not acknowledged. Any other error is a fault with one message.
STORE_UNAVAILABLE = (OperationalError, InterfaceError)

# From this many rows on, PostgreSQL takes a batch's rows by COPY.
COPY_FROM_ROWS = 8

# A dead letter keeps this much of what was refused: enough to see what a device
# sent, not a store for whatever a client pushes (payloads are capped at 4 KiB
# by the protocol; the topic by the broker only).
DEAD_LETTER_PAYLOAD_CHARS = 8192
DEAD_LETTER_TOPIC_CHARS = 256
# And the table keeps the newest this many: a device that sends garbage for days
# cannot fill the disk.
DEAD_LETTER_MAX_ROWS = 100_000


def _uncounted(reason: str) -> None:
    """Refusals nobody counts (the server passes its metrics' counter)."""


@dataclass(frozen=True, slots=True)
class Inbound:
    """A message as the broker delivered it, stamped with the server's receipt time."""

    topic: str
    payload: bytes
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Stored:
    """A committed batch: one outcome per message, and the events it holds now
    (stored by it or before: duplicates too), to tell their devices."""

    outcomes: list[Outcome]
    received: list[tuple[str, str]]  # (device id, event id)


def read(message: Inbound) -> Message:
    """Parse a message's topic and payload (pure): an event, a status, or refused."""
    device_id = None
    try:
        route = parse_topic(message.topic)
        device_id = route.device_id
        if route.channel == "events":
            return parse_event(route.device_id, message.payload)
        return parse_status(route.device_id, message.payload)
    except PayloadError as exc:
        return Refused(exc.reason, exc.detail, device_id)


class Ingest:
    def __init__(
        self,
        db: Database,
        catalog: Catalog,
        *,
        merge_window_s: float,
        max_clock_skew_s: float = 24 * 3600.0,
        tz: ZoneInfo = ZoneInfo("Asia/Shanghai"),
        on_rejected: Callable[[str], None] = _uncounted,
        dead_letters_kept: int = DEAD_LETTER_MAX_ROWS,
    ) -> None:
        self.db = db
        self.dead_letters_kept = dead_letters_kept  # the newest refusals the table keeps
        self.on_rejected = on_rejected  # called with the reason of each refused message
        self.catalog = catalog
        self.rules = Rules(merge_window_s=merge_window_s, max_clock_skew_s=max_clock_skew_s)
        self.tz = tz  # quiet hours are the city's local time

    def store_batch(self, batch: Sequence[Inbound]) -> list[Outcome]:
        """Store every message of the batch; return its outcomes once committed."""
        return self.store(batch).outcomes

    def store(self, batch: Sequence[Inbound]) -> Stored:
        """Store every message of the batch; return when all of it is committed.

        Optimistic first: what the batch needs is loaded up front, each message is
        decided against the running view of its device, and the effects are
        written in a few statements at the commit. Should another writer have
        stored one of these events meanwhile, the commit fails and the batch is
        stored again one message at a time, each in a savepoint of its own.
        """
        messages = [read(m) for m in batch]
        try:
            with self.db.session() as session:
                outcomes = self._store_together(session, batch, messages)
            return Stored(outcomes, _received(messages, outcomes))
        except IntegrityError:
            log.info("an event of this batch was stored meanwhile; storing it message by message")
        except STORE_UNAVAILABLE:
            raise  # nothing is acknowledged; the gateway tries the batch again
        except Exception:
            log.exception("storing a batch failed; storing it message by message")
        outcomes = self.store_each(batch)
        return Stored(outcomes, _received(messages, outcomes))

    def store_each(self, batch: Sequence[Inbound]) -> list[Outcome]:
        """Store the batch message by message, each in a savepoint of its own (the
        careful path: what :meth:`store_batch` falls back to after a conflict)."""
        with self.db.session() as session:
            return [self._store_alone(session, inbound, read(inbound)) for inbound in batch]

    def _store_together(
        self, session: Session, batch: Sequence[Inbound], messages: list[Message]
    ) -> list[Outcome]:
        views, stored = load(session, messages)
        writer = _Writer(session, self.dead_letters_kept)
        outcomes = []
        for inbound, message in zip(batch, messages, strict=True):
            view = views.get(_device_of(message) or "")
            try:
                effect = decide(
                    message, view, stored, self.catalog, self.rules, inbound.received_at
                )
            except Exception as exc:  # a fault of ours: hold the message, store the rest
                _held(message, exc)
                outcomes.append(Outcome.HELD)
                continue
            self._apply(writer, inbound, effect, view)
            if view is not None and effect.outcome is not Outcome.REJECTED:
                views[view.id] = view.after(effect)
            if effect.event is not None:
                stored.add((effect.event.device_id, effect.event.event_id))
            outcomes.append(effect.outcome)
        writer.flush()
        return outcomes

    def _store_alone(self, session: Session, inbound: Inbound, message: Message) -> Outcome:
        # A savepoint per message: a refused message leaves no half-written rows,
        # and an event id another gateway stored first is a duplicate, not an error.
        try:
            with session.begin_nested():
                views, stored = load(session, [message])
                view = views.get(_device_of(message) or "")
                effect = decide(
                    message, view, stored, self.catalog, self.rules, inbound.received_at
                )
                writer = _Writer(session, self.dead_letters_kept)
                self._apply(writer, inbound, effect, view)
                writer.flush()
                return effect.outcome
        except IntegrityError:
            return Outcome.DUPLICATE
        except STORE_UNAVAILABLE:
            raise
        except Exception as exc:  # a fault of ours: hold the message, don't hold up the rest
            _held(message, exc)
            return Outcome.HELD

    def _apply(
        self, writer: _Writer, inbound: Inbound, effect: Effect, view: DeviceView | None
    ) -> None:
        if effect.reject is not None:
            log.warning(
                "rejected message on %s: %s: %s",
                inbound.topic[:200],
                effect.reject.reason,
                effect.reject.detail[:200],
            )
            self.on_rejected(effect.reject.reason)
            writer.dead_letter(inbound, effect.reject)
            return
        if effect.flags:
            log.info("let through from %s with %s", effect.device_id, effect.flags)
        writer.apply(effect, view, inbound.received_at)

    def device_offline(self, session: Session, device: Device, at: datetime, why: str) -> Outcome:
        """Raise "device offline" for the elder who depends on it, unless quiet hours say not."""
        if device.online is not False:
            device.online, device.offline_since = False, at
        device.offline_alerted = True  # this absence is dealt with, alarm or not
        session.add(device)
        rule = self.catalog.supervision.get(device.kind)
        if device.elder_id is None or rule is None:
            return Outcome.UPDATED
        if rule.is_quiet(at.astimezone(self.tz).time()):
            return Outcome.UPDATED  # e.g. a wearable taken off for the night
        [view] = _views(session, [device.id]).values()
        if view.home is None:
            return Outcome.UPDATED  # an elder with no position: nowhere to send anyone
        kind = self.catalog.alert_types[device_rules.DEVICE_OFFLINE]
        alert = OpenAlert.born(
            kind,
            id=uuid.uuid4(),
            device_id=device.id,
            elder_id=view.elder_id,
            place=view.home,
            area=view.area,
            at=at,
            device_ts=at,
        )
        escalate = None if kind.auto_dispatch else device_rules.CALL_BACK_FIRST
        effect = Effect(
            Outcome.RAISED, device.id, raised=alert, escalate=escalate, flags={"why": why}
        )
        writer = _Writer(session, self.dead_letters_kept)
        writer.apply(effect, view, at)
        writer.flush()
        return Outcome.RAISED


def _received(messages: list[Message], outcomes: list[Outcome]) -> list[tuple[str, str]]:
    """The events a committed batch holds: every one not refused."""
    return [
        (m.device_id, m.event_id)
        for m, outcome in zip(messages, outcomes, strict=True)
        if isinstance(m, DeviceEvent) and outcome not in (Outcome.REJECTED, Outcome.HELD)
    ]


def _device_of(message: Message) -> str | None:
    return message.device_id


def _held(message: Message, exc: Exception) -> None:
    """A message the server failed on is its fault, not the message's: it is not
    dead-lettered but held (unacknowledged) and tried again by the gateway."""
    log.error(
        "could not store a message of %s (a fault of the server's: held, tried again)",
        _device_of(message),
        exc_info=exc,
    )


def load(
    session: Session, messages: Iterable[Message]
) -> tuple[dict[str, DeviceView], set[tuple[str, str]]]:
    """What deciding these messages reads, in a few queries: a view of each of
    their devices, and which of their events are already stored."""
    messages = list(messages)
    device_ids = {m.device_id for m in messages if m.device_id is not None}
    pairs = [(m.device_id, m.event_id) for m in messages if isinstance(m, DeviceEvent)]
    # A heartbeat from a device that is online reads nothing of its elder or its
    # alerts; a device that sent only those needs neither loaded.
    plain = device_ids - {
        m.device_id for m in messages if not (isinstance(m, DeviceEvent) and m.type == "heartbeat")
    }
    views = _views(session, device_ids, plain) if device_ids else {}
    stored: set[tuple[str, str]] = set()
    if pairs:
        stored = _stored(session, pairs)
    return views, stored


def _stored(session: Session, pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these (device id, event id) pairs are stored already, under any
    day (on PostgreSQL a repeat with another device time is filed under another
    day, where the unique key cannot see it: this read does)."""
    if session.get_bind().dialect.name != "postgresql":
        query = select(_EVENTS.c.device_id, _EVENTS.c.event_id).where(
            tuple_(_EVENTS.c.device_id, _EVENTS.c.event_id).in_(pairs)
        )
        return {(d, e) for d, e in session.execute(query)}
    # A join to the pairs as two arrays: one probe of the unique index per pair,
    # two parameters (a row-value IN list is 1,000 parameters to parse and plan).
    joined = text(
        "SELECT e.device_id, e.event_id FROM device_event AS e "
        "JOIN unnest(CAST(:devices AS varchar[]), CAST(:events AS varchar[])) AS k(d, e) "
        "ON e.device_id = k.d AND e.event_id = k.e"
    )
    rows = session.execute(
        joined, {"devices": [d for d, _ in pairs], "events": [e for _, e in pairs]}
    )
    return {(d, e) for d, e in rows}


def _among(
    session: Session, column: ColumnElement[Any], values: Iterable[Any]
) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL as ``= ANY(array)``: one parameter, not
    one per value (a batch's 500 ids cost the driver more to parse than to run)."""
    values = list(values)
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def _views(
    session: Session, device_ids: Iterable[str], plain: AbstractSet[str] = frozenset()
) -> dict[str, DeviceView]:
    """Views of these devices; of those in ``plain`` (that sent heartbeats only),
    the elder and the open alerts are loaded only if the device is not online."""
    ids = list(device_ids)
    devices = session.execute(
        select(
            _DEVICES.c.id,
            _DEVICES.c.kind,
            _DEVICES.c.active,
            _DEVICES.c.online,
            _DEVICES.c.elder_id,
        )
        .where(_among(session, _DEVICES.c.id, ids))
        # Gateway processes on one shared subscription store the same device's
        # messages at once: each batch locks its devices first (PostgreSQL; SQLite
        # has one writer anyway), so the next one reads the alert the last one
        # raised, not a stale view that raises a second (in id order: no deadlock).
        .order_by(_DEVICES.c.id)
        .with_for_update()
    ).all()
    if not devices:
        return {}
    full = [d for d in devices if d.id not in plain or d.online is not True]
    full_ids = [d.id for d in full]
    elder_ids = {d.elder_id for d in full if d.elder_id is not None}
    elders = {
        e.id: e
        for e in (
            session.execute(
                select(
                    _ELDERS.c.id,
                    _ELDERS.c.lat,
                    _ELDERS.c.lon,
                    _ELDERS.c.district,
                    _ELDERS.c.street,
                    _ELDERS.c.community,
                    _ELDERS.c.heart_rate_min,
                    _ELDERS.c.heart_rate_max,
                    _ELDERS.c.geofence_radius_m,
                ).where(_among(session, _ELDERS.c.id, elder_ids))
            )
            if elder_ids
            else ()
        )
    }
    open_alerts: dict[str, list[OpenAlert]] = {}
    for row in (
        session.execute(
            select(*_OPEN_ALERT_COLUMNS)
            .where(
                _among(session, _ALERTS.c.device_id, full_ids),
                _ALERTS.c.state.in_(OPEN_ALERT_STATES),
            )
            .order_by(_ALERTS.c.raised_at, _ALERTS.c.id)  # device_effects.raised_order
        )
        if full_ids
        else ()
    ):
        values = row._asdict()
        values["state"] = AlertState(values["state"])
        open_alerts.setdefault(values["device_id"], []).append(OpenAlert(**values))
    views = {}
    for d in devices:
        elder = elders.get(d.elder_id)
        home = (elder.lat, elder.lon) if elder is not None else None
        limits = (
            device_rules.ElderLimits(
                heart_rate_min=elder.heart_rate_min,
                heart_rate_max=elder.heart_rate_max,
                home=GeoPoint(elder.lat, elder.lon),
                geofence_radius_m=elder.geofence_radius_m,
            )
            if elder is not None
            else NO_LIMITS
        )
        views[d.id] = DeviceView(
            id=d.id,
            kind=d.kind,
            active=d.active,
            online=d.online,
            elder_id=d.elder_id,
            area=(
                Place.known(elder.district, elder.street, elder.community)
                if elder is not None
                else NOWHERE
            ),
            home=home,
            limits=limits,
            open_alerts=tuple(open_alerts.get(d.id, ())),
        )
    return views


class _Writer:
    """Applies effects: rows gathered and written in a few statements at
    :meth:`flush`; a close, which withdraws orders, through the audited
    transitions (after a flush, so it sees what came before it)."""

    def __init__(self, session: Session, dead_letters_kept: int) -> None:
        self.session = session
        self.dead_letters_kept = dead_letters_kept
        self.events: list[dict[str, Any]] = []
        self.devices: dict[str, dict[str, Any]] = {}  # device id -> changed columns
        self.alerts: dict[uuid.UUID, dict[str, Any]] = {}  # raised: alert rows
        self.merged: dict[uuid.UUID, dict[str, Any]] = {}  # stored alerts: new count
        self.records: list[dict[str, Any]] = []
        self.letters: list[dict[str, Any]] = []

    def dead_letter(self, message: Inbound, why: Refused) -> None:
        self.letters.append(dead_letter_row(message, why.reason, why.detail))

    def apply(self, effect: Effect, view: DeviceView | None, at: datetime) -> None:
        device_id = effect.device_id
        assert device_id is not None  # only refusals lack a device
        actor = Actor.device(device_id)
        if effect.event is not None:
            event = effect.event
            self.events.append(
                {
                    "device_id": event.device_id,
                    "event_id": event.event_id,
                    "type": event.type,
                    "device_ts": effect.device_ts or event.ts,
                    "received_at": at,
                    "alert_id": effect.alert_id,  # the alert it raised or joined, if any
                    # The device's own time, which a redelivery repeats: every copy
                    # of the event meets in one partition (store/partitions.py).
                    "event_day": partitions.event_day(event.ts, at),
                }
            )
        if effect.device_changes:
            self.devices.setdefault(device_id, {}).update(effect.device_changes)
        if effect.raised is not None:
            self._raise(effect, actor, at)
        if effect.merge is not None:
            assert view is not None
            self._merge(effect, view, actor, at)
        if effect.note is not None:
            assert view is not None
            [alert] = [a for a in view.open_alerts if a.id == effect.note.alert_id]
            self.records.append(
                alert_record(
                    alert,
                    from_state=alert.state.value,
                    action=effect.note.action,
                    actor=actor,
                    at=at,
                    detail=dict(effect.note.detail),
                )
            )
        if effect.closes:
            self.flush()
            for close in effect.closes:
                row = self.session.get_one(Alert, close.alert_id, populate_existing=True)
                if row.state in OPEN_ALERT_STATES:
                    close_alert(
                        self.session, row, close.target, actor=actor, at=at, reason=close.reason
                    )
            self.session.flush()

    def _raise(self, effect: Effect, actor: Actor, at: datetime) -> None:
        raised = effect.raised
        assert raised is not None
        self.alerts[raised.id] = effect.raised_as_stored.row()
        flags = {} if effect.escalate else dict(effect.flags)
        self.records.append(
            alert_record(
                raised, from_state=None, actor=actor, at=at, detail={"press_count": 1, **flags}
            )
        )
        if effect.escalate is not None:
            # Call back first: straight to the operators, never to the matcher.
            self.records.append(
                alert_record(
                    effect.raised_as_stored,
                    from_state=raised.state.value,
                    actor=DEVICE_POLICY,
                    at=at,
                    detail={"reason": effect.escalate, **effect.flags},
                )
            )

    def _merge(self, effect: Effect, view: DeviceView, actor: Actor, at: datetime) -> None:
        merge = effect.merge
        assert merge is not None
        changes: dict[str, Any] = {"press_count": merge.press_count, "updated_at": merge.at}
        pending = self.alerts.get(merge.alert_id)
        (pending if pending is not None else self.merged.setdefault(merge.alert_id, {})).update(
            changes
        )
        if merge.audited:
            [alert] = [a for a in view.open_alerts if a.id == merge.alert_id]
            detail = {"merged_event_id": effect.event.event_id if effect.event else None}
            self.records.append(
                alert_record(
                    replace(alert, press_count=merge.press_count, updated_at=merge.at),
                    from_state=alert.state.value,
                    action="merged",
                    actor=actor,
                    at=at,
                    detail={**detail, "press_count": merge.press_count, **effect.flags},
                )
            )

    def flush(self) -> None:
        """Write what was gathered: alerts before the rows that point at them."""
        session = self.session
        if self.alerts:
            _insert(session, _ALERTS, list(self.alerts.values()))
            self.alerts.clear()
        if self.merged:
            _update(session, _ALERTS, self.merged)
            self.merged.clear()
        if self.records:
            _insert(session, _AUDIT, self.records)
            self.records.clear()
        if self.events:
            _insert(session, _EVENTS, self.events)
            self.events.clear()
        if self.letters:
            _insert(session, _LETTERS, self.letters)
            self.letters.clear()
            newest = select(func.max(_LETTERS.c.id)).scalar_subquery()
            session.execute(
                delete(_LETTERS).where(_LETTERS.c.id <= newest - self.dead_letters_kept)
            )
        self._write_devices()

    def _write_devices(self) -> None:
        """One update per set of changed columns."""
        by_columns: dict[tuple[str, ...], dict[str, dict[str, Any]]] = {}
        for device_id, changes in self.devices.items():
            if changes:
                by_columns.setdefault(tuple(sorted(changes)), {})[device_id] = changes
        self.devices.clear()
        for rows in by_columns.values():
            _update(self.session, _DEVICES, rows)


def _update(session: Session, table: Table, rows: dict[Any, dict[str, Any]]) -> None:
    """Set the same columns of many rows, by primary key (``rows``: key -> values).

    PostgreSQL: one statement joining the table to the new values as arrays
    (``unnest``), not one UPDATE per row; elsewhere an executemany (Core: the
    ORM would build and then check an object or a parameter set per row)."""
    columns = list(next(iter(rows.values())))
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql" or len(rows) < COPY_FROM_ROWS:
        statement = (
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values({c: bindparam(f"new_{c}") for c in columns})
            .execution_options(synchronize_session=False)
        )
        session.execute(
            statement,
            [
                {"row_id": key, **{f"new_{c}": v for c, v in values.items()}}
                for key, values in rows.items()
            ],
        )
        return
    quote = dialect.identifier_preparer.quote
    names = ["id", *columns]
    arrays = {}
    casts = []
    for i, name in enumerate(names):
        kind = table.c[name].type
        convert = kind._cached_bind_processor(dialect)
        values = list(rows) if name == "id" else [row[name] for row in rows.values()]
        arrays[f"a{i}"] = values if convert is None else [convert(v) for v in values]
        casts.append(f"CAST(:a{i} AS {kind.compile(dialect=dialect)}[])")
    sets = ", ".join(f"{quote(c)} = v.{quote(c)}" for c in columns)
    connection.execute(
        text(
            f"UPDATE {quote(table.name)} AS t SET {sets} "
            f"FROM unnest({', '.join(casts)}) AS v({', '.join(quote(n) for n in names)}) "
            "WHERE t.id = v.id"
        ),
        arrays,
    )


def _insert(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows (all with the same keys) in one go: PostgreSQL's COPY, which
    takes a batch several times faster than one INSERT per row, even pipelined
    (docs/performance.md); elsewhere an executemany."""
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql" or len(rows) < COPY_FROM_ROWS:
        session.execute(insert(table), rows)
        return
    names = list(rows[0])
    # The columns' own conversions (JSON, UTC times, enums as text), as an INSERT does.
    convert = [table.c[name].type._cached_bind_processor(dialect) for name in names]
    quote = dialect.identifier_preparer.quote
    statement = f"COPY {quote(table.name)} ({', '.join(quote(n) for n in names)}) FROM STDIN"
    driver = connection.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(
                [row[n] if c is None else c(row[n]) for n, c in zip(names, convert, strict=True)]
            )


def dead_letter_row(message: Inbound, reason: str, detail: str) -> dict[str, Any]:
    """A refused message as a dead_letter row, capped in size."""
    try:
        text = message.payload.decode("utf-8")
        if "\x00" in text:  # PostgreSQL text cannot hold NUL; keep the exact bytes instead
            raise UnicodeDecodeError("utf-8", message.payload, 0, 1, "NUL byte")
    except UnicodeDecodeError:
        text = "base64:" + base64.b64encode(message.payload[:DEAD_LETTER_PAYLOAD_CHARS]).decode()
    return {
        "received_at": message.received_at,
        "topic": message.topic[:DEAD_LETTER_TOPIC_CHARS],
        "payload": text[:DEAD_LETTER_PAYLOAD_CHARS],
        "reason": reason,
        "detail": detail[:1000],
    }
