"""Registering devices: one by one or from a CSV, binding, deactivating, credentials.

A device's broker password is issued once, returned to the caller, and kept only
as the broker's hash. A CSV import reports every row: created, or why not.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session, select

from devices import broker_auth
from devices.protocol import DEVICE_ID_PATTERN
from dispatch.domain.catalog import Catalog
from dispatch.errors import Conflict, InvalidInput, NotFound
from dispatch.store.db import Database
from dispatch.store.tables import Device, DeviceCredential, Elder

CSV_COLUMNS = ("device_id", "kind", "elder_id")
_DEVICE_ID = re.compile(DEVICE_ID_PATTERN)


@dataclass(frozen=True, slots=True)
class RowResult:
    line: int  # in the file, the header being line 1
    device_id: str
    ok: bool
    error: str = ""
    password: str = ""  # issued once, for a row that was created


def issue_credentials(session: Session, device_id: str) -> str:
    """A new secret for the device (replacing any old one); only its hash is kept."""
    secret = broker_auth.new_secret()
    credential = session.get(DeviceCredential, device_id) or DeviceCredential(
        device_id=device_id, broker_hash=""
    )
    credential.broker_hash = broker_auth.mosquitto_hash(secret)
    credential.issued_at = datetime.now(UTC)
    session.add(credential)
    return secret


def _check(session: Session, catalog: Catalog, device_id: str, kind: str) -> str | None:
    if not _DEVICE_ID.fullmatch(device_id):
        return f"malformed device id {device_id[:80]!r}"
    if kind not in catalog.device_kinds:
        return f"unknown kind {kind!r}; known: {', '.join(sorted(catalog.device_kinds))}"
    if session.get(Device, device_id) is not None:
        return f"device {device_id} already exists"
    return None


def import_csv(db: Database, catalog: Catalog, text: str) -> list[RowResult]:
    """Create each good row (its own savepoint); report each bad one with its reason.
    InvalidInput if the file cannot be read as CSV."""
    reader = csv.DictReader(io.StringIO(text))
    try:
        # Read whole before any row is created: a file the reader cannot take (a
        # field over the csv module's limit, a NUL byte) is refused whole, clearly.
        columns = reader.fieldnames or []
        table = list(reader)
    except csv.Error as exc:
        raise InvalidInput([f"not a readable CSV file: {exc}"]) from exc
    missing = [c for c in CSV_COLUMNS[:2] if c not in columns]
    if missing:
        return [RowResult(1, "", False, f"missing column(s): {', '.join(missing)}")]
    results: list[RowResult] = []
    seen: set[str] = set()
    with db.session() as session:
        for line, row in enumerate(table, start=2):
            device_id = (row.get("device_id") or "").strip()
            kind = (row.get("kind") or "").strip()
            elder_text = (row.get("elder_id") or "").strip()
            if device_id in seen:
                error: str | None = f"device {device_id} appears twice in the file"
            else:
                error = _check(session, catalog, device_id, kind)
            elder_id = None
            if error is None and elder_text:
                try:
                    elder_id = uuid.UUID(elder_text)
                except ValueError:
                    error = f"elder_id {elder_text[:40]!r} is not a UUID"
                else:
                    if session.get(Elder, elder_id) is None:
                        error = f"no elder {elder_id}"
            if error is not None:
                results.append(RowResult(line, device_id, False, error))
                continue
            seen.add(device_id)
            with session.begin_nested():
                session.add(Device(id=device_id, kind=kind, elder_id=elder_id))
                session.flush()
                password = issue_credentials(session, device_id)
            results.append(RowResult(line, device_id, True, password=password))
    return results


def deactivate(db: Database, device_id: str) -> Device:
    """Stop accepting the device's messages (they go to the dead letters) and its login."""
    with db.session() as session:
        device = session.get(Device, device_id)
        if device is None:
            raise NotFound("device", device_id)
        device.active = False
        session.add(device)
        credential = session.get(DeviceCredential, device_id)
        if credential is not None:
            session.delete(credential)
        return device


def bind(db: Database, device_id: str, elder_id: uuid.UUID | None) -> Device:
    with db.session() as session:
        device = session.get(Device, device_id)
        if device is None:
            raise NotFound("device", device_id)
        if elder_id is not None and session.get(Elder, elder_id) is None:
            raise NotFound("elder", str(elder_id))
        if not device.active:
            raise Conflict(f"device {device_id} is deactivated")
        device.elder_id = elder_id
        session.add(device)
        return device


def broker_files(db: Database, server_user: str, server_password: str) -> dict[str, str]:
    """The broker's files for every active device with credentials, by file name:
    ``dynamic-security.json`` (what config/mosquitto.conf loads), and the same as a
    plain ``passwd`` and ``acl`` (which check no subscriptions: docs/devices.md)."""
    with db.session() as session:
        rows = session.exec(
            select(DeviceCredential.device_id, DeviceCredential.broker_hash)
            .join(Device)
            .where(Device.active == True)  # noqa: E712 (SQL, not Python truth)
        ).all()
    entries = [(d, h) for d, h in rows]
    entries.append((server_user, broker_auth.mosquitto_hash(server_password)))
    security = broker_auth.dynamic_security(entries, server_user)
    return {
        "dynamic-security.json": json.dumps(security, indent=2) + "\n",
        "passwd": broker_auth.password_file(entries),
        "acl": broker_auth.acl_file(server_user),
    }
