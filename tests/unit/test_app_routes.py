"""The application is built whole before it serves: the first request builds nothing."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import httpx
import pytest

from config.settings import Settings
from dispatch.runtime.app import create_app


async def test_the_first_request_finds_every_route_built(monkeypatch: pytest.MonkeyPatch) -> None:
    # FastAPI reads each route's signature (to build its dependencies) when the
    # first request is matched: a tenth of a second and more on the event loop,
    # which the first presses after a start waited for.
    app = create_app(Settings())
    read = 0
    signature = inspect.signature

    def counting(obj: Any, *args: Any, **kwargs: Any) -> inspect.Signature:
        nonlocal read
        read += 1
        return signature(obj, *args, **kwargs)

    monkeypatch.setattr(inspect, "signature", counting)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://carebell") as client:
        answer = await client.get("/api/v1/no-such-resource")
    assert answer.status_code == 404
    assert read == 0


async def test_the_openapi_document_is_built_off_the_event_loop() -> None:
    # Building it (0.4 s of CPU, seconds on a busy machine) and encoding it on the
    # loop held every request of the process meanwhile.
    app = create_app(Settings())
    on_the_loop: list[bool] = []

    def observed() -> dict[str, Any]:
        try:
            asyncio.get_running_loop()
            on_the_loop.append(True)
        except RuntimeError:
            on_the_loop.append(False)
        return {"openapi": "3.1.0", "paths": {"/api/v1/alerts": {}}}

    app.openapi = observed  # type: ignore[method-assign]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://carebell") as client:
        answer = await client.get("/openapi.json")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["paths"] == {"/api/v1/alerts": {}}
    assert on_the_loop == [False]
