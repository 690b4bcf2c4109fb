"""cyborg-api: the REST API (v2, compatible with upstream Cyborg) under gunicorn."""

import sys
from collections.abc import Sequence
from typing import Any

from gunicorn.app import base as gunicorn_base
from oslo_config import cfg
from oslo_log import log

from cyborg.api import auth
from cyborg.cmd import service
from cyborg.wsgi import gunicorn_worker

LOG = log.getLogger(__name__)

# Threads per worker process: requests being served at once, since a client still
# sending its request holds none.
THREADS = 8

DESCRIPTION = (
    "Run the Cyborg REST API (v2) on [api] host_ip and [api] port with [api] api_workers "
    "worker processes under gunicorn. In production you may instead serve "
    "cyborg.wsgi.api:application from your own WSGI server (uwsgi, gunicorn, mod_wsgi)."
)


class Gunicorn(gunicorn_base.BaseApplication):
    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self.conf = conf
        super().__init__()

    def load_config(self) -> None:
        api = self.conf.api
        settings = {
            "bind": f"{api.host_ip}:{api.port}",
            "workers": api.api_workers,
            # gthread, reading header blocks in its event loop: slow clients hold no thread.
            "worker_class": gunicorn_worker.configured(api.request_read_timeout),
            "threads": THREADS,
            # gthread's main loop beats while threads serve, so this only catches a
            # worker whose loop is stuck; request_read_timeout bounds slow clients.
            "timeout": 120,
            # Idle kept-alive connections wait in the event loop, costing no thread.
            "keepalive": 5,
            # On SIGTERM, requests being served get this long, then workers are killed.
            "graceful_timeout": self.conf.graceful_shutdown_timeout,
            "limit_request_line": 4094,
            "limit_request_fields": 100,
            "limit_request_field_size": 8190,
            "proc_name": "cyborg-api",
            # gunicorn's control socket is one per user (~/.gunicorn/gunicorn.ctl): a
            # second cyborg-api (or any gunicorn app) on the host would take it over,
            # and nothing of Cyborg's uses it.
            "control_socket_disable": True,
        }
        for name, value in settings.items():
            self.cfg.set(name, value)

    def load(self) -> Any:
        from cyborg.wsgi import api as wsgi_api

        # Built in each worker after the fork: DB pools and RPC clients are per process.
        return wsgi_api.init_application(self.conf, parse=False)


def refuse_remote_noauth(conf: cfg.ConfigOpts) -> str | None:
    """Why the API must not start, or None: no-auth listens on loopback unless allowed."""
    if conf.auth_strategy != "noauth" or conf.api.noauth_allow_remote:
        return None
    if auth.is_loopback(conf.api.host_ip):
        return None
    return (
        f"refusing to serve without authentication on {conf.api.host_ip}: set "
        "[api] host_ip to a loopback address, use auth_strategy = keystone, or set "
        "[api] noauth_allow_remote = true"
    )


def main(argv: Sequence[str] | None = None) -> int:
    conf = service.prepare("cyborg-api", DESCRIPTION, argv)
    problem = refuse_remote_noauth(conf)
    if problem:
        print(f"cyborg-api: {problem}", file=sys.stderr)
        return 2
    LOG.info(
        "cyborg-api listening on http://%s:%s/ with %s workers",
        conf.api.host_ip,
        conf.api.port,
        conf.api.api_workers,
    )
    Gunicorn(conf).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
