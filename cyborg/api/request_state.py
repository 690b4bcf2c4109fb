"""What a handler needs about the current request, set up by cyborg.api.app's hook."""

from collections.abc import Callable
from typing import Any

import pecan
from oslo_config import cfg

from cyborg.api import links, microversion, validation
from cyborg.api.middleware import ENV_JSON_BODY, ENV_VERSION
from cyborg.common import exception
from cyborg.common.context import RequestContext
from cyborg.conductor import rpcapi

ENV_CONF = "cyborg.conf"
ENV_CONTEXT = "cyborg.context"
# Holds a ConductorFactory: the client is made on first use, after a worker forks.
ENV_CONDUCTOR = "cyborg.conductor"
# A handler sets this when its empty answer must stay 200 (pecan would send 204).
ENV_EMPTY_200 = "cyborg.empty_200"

ConductorFactory = Callable[[], rpcapi.ConductorAPI]


def conf() -> cfg.ConfigOpts:
    return pecan.request.environ[ENV_CONF]


def context() -> RequestContext:
    return pecan.request.environ[ENV_CONTEXT]


def version() -> microversion.Version:
    return pecan.request.environ.get(ENV_VERSION, microversion.MIN_VERSION)


def conductor() -> rpcapi.ConductorAPI:
    """The conductor RPC client every write of a handler goes through."""
    factory: ConductorFactory = pecan.request.environ[ENV_CONDUCTOR]
    return factory()


def base_url() -> str:
    return links.base_url(pecan.request, conf().api.public_endpoint)


def query() -> dict[str, str]:
    return validation.query_dict(pecan.request.GET)


def json_body() -> Any:
    """The body, as cyborg.api.middleware.JSONBody parsed it; 400 when there is none."""
    environ = pecan.request.environ
    if ENV_JSON_BODY not in environ:
        raise exception.Invalid(reason="a JSON request body is required")
    return environ[ENV_JSON_BODY]
