"""The server's helper processes end with it, even when it is killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psutil

from simulators import local_services


def test_the_ingest_helper_and_its_forkserver_end_with_a_killed_server(
    mosquitto: local_services.LocalServer,
    redis_server: local_services.LocalServer,
    tmp_path: Path,
) -> None:
    port = local_services.free_port()
    tag = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "CAREBELL_DATABASE_URL": f"sqlite:///{tmp_path / 'carebell.db'}",
        "CAREBELL_MQTT_URL": mosquitto.url,
        "CAREBELL_REDIS_URL": redis_server.url,
        "CAREBELL_REDIS_PREFIX": f"tree-{tag}",
        "CAREBELL_MQTT_CLIENT_ID": f"tree-{tag}",
        "CAREBELL_MQTT_SHARE_GROUP": f"g{tag}",
        "CAREBELL_HTTP_PORT": str(port),
    }
    with (tmp_path / "server.log").open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "dispatch", "serve", "--log-level", "warning"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.2)
        helpers = psutil.Process(server.pid).children(recursive=True)
        commands = [" ".join(p.cmdline()) for p in helpers]
        assert any("forkserver" in c for c in commands), commands
        assert len(helpers) >= 3  # the forkserver, the ingest helper, the resource tracker

        os.kill(server.pid, signal.SIGKILL)
        server.wait()
        _, alive = psutil.wait_procs(helpers, timeout=30)
        assert alive == [], [" ".join(p.cmdline()) for p in alive]
    finally:
        if server.poll() is None:
            server.kill()
