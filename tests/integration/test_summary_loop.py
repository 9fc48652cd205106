"""The running server sends the daily summary itself (the supervised `summaries`
loop) once it is due, to a real SMTP server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from config.settings import Settings
from simulators.local_services import free_port
from tests.conftest import RunningServer
from tests.helpers import wait_until


class Inbox:
    def __init__(self) -> None:
        self.subjects: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        text = envelope.content.decode("utf-8", "replace")
        self.subjects += [line for line in text.splitlines() if line.startswith("Subject:")]
        return "250 OK"


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler, port = Inbox(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


@pytest.fixture
def settings(settings: Settings, inbox: tuple[Inbox, int]) -> Settings:
    return settings.model_copy(
        update={
            "smtp_url": f"smtp://127.0.0.1:{inbox[1]}",
            "smtp_starttls": False,
            "summary_recipients": {"li@bureau.example": "en"},
            "summary_daily_at": "00:00",  # always past: yesterday's is due at once
            "summary_check_s": 0.2,
        }
    )


async def test_the_server_sends_yesterdays_summary_once(
    server: RunningServer, inbox: tuple[Inbox, int]
) -> None:
    handler, _ = inbox
    assert "summaries" in server.services.loops.names

    async def arrived() -> bool:
        return len(handler.subjects) >= 1

    await wait_until(arrived, timeout_s=30)
    assert handler.subjects[0].startswith("Subject: CareBell daily alert summary ")
    await asyncio.sleep(1.0)  # five more looks: it was recorded, nothing goes again
    assert len(handler.subjects) == 1
