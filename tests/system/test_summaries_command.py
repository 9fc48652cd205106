"""`carebell summaries` run as cron runs it: against a real SMTP server, twice, and
with the server refusing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from simulators.local_services import free_port

CAREBELL = [sys.executable, "-m", "dispatch"]


class Inbox:
    def __init__(self) -> None:
        self.rcpts: list[str] = []
        self.refuse = False

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            return "554 5.7.1 rejected"
        self.rcpts.extend(envelope.rcpt_tos)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def _run(tmp_path: Path, port: int, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CAREBELL_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}",
        "CAREBELL_SMTP_URL": f"smtp://127.0.0.1:{port}",
        "CAREBELL_SMTP_STARTTLS": "false",
        "CAREBELL_SUMMARY_RECIPIENTS": json.dumps({"li@bureau.example": "zh-CN"}),
    }
    return subprocess.run(
        [*CAREBELL, "summaries", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_the_command_sends_once_and_says_what_failed(
    tmp_path: Path, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    inbox.refuse = True
    refused = _run(tmp_path, port, "--daily", "--day", "2026-11-10")
    assert refused.returncode == 1
    assert "FAILED to li@bureau.example" in refused.stderr
    assert "554" in refused.stderr

    inbox.refuse = False
    sent = _run(tmp_path, port, "--daily", "--day", "2026-11-10")
    assert sent.returncode == 0, sent.stderr
    assert "daily 2026-11-10: sent to li@bureau.example" in sent.stdout
    again = _run(tmp_path, port, "--daily", "--day", "2026-11-10")
    assert again.returncode == 0
    assert "already had it" in again.stdout
    assert inbox.rcpts == ["li@bureau.example"]

    bad = _run(tmp_path, port, "--daily", "--day", "10/11/2026")
    assert bad.returncode == 2
    assert "YYYY-MM-DD" in bad.stderr
