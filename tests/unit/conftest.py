"""The unit tier: pure tests that start no service, for the inner loop.

Every test here is marked ``unit``; one that asks for a broker, Redis, a database
or a server belongs in tests/integration and is refused here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent
SERVICE_FIXTURES = frozenset(
    {
        "mosquitto",
        "private_mosquitto",
        "redis_server",
        "database_url",
        "sqlite_url",
        "postgres_url",
        "postgres_admin_url",
        "db",
        "settings",
        "server",
        "publisher",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE not in item.path.parents:
            continue
        item.add_marker(pytest.mark.unit)
        services = SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if services:
            raise pytest.UsageError(
                f"{item.nodeid} uses {sorted(services)}: move it to tests/integration"
            )
