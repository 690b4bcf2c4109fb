#!/usr/bin/env bash
# Regenerate etc/cyborg/policy.yaml.sample from the rules in cyborg/policies/, or check it.
#
#   tools/generate-policy-sample.sh [--check]
#
# Uses oslopolicy-sample-generator from .venv (or from $BIN_DIR) with
# etc/cyborg/cyborg-policy-generator.conf. The generator finds the rules through the
# ``oslo.policy.policies`` entry point ``cyborg.api``, so Cyborg must be installed
# (pip install -e .). --check writes nothing and exits 1 with a diff when stale.
set -euo pipefail
cd "$(dirname "$0")/.."

script=tools/generate-policy-sample.sh
conf=etc/cyborg/cyborg-policy-generator.conf
sample=etc/cyborg/policy.yaml.sample
generator="${BIN_DIR:-.venv/bin}/oslopolicy-sample-generator"

check=false
case "${1:-}" in
  "") ;;
  --check) check=true ;;
  *) echo "usage: $script [--check]" >&2; exit 2 ;;
esac

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
# A missing namespace is only a warning to the generator, which then writes nothing.
"$generator" --config-file "$conf" --output-file "$tmp"
if ! grep -q '"cyborg:arq:get_all"' "$tmp"; then
  echo "$script: the cyborg.api policy namespace was not found;" \
       "run: .venv/bin/pip install --no-deps -e ." >&2
  exit 1
fi

if ! $check; then
  cp "$tmp" "$sample"
  exit 0
fi
if ! diff -u "$sample" "$tmp" --label "$sample" --label generated; then
  echo "$sample is stale; run $script to regenerate it." >&2
  exit 1
fi
