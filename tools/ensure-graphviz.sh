#!/usr/bin/env bash
# Make sure Graphviz's `dot` is on PATH: the documentation draws its diagrams with it
# (sphinx.ext.graphviz, from doc/source/diagrams/*.dot and the ARQ state table in
# cyborg/common/arq_states.py).
#
#   tools/ensure-graphviz.sh
#
# When `dot` is missing, installs Debian's graphviz package as root (or through
# passwordless sudo); otherwise exits non-zero saying how to install it.
set -euo pipefail

command -v dot >/dev/null && exit 0

log() { echo "ensure-graphviz: $*" >&2; }

as_root=""
if [ "$(id -u)" = 0 ]; then
  as_root="env"
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root="sudo -n"
fi
if [ -n "$as_root" ] && command -v apt-get >/dev/null; then
  log "installing graphviz (Debian package) for the documentation's diagrams"
  $as_root apt-get update -qq >/dev/null
  $as_root DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends graphviz >/dev/null
fi
command -v dot >/dev/null && exit 0
log "Graphviz's 'dot' is missing; the documentation needs it for its diagrams."
log "Install it ('apt-get install graphviz' on Debian and Ubuntu, 'dnf install"
log "graphviz' on Fedora, 'brew install graphviz' on macOS), then run this again."
exit 1
