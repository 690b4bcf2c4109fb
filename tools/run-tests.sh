#!/usr/bin/env bash
# The whole test suite, from a fresh clone: servers, virtualenv, lint, types, tests.
#
#   tools/run-tests.sh [pytest arguments...]
#
# 1. tools/test-services.sh brings up PostgreSQL, MariaDB and RabbitMQ on 127.0.0.1
#    (installing them from Debian's packages when missing).
# 2. .venv is created with Python >= 3.11 and filled from requirements*.txt, pinned by
#    upper-constraints.txt; reinstalled only when those files change.
# 3. ruff (lint, then formatting), mypy, then pytest (DB tests on SQLite, MariaDB and
#    PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s\n' "$*"; }

step "services"
tools/test-services.sh

step "virtualenv"
tools/ensure-venv.sh --with-tests
.venv/bin/python --version

step "ruff"
.venv/bin/ruff check cyborg tests tools bench doc

step "ruff format"
.venv/bin/ruff format --check cyborg tests tools bench doc

step "mypy"
.venv/bin/mypy

step "pytest"
.venv/bin/python -m pytest "$@"
