"""The API's WSGI application: middleware stacked in one function.

Request flow: (no-auth: loopback clients only) → proxy headers → request id → a
fresh log context → body limit → fault wrapper → health check (/healthcheck) →
authentication → request sanity (JSON only, no NUL in URLs) → legacy paths →
microversion → strict JSON body → pecan (context hook, error hook) → handler.
"""

import functools
from typing import Any
from wsgiref.types import WSGIApplication

import pecan
from oslo_config import cfg
from oslo_middleware import http_proxy_to_wsgi, request_id

from cyborg.api import (
    auth,
    body_limit,
    errors,
    healthcheck,
    hooks,
    log_context,
    middleware,
    pecan_argspec,
    request_state,
)
from cyborg.api.controllers import root
from cyborg.conductor import rpcapi


class _Pecan(pecan.Pecan):
    """pecan turns every empty 200 into 204; a few upstream answers are an empty 200."""

    def _handle_empty_response_body(self, state: Any) -> None:
        if state.request.environ.get(request_state.ENV_EMPTY_200):
            state.response.content_type = None
            return
        super()._handle_empty_response_body(state)


def _default_conductor(conf: cfg.ConfigOpts) -> request_state.ConductorFactory:
    """A conductor RPC client made on first use, so it is created after a worker forks."""

    @functools.cache
    def client() -> rpcapi.ConductorAPI:
        return rpcapi.ConductorAPI(conf, recover_lost_replies=True)

    return client


def build(
    conf: cfg.ConfigOpts, conductor: request_state.ConductorFactory | None = None
) -> WSGIApplication:
    """The complete WSGI application for ``conf``; ``conductor`` overrides the RPC client."""
    pecan_argspec.install()
    app: WSGIApplication = _Pecan(
        root.RootController(),
        hooks=[
            hooks.RequestStateHook(conf, conductor or _default_conductor(conf)),
            hooks.ErrorHook(),
        ],
        force_canonical=False,
        guess_content_type_from_ext=False,
        debug=False,
    )
    app = middleware.JSONBody(app)
    app = middleware.Microversion(app)
    app = middleware.LegacyPaths(app)
    app = middleware.RequestSanity(app)
    app = auth.wrap(app, conf)
    app = healthcheck.Healthcheck(app, conf)
    app = errors.FaultWrapper(app)
    app = body_limit.BodyLimit(app, conf.api.max_request_body_size)
    app = log_context.FreshLogContext(app)
    app = request_id.RequestId(app)
    app = http_proxy_to_wsgi.HTTPProxyToWSGI(app, conf)
    app = auth.guard_noauth(app, conf)
    return app
