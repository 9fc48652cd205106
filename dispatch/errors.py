"""CareBell's exceptions.

Every error CareBell raises on purpose derives from :class:`CareBellError`::

    CareBellError
    ├── IllegalTransition        a state machine refused a move
    ├── NotFound                 a referenced row does not exist
    ├── Conflict                 a concurrent writer got there first
    └── PayloadError             a device message could not be accepted
        (raised by devices.protocol; carries the reason code stored
        in the dead-letter table)

Adapters convert library exceptions into these with ``raise ... from exc``;
only dispatch/api turns them into HTTP status codes.
"""

from __future__ import annotations


class CareBellError(Exception):
    """Base class of every CareBell error."""


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


class PayloadError(CareBellError):
    """A device message was refused; ``reason`` is a stable machine-readable code."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}")
