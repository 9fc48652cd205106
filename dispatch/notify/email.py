"""E-mail over SMTP (the standard library's smtplib), for the summaries.

smtplib blocks; ``send_async`` runs it on a worker thread so a caller on the
event loop is not held up by a slow mail server."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit


class MailFailed(Exception):
    """The mail server could not be reached or refused the message (after retries)."""

    def __init__(self, message: str, attempts: int) -> None:
        super().__init__(message)
        self.attempts = attempts


@dataclass(frozen=True)
class SmtpMailer:
    host: str
    port: int
    sender: str
    username: str = ""
    password: str = ""
    tls: bool = False  # smtps: TLS from the first byte
    starttls: bool = True  # smtp: upgrade with STARTTLS before logging in
    timeout_s: float = 30.0
    ca_file: str | None = (
        None  # the CA the server's certificate is checked with; None: the system's
    )
    attempts: int = 3
    retry_pause_s: float = 2.0

    @classmethod
    def from_url(
        cls,
        url: str,
        sender: str,
        *,
        starttls: bool = True,
        timeout_s: float = 30.0,
        ca_file: str | None = None,
    ) -> SmtpMailer:
        """smtp://user:password@host:587 or smtps://user:password@host:465."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(f"not an smtp:// or smtps:// address: {parts.scheme}://…")
        tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if tls else 587),
            sender=sender,
            username=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            tls=tls,
            starttls=starttls and not tls,
            timeout_s=timeout_s,
            ca_file=ca_file,
        )

    def _send_once(self, message: EmailMessage) -> None:
        context = ssl.create_default_context(cafile=self.ca_file)
        client: smtplib.SMTP
        if self.tls:
            client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s, context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        with client:
            if self.starttls:
                client.starttls(context=context)
            if self.username:
                client.login(self.username, self.password)
            client.send_message(message)

    def send(self, message: EmailMessage) -> int:
        """Send it, trying again after a pause when the server is away or answers with
        an error; the number of attempts it took. Raises MailFailed after the last."""
        if "From" not in message:
            message["From"] = self.sender
        last = ""
        for attempt in range(1, self.attempts + 1):
            try:
                self._send_once(message)
                return attempt
            except (OSError, smtplib.SMTPException) as e:
                last = f"{type(e).__name__}: {e}"
                if attempt < self.attempts:
                    time.sleep(self.retry_pause_s * attempt)
        raise MailFailed(f"{self.attempts} attempts, the last: {last}", self.attempts)

    async def send_async(self, message: EmailMessage) -> int:
        return await asyncio.to_thread(self.send, message)
