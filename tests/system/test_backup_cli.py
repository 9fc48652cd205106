"""`carebell backup` and `carebell restore` as an operator runs them (SQLite)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlmodel import select

from dispatch.store.db import Database
from dispatch.store.tables import Elder
from tests.helpers import seed_small_city

CAREBELL = [sys.executable, "-m", "dispatch"]


def _carebell(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CAREBELL_DATABASE_URL": database_url}
    return subprocess.run([*CAREBELL, *args], env=env, capture_output=True, text=True, check=False)


def test_backup_then_restore_into_a_fresh_file(tmp_path: Path) -> None:
    live_url = f"sqlite:///{tmp_path / 'live.db'}"
    live = Database(live_url)
    live.create_schema()
    city = seed_small_city(live)
    live.dispose()

    made = _carebell("backup", str(tmp_path / "nightly.bak"), database_url=live_url)
    assert made.returncode == 0, made.stderr
    again = _carebell("backup", str(tmp_path / "nightly.bak"), database_url=live_url)
    assert again.returncode == 1
    assert "never overwrites" in again.stderr

    fresh_url = f"sqlite:///{tmp_path / 'fresh.db'}"
    restored = _carebell("restore", str(tmp_path / "nightly.bak"), database_url=fresh_url)
    assert restored.returncode == 0, restored.stderr
    db = Database(fresh_url)
    with db.read() as session:
        assert session.exec(select(Elder.id)).all() == [city.elder_id]
    db.dispose()
    over = _carebell("restore", str(tmp_path / "nightly.bak"), database_url=fresh_url)
    assert over.returncode == 1
    assert "fresh database" in over.stderr
