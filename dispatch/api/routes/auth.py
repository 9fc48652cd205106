"""Log in and out; who am I."""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import UTC, datetime, timedelta
from typing import Literal

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from dispatch.api import browser_session
from dispatch.api.deps import DatabaseDep, LiveSessionsDep, LoginThrottleDep, UserDep
from dispatch.registry import accounts
from dispatch.store.tables import UserAccount

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
Locale = Literal["zh-CN", "en"]


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    # "cookie": the pages' way; the session is an HttpOnly cookie and the answer
    # leaves the token out, so no script on the page ever holds it.
    session: Literal["token", "cookie"] = "token"


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
    token: str | None = Field(
        description="the bearer token; null when the log-in asked for a cookie session"
    )
    expires_at: datetime
    user: UserPublic


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


class LocaleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    locale: Locale


@router.post(
    "/login",
    response_model=Session,
    responses={
        401: {"description": "wrong user name or password (never which)"},
        403: {"description": "a page of another site may not log in here"},
        429: {"description": "too many wrong passwords: wait Retry-After seconds"},
    },
)
async def login(
    db: DatabaseDep,
    throttle: LoginThrottleDep,
    body: Credentials,
    request: Request,
    response: Response,
) -> Session:
    """Log in. Wrong passwords are throttled per user name and per client address
    (429 with Retry-After), and ten in a row lock the account until a supervisor
    releases it or 15 minutes pass; an unknown name is answered exactly alike.
    With ``"session": "cookie"`` (the pages) the session is an HttpOnly cookie and
    the answer carries no token."""
    now = datetime.now(UTC)
    refused = browser_session.cross_origin(request.method, request.headers)
    if refused is not None:  # another site logging a browser in as someone else
        log.warning("403 login from another origin (%s)", refused)
        raise HTTPException(status.HTTP_403_FORBIDDEN, browser_session.CROSS_ORIGIN_REFUSED)
    client = request.client.host if request.client else "?"
    wait_s = await throttle.retry_after(body.username, client)
    if wait_s > 0:
        log.warning("429 login of %r from %s: throttled for %.0f s", body.username, client, wait_s)
        raise _too_many(wait_s)
    try:
        # Not on the database's threads: the hash would hold one for ~0.3 s. Argon2
        # releases the GIL, so a plain thread keeps the event loop free.
        token, user = await asyncio.to_thread(
            accounts.login, db, body.username, body.password, now=now
        )
    except accounts.AccountLocked as locked:
        log.warning("429 login of %r from %s: the account is locked", body.username, client)
        raise _too_many((locked.until - now).total_seconds()) from None
    except accounts.LoginFailed:
        log.warning("401 login refused for %r from %s", body.username, client)
        if await throttle.failed(body.username, client):
            until = now + timedelta(seconds=throttle.limits.lock_s)
            if await db.run(accounts.lock, db, body.username, until, now=now):
                log.warning("account %r locked until %s: wrong passwords", body.username, until)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong user name or password") from None
    await throttle.succeeded(body.username)
    if body.session == "cookie":
        browser_session.set_cookie(response, token, accounts.SESSION_TTL, secure=_over_tls(request))
    return Session(
        token=token if body.session == "token" else None,
        expires_at=now + accounts.SESSION_TTL,
        user=UserPublic.of(user),
    )


def _over_tls(request: Request) -> bool:
    """Reached over HTTPS (behind a proxy: with uvicorn's --proxy-headers). The demo
    on loopback HTTP keeps a cookie without ``Secure``, which the browser would drop."""
    return request.url.scheme == "https"


def _too_many(wait_s: float) -> HTTPException:
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        "too many failed log-ins: try again later",
        headers={"Retry-After": str(max(1, math.ceil(wait_s)))},
    )


@router.get("/me", response_model=UserPublic)
def me(user: UserDep) -> UserPublic:
    return UserPublic.of(user)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(
    db: DatabaseDep,
    sessions: LiveSessionsDep,
    user: UserDep,
    request: Request,
    response: Response,
) -> None:
    """End this session (bearer token or cookie); its open sockets close with 4401,
    and the cookie is cleared."""
    token: str = request.state.session_token
    await db.run(accounts.logout, db, token)
    sessions.end(token)
    browser_session.clear_cookie(response, secure=_over_tls(request))


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
