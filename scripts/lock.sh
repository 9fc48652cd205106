#!/usr/bin/env bash
# Re-resolves every dependency to its newest allowed version and rewrites the lock
# files that scripts/setup.sh installs from. Upgrading is this deliberate step:
# run it, then scripts/test.sh and bench/run_all.py, and commit the lock files
# with the figures (docs/performance.md, "Pinned dependencies").
set -euo pipefail
cd "$(dirname "$0")/.."
uv=.venv/bin/uv
[ -x "$uv" ] || uv=uv
for spec in "lock.txt:" "dev-lock.txt:--extra=dev"; do
  out=requirements/${spec%%:*}
  extra=${spec#*:}
  "$uv" pip compile pyproject.toml ${extra:+"$extra"} --python-version 3.11 --generate-hashes \
    --upgrade --quiet --custom-compile-command "scripts/lock.sh" -o "$out"
done
