#!/usr/bin/env bash
# Build the documentation as `tox -e docs` and the test suite do: Sphinx with
# warnings as errors, from doc/source, with Cyborg importable (the option and
# policy references read its modules).
#
#   tools/build-docs.sh [OUTPUT_DIR]     (default doc/build/html)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-doc/build/html}"
python="${PYTHON:-python3}"
exec "$python" -m sphinx -W --keep-going -q -b html doc/source "$out"
