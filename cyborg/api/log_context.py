"""Each request's log lines carry its own request id, from its first line on.

oslo.log takes the context of a log line from oslo.context's per-thread store, which
holds the last RequestContext made on the thread. Until a request's own context exists
(made after authentication), what is logged meanwhile, such as keystonemiddleware's
"Authorization failed for token", would name the request id, user and project of the
previous request that thread served: a refused token logged as someone else's request.
"""

from collections.abc import Iterable
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from oslo_middleware import request_id

from cyborg.common.context import RequestContext


class FreshLogContext:
    """Stacked inside oslo.middleware's RequestId, which names the request."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        # overwrite=True: the new, anonymous context replaces the thread's last one.
        RequestContext(request_id=environ.get(request_id.ENV_REQUEST_ID), overwrite=True)
        return self.app(environ, start_response)
