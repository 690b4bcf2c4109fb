"""Pecan hooks: hand each request its config, context and conductor client; map errors."""

from typing import Any

import webob.exc
from oslo_config import cfg
from pecan import hooks

from cyborg.api import errors, request_state
from cyborg.common import exception
from cyborg.common.context import RequestContext


class RequestStateHook(hooks.PecanHook):
    def __init__(self, conf: cfg.ConfigOpts, conductor: request_state.ConductorFactory) -> None:
        self.conf = conf
        self.conductor = conductor

    def before(self, state: Any) -> None:
        environ = state.request.environ
        environ[request_state.ENV_CONF] = self.conf
        environ[request_state.ENV_CONDUCTOR] = self.conductor
        environ[request_state.ENV_CONTEXT] = RequestContext.from_environ(environ)


class ErrorHook(hooks.PecanHook):
    """Our exceptions become their HTTP status in upstream's error envelope."""

    def on_error(self, state: Any, err: Exception) -> Any:
        if isinstance(err, exception.CyborgException):
            return errors.from_exception(err)
        response = errors.unavailable(err)  # the database or the conductor: 503
        if response is not None:
            return response
        if isinstance(err, webob.exc.HTTPException) and err.code >= 400:
            # pecan's own 404/405/406 (no such route, method or type), in our envelope.
            message = _not_acceptable(state) if err.code == 406 else None
            response = errors.error_response(err.code, message or err.explanation or err.title)
            if "Allow" in err.headers:
                response.headers["Allow"] = err.headers["Allow"]
            return response
        return None  # the FaultWrapper turns anything else into a clean 500


def _not_acceptable(state: Any) -> str | None:
    """What the handler could have answered, when Accept names none of it."""
    types = getattr(state.controller, "_pecan", {}).get("content_types")
    if not types:
        return None
    accept = str(state.request.headers.get("Accept", ""))[:128]
    return (
        f"Not acceptable: this resource answers {', '.join(sorted(types))}; "
        f"the request accepts only {accept}."
    )
