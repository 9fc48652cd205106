#!/usr/bin/env bash
# Lint, type-check and run the test suite against real Mosquitto, Redis and PostgreSQL.
# Extra arguments go to pytest (e.g. scripts/test.sh -k gateway, or -m "not system").
# It runs every tier, as CI does; DEVELOPERS.md has the fast inner-loop command.
set -euo pipefail
cd "$(dirname "$0")/.."

# The tests start private mosquitto, redis-server and (when none answers at
# CAREBELL_TEST_POSTGRES_URL) PostgreSQL processes, and drive the web pages in
# Debian's chromium with a CJK font for the Chinese pages; install them when missing.
missing=()
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-sentinel >/dev/null || missing+=(redis-sentinel)  # the failover test
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v chromium >/dev/null || missing+=(chromium)
[ -n "$(fc-list :lang=zh 2>/dev/null)" ] || missing+=(fonts-noto-cjk)
# The monthly report's PDF: WeasyPrint lays it out with Pango; its tests read the
# text back with poppler's pdftotext.
ldconfig -p | grep -q "libpangoft2-1.0.so.0" || missing+=(libpango-1.0-0 libpangoft2-1.0-0)
command -v pdftotext >/dev/null || missing+=(poppler-utils)
# The voice tests add a phone system (Kamailio with its WebSocket transport,
# rtpengine) and a SIP phone (baresip), without recommends (rtpengine's would
# build a kernel module).
voice=()
command -v kamailio >/dev/null || [ -x /usr/sbin/kamailio ] || voice+=(kamailio)
[ -e /usr/lib/x86_64-linux-gnu/kamailio/modules/websocket.so ] || voice+=(kamailio-websocket-modules)
command -v rtpengine >/dev/null || voice+=(rtpengine-daemon)
command -v baresip >/dev/null || voice+=(baresip-core)
command -v turnserver >/dev/null || voice+=(coturn)
if [ ${#missing[@]} -gt 0 ] || [ ${#voice[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    if [ ${#missing[@]} -gt 0 ]; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    if [ ${#voice[@]} -gt 0 ]; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${voice[@]}" >/dev/null
    fi
  else
    echo "please install: ${missing[*]} ${voice[*]} (the tests start private instances of them)" >&2
    exit 1
  fi
fi

scripts/setup.sh dev
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/lint-imports
scripts/audit.sh  # known vulnerabilities in the lock files (skips, saying so, offline)
PYTHONASYNCIODEBUG=${PYTHONASYNCIODEBUG:-0} .venv/bin/pytest "$@"
