"""What any SMS provider adapter takes and answers; providers are chosen by settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class SmsMessage:
    """One templated text to one phone (Chinese providers send approved templates only)."""

    phone: str
    template_code: str
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SmsReceipt:
    """The provider took the message: its id for the delivery report."""

    provider_id: str


class SmsFailed(Exception):
    """The provider refused the message or could not be reached; the caller falls back."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class SmsSender(Protocol):
    async def send(self, message: SmsMessage) -> SmsReceipt: ...
