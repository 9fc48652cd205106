"""Accounts and login sessions: argon2id password hashes, expiring bearer tokens,
and their administration (create, disable, areas, password resets).

A new or reset account gets a one-time password, shown once to whoever made it;
its holder must choose their own (the policy in dispatch/domain/passwords.py)
before anything else is allowed.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from pwdlib import PasswordHash
from sqlmodel import col, delete, select

from dispatch.domain.access import Principal, Role
from dispatch.domain.passwords import password_problems
from dispatch.errors import Conflict, Forbidden, InvalidInput, NotFound
from dispatch.registry.areas import check_known
from dispatch.store.db import Database
from dispatch.store.tables import Caregiver, Provider, RegistryChange, SessionToken, UserAccount

SESSION_TTL = timedelta(hours=12)  # one shift and some
_hasher = PasswordHash.recommended()  # argon2id with the library's current parameters


class LoginFailed(Exception):
    """Wrong user name or password (deliberately not saying which)."""


class AccountLocked(Exception):
    """Too many wrong passwords locked the account until ``until``."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"locked until {until.isoformat()}")
        self.until = until


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def principal_of(user: UserAccount) -> Principal:
    return Principal(
        user.username,
        Role(user.role),
        frozenset(user.areas),
        user.caregiver_id,
        user.provider_id,
    )


