"""Request dependencies: the server's parts, a database session, and who is asking.

Every ``/api/v1`` route except login needs ``Authorization: Bearer <token>``;
refusals are 401 (who are you?) or 403 (not yours), and each is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Annotated, Protocol

from fastapi import Depends, HTTPException, Request, status
from fastapi.requests import HTTPConnection
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from config.settings import Settings
from dispatch.domain.access import BOARD_ROLES, Principal, Role
from dispatch.domain.catalog import Catalog
from dispatch.homecare.menu import ServiceMenu
from dispatch.homecare.service import HomeCare
from dispatch.live.bus import LiveBus
from dispatch.live.fanout import Fanout
from dispatch.matching.travel import TravelModel
from dispatch.registry import accounts
from dispatch.store.db import Database
from dispatch.store.tables import UserAccount
from dispatch.voice.service import VoiceService

log = logging.getLogger(__name__)
_bearer = HTTPBearer(auto_error=False)


class ServerParts(Protocol):
    """What the routers and the hub use of the running server (the composition
    root, dispatch/runtime/, builds it and keeps it in ``app.state.services``)."""

    settings: Settings
    db: Database
    bus: LiveBus
    fanout: Fanout
    catalog: Catalog
    travel: TravelModel
    menu: ServiceMenu
    homecare: HomeCare
    voice: VoiceService | None

    @property
    def gateway(self) -> GatewayStatus | None: ...

    @property
    def loops_down(self) -> list[str]: ...

    async def after_change(self) -> None: ...

    def metrics_exposition(self) -> tuple[bytes, str]: ...


class GatewayStatus(Protocol):
    @property
    def is_connected(self) -> bool: ...
    @property
    def failing_since(self) -> float | None: ...


def get_services(connection: HTTPConnection) -> ServerParts:
    services: ServerParts = connection.app.state.services
    return services


ServicesDep = Annotated[ServerParts, Depends(get_services)]


def get_session(services: ServicesDep, request: Request) -> Iterator[Session]:
    """A read-only session for GET and HEAD (on SQLite it takes no write lock, so
    the board's lists never queue behind the writers); a committing one otherwise."""
    reading = request.method in ("GET", "HEAD")
    with services.db.read() if reading else services.db.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


async def current_user(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> UserAccount:
    if credentials is None:
        log.warning("401 %s %s: no bearer token", request.method, request.url.path)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "log in first: no bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    user = await services.db.run(
        accounts.user_for_token, services.db, credentials.credentials, now=datetime.now(UTC)
    )
    if user is None:
        log.warning("401 %s %s: unknown or expired token", request.method, request.url.path)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "the session is unknown or expired",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if user.must_change_password and request.url.path not in PASSWORD_CHANGE_PATHS:
        log.warning(
            "403 %s %s: %s must change their password",
            request.method,
            request.url.path,
            user.username,
        )
        raise HTTPException(status.HTTP_403_FORBIDDEN, PASSWORD_CHANGE_REQUIRED)
    request.state.user = user
    return user


# A one-time password opens only these until its holder has chosen their own.
PASSWORD_CHANGE_PATHS = frozenset(
    {"/api/v1/auth/me", "/api/v1/auth/password", "/api/v1/auth/logout", "/api/v1/auth/me/locale"}
)
PASSWORD_CHANGE_REQUIRED = "password_change_required: choose your own password first"


UserDep = Annotated[UserAccount, Depends(current_user)]


def get_principal(user: UserDep) -> Principal:
    return accounts.principal_of(user)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def forbid(request: Request, principal: Principal, why: str) -> HTTPException:
    log.warning(
        "403 %s %s for %s (%s): %s",
        request.method,
        request.url.path,
        principal.username,
        principal.role,
        why,
    )
    return HTTPException(status.HTTP_403_FORBIDDEN, why)


def allow(*roles: Role) -> Callable[[Request, Principal], Principal]:
    """A dependency that lets only ``roles`` through."""

    def check(request: Request, principal: PrincipalDep) -> Principal:
        if principal.role not in roles:
            raise forbid(request, principal, f"a {principal.role} may not do this")
        return principal

    return check


def registry_access(request: Request, principal: PrincipalDep) -> Principal:
    """The call centre reads the registry; only administrators change it."""
    allowed = BOARD_ROLES if request.method in ("GET", "HEAD") else {Role.ADMIN}
    if principal.role not in allowed:
        raise forbid(request, principal, f"a {principal.role} may not {request.method} here")
    return principal


BoardDep = Annotated[Principal, Depends(allow(*BOARD_ROLES))]
AdminDep = Annotated[Principal, Depends(allow(Role.ADMIN))]
CaregiverDep = Annotated[Principal, Depends(allow(Role.CAREGIVER))]
