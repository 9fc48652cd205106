"""Request bodies: capped in size, and JSON refused with numbers no column holds.

Python's JSON parser takes ``NaN``, ``Infinity`` and ``1e400`` (an infinite
float); nothing CareBell stores can hold them, and an error answer that echoes
them cannot even be written as JSON. They are refused here with a 422 before any
route sees them; a body over the cap is a 413 and is not read further.
"""

from __future__ import annotations

import json
import math

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 4 * 1024 * 1024  # a device CSV of 20,000 rows fits with room to spare


class NotFinite(ValueError):
    pass


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NotFinite(f"the number {text[:40]} is too large")
    return value


def _constant(name: str) -> float:
    raise NotFinite(f"{name} is not a number JSON allows")


def json_problem(body: bytes) -> str | None:
    """Why a JSON body holds numbers nothing can store, or None (syntax errors are
    left to the route's own parser)."""
    try:
        json.loads(body, parse_float=_finite, parse_constant=_constant)
    except NotFinite as exc:
        return str(exc)
    except ValueError:
        return None
    return None


class BodyGuard:
    def __init__(self, app: ASGIApp, *, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _answer(send, 413, f"the body is over {self.max_bytes} bytes")
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _answer(send, 413, f"the body is over {self.max_bytes} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if b"json" in headers.get(b"content-type", b"") and (problem := json_problem(body)):
            await _answer(send, 422, problem)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _answer(send: Send, status: int, detail: str) -> None:
    payload = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
