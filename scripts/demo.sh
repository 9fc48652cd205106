#!/usr/bin/env bash
# The whole system with a simulated city on embedded defaults: SQLite, plus the
# Mosquitto and Redis found on localhost, or private ones started for the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/carebell demo "$@"
