"""Log in and out; who am I."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field

from dispatch.api.deps import DatabaseDep, UserDep
from dispatch.registry import accounts
from dispatch.store.tables import UserAccount

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
Locale = Literal["zh-CN", "en"]


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class UserPublic(BaseModel):
    username: str
    display_name: str
    role: str
    caregiver_id: str | None
    areas: list[str]
    locale: str
    must_change_password: bool = False

    @classmethod
    def of(cls, user: UserAccount) -> UserPublic:
        return cls(
            username=user.username,
            display_name=user.display_name,
            role=user.role,
            caregiver_id=str(user.caregiver_id) if user.caregiver_id else None,
            areas=user.areas,
            locale=user.locale,
            must_change_password=user.must_change_password,
        )


class Session(BaseModel):
    token: str
    expires_at: datetime
    user: UserPublic


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


class LocaleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    locale: Locale


@router.post("/login", response_model=Session)
async def login(db: DatabaseDep, body: Credentials, request: Request) -> Session:
    now = datetime.now(UTC)
    try:
        # Not on the database's threads: the hash would hold one for ~0.3 s. Argon2
        # releases the GIL, so a plain thread keeps the event loop free.
        token, user = await asyncio.to_thread(
            accounts.login, db, body.username, body.password, now=now
        )
    except accounts.LoginFailed:
        client = request.client.host if request.client else "?"
        log.warning("401 login refused for %r from %s", body.username, client)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong user name or password") from None
    return Session(token=token, expires_at=now + accounts.SESSION_TTL, user=UserPublic.of(user))


@router.get("/me", response_model=UserPublic)
def me(user: UserDep) -> UserPublic:
    return UserPublic.of(user)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(db: DatabaseDep, user: UserDep, request: Request) -> None:
    token = request.headers["authorization"].split(" ", 1)[1]
    await db.run(accounts.logout, db, token)


@router.put("/me/locale", response_model=UserPublic)
async def change_locale(db: DatabaseDep, user: UserDep, body: LocaleChange) -> UserPublic:
    updated = await db.run(accounts.set_locale, db, user.id, body.locale)
    return UserPublic.of(updated)


@router.post("/password", response_model=UserPublic)
async def change_password(user: UserDep, db: DatabaseDep, body: PasswordChange) -> UserPublic:
    """Choose your own password (required after a new or reset one): 403 when the
    current password is wrong, 422 with the reasons when the new one is refused."""
    # Off the database's threads, as the log-in: two argon2 hashes.
    updated = await asyncio.to_thread(
        accounts.change_password,
        db,
        user.id,
        body.current_password,
        body.new_password,
        now=datetime.now(UTC),
    )
    return UserPublic.of(updated)
