"""The integration tier: real Mosquitto, Redis, SQLite and PostgreSQL (the fixtures
in tests/conftest.py start private ones). Every test here is marked ``integration``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import use_light_password_hashes

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True, scope="session")
def _light_password_hashes() -> None:
    use_light_password_hashes()
