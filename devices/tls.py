"""The TLS context an MQTT client connects to the broker with (``mqtts://`` URLs)."""

from __future__ import annotations

import ssl

from devices.mqtt import BrokerAddress


def client_context(address: BrokerAddress) -> ssl.SSLContext | None:
    """A context that verifies the broker's certificate and host name against
    ``address.ca_file`` (or the system's CAs); None for a plain ``mqtt://`` URL."""
    if not address.tls:
        return None
    context = ssl.create_default_context(cafile=address.ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
