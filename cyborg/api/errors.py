"""Error responses in upstream Cyborg's envelope, and the last-resort fault wrapper.

Upstream wraps a WSME fault ``{"faultcode", "faultstring", "debuginfo"}`` as a JSON
*string* in ``{"error_message": ...}``; python-cyborgclient and openstacksdk decode
that nested string, so the shape is kept. Bodies never carry tracebacks, SQL or paths.

A failure of what the API depends on (the database down, the conductor silent) is 503,
so that clients and load balancers retry elsewhere or later, not a 500.
"""

from collections.abc import Iterable
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

import oslo_messaging
import sqlalchemy.exc as sa_exc
import webob
from oslo_db import exception as db_exc
from oslo_log import log
from oslo_serialization import jsonutils

from cyborg.common import exception

LOG = log.getLogger(__name__)

# What a database that is down, unreachable or out of connections raises: oslo.db's
# wrappers, and what it leaves unwrapped (a refused connection to PostgreSQL is a plain
# OperationalError; a full pool a TimeoutError). Schema errors and deadlocks are not here.
DATABASE_DOWN: tuple[type[Exception], ...] = (
    db_exc.DBConnectionError,
    db_exc.DBNonExistentDatabase,
    db_exc.CantStartEngineError,
    sa_exc.OperationalError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
)
# The same errors raised in the conductor arrive as a RemoteError naming their class
# ("TimeoutError" is left out: it is also the builtin's name).
REMOTE_DATABASE_DOWN = frozenset(c.__name__ for c in DATABASE_DOWN) - {"TimeoutError"}

DATABASE_UNAVAILABLE = "The database is unavailable; try again later."
CONDUCTOR_UNAVAILABLE = "The conductor did not answer in time; try again later."


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
    """The error's own message, or its ``public_msg`` when the message holds internals
    (then only the log has them)."""
    if err.code >= 500:
        LOG.error("Request failed: %s", err.message)
    else:
        LOG.info("Request refused (%s): %s", err.code, err.message)
    return error_response(err.code, err.public_msg or err.message)


def database_down(err: BaseException) -> bool:
    """``err`` (raised here or in the conductor) says the database cannot be used now."""
    if isinstance(err, oslo_messaging.RemoteError):
        return err.exc_type in REMOTE_DATABASE_DOWN
    return isinstance(err, DATABASE_DOWN)


def unavailable(err: BaseException) -> webob.Response | None:
    """The 503 for a failure of what the API depends on, or None for any other error.

    The message names the dependency, never its URL, SQL or driver error; the log has
    the error's type and text for the operator.
    """
    if isinstance(err, oslo_messaging.MessagingTimeout):
        # The request was fine; the conductor is down or overloaded.
        return error_response(503, CONDUCTOR_UNAVAILABLE)
    if database_down(err):
        LOG.error("Database unavailable: %s: %s", type(err).__name__, str(err)[:500])
        return error_response(503, DATABASE_UNAVAILABLE)
    return None


class FaultWrapper:
    """Turn anything that escaped the application into a 500 without internals."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        try:
            return self.app(environ, start_response)
        except exception.CyborgException as err:
            return from_exception(err)(environ, start_response)
        except Exception as err:
            response = unavailable(err)
            if response is not None:
                return response(environ, start_response)
            request_id = environ.get("openstack.request_id", "-")
            LOG.exception("Unexpected error in request %s", request_id)
            message = f"An unexpected error occurred; the request id is {request_id}."
            return error_response(500, message)(environ, start_response)
