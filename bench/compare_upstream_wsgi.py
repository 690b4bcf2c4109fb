"""gunicorn's entry point for upstream Cyborg 17.0.0's API (bench/compare_upstream.py).

Runs inside the upstream virtualenv, never ours. Its ``cyborg-api`` script cannot
start (oslo.service's threading backend refuses eventlet's WSGI server), so its
``cyborg.wsgi.api:application`` is served instead; that module parses ``sys.argv``
with oslo.config, so gunicorn's command line is swapped for the config file while
it is imported.
"""

import os
import sys

_argv = sys.argv
sys.argv = ["cyborg-api", "--config-file", os.environ["CYBORG_BENCH_UPSTREAM_CONF"]]
try:
    from cyborg.wsgi.api import application  # noqa: F401
finally:
    sys.argv = _argv
