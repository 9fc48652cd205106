"""The root of CareBell's errors and the errors of the device side.

``CareBellError`` lives here, in the innermost package, so that devices/ needs
nothing of dispatch/ (dispatch imports devices, never the reverse);
dispatch/errors.py lists the whole tree.
"""

from __future__ import annotations

from devices.mqtt import BrokerAddress


class CareBellError(Exception):
    """Base class of every CareBell error."""


class PayloadError(CareBellError):
    """A device message was refused; ``reason`` is a stable machine-readable code."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}")


class BrokerUnavailable(CareBellError):
    """The MQTT broker could not be reached or did not confirm in time.

    The gateway converts paho's errors into this one, so no caller needs paho.
    """

    def __init__(self, address: BrokerAddress, reason: str) -> None:
        self.address = address
        super().__init__(f"MQTT broker {address.host}:{address.port} unavailable: {reason}")


class DeviceUnreachable(CareBellError):
    """A voice message for a device could not be handed to the broker."""

    def __init__(self, device_id: str, why: str) -> None:
        self.device_id = device_id
        super().__init__(f"voice message for {device_id} not sent: {why}")
