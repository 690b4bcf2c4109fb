"""Authentication middleware: keystonemiddleware, or no-auth for the all-in-one.

No-auth trusts the identity headers (``X-User-Id``, ``X-Project-Id``, ``X-Roles``,
``X-Service-Roles``) as Placement's noauth2 does; a request without them acts as an
administrator of project ``admin`` holding a service token, so every operation works
from the CLI against an all-in-one.
"""

from collections.abc import Iterable
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from keystonemiddleware import auth_token
from oslo_config import cfg
from oslo_log import log

LOG = log.getLogger(__name__)

# Version documents are public, as upstream's acl_public_routes.
PUBLIC_PATHS = frozenset({"", "/", "/v2", "/v2/"})

NOAUTH_DEFAULTS = {
    "HTTP_X_USER_ID": "admin",
    "HTTP_X_PROJECT_ID": "admin",
    "HTTP_X_ROLES": "admin,manager,member,reader",
}


class NoAuth:
    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if "HTTP_X_USER_ID" not in environ and "HTTP_X_PROJECT_ID" not in environ:
            environ.update(NOAUTH_DEFAULTS)
            environ.setdefault("HTTP_X_SERVICE_ROLES", "service")
        environ["HTTP_X_IDENTITY_STATUS"] = "Confirmed"
        return self.app(environ, start_response)


class KeystoneAuth:
    """keystonemiddleware for everything but the public version documents."""

    def __init__(self, app: WSGIApplication, conf: cfg.ConfigOpts) -> None:
        self.app = app
        self.protected = auth_token.AuthProtocol(app, {"oslo_config_config": conf})

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "") in PUBLIC_PATHS:
            return self.app(environ, start_response)
        return self.protected(environ, start_response)


def wrap(app: WSGIApplication, conf: cfg.ConfigOpts) -> WSGIApplication:
    if conf.auth_strategy == "noauth":
        LOG.warning(
            "API authentication is OFF ([DEFAULT] auth_strategy = noauth): identity is "
            "taken from request headers. Use it only for the all-in-one and tests."
        )
        return NoAuth(app)
    return KeystoneAuth(app, conf)
