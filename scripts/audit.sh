#!/usr/bin/env bash
# Known vulnerabilities in the pinned dependencies (requirements/*lock.txt), with
# pip-audit in a virtual environment of its own (.venv-audit), so the tool and
# its dependencies never mix with CareBell's. Fails on a finding; skips, saying
# so, when the advisory database (pypi.org) cannot be reached.
set -euo pipefail
cd "$(dirname "$0")/.."
PIP_AUDIT_VERSION=2.10.1

if ! python3 - <<'PY'
import urllib.request
urllib.request.urlopen("https://pypi.org/pypi/pip/json", timeout=5).close()
PY
then
  echo "dependency audit SKIPPED: the advisory database (pypi.org) cannot be reached" >&2
  exit 0
fi
if [ ! -x .venv-audit/bin/pip-audit ]; then
  python3 -m venv .venv-audit
  if ! .venv-audit/bin/pip install -q "pip-audit==${PIP_AUDIT_VERSION}"; then
    echo "dependency audit SKIPPED: pip-audit ${PIP_AUDIT_VERSION} could not be installed" >&2
    exit 0
  fi
fi
status=0
for lock in requirements/lock.txt requirements/dev-lock.txt; do
  echo "auditing ${lock}"
  # --no-deps --disable-pip: the lock is complete and hashed; nothing is installed.
  report=$(.venv-audit/bin/pip-audit --requirement "$lock" --no-deps --disable-pip \
    --progress-spinner off 2>&1) || status=1
  echo "$report" | grep -v "could not be audited" || true
  unknown=$(echo "$report" | grep -c "could not be audited" || true)
  if [ "$unknown" -gt 0 ]; then
    # A mirror without the advisory data answers "not found": say so, never pass quietly.
    echo "dependency audit INCOMPLETE for ${lock}: ${unknown} packages could not be" \
      "audited (the advisory database did not know them; an offline mirror?)" >&2
  fi
done
exit "$status"
