"""Broker URLs shared by the gateway and the simulators."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False
    # The CA that signed the broker's certificate; None: the system's trusted CAs.
    ca_file: str | None = None

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """Parse ``mqtt://[user[:password]@]host[:port]`` or, over TLS,
        ``mqtts://[user[:password]@]host[:port][?cafile=/path/ca.crt]``."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "tcp", "mqtts", "ssl"):
            raise ValueError(f"unsupported MQTT URL scheme {parts.scheme!r}")
        if not parts.hostname:
            raise ValueError("the MQTT URL names no host")
        tls = parts.scheme in ("mqtts", "ssl")
        query = parse_qs(parts.query)
        unknown = set(query) - {"cafile"}
        if unknown or (query and not tls):
            raise ValueError(f"unsupported MQTT URL parameters {sorted(query)}")
        return cls(
            host=parts.hostname,
            port=parts.port or (8883 if tls else 1883),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=tls,
            ca_file=query["cafile"][0] if "cafile" in query else None,
        )
