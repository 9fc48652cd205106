"""The most sensitive fields, encrypted at rest (docs/privacy.md).

An elder's ID number, health notes and door access are stored as
``fernet:<token>`` (Fernet: AES-128-CBC with an HMAC-SHA256, from the
``cryptography`` package), under the keys in the ``CAREBELL_DATA_KEYS`` setting,
newest first. Values are sealed with the newest key and opened with any of
them, so a key is rotated by putting a new one first, running ``carebell keys
rotate`` (every value re-sealed with it), then removing the old one.

The keys are process state: a column type cannot be handed them per session.
The server and every command call :func:`use_keys` once at start-up, before
the database is used. With no keys, values are stored as they are (the demo,
the tests); a value written then is sealed by the next ``carebell keys rotate``
run with keys.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

PREFIX = "fernet:"


class SealError(Exception):
    """A sealed value could not be opened: its key is not among the settings' keys."""


_keyring: MultiFernet | None = None


def use_keys(keys: Sequence[str]) -> None:
    """Seal with ``keys[0]``, open with any of them (an empty list: store plain).

    Raises ValueError naming the position of a malformed key.
    """
    global _keyring  # process state by design (see the module's docstring)
    ring: list[Fernet] = []
    for position, key in enumerate(keys):
        try:
            ring.append(Fernet(key.encode()))
        except ValueError as exc:
            raise ValueError(f"data key {position} is not a Fernet key: {exc}") from None
    _keyring = MultiFernet(ring) if ring else None


def new_key() -> str:
    return Fernet.generate_key().decode()


def seal(value: str) -> str:
    if _keyring is None or value == "" or value.startswith(PREFIX):
        return value
    return PREFIX + _keyring.encrypt(value.encode()).decode()


def open_value(stored: str) -> str:
    if not stored.startswith(PREFIX):
        return stored  # written before keys were set
    if _keyring is None:
        raise SealError("a sealed value was read but CAREBELL_DATA_KEYS is empty")
    try:
        return _keyring.decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        raise SealError("a sealed value's key is not among CAREBELL_DATA_KEYS") from None


class SealedText(TypeDecorator[str]):
    """Text sealed on the way in and opened on the way out; stored as a plain string
    column, so sealing needs no schema change."""

    impl = String()
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else seal(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else open_value(value)
