"""Broker URLs: TLS with ``mqtts://`` and its CA, and errors that never echo a password."""

from __future__ import annotations

import pytest

from devices.mqtt import BrokerAddress


def test_mqtts_turns_tls_on_with_its_port_and_ca() -> None:
    address = BrokerAddress.parse("mqtts://srv:pa%40ss@broker.example:8884?cafile=/certs/ca.crt")
    assert (address.tls, address.host, address.port) == (True, "broker.example", 8884)
    assert (address.username, address.password, address.ca_file) == (
        "srv",
        "pa@ss",
        "/certs/ca.crt",
    )
    assert BrokerAddress.parse("mqtts://broker.example").port == 8883
    assert BrokerAddress.parse("mqtt://broker.example").tls is False


@pytest.mark.parametrize(
    "url",
    ["http://u:topsecret@h", "mqtt://u:topsecret@h?cafile=/ca", "mqtts://u:topsecret@h?x=1"],
)
def test_a_bad_url_is_refused_without_its_password(url: str) -> None:
    with pytest.raises(ValueError, match="unsupported") as refused:
        BrokerAddress.parse(url)
    assert "topsecret" not in str(refused.value)
