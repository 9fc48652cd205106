"""Compiles the planner's search once, at install: ``python -m dispatch.planning.compile``.

numba keeps the machine code on disk (``__pycache__`` beside the source, or
``NUMBA_CACHE_DIR``), so every later process, the server's solver worker
included, loads it in about a second instead of compiling for minutes.
scripts/setup.sh and the Dockerfile run this; it does nothing when the code on
disk is current.
"""

from __future__ import annotations

import sys
import time

from dispatch.planning import kernel, lns

NOTICE = "compiling the planner (once, a few minutes)"


def compiled_on_disk() -> bool:
    """Whether numba's cache holds machine code for every function of the search
    (for this version of kernel.py); if not, the first solve compiles them."""
    for value in list(vars(kernel).values()):
        # Those inlined into their callers are never compiled, nor cached, alone:
        # counting them said "not compiled" for ever, and every process that asked
        # (each test session and parallel worker) loaded the whole search again.
        if getattr(value, "targetoptions", {}).get("inline") == "always":
            continue
        # numba's dispatchers keep their disk cache privately; read its index.
        cache_file = getattr(getattr(value, "_cache", None), "_cache_file", None)
        if cache_file is not None and not cache_file._load_index():
            return False
    return True


def main() -> None:
    if compiled_on_disk():
        return
    print(f"{NOTICE}...", file=sys.stderr)
    began = time.monotonic()
    lns.warm_up()
    print(f"compiled the planner in {time.monotonic() - began:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
