"""Security headers on every answer: what the pages may load, who may frame them,
what a link tells other sites, and that answers with personal data are not cached.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# FastAPI's /docs and /redoc load Swagger UI and ReDoc from a CDN with inline
# script; they carry no personal data and get a policy of their own.
DOC_PATHS = ("/docs", "/redoc")
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


def page_policy(sip_ws_url: str | None = None, map_tiles_url: str = "") -> str:
    """The pages' Content-Security-Policy: their own scripts and styles only (no
    inline ones), sockets to this server and the phone system, images from here and
    the configured map tile server, nothing framed."""
    connect = ["'self'"]
    if sip_ws_url:
        parts = urlsplit(sip_ws_url)
        connect.append(f"{parts.scheme}://{parts.netloc}")
    images = ["'self'", "data:", "blob:"]
    if map_tiles_url:
        # A template's host may hold a {s} subdomain: allow that host's subdomains.
        tiles = urlsplit(map_tiles_url)
        host = tiles.netloc.replace("{s}.", "*.").replace("{s}", "*")
        images.append(f"{tiles.scheme}://{host}")
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src {' '.join(images)}; media-src 'self' blob:; font-src 'self'; "
        f"connect-src {' '.join(connect)}; worker-src 'self'; manifest-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
    )


class SecurityHeaders:
    """ASGI middleware adding the headers to every HTTP answer."""

    def __init__(self, app: ASGIApp, *, policy: str) -> None:
        self.app = app
        self.policy = policy.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        policy = DOCS_POLICY.encode() if path.startswith(DOC_PATHS) else self.policy
        personal = path.startswith("/api/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", policy),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-content-type-options", b"nosniff"),
                ]
                if personal:  # elders' names, addresses, door codes: never on disk
                    headers = [(k, v) for k, v in headers if k.lower() != b"cache-control"]
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
