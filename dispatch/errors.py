"""CareBell's exceptions.

Every error CareBell raises on purpose derives from :class:`CareBellError`::

    CareBellError                (devices/errors.py)
    ├── IllegalTransition        a state machine refused a move
    ├── NotFound                 a referenced row does not exist
    ├── Conflict                 a concurrent writer got there first
    ├── InvalidInput             the rules refuse a request as it stands (its problems listed)
    ├── Forbidden                the user may not do this (role, area, provider)
    ├── DeviceUnreachable        a voice message for a device found no broker
    │                            (devices/errors.py, raised by devices/voice_link.py)
    ├── PayloadError             a device message could not be accepted
    │                            (devices/errors.py, raised by devices.protocol;
    │                            carries the reason code stored in the dead-letter table)
    └── BrokerUnavailable        the MQTT broker is away (devices/errors.py, raised by
                                 the gateway, which converts paho's errors into it)

The root and the device errors live in devices/errors.py because devices/
imports nothing of dispatch/; they are re-exported here.

Adapters convert library exceptions into these with ``raise ... from exc``;
only dispatch/api turns them into HTTP status codes.
"""

from __future__ import annotations

from devices.errors import BrokerUnavailable, CareBellError, DeviceUnreachable, PayloadError

__all__ = [
    "BrokerUnavailable",
    "CareBellError",
    "Conflict",
    "DeviceUnreachable",
    "Forbidden",
    "IllegalTransition",
    "InvalidInput",
    "NotFound",
    "PayloadError",
]


class IllegalTransition(CareBellError):
    """A lifecycle was asked to move somewhere its state machine forbids."""

    def __init__(self, machine: str, current: str, target: str) -> None:
        self.machine, self.current, self.target = machine, current, target
        super().__init__(f"{machine} cannot go from {current!r} to {target!r}")


class NotFound(CareBellError):
    def __init__(self, kind: str, key: object) -> None:
        self.kind, self.key = kind, key
        super().__init__(f"{kind} {key!r} not found")


class Conflict(CareBellError):
    """Someone else changed the row first; re-read and try again."""


class InvalidInput(CareBellError):
    """A request the rules refuse as it stands (a weak password, an unknown area)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class Forbidden(CareBellError):
    """The user may not do this (their role, their areas, their provider)."""

    def __init__(self, why: str) -> None:
        self.why = why
        super().__init__(why)
