"""Error responses in upstream Cyborg's envelope, and the last-resort fault wrapper.

Upstream wraps a WSME fault ``{"faultcode", "faultstring", "debuginfo"}`` as a JSON
*string* in ``{"error_message": ...}``; python-cyborgclient and openstacksdk decode
that nested string, so the shape is kept. Bodies never carry tracebacks, SQL or paths.
"""

from collections.abc import Iterable
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

import webob
from oslo_log import log
from oslo_serialization import jsonutils

from cyborg.common import exception

LOG = log.getLogger(__name__)


def error_body(status: int, message: str) -> bytes:
    fault = {
        "faultcode": "Client" if status < 500 else "Server",
        "faultstring": message,
        "debuginfo": None,
    }
    return jsonutils.dump_as_bytes({"error_message": jsonutils.dumps(fault)})


def error_response(
    status: int, message: str, headers: list[tuple[str, str]] | None = None
) -> webob.Response:
    response = webob.Response(status=status, content_type="application/json", charset=None)
    response.body = error_body(status, message)
    for name, value in headers or []:
        response.headers[name] = value
    return response


def from_exception(err: exception.CyborgException) -> webob.Response:
    if err.code >= 500:
        LOG.error("Request failed: %s", err.message)
    else:
        LOG.info("Request refused (%s): %s", err.code, err.message)
    return error_response(err.code, err.message)


class FaultWrapper:
    """Turn anything that escaped the application into a 500 without internals."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        try:
            return self.app(environ, start_response)
        except exception.CyborgException as err:
            return from_exception(err)(environ, start_response)
        except Exception:
            request_id = environ.get("openstack.request_id", "-")
            LOG.exception("Unexpected error in request %s", request_id)
            message = f"An unexpected error occurred; the request id is {request_id}."
            return error_response(500, message)(environ, start_response)
