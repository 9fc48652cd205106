#!/usr/bin/env bash
# Creates .venv and installs CareBell into it (with test tools when given "dev").
# Safe to run again: it only installs what is missing or changed.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "CareBell needs Python 3.11 or newer (found: $("$python" --version 2>&1))" >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv
# pip repeats a warning per package for every configured index folder that does
# not exist on this machine; it tells a newcomer nothing, so it is left out.
pip_install() {
  .venv/bin/python -m pip install --quiet "$@" 2>&1 \
    | { grep -v "' is ignored: it is neither a file nor a directory" || true; }
}
pip_install --upgrade pip
# Exactly the versions in the lock file (hash-checked), so a figure measured
# today means the same next month; scripts/lock.sh is the deliberate upgrade.
lock=requirements/lock.txt
[ "${1:-}" = "dev" ] && lock=requirements/dev-lock.txt
pip_install --require-hashes --requirement "$lock"
# (setuptools warns of folders named like the package on every editable install.)
PYTHONWARNINGS=ignore pip_install --no-deps --editable .
# The planner's search is compiled machine code (numba, cached on disk): compile
# it here, once, so no test, demo or server waits minutes for it later.
.venv/bin/python -m dispatch.planning.compile