def create_user(
    db: Database,
    username: str,
    password: str,
    role: Role,
    *,
    display_name: str = "",
    areas: Iterable[str] = (),
    caregiver_id: UUID | None = None,
    provider_id: UUID | None = None,
    locale: str = "zh-CN",
    email: str = "",
    must_change_password: bool = False,
    now: datetime | None = None,
) -> UserAccount:
    """Store an account as given (no password policy: the demo and tests use this;
    administration goes through :func:`add_account`)."""
    principal_of_new = Principal(  # validates
        username, role, frozenset(areas), caregiver_id, provider_id
    )
    user = UserAccount(
        username=username,
        display_name=display_name or username,
        password_hash=_hasher.hash(password),
        role=principal_of_new.role.value,
        areas=sorted(principal_of_new.areas),
        caregiver_id=caregiver_id,
        provider_id=provider_id,
        locale=locale,
        email=email,
        must_change_password=must_change_password,
        created_at=now,
        password_changed_at=now,
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
    stored = user.password_hash if user else _dummy_hash()
    right = _hasher.verify(password, stored)
    # A locked account answers the same whatever the password: a lock must not
    # become a way to test passwords.
    if user is not None and user.locked_until is not None and user.locked_until > now:
        raise AccountLocked(user.locked_until)
    if not right or user is None or not user.active:
        raise LoginFailed(username)
    token = secrets.token_urlsafe(32)
    with db.session() as session:
        session.add(
            SessionToken(token_hash=_digest(token), user_id=user.id, expires_at=now + SESSION_TTL)
        )
        if user.locked_until is not None:  # a lock that has run out
            stored_user = session.get(UserAccount, user.id)
            assert stored_user is not None
            stored_user.locked_until = None
            session.add(stored_user)
    return token, user


def lock(db: Database, username: str, until: datetime, *, now: datetime) -> bool:
    """Lock a real account after repeated wrong passwords, with its audit record;
    False for a name no account has."""
    with db.session() as session:
        user = session.exec(select(UserAccount).where(UserAccount.username == username)).first()
        if user is None:
            return False
        user.locked_until = until
        session.add(user)
        session.add(_lock_change(username, "locked", "system:login", now, until))
        return True


def unlock(db: Database, username: str, *, by: str, now: datetime) -> UserAccount:
    """A supervisor's or administrator's release of a locked account, audited."""
    with db.session() as session:
        user = session.exec(select(UserAccount).where(UserAccount.username == username)).first()
        if user is None:
            raise NotFound("user", username)
        before = user.locked_until
        user.locked_until = None
        session.add(user)
        session.add(_lock_change(username, "unlocked", by, now, before))
        return user


def _lock_change(
    username: str, action: str, actor: str, now: datetime, until: datetime | None
) -> RegistryChange:
    stamp = until.isoformat() if until is not None else None
    return RegistryChange(
        entity="user",
        entity_id=username,
        action=action,
        actor=actor,
        at=now,
        fields=["locked_until"],
        before={"locked_until": stamp} if action == "unlocked" else {"locked_until": None},
        after={"locked_until": stamp} if action == "locked" else {"locked_until": None},
    )


def user_for_token(db: Database, token: str, *, now: datetime) -> UserAccount | None:
    """The active user a token belongs to, or None if it is unknown or expired."""
    found = session_for_token(db, token, now=now)
    return found[0] if found is not None else None


def session_for_token(
    db: Database, token: str, *, now: datetime
) -> tuple[UserAccount, datetime] | None:
    """The active user a token belongs to and when the session expires, or None."""
    with db.read() as session:
        row = session.get(SessionToken, _digest(token))
        if row is None or row.expires_at <= now:
            return None
        user = session.get(UserAccount, row.user_id)
        if user is None or not user.active:
            return None
        return user, row.expires_at


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


def one_time_password() -> str:
    """A random password to hand over once (about 96 bits; its holder replaces it)."""
    return secrets.token_urlsafe(12)


@dataclass(frozen=True, slots=True)
class NewAccount:
    username: str
    role: Role
    display_name: str = ""
    areas: tuple[str, ...] = ()
    caregiver_id: UUID | None = None
    locale: str = "zh-CN"
    provider_id: UUID | None = None
    email: str = ""


def add_account(
    db: Database, new: NewAccount, *, now: datetime, password: str | None = None
) -> tuple[UserAccount, str | None]:
    """Create an account; return it and its one-time password (None when ``password``
    was given, which must then pass the policy and need not be changed)."""
    if password is not None and (problems := password_problems(password, new.username)):
        raise InvalidInput(problems)
    _check_email(new.email)
    given = password if password is not None else one_time_password()
    with db.read() as session:
        check_known(session, new.areas)
        if session.exec(select(UserAccount).where(UserAccount.username == new.username)).first():
            raise Conflict(f"user {new.username!r} already exists")
        if new.caregiver_id is not None and session.get(Caregiver, new.caregiver_id) is None:
            raise NotFound("caregiver", str(new.caregiver_id))
        if new.provider_id is not None and session.get(Provider, new.provider_id) is None:
            raise NotFound("provider", str(new.provider_id))
    try:
        user = create_user(
            db,
            new.username,
            given,
            new.role,
            display_name=new.display_name,
            areas=new.areas,
            caregiver_id=new.caregiver_id,
            provider_id=new.provider_id,
            locale=new.locale,
            email=new.email,
            must_change_password=password is None,
            now=now,
        )
    except ValueError as exc:  # the Principal's invariants (a caregiver names its caregiver)
        raise InvalidInput([str(exc)]) from exc
    return user, (None if password is not None else given)


def list_users(db: Database) -> list[UserAccount]:
    with db.read() as session:
        return list(session.exec(select(UserAccount).order_by(col(UserAccount.username))).all())


def get_user(db: Database, username: str) -> UserAccount:
    with db.read() as session:
        user = session.exec(select(UserAccount).where(UserAccount.username == username)).first()
    if user is None:
        raise NotFound("user", username)
    return user


# An address or empty (none); the mail server is the judge of the rest.
EMAIL = re.compile(r"^([^@\s]+@[^@\s]+\.[^@\s]+)?$")


def _check_email(email: str) -> None:
    if len(email) > 254 or not EMAIL.match(email):
        raise InvalidInput([f"not an e-mail address: {email!r}"])


@dataclass(frozen=True, slots=True)
class AccountChange:
    """What an administrator changes; None leaves a field as it is."""

    active: bool | None = None
    areas: tuple[str, ...] | None = None
    display_name: str | None = None
    email: str | None = None
    reset_password: bool = False


def change_account(
    db: Database, username: str, change: AccountChange, *, by: str, now: datetime
) -> tuple[UserAccount, str | None]:
    """Apply ``change``; return the account and its new one-time password, if reset.

    Disabling or resetting ends the account's sessions at once. An administrator
    may not disable themselves (a bureau must never lock its last admin out).
    """
    if change.active is False and username == by:
        raise Forbidden("you may not disable your own account")
    if change.email is not None:
        _check_email(change.email)
    password = one_time_password() if change.reset_password else None
    hashed = _hasher.hash(password) if password is not None else None
    with db.session() as session:
        user = session.exec(select(UserAccount).where(UserAccount.username == username)).first()
        if user is None:
            raise NotFound("user", username)
        if change.active is not None:
            user.active = change.active
        if change.areas is not None:
            check_known(session, change.areas)
            user.areas = sorted(set(change.areas))
        if change.display_name is not None:
            user.display_name = change.display_name
        if change.email is not None:
            user.email = change.email
        if hashed is not None:
            user.password_hash = hashed
            user.must_change_password = True
            user.password_changed_at = now
        session.add(user)
        if change.active is False or hashed is not None:
            session.exec(delete(SessionToken).where(col(SessionToken.user_id) == user.id))
        return user, password


def change_password(
    db: Database, user_id: UUID, current: str, new: str, *, now: datetime
) -> UserAccount:
    """The holder's own change: the current password, then one the policy accepts.

    Blocks for two hashes; call it off the event loop (as :func:`login`).
    """
    with db.read() as session:
        user = session.get(UserAccount, user_id)
    if user is None:
        raise NotFound("user", str(user_id))
    if not _hasher.verify(current, user.password_hash):
        raise Forbidden("the current password is wrong")
    if problems := password_problems(new, user.username):
        raise InvalidInput(problems)
    if _hasher.verify(new, user.password_hash):
        raise InvalidInput(["the new password must differ from the current one"])
    hashed = _hasher.hash(new)
    with db.session() as session:
        stored = session.get(UserAccount, user_id)
        assert stored is not None
        stored.password_hash = hashed
        stored.must_change_password = False
        stored.password_changed_at = now
        session.add(stored)
        return stored


@functools.cache
def _dummy_hash() -> str:
    """A hash no password matches, made on the first unknown name rather than at
    import: every process that imports accounts (each `carebell` command, each
    test session) would otherwise pay a full argon2 hash before doing anything."""
    return _hasher.hash(secrets.token_urlsafe(16))
