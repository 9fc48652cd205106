"""The ASGI application: REST API, WebSocket hub, and the background parts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from config.settings import Settings
from dispatch.api.routes import alerts, health, registry
from dispatch.errors import IllegalTransition, NotFound
from dispatch.services import running_services
from dispatch.ws import hub


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running_services(settings) as services:
            app.state.services = services
            yield

    app = FastAPI(
        title="CareBell",
        version="0.1.0",
        summary="Emergency alerts and caregiver dispatch for home-based elderly care",
        lifespan=lifespan,
    )
    app.include_router(health.router)
    app.include_router(registry.router)
    app.include_router(alerts.router)
    app.include_router(hub.router)

    @app.exception_handler(NotFound)
    async def not_found(_request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(IllegalTransition)
    async def illegal(_request: Request, exc: IllegalTransition) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    return app
