"""The OpenAPI document matches the API: schemathesis sends each operation a
fixed number of generated requests (valid and not) as an administrator, and
every answer must be one the document lists, with the documented body, and
never a 500. Bounded (EXAMPLES per operation, derandomised), so it stays a
few minutes and fails the same way twice."""

from __future__ import annotations

import asyncio
import logging
import os
import zlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import RunningServer
from tests.helpers import PASSWORD, login, make_user

log = logging.getLogger(__name__)
# Per operation (~150 of them): a few minutes on a quiet machine.
EXAMPLES = int(os.environ.get("CAREBELL_OPENAPI_EXAMPLES", "8"))
# Log-out would end the test's own session: each of its cases logs in afresh
# and ends that session instead. (A password change never happens: the
# generated current password is never the account's, so 403 or 422.)
OWN_SESSION = {"POST /api/v1/auth/logout"}
# Answers its documented 503 on a server without an SMS provider (as here):
# checked against the document, as every operation, but a 5xx is no failure.
UNAVAILABLE_HERE = {"POST /api/v1/alerts/{alert_id}/cascade"}
# The operations are split into shards, each a test of its own with its own
# server, so that parallel workers (pytest -n) share the run; every operation is
# in exactly one shard, chosen by its name (stable as operations are added).
SHARDS = 4
# Each runs the planner (seconds of CPU, more on a busy machine): a few examples.
SLOW = {"POST /api/v1/planning/{day}": 2}
REQUEST_TIMEOUT_S = 120.0
# What the document promises: no 500, only documented status codes and content
# types, bodies as described (422s, times and dates included). Not checked: that
# every schema-valid request is accepted (the rules across fields, a weak
# password, an unknown area, are 422s the schema cannot state).
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


def _shard_of(name: str) -> int:
    return zlib.crc32(name.encode()) % SHARDS


def _conformance_failures(
    base_url: str, token: str, shard: int, log_in: Callable[[], str]
) -> list[str]:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", timeout=REQUEST_TIMEOUT_S)
    failures: list[str] = []
    tried: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        name = f"{operation.method.upper()} {operation.path}"
        if _shard_of(name) != shard:
            continue
        tried.append(name)
        # Log-out ends the session it is called with: each case its own.
        auth = log_in if name in OWN_SESSION else (lambda: token)
        checks = [c for c in CHECKS if c is not not_a_server_error or name not in UNAVAILABLE_HERE]
        conforms = _conformance_test(operation, name, base_url, auth, checks)
        try:
            conforms()
        except (Exception, BaseExceptionGroup) as exc:  # each operation's, reported together
            failures.append(f"{name}: {exc}"[:1500])
            log.warning("does not conform: %s", failures[-1])
    assert tried, f"shard {shard} has no operation"
    return failures


def _conformance_test(
    operation: Any, name: str, base_url: str, auth: Callable[[], str], checks: list[Any]
) -> Callable[[], None]:
    @hypothesis_settings(
        max_examples=min(EXAMPLES, SLOW.get(name, EXAMPLES)),
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def conforms(case: schemathesis.Case) -> None:
        case.call_and_validate(
            base_url=base_url,
            headers={"Authorization": f"Bearer {auth()}"},
            checks=checks,
            timeout=REQUEST_TIMEOUT_S,
        )

    runs: Callable[[], None] = conforms
    return runs


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("shard", range(SHARDS))
async def test_every_operation_answers_as_its_openapi_document_says(
    server: RunningServer, shard: int
) -> None:
    token = await login(server.http, server.services.db, "admin")
    username = await asyncio.to_thread(make_user, server.services.db, "admin")

    def log_in() -> str:  # called on schemathesis's thread, not the server's loop
        answer = httpx.post(
            f"{server.http}/api/v1/auth/login",
            json={"username": username, "password": PASSWORD},
            timeout=REQUEST_TIMEOUT_S,
        )
        answer.raise_for_status()
        fresh: str = answer.json()["token"]
        return fresh

    failures = await asyncio.to_thread(_conformance_failures, server.http, token, shard, log_in)
    assert not failures, f"{len(failures)} operations:\n\n" + "\n\n".join(failures)
