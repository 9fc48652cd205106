"""A private phone system for the demo and the tests: Kamailio, rtpengine, baresip.

Kamailio is the call centre's SIP registrar and proxy (with the WebSocket
transport browsers use), rtpengine turns the browsers' WebRTC media into the
plain RTP of SIP phones, and baresip plays a phone on the public network (an
elder's landline): it answers by itself, plays a recorded voice and records
what it hears. All on loopback, from Debian's packages (scripts/test.sh installs
them). The production counterpart is the centre's own PBX (docs/voice.md).
"""

from __future__ import annotations

import json
import random
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from config import CONFIG_DIR
from simulators.local_services import LocalServer, free_port

KAMAILIO_MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"
BARESIP_MODULES = "/usr/lib/baresip/modules"


def sip_available() -> bool:
    """Whether this machine has the three programs (Debian: kamailio,
    kamailio-websocket-modules, rtpengine-daemon, baresip)."""
    return (
        all(shutil.which(p) for p in ("kamailio", "rtpengine", "baresip"))
        and Path(KAMAILIO_MODULES, "websocket.so").exists()
    )


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _bindable(port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_sip_port() -> int:
    """A port for a SIP phone, free with the next one on UDP and TCP.

    baresip binds SIP on UDP and TCP at the port and TLS at the next one whatever
    its transports; a port from Linux's ephemeral range (32768 up) may meanwhile
    be taken by any outgoing connection, so these come from below the relay
    ranges of coturn (10000 up) and rtpengine (20000 up) in this module.
    """
    for _ in range(200):
        port = random.randrange(7_000, 9_998, 2)
        if _bindable(port) and _bindable(port + 1):
            return port
    raise RuntimeError("no free pair of ports for a SIP phone in 7000-9999")


def _fill(template: str, values: dict[str, object]) -> str:
    for key, value in values.items():
        template = template.replace(f"@@{key}@@", str(value))
    left = re.findall(r"@@[A-Z_]+@@", template)
    if left:
        raise ValueError(f"placeholders left unfilled: {left}")
    return template


class Rtpengine(LocalServer):
    """rtpengine answers on UDP (its "ng" control protocol): ready once it pongs."""

    def start(self, timeout_s: float = 10.0) -> LocalServer:
        log_path = self.workdir / f"{self.name}.log"
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while not _ng_pong(self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start; see {log_path}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not answer on {self.port} in {timeout_s}s")
            time.sleep(0.05)
        return self


def _ng_pong(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        try:
            s.sendto(b"ready d7:command4:pinge", ("127.0.0.1", port))
            return b"pong" in s.recv(200)
        except OSError:
            return False


def rtpengine(workdir: Path) -> Rtpengine:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_udp_port()
    # A media port range of its own, below Linux's ephemeral ports (32768 up).
    first = 20_000 + (port % 120) * 100
    argv = [
        shutil.which("rtpengine") or "rtpengine",
        "--interface=127.0.0.1",
        f"--listen-ng=127.0.0.1:{port}",
        "--table=-1",  # userspace forwarding: no kernel module needed
        "--foreground",
        "--log-stderr",
        f"--port-min={first}",
        f"--port-max={first + 99}",
        f"--pidfile={workdir / 'rtpengine.pid'}",
    ]
    return Rtpengine("rtpengine", argv, port, workdir, f"udp:127.0.0.1:{port}")


@dataclass
class PhoneSystem:
    """The centre's phone system stand-in: ``ws_url`` for browsers, ``sip`` for phones."""

    kamailio: LocalServer
    media: LocalServer
    sip_port: int
    domain: str

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.kamailio.port}"

    @property
    def outbound(self) -> str:
        return f"sip:127.0.0.1:{self.sip_port};transport=udp"

    def start(self) -> PhoneSystem:
        self.media.start()
        try:
            self.kamailio.start()
        except Exception:
            self.media.stop()
            raise
        return self

    def stop(self) -> None:
        self.kamailio.stop()
        self.media.stop()


def phone_system(workdir: Path, domain: str = "carebell.local") -> PhoneSystem:
    workdir.mkdir(parents=True, exist_ok=True)
    media = rtpengine(workdir / "rtpengine")
    sip_port, ws_port = free_udp_port(), free_port()
    conf = _fill(
        (CONFIG_DIR / "sip" / "kamailio.cfg").read_text(),
        {
            "DOMAIN": domain,
            "SIP_PORT": sip_port,
            "WS_PORT": ws_port,
            "MODULES": KAMAILIO_MODULES,
            "RTPENGINE_PORT": media.port,
        },
    )
    (workdir / "kamailio.cfg").write_text(conf)
    argv = [
        shutil.which("kamailio") or "/usr/sbin/kamailio",
        "-f",
        str(workdir / "kamailio.cfg"),
        "-DD",  # stay in the foreground, so stop() reaches it
        "-E",  # log to stderr (our log file)
        "-Y",
        str(workdir),  # its runtime files here, not in /run
        "-m",
        "64",
        "-M",
        "8",
    ]
    kamailio = LocalServer("kamailio", argv, ws_port, workdir, f"ws://127.0.0.1:{ws_port}")
    return PhoneSystem(kamailio, media, sip_port, domain)


class SipPhone(LocalServer):
    """A baresip phone registered as ``number`` that answers by itself.

    ``dial``/``hang_up`` drive it over baresip's TCP control (netstring JSON);
    ``recordings`` are what it heard, newest last.
    """

    number: str = ""
    record_dir: Path = Path()

    def command(self, command: str, params: str = "", timeout_s: float = 5.0) -> dict[str, object]:
        body = json.dumps({"command": command, "params": params, "token": "carebell"}).encode()
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout_s) as s:
            s.sendall(str(len(body)).encode() + b":" + body + b",")
            data = b""
            while not data.endswith(b","):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        length, _, rest = data.partition(b":")
        reply: dict[str, object] = json.loads(rest[: int(length)])
        return reply

    def registered(self) -> bool:
        reply = self.command("reginfo")
        return "OK" in str(reply.get("data", ""))

    def dial(self, uri: str) -> None:
        self.command("dial", uri)

    def hang_up(self) -> None:
        self.command("hangup")

    def heard(self) -> list[Path]:
        return sorted(self.record_dir.glob("*-dec.wav"))


def sip_phone(workdir: Path, system: PhoneSystem, number: str, voice_file: Path) -> SipPhone:
    home = workdir / "baresip"
    record_dir = workdir / "heard"
    home.mkdir(parents=True, exist_ok=True)
    record_dir.mkdir(parents=True, exist_ok=True)
    control = free_port()
    conf = _fill(
        (CONFIG_DIR / "sip" / "baresip.conf").read_text(),
        {
            "SIP_PORT": free_sip_port(),
            "VOICE_FILE": voice_file,
            "MODULES": BARESIP_MODULES,
            "CONTROL_PORT": control,
            "RECORD_DIR": record_dir,
        },
    )
    (home / "config").write_text(conf)
    (home / "accounts").write_text(
        f'<sip:{number}@{system.domain}>;auth_pass=none;outbound="{system.outbound}";'
        "regint=600;answermode=auto\n"
    )
    (home / "contacts").write_text("")
    argv = [shutil.which("baresip") or "baresip", "-f", str(home)]
    phone = SipPhone("baresip", argv, control, workdir, f"sip:{number}@{system.domain}")
    phone.number, phone.record_dir = number, record_dir
    return phone


TURN_USER, TURN_PASSWORD = "carebell", "carebell-turn"  # as in config/turnserver.conf


def coturn(workdir: Path) -> LocalServer:
    """A private coturn (STUN and TURN) on loopback, from config/turnserver.conf."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    first = 10_000 + (port % 200) * 50  # relay ports of its own, below the ephemeral ones
    conf = (CONFIG_DIR / "turnserver.conf").read_text()
    conf = re.sub(r"(?m)^listening-port=.*$", f"listening-port={port}", conf)
    conf = re.sub(r"(?m)^min-port=.*$", f"min-port={first}", conf)
    conf = re.sub(r"(?m)^max-port=.*$", f"max-port={first + 49}", conf)
    conf += (
        "listening-ip=127.0.0.1\nrelay-ip=127.0.0.1\n"
        "allow-loopback-peers\n"  # every peer of the local demo is on loopback
        f"pidfile={workdir / 'turnserver.pid'}\nuserdb={workdir / 'turndb'}\n"
    )
    (workdir / "turnserver.conf").write_text(conf)
    argv = [shutil.which("turnserver") or "turnserver", "-c", str(workdir / "turnserver.conf")]
    return LocalServer("coturn", argv, port, workdir, f"turn:127.0.0.1:{port}")
