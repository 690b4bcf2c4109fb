#!/usr/bin/env bash
# Create .venv (Python >= 3.11) and install Cyborg into it, pinned by upper-constraints.txt.
#
#   tools/ensure-venv.sh [--with-tests | --with-clients]
#
# Reinstalls only when requirements, constraints or pyproject.toml changed since the last run.
set -euo pipefail
cd "$(dirname "$0")/.."

files=(requirements.txt)
case "${1:-}" in
  --with-tests) files+=(test-requirements.txt client-requirements.txt) ;;
  --with-clients) files+=(client-requirements.txt) ;;
esac
requirements=()
for file in "${files[@]}"; do requirements+=(-r "$file"); done

python=""
for candidate in python3.11 python3.12 python3.13 python3; do
  if command -v "$candidate" >/dev/null &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    python=$candidate
    break
  fi
done
[ -n "$python" ] || { echo "ensure-venv: Python 3.11 or newer is needed" >&2; exit 1; }
[ -x .venv/bin/python ] || "$python" -m venv .venv

quiet() { "$@" 2>&1 | { grep -v "is ignored: it is neither a file" || true; }; }

stamp=.venv/.cyborg-requirements${1:-}
wanted=$(cat "${files[@]}" upper-constraints.txt pyproject.toml | sha256sum)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
  echo "ensure-venv: installing into .venv (first run takes a few minutes)"
  quiet .venv/bin/python -m pip install -q --upgrade pip
  quiet .venv/bin/python -m pip install -q -c upper-constraints.txt "${requirements[@]}"
  quiet .venv/bin/python -m pip install -q --no-deps -e .
  .venv/bin/python -c 'import cyborg.db.models' # fail here if the install did not work
  echo "$wanted" >"$stamp"
fi
# The kubelet gRPC stubs are generated, not committed; this rewrites only stale ones.
.venv/bin/python tools/generate-protos.py

# The documentation's diagrams (tests/unit/test_docs.py builds it) need Graphviz.
if [ "${1:-}" = "--with-tests" ]; then tools/ensure-graphviz.sh; fi

# python-openstackclient 10.4+ has its own `openstack accelerator` commands (replacing
# python-cyborgclient's); the tests drive them from a venv of their own.
if [ "${1:-}" = "--with-tests" ] && [ ! -x .venv/osc-intree/bin/openstack ]; then
  echo "ensure-venv: installing python-openstackclient 10.5.0 into .venv/osc-intree"
  "$python" -m venv .venv/osc-intree
  quiet .venv/osc-intree/bin/python -m pip install -q python-openstackclient==10.5.0
fi

# tests/keystone_service.py runs a real Keystone; its requirements clash with Cyborg's,
# so it gets a venv of its own too.
if [ "${1:-}" = "--with-tests" ] && [ ! -x .venv/keystone/bin/gunicorn ]; then
  echo "ensure-venv: installing keystone 30.0.0 into .venv/keystone"
  "$python" -m venv .venv/keystone
  quiet .venv/keystone/bin/python -m pip install -q keystone==30.0.0 gunicorn==27.0.1
fi

# Upstream's API conformance suite (tests/functional/test_conformance.py): tempest and
# cyborg-tempest-plugin, pinned in tempest-requirements.txt, in a venv of their own.
tempest_stamp=.venv/tempest/.cyborg-tempest-requirements
if [ "${1:-}" = "--with-tests" ] &&
   { [ ! -f "$tempest_stamp" ] || [ "$(cat "$tempest_stamp")" != "$(sha256sum <tempest-requirements.txt)" ]; }; then
  echo "ensure-venv: installing tempest-requirements.txt into .venv/tempest"
  [ -x .venv/tempest/bin/python ] || "$python" -m venv .venv/tempest
  quiet .venv/tempest/bin/python -m pip install -q -r tempest-requirements.txt
  sha256sum <tempest-requirements.txt >"$tempest_stamp"
fi
