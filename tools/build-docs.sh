#!/usr/bin/env bash
# Build the documentation as `tox -e docs` and the test suite do: Sphinx with
# warnings as errors, from doc/source, with Cyborg importable (the option and
# policy references read its modules), and Graphviz's `dot` for the diagrams
# (tools/ensure-graphviz.sh installs it when missing and it can).
#
#   tools/build-docs.sh [OUTPUT_DIR]     (default doc/build/html)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-doc/build/html}"
python="${PYTHON:-python3}"
tools/ensure-graphviz.sh
exec "$python" -m sphinx -W --keep-going -q -b html doc/source "$out"
