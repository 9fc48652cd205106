"""Every module a page imports is in the repository, so a clean clone serves it.

A browser that cannot load one module of a graph loads none of it: a vendored
file left out of a commit (an ignore rule matched it) silently turns the board's
phone line off.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from urllib.parse import urljoin

from dispatch.web import STATIC

# Static `import … from "./x.js"`, `export … from "./x.js"`, side-effect
# `import "./x.js"` and dynamic `import("./x.js")`; only relative specifiers (the
# pages use no bare ones).
IMPORT = re.compile(r"""(?:\bimport\s*\(\s*|\bimport\s+|\bfrom\s+)["'](\.{1,2}/[^"']+)["']""")
MODULES = sorted(p for p in STATIC.rglob("*.js") if p.is_file())


# Where the server mounts each folder (dispatch/web.mount): the app's and the family
# page's modules load from /app/ and /family/, everything else from /static/.
MOUNTS = {"/app/": STATIC / "app", "/family/": STATIC / "family", "/static/": STATIC}


def served_at(path: Path) -> str:
    relative = path.relative_to(STATIC).as_posix()
    if relative.startswith(("app/", "family/")) and relative.count("/") == 1:
        return "/" + relative
    return "/static/" + relative


def file_of(url: str) -> Path:
    for prefix, folder in MOUNTS.items():
        if url.startswith(prefix):
            return (folder / url.removeprefix(prefix)).resolve()
    raise AssertionError(f"{url} is outside every mount")


def imports_of(path: Path) -> list[Path]:
    text = path.read_text(encoding="utf-8")
    return [file_of(urljoin(served_at(path), spec)) for spec in IMPORT.findall(text)]


def tracked_files() -> set[Path] | None:
    """The files git tracks under the static folder, or None outside a checkout."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--", "."],
            cwd=STATIC,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return {(STATIC / name).resolve() for name in out.decode().split("\0") if name}


def test_the_pattern_finds_each_form_of_import() -> None:
    sample = (
        'import { h } from "./dom.js";\n'
        'export * from "../core/index.js";\n'
        'import "./side.js";\n'
        'const SIP = await import("../vendor/sip.js/lib/index.js");\n'
        'const s = "import x from y";\n'
    )
    assert IMPORT.findall(sample) == [
        "./dom.js",
        "../core/index.js",
        "./side.js",
        "../vendor/sip.js/lib/index.js",
    ]


def test_every_imported_module_is_there_and_tracked() -> None:
    tracked = tracked_files()
    missing, untracked = [], []
    for module in MODULES:
        for target in imports_of(module):
            where = f"{module.relative_to(STATIC)} -> {target.relative_to(STATIC)}"
            if not target.is_file():
                missing.append(where)
            elif tracked is not None and target not in tracked:
                untracked.append(where)
    assert MODULES
    assert not missing, missing
    assert not untracked, untracked
