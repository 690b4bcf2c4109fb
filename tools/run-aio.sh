#!/usr/bin/env bash
# Set up and run the all-in-one in the foreground:
#   tools/run-aio.sh [cyborg-aio options, e.g. --state-dir DIR --port 6666]
set -euo pipefail
cd "$(dirname "$0")/.."
tools/ensure-venv.sh --with-clients
exec .venv/bin/cyborg-aio "$@"
