"""The `carebell devices import` and `carebell broker-auth` commands, run as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_the_cli_imports_a_file_and_writes_the_broker_files(tmp_path: Path) -> None:
    env = {**os.environ, "CAREBELL_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"}
    csv_file = tmp_path / "devices.csv"
    csv_file.write_text("device_id,kind\npb-cli-1,panic_button\npb-cli-2,kettle\n")
    run = subprocess.run(
        [sys.executable, "-m", "dispatch", "devices", "import", str(csv_file),
         "--credentials-out", str(tmp_path / "creds.csv")],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert run.returncode == 1, run.stderr  # one row failed
    assert "ok   line 2 pb-cli-1" in run.stdout
    assert "FAIL line 3 pb-cli-2 unknown kind 'kettle'" in run.stdout
    assert "pb-cli-1,pb-cli-1," in (tmp_path / "creds.csv").read_text()
    auth = subprocess.run(
        [sys.executable, "-m", "dispatch", "broker-auth", "--out", str(tmp_path / "auth")],
        capture_output=True, text=True, check=True,
        env={**env, "CAREBELL_BROKER_PASSWORD": "s3cret"},
    )  # fmt: skip
    assert "2 accounts" in auth.stdout
    users = [line.split(":")[0] for line in (tmp_path / "auth/passwd").read_text().splitlines()]
    assert users == ["carebell-server", "pb-cli-1"]
