"""The machine's own floor for event-loop stalls, measured beside a server.

A process that does nothing but sleep 20 ms at a time still wakes late when the
machine's cores are busy (other processes, the benchmark itself). The server's
worst stall means something only beside this floor, taken over the same seconds.
"""

from __future__ import annotations

import subprocess
import sys
from types import TracebackType

_PROBE = """
import asyncio, sys
async def main():
    loop = asyncio.get_running_loop()
    worst = 0.0
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    stop = asyncio.ensure_future(reader.read())
    while not stop.done():
        started = loop.time()
        await asyncio.sleep(0.02)
        worst = max(worst, loop.time() - started - 0.02)
    print(worst)
asyncio.run(main())
"""


class StallFloor:
    """``with StallFloor() as floor: ...`` then ``floor.worst_s``."""

    def __init__(self) -> None:
        self.worst_s = float("nan")
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> StallFloor:
        self._process = subprocess.Popen(
            [sys.executable, "-c", _PROBE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        assert self._process is not None
        out, _ = self._process.communicate("", timeout=30)  # closing stdin stops it
        self.worst_s = float(out.strip() or "nan")


def server_worst_stall_s(api: str) -> float:
    """The server's worst event-loop stall since it started, from its /metrics."""
    import httpx

    for line in httpx.get(f"{api}/metrics", timeout=10).text.splitlines():
        if line.startswith("carebell_event_loop_worst_stall_seconds "):
            return float(line.split()[1])
    return float("nan")
