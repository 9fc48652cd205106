"""Request dependencies: the server's parts, a database session, and who is asking.

Every ``/api/v1`` route except login needs ``Authorization: Bearer <token>`` or,
from the pages, the HttpOnly session cookie (dispatch/api/browser_session.py);
refusals are 401 (who are you?) or 403 (not yours), and each is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Annotated, Protocol

from fastapi import Depends, HTTPException, Request, status
from fastapi.requests import HTTPConnection
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from config.settings import Settings
from dispatch.api import browser_session
from dispatch.domain.access import BOARD_ROLES, Principal, Role
from dispatch.domain.cascade import CascadeRule
from dispatch.domain.catalog import Catalog
from dispatch.domain.login_throttle import LoginThrottle
from dispatch.homecare.menu import ServiceMenu
from dispatch.homecare.service import HomeCare
from dispatch.live.bus import LiveBus
from dispatch.live.fanout import Fanout
from dispatch.live.login_throttle import SharedLoginThrottle
from dispatch.live.sessions import LiveSessions
from dispatch.matching.travel import TravelModel
from dispatch.notify.notifier import Notifier
from dispatch.registry import accounts
from dispatch.store.db import Database
from dispatch.store.tables import UserAccount
from dispatch.voice.service import VoiceService

log = logging.getLogger(__name__)
_bearer = HTTPBearer(auto_error=False)
_cookie = APIKeyCookie(
    name=browser_session.COOKIE,
    auto_error=False,
    description="The pages' session, set HttpOnly by POST /api/v1/auth/login",
)


class HealthSources(Protocol):
    """What /healthz and /metrics read of the running server."""

    @property
    def db(self) -> Database: ...

    @property
    def bus(self) -> LiveBus: ...

    @property
    def gateway(self) -> GatewayStatus | None: ...

    @property
    def loops_down(self) -> list[str]: ...

    def metrics_exposition(self) -> tuple[bytes, str]: ...


class ServerParts(HealthSources, Protocol):
    """The running server's parts (the composition root, dispatch/runtime/, builds
    it and keeps it in ``app.state.services``). Routers never take it whole: the
    dependencies below hand each the part it uses."""

    settings: Settings
    db: Database
    bus: LiveBus
    fanout: Fanout
    catalog: Catalog
    travel: TravelModel
    menu: ServiceMenu
    homecare: HomeCare
    voice: VoiceService | None
    notifier: Notifier | None  # None: no SMS provider, nobody outside is told

    async def after_change(self) -> None: ...


class GatewayStatus(Protocol):
    @property
    def is_connected(self) -> bool: ...
    @property
    def failing_since(self) -> float | None: ...


def _server(connection: HTTPConnection) -> ServerParts:
    parts: ServerParts = connection.app.state.services
    return parts


# Each router asks for the parts it uses, never for the whole server.


def get_db(connection: HTTPConnection) -> Database:
    return _server(connection).db


def get_bus(connection: HTTPConnection) -> LiveBus:
    return _server(connection).bus


def get_settings(connection: HTTPConnection) -> Settings:
    return _server(connection).settings


def get_catalog(connection: HTTPConnection) -> Catalog:
    return _server(connection).catalog


def get_travel(connection: HTTPConnection) -> TravelModel:
    return _server(connection).travel


def get_menu(connection: HTTPConnection) -> ServiceMenu:
    return _server(connection).menu


def get_homecare(connection: HTTPConnection) -> HomeCare:
    return _server(connection).homecare


def get_voice(connection: HTTPConnection) -> VoiceService | None:
    return _server(connection).voice


Publish = Callable[[], Awaitable[None]]


def get_publish(connection: HTTPConnection) -> Publish:
    """Call after committing transitions: publishes them (and so wakes dispatchers)."""
    return _server(connection).after_change


def get_cascade_rule(connection: HTTPConnection) -> CascadeRule | None:
    """The responder cascade's rule, or None when no cascade runs (no SMS provider,
    or no ``cascade`` in config/notifications.yaml)."""
    notifier = _server(connection).notifier
    return notifier.rules.cascade if notifier is not None else None


def get_health(connection: HTTPConnection) -> HealthSources:
    return _server(connection)


DatabaseDep = Annotated[Database, Depends(get_db)]
BusDep = Annotated[LiveBus, Depends(get_bus)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
TravelDep = Annotated[TravelModel, Depends(get_travel)]
MenuDep = Annotated[ServiceMenu, Depends(get_menu)]
HomeCareDep = Annotated[HomeCare, Depends(get_homecare)]
VoiceDep = Annotated[VoiceService | None, Depends(get_voice)]
PublishDep = Annotated[Publish, Depends(get_publish)]
HealthDep = Annotated[HealthSources, Depends(get_health)]
CascadeRuleDep = Annotated[CascadeRule | None, Depends(get_cascade_rule)]


def get_login_throttle(connection: HTTPConnection) -> SharedLoginThrottle:
    """Wrong passwords counted in Redis for every process; this process's own count
    (app.state, made by create_app) while Redis is away."""
    local: LoginThrottle = connection.app.state.login_throttle
    return SharedLoginThrottle(get_bus(connection), local)


LoginThrottleDep = Annotated[SharedLoginThrottle, Depends(get_login_throttle)]


def get_live_sessions(connection: HTTPConnection) -> LiveSessions:
    """This process's open sockets by session (app.state, made by create_app)."""
    sessions: LiveSessions = connection.app.state.live_sessions
    return sessions


