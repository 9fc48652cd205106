"""The system tier: the load gate, the pages in a browser, and the ``carebell``
command in subprocesses. Every test here is marked ``system``, so the inner loop
can leave them out with ``-m "not system"``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import use_light_password_hashes

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.system)


@pytest.fixture(autouse=True, scope="session")
def _light_password_hashes() -> None:
    use_light_password_hashes()
