"""``cyborg.wsgi.api:application`` for uwsgi, gunicorn or mod_wsgi.

Configuration files: those in ``CYBORG_CONFIG_FILES`` (comma separated) when set,
else oslo.config's defaults (``/etc/cyborg/cyborg.conf`` and friends). The
application is built on the first request, after a pre-forking server has forked.
"""

import os
import threading
from collections.abc import Callable
from typing import Any

from oslo_config import cfg
from oslo_log import log

import cyborg.conf
from cyborg.api import app
from cyborg.db import api as db_api

_lock = threading.Lock()
_app: Any = None


def init_application(conf: cfg.ConfigOpts | None = None, parse: bool = True) -> Any:
    """Parse the configuration (unless ``parse`` is False), set up logging and the DB."""
    conf = conf if conf is not None else cyborg.conf.CONF
    if parse:
        files = os.environ.get("CYBORG_CONFIG_FILES")
        cyborg.conf.parse_args(
            ["cyborg-api"],
            conf=conf,
            default_config_files=[f for f in files.split(",") if f] if files else None,
        )
        log.setup(conf, "cyborg")
    db_api.configure(conf)
    return app.build(conf)


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
    global _app
    if _app is None:
        with _lock:
            if _app is None:
                _app = init_application()
    return _app(environ, start_response)
