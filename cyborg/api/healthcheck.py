"""``GET /healthcheck``: can this API process serve requests? For load balancers.

Unauthenticated (stacked before authentication) and cheap: 200 when the database
answers ``SELECT 1`` and a broker of the RPC transport accepts a login, 503 in the
error envelope naming what is down otherwise, never its URL or error (those go to the
log). A process probes at most once every CACHE_SECONDS, whoever asks and however
often; while one request probes, the others get the last answer at once.
"""

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

import webob
from oslo_config import cfg
from oslo_log import log

from cyborg.api import errors
from cyborg.common import context as cyborg_context
from cyborg.common import rpc
from cyborg.objects import health

LOG = log.getLogger(__name__)

PATH = "/healthcheck"
CACHE_SECONDS = 5.0
# Seconds a broker has for each step of a login (TCP, TLS, AMQP).
BROKER_TIMEOUT = 2.0

Probe = Callable[[], bool]

# What the 503 says is down, per probe.
DOWN = {
    "database": "the database does not answer",
    "message_broker": "no message broker of the RPC transport accepts a login",
}


def default_probes(conf: cfg.ConfigOpts) -> dict[str, Probe]:
    def database() -> bool:
        health.ping(cyborg_context.get_admin_context())
        return True

    def message_broker() -> bool:
        return rpc.probe_brokers(conf, BROKER_TIMEOUT).usable

    return {"database": database, "message_broker": message_broker}


def _passes(name: str, probe: Probe) -> bool:
    try:
        if probe():
            return True
        LOG.warning("Health check: %s is down", name)
    except Exception as err:  # whatever the driver raises means "down"
        LOG.warning("Health check: %s is down: %s: %s", name, type(err).__name__, err)
    return False


class Healthcheck:
    """Answers ``/healthcheck``; hands every other path to ``app``."""

    def __init__(
        self,
        app: WSGIApplication,
        conf: cfg.ConfigOpts,
        probes: Mapping[str, Probe] | None = None,
        cache_seconds: float = CACHE_SECONDS,
    ) -> None:
        self.app = app
        self.probes = dict(probes) if probes is not None else default_probes(conf)
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._last: tuple[float, list[str]] | None = None  # (when, what was down)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "") != PATH:
            return self.app(environ, start_response)
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            method = environ.get("REQUEST_METHOD", "")[:16]
            response = errors.error_response(
                405, f"{method} is not allowed on {PATH}.", [("Allow", "GET, HEAD")]
            )
            return response(environ, start_response)
        down = self.down()
        if down:
            reasons = "; ".join(DOWN.get(name, f"{name} is down") for name in down)
            response = errors.error_response(503, f"The API cannot serve requests: {reasons}.")
        else:
            response = webob.Response(
                json_body={"status": "OK", "checks": dict.fromkeys(self.probes, "OK")},
                charset=None,
            )
        response.cache_control = "no-store"
        return response(environ, start_response)

    def down(self) -> list[str]:
        """The probes that fail now (or, within cache_seconds, at the last probe)."""
        last = self._last
        if last is not None and time.monotonic() - last[0] < self.cache_seconds:
            return last[1]
        if not self._lock.acquire(blocking=last is None):
            assert last is not None
            return last[1]  # another request is probing
        try:
            down = [name for name, probe in self.probes.items() if not _passes(name, probe)]
            self._last = (time.monotonic(), down)
            return down
        finally:
            self._lock.release()
