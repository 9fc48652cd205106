"""Accounts and login sessions: argon2id password hashes, expiring bearer tokens."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from uuid import UUID

from pwdlib import PasswordHash
from sqlmodel import select

from dispatch.domain.access import Principal, Role
from dispatch.store.db import Database
from dispatch.store.tables import SessionToken, UserAccount

SESSION_TTL = timedelta(hours=12)  # one shift and some
_hasher = PasswordHash.recommended()  # argon2id with the library's current parameters


class LoginFailed(Exception):
    """Wrong user name or password (deliberately not saying which)."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def principal_of(user: UserAccount) -> Principal:
    return Principal(user.username, Role(user.role), frozenset(user.areas), user.caregiver_id)


def create_user(
    db: Database,
    username: str,
    password: str,
    role: Role,
    *,
    display_name: str = "",
    areas: Iterable[str] = (),
    caregiver_id: UUID | None = None,
    locale: str = "zh-CN",
) -> UserAccount:
    principal_of_new = Principal(username, role, frozenset(areas), caregiver_id)  # validates
    user = UserAccount(
        username=username,
        display_name=display_name or username,
        password_hash=_hasher.hash(password),
        role=principal_of_new.role.value,
        areas=sorted(principal_of_new.areas),
        caregiver_id=caregiver_id,
        locale=locale,
    )
    with db.session() as session:
        session.add(user)
    return user


def login(db: Database, username: str, password: str, *, now: datetime) -> tuple[str, UserAccount]:
    """Return a new bearer token and its user, or raise LoginFailed.

    Blocks for the hash (~0.3 s of CPU, with the GIL released): call it off the
    event loop. No transaction is open while it hashes, so SQLite's single write
    lock is never held for a password check.
    """
    with db.read() as session:
        user = session.exec(select(UserAccount).where(UserAccount.username == username)).first()
    # Verify against a dummy hash when the user is unknown, so timing tells nothing.
    stored = user.password_hash if user else _DUMMY_HASH
    if not _hasher.verify(password, stored) or user is None or not user.active:
        raise LoginFailed(username)
    token = secrets.token_urlsafe(32)
    with db.session() as session:
        session.add(
            SessionToken(token_hash=_digest(token), user_id=user.id, expires_at=now + SESSION_TTL)
        )
    return token, user


def user_for_token(db: Database, token: str, *, now: datetime) -> UserAccount | None:
    """The active user a token belongs to, or None if it is unknown or expired."""
    with db.read() as session:
        row = session.get(SessionToken, _digest(token))
        if row is None or row.expires_at <= now:
            return None
        user = session.get(UserAccount, row.user_id)
        return user if user is not None and user.active else None


def logout(db: Database, token: str) -> None:
    with db.session() as session:
        row = session.get(SessionToken, _digest(token))
        if row is not None:
            session.delete(row)


def set_locale(db: Database, user_id: UUID, locale: str) -> UserAccount:
    with db.session() as session:
        user = session.get(UserAccount, user_id)
        assert user is not None
        user.locale = locale
        session.add(user)
        return user


_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
