"""How a client logs in on CareBell's WebSockets: the token in Sec-WebSocket-Protocol."""

from __future__ import annotations

from websockets.typing import Subprotocol


def socket_login(token: str) -> list[Subprotocol]:
    """The subprotocols to offer: ``carebell.v1`` (the server picks it) and the
    token as ``bearer.<token>``; never put the token in the URL (docs/protocol.md)."""
    return [Subprotocol("carebell.v1"), Subprotocol(f"bearer.{token}")]
