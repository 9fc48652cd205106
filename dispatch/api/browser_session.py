"""The pages' session: an HttpOnly cookie, and the cross-origin check that goes with it.

The pages never hold the session token: the log-in sets it as a cookie that
script cannot read (``HttpOnly``), that no other site's page sends
(``SameSite=Strict``) and that travels only over TLS when the server is reached
over HTTPS (``Secure``). A request that the cookie authenticates and that could
change something is also refused when the browser says it comes from another
origin (``Sec-Fetch-Site``, else ``Origin`` against ``Host``): the check of Go's
``net/http.CrossOriginProtection`` and OWASP's "Fetch Metadata" and "Verifying
Origin" defences (docs/access.md, "Sessions in the browser").

API clients and devices' tools keep sending ``Authorization: Bearer``; a browser
never adds that header by itself, so those requests need no such check.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from urllib.parse import urlsplit

from starlette.responses import Response

COOKIE = "carebell_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# What Sec-Fetch-Site says of a request the user made on this server's own pages
# ("none": typed in the address bar, a bookmark).
SAME_SITE_FETCH = frozenset({"same-origin", "none"})
CROSS_ORIGIN_REFUSED = "cross_origin: a page of another site may not do this"


def set_cookie(response: Response, token: str, ttl: timedelta, *, secure: bool) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(ttl.total_seconds()),
        path="/",
        secure=secure,
        httponly=True,
        samesite="strict",
    )


def clear_cookie(response: Response, *, secure: bool) -> None:
    response.delete_cookie(COOKIE, path="/", secure=secure, httponly=True, samesite="strict")


def cross_origin(method: str, headers: Mapping[str, str]) -> str | None:
    """Why a browser request from another origin must be refused, or None.

    Safe methods pass (they change nothing). A browser says where a request
    comes from in ``Sec-Fetch-Site`` (every current one) or at least ``Origin``
    (on every unsafe request); a request with neither is not from a browser, so
    no other site can have made it ride on a cookie.
    """
    if method.upper() in SAFE_METHODS:
        return None
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None:
        return None if fetch_site in SAME_SITE_FETCH else f"Sec-Fetch-Site: {fetch_site}"
    return foreign_origin(headers)


def foreign_origin(headers: Mapping[str, str]) -> str | None:
    """Why ``Origin`` is not this server's own (``Host``), or None when it is or is
    absent. Sockets are checked this way: a WebSocket handshake always carries it."""
    origin = headers.get("origin")
    if origin is None:
        return None
    if origin == "null":
        return "Origin: null"
    host = headers.get("host", "")
    if urlsplit(origin).netloc.lower() != host.lower():
        return f"Origin {origin} is not {host}"
    return None
