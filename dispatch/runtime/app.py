"""The ASGI application: REST API, WebSocket hub, and the background parts."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.routing import Route

from config.settings import Settings
from dispatch import web
from dispatch.api.body_guard import BodyGuard
from dispatch.api.deps import ServerParts, registry_access
from dispatch.api.headers import SecurityHeaders, page_policy
from dispatch.api.openapi import document
from dispatch.api.routes import (
    actions,
    alerts,
    areas,
    assessments,
    auth,
    board,
    care_map,
    credit,
    elders,
    family,
    health,
    homecare,
    imports,
    me,
    monthly,
    notifications,
    registry,
    reports,
    shift_handovers,
    sms_receipts,
    users,
    voice,
    workforce,
)
from dispatch.domain.login_throttle import LoginThrottle
from dispatch.errors import Conflict, Forbidden, IllegalTransition, InvalidInput, NotFound
from dispatch.live.sessions import LiveSessions
from dispatch.runtime.composition import running_services
from dispatch.ws import hub


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running_services(settings) as services:
            parts: ServerParts = services  # what the routers and the hub may use of it
            app.state.services = parts
            yield

    app = FastAPI(
        title="CareBell",
        version="0.1.0",
        summary="Emergency alerts and caregiver dispatch for home-based elderly care",
        lifespan=lifespan,
    )
    # Wrong passwords are counted in Redis (every process alike); this process's own
    # count stands in while Redis is away (dispatch/live/login_throttle.py).
    app.state.login_throttle = LoginThrottle()
    app.state.live_sessions = LiveSessions()  # open sockets by session: logout closes them
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(users.router)
    # Before the elders' and caregivers' routes: /elders/import is not an elder's id.
    app.include_router(imports.router)
    app.include_router(areas.router)
    app.include_router(elders.router)
    app.include_router(assessments.router)
    # Before the registry: PATCH /caregivers/{id} lives here, GET there.
    app.include_router(workforce.router)
    # Before the registry: /caregivers/live must not be read as a caregiver's id.
    app.include_router(board.router)
    # Registry: the call centre reads it, administrators change it.
    app.include_router(registry.router, dependencies=[Depends(registry_access)])
    app.include_router(alerts.router)
    app.include_router(notifications.router)
    app.include_router(sms_receipts.router)
    app.include_router(family.router)
    app.include_router(actions.router)
    app.include_router(me.router)
    app.include_router(homecare.router)
    app.include_router(reports.router)
    app.include_router(monthly.router)
    app.include_router(credit.router)
    app.include_router(care_map.router)
    app.include_router(shift_handovers.router)
    app.include_router(voice.router)
    app.include_router(hub.router)
    web.mount(app)
    app.add_middleware(BodyGuard)
    app.add_middleware(
        SecurityHeaders, policy=page_policy(settings.voice_sip_ws_url, settings.map_tiles_url)
    )

    @app.exception_handler(RequestValidationError)
    async def unprocessable(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # What was wrong and where, never the value sent: it may be a password.
        problems = [
            {"type": e["type"], "loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()
        ]
        return JSONResponse({"detail": problems}, status_code=422)

    @app.exception_handler(NotFound)
    async def not_found(_request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(Conflict)
    async def conflict(_request: Request, exc: Conflict) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(IllegalTransition)
    async def illegal(_request: Request, exc: IllegalTransition) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(InvalidInput)
    async def invalid(_request: Request, exc: InvalidInput) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "problems": exc.problems}, status_code=422)

    @app.exception_handler(Forbidden)
    async def forbidden(_request: Request, exc: Forbidden) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=403)

    # Every route's common answers (401, 403, 404, 413, the two 422 shapes) in the
    # document, so it says what the API answers (dispatch/api/openapi.py).
    generate = app.openapi
    documented = False
    once = threading.Lock()  # built in a worker thread, perhaps by two requests at once

    def openapi() -> dict[str, Any]:
        nonlocal documented
        with once:
            schema = generate()
            if not documented:
                document(schema)
                documented = True
            return schema

    app.openapi = openapi  # type: ignore[method-assign]
    _serve_openapi_off_the_loop(app)
    _build_routes(app)
    return app


def _serve_openapi_off_the_loop(app: FastAPI) -> None:
    """Answer the OpenAPI document from a worker thread.

    FastAPI's own route builds the document (0.4 s of CPU for this API, seconds on
    a busy machine) and encodes it (about half a megabyte) on the event loop, and
    every press, offer and request of the process waits meanwhile.
    """
    url = app.openapi_url
    assert url is not None
    app.router.routes[:] = [
        route for route in app.router.routes if not (isinstance(route, Route) and route.path == url)
    ]

    def encoded() -> bytes:
        return json.dumps(
            app.openapi(), ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode()

    async def openapi_json(_request: Request) -> Response:
        return Response(await asyncio.to_thread(encoded), media_type="application/json")

    app.add_route(url, openapi_json, include_in_schema=False)


def _build_routes(app: FastAPI) -> None:
    """Have FastAPI build what it keeps per route now, before the server serves.

    FastAPI builds each included route's dependencies (signatures read with
    ``inspect``) when the first request is matched: 0.1-0.6 s on the event loop
    for this application's routes, a stall that held the first presses after a
    start. Matching a path no route has walks every route once.
    """
    for kind in ("http", "websocket"):
        scope: dict[str, Any] = {
            "type": kind,
            "method": "GET",
            "path": "/\x00",
            "root_path": "",
            "headers": [],
        }
        for route in app.router.routes:
            route.matches(scope)
