"""Authentication middleware: keystonemiddleware, or no-auth for the all-in-one.

No-auth trusts the identity headers (``X-User-Id``, ``X-Project-Id``, ``X-Roles``,
``X-Service-Roles``) as Placement's noauth2 does; a request without them acts as an
administrator of project ``admin`` holding a service token, so every operation works
from the CLI against an all-in-one. Anyone who reaches such an API is an administrator,
so it serves clients of its own host only (LoopbackOnly), unless ``[api]
noauth_allow_remote`` says otherwise.
"""

import ipaddress
from collections.abc import Iterable
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from keystonemiddleware import auth_token
from oslo_config import cfg
from oslo_log import log

from cyborg.api import errors

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


def is_loopback(host: str) -> bool:
    """``host`` (an address, or ``localhost``) is this host's loopback."""
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _forwarded_for(environ: WSGIEnvironment) -> list[str]:
    """The clients that proxies say they forward for (X-Forwarded-For, Forwarded)."""
    clients = [c.strip() for c in environ.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    for element in environ.get("HTTP_FORWARDED", "").replace(",", ";").split(";"):
        name, _, value = element.partition("=")
        if name.strip().lower() == "for":
            clients.append(value.strip().strip('"'))
    return [_without_port(c) for c in clients if c]


def _without_port(client: str) -> str:
    """``[2001:db8::1]:4711`` and ``192.0.2.1:4711`` without their ports."""
    if client.startswith("["):
        return client[1:].partition("]")[0]
    if client.count(":") == 1:
        return client.partition(":")[0]
    return client


def local_client(environ: WSGIEnvironment) -> bool:
    """The request comes from this host: its socket peer is loopback (or a unix socket,
    which has no address) and no proxy says it forwards it for anyone else.

    Forwarding headers can only make a request look remote, never local: a remote
    client that sends ``X-Forwarded-For: 127.0.0.1`` is still remote by its socket.
    """
    peer = environ.get("REMOTE_ADDR") or ""
    if peer and not is_loopback(peer):
        return False
    return all(is_loopback(client) for client in _forwarded_for(environ))


class LoopbackOnly:
    """403 for a request from another host; stacked outermost, before the proxy-headers
    middleware rewrites REMOTE_ADDR from what the client claims."""

    MESSAGE = (
        "This API runs without authentication ([DEFAULT] auth_strategy = noauth) and "
        "serves clients on its own host only."
    )

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if local_client(environ):
            return self.app(environ, start_response)
        LOG.warning(
            "Refused a request from %s (forwarded for %s): no-auth serves this host only",
            environ.get("REMOTE_ADDR") or "a unix socket",
            ", ".join(_forwarded_for(environ)) or "nobody",
        )
        return errors.error_response(403, self.MESSAGE)(environ, start_response)


def guard_noauth(app: WSGIApplication, conf: cfg.ConfigOpts) -> WSGIApplication:
    """``app`` behind LoopbackOnly in no-auth mode, unless remote clients are allowed.

    cyborg-api also refuses to listen on another address (cyborg.cmd.api); this guard
    is what protects ``cyborg.wsgi.api:application`` under another WSGI server, whose
    listening address the application cannot know.
    """
    if conf.auth_strategy != "noauth" or conf.api.noauth_allow_remote:
        return app
    return LoopbackOnly(app)


def wrap(app: WSGIApplication, conf: cfg.ConfigOpts) -> WSGIApplication:
    if conf.auth_strategy == "noauth":
        LOG.warning(
            "API authentication is OFF ([DEFAULT] auth_strategy = noauth): identity is "
            "taken from request headers. Use it only for the all-in-one and tests."
        )
        return NoAuth(app)
    return KeystoneAuth(app, conf)