LiveSessionsDep = Annotated[LiveSessions, Depends(get_live_sessions)]


def get_session(db: DatabaseDep, request: Request) -> Iterator[Session]:
    """A read-only session for GET and HEAD (on SQLite it takes no write lock, so
    the board's lists never queue behind the writers); a committing one otherwise."""
    reading = request.method in ("GET", "HEAD")
    with db.read() if reading else db.session() as session:
        yield session


# "function": the session commits before the response is sent, so a 201 means
# stored and a second request sees the first (by default it would commit after).
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


async def current_user(
    request: Request,
    db: DatabaseDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> UserAccount:
    token = session_token(request, credentials, cookie)
    user = await db.run(accounts.user_for_token, db, token, now=datetime.now(UTC))
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
    request.state.session_token = token
    return user


def session_token(
    request: Request, credentials: HTTPAuthorizationCredentials | None, cookie: str | None
) -> str:
    """The request's session token: the bearer token if it carries one (API clients,
    devices' tools), else the pages' cookie, unless another site's page sent it."""
    if credentials is not None:
        return credentials.credentials
    if cookie:
        refused = browser_session.cross_origin(request.method, request.headers)
        if refused is not None:
            log.warning("403 %s %s: cross-origin (%s)", request.method, request.url.path, refused)
            raise HTTPException(status.HTTP_403_FORBIDDEN, browser_session.CROSS_ORIGIN_REFUSED)
        return cookie
    log.warning("401 %s %s: no bearer token or session cookie", request.method, request.url.path)
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "log in first: no bearer token or session cookie",
        headers={"WWW-Authenticate": "Bearer"},
    )


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
    reading = request.method in ("GET", "HEAD")
    allowed = BOARD_ROLES if reading else {Role.ADMIN}
    if (
        principal.role is Role.PROVIDER_STAFF
        and reading
        and request.url.path.startswith("/api/v1/caregivers")
    ):
        return principal  # their provider's caregivers only: the routes narrow it
    if principal.role not in allowed:
        raise forbid(request, principal, f"a {principal.role} may not {request.method} here")
    return principal


BoardDep = Annotated[Principal, Depends(allow(*BOARD_ROLES))]
AdminDep = Annotated[Principal, Depends(allow(Role.ADMIN))]
# The bureau's view: reports, the care map, credit.
SupervisorDep = Annotated[Principal, Depends(allow(Role.SUPERVISOR, Role.ADMIN))]
# Orders and statements: the call centre's, or a provider's staff's own.
WorkDep = Annotated[Principal, Depends(allow(*BOARD_ROLES, Role.PROVIDER_STAFF))]
# An elder's access log, export and anonymisation: the PIPL requests.
DataOfficerDep = Annotated[Principal, Depends(allow(Role.ADMIN, Role.DATA_OFFICER))]
CaregiverDep = Annotated[Principal, Depends(allow(Role.CAREGIVER))]


def family_user(request: Request, user: UserDep) -> UserAccount:
    """A family account: the family page's routes answer it alone (its links are by
    account, so the route needs the account, not only the role)."""
    if user.role != Role.FAMILY.value:
        raise forbid(request, accounts.principal_of(user), "only a family account may do this")
    return user


FamilyDep = Annotated[UserAccount, Depends(family_user)]
