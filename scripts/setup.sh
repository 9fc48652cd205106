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
.venv/bin/python -m pip install --quiet --upgrade pip
# Exactly the versions in the lock file (hash-checked), so a figure measured
# today means the same next month; scripts/lock.sh is the deliberate upgrade.
lock=requirements/lock.txt
[ "${1:-}" = "dev" ] && lock=requirements/dev-lock.txt
.venv/bin/python -m pip install --quiet --require-hashes --requirement "$lock"
.venv/bin/python -m pip install --quiet --no-deps --editable .
# The planner's search is compiled machine code (numba, cached on disk): compile
# it here, once, so no test, demo or server waits minutes for it later.
.venv/bin/python -m dispatch.planning.compile
