"""The application is built whole before it serves: the first request builds nothing."""

from __future__ import annotations

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
