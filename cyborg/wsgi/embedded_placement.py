"""The real Placement service inside the all-in-one, under ``/placement`` of its port.

The WSGI application of the ``openstack-placement`` package, on a SQLite database of
its own in the state directory, with ``noauth2`` (the token ``admin`` is the
administrator). The all-in-one's conductor reaches it over HTTP like any Placement.
"""

import os
from collections.abc import Iterable
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from oslo_config import cfg

PREFIX = "/placement"
ADMIN_TOKEN = "admin"  # noqa: S105 - noauth2 Placement's administrator, not a secret


def application(state_dir: str) -> WSGIApplication:
    """Placement's WSGI application on ``<state_dir>/placement.sqlite`` (schema synced)."""
    from placement import conf as placement_conf
    from placement import db_api, deploy

    conf = cfg.ConfigOpts()  # Placement's own options, apart from Cyborg's
    placement_conf.register_opts(conf)
    database = f"sqlite:///{os.path.join(state_dir, 'placement.sqlite')}"
    conf.set_default("connection", database, group="placement_database")  # required
    conf([], project="placement", default_config_files=[], default_config_dirs=[])
    conf.set_override("sync_on_startup", True, group="placement_database")
    conf.set_override("auth_strategy", "noauth2", group="api")
    db_api.configure(conf)
    app: WSGIApplication = deploy.loadapp(conf)
    return app


def mount(
    main: WSGIApplication, placement: WSGIApplication, prefix: str = PREFIX
) -> WSGIApplication:
    """One application: ``/placement...`` (``prefix``) goes to Placement (or the other
    embedded service given), the rest to ``main``."""

    def dispatch(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path != prefix and not path.startswith(prefix + "/"):
            return main(environ, start_response)
        environ = {
            **environ,
            "SCRIPT_NAME": environ.get("SCRIPT_NAME", "") + prefix,
            "PATH_INFO": path[len(prefix) :],
        }
        return placement(environ, start_response)

    return dispatch


def client_options(conf: cfg.ConfigOpts, endpoint: str) -> None:
    """Point ``[placement]`` at the embedded service as its administrator."""
    from keystoneauth1 import loading as ks_loading

    # The admin_token plugin's options exist only once a plugin is loaded.
    for opt in ks_loading.get_auth_plugin_conf_options("admin_token"):
        if opt.dest not in conf.placement:
            conf.register_opt(opt, group="placement")
    conf.set_override("auth_type", "admin_token", group="placement")
    conf.set_override("token", ADMIN_TOKEN, group="placement")
    conf.set_override("endpoint_override", endpoint, group="placement")
    conf.set_override("create_compute_node_provider", True, group="placement")
    # Its database is SQLite, one writer: overlapped provider writes would only meet
    # "database is locked" (a 500) and leave providers missing until the next sync.
    conf.set_override("concurrency", 1, group="placement")
