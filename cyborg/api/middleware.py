"""Per-request WSGI middleware: JSON-only bodies parsed strictly, and the microversion
of /v2 requests."""

from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

import webob

from cyborg.api import errors, microversion, validation
from cyborg.common import exception

ENV_VERSION = "cyborg.api_version"
# The request body, parsed by JSONBody (absent when the request has none).
ENV_JSON_BODY = "cyborg.json_body"


# Upstream serves its collections without the /v2 prefix too (/devices == /v2/devices).
COLLECTIONS = frozenset(
    {"devices", "deployables", "attributes", "device_profiles", "accelerator_requests"}
)


class LegacyPaths:
    """Route ``/<collection>...`` to ``/v2/<collection>...``, as upstream does."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.lstrip("/").split("/", 1)[0] in COLLECTIONS:
            environ["PATH_INFO"] = "/v2" + path
        return self.app(environ, start_response)


class Microversion:
    """Parse the requested version (406 when unusable) and echo it on /v2 responses."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.startswith("/v2"):
            return self.app(environ, start_response)
        request = webob.Request(environ)
        try:
            version = microversion.from_headers(dict(request.headers))
        except (microversion.VersionNotAcceptable, microversion.InvalidVersionHeader) as err:
            response = errors.error_response(err.code, err.message)
            response.headerlist.extend(microversion.response_headers(microversion.MIN_VERSION))
            return response(environ, start_response)
        environ[ENV_VERSION] = version
        extra = microversion.response_headers(version)

        def start_with_version(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], object]:
            return start_response(status, headers + extra, exc_info)

        return self.app(environ, start_with_version)


class RequestSanity:
    """Refuse what no handler can serve, before anything parses it.

    * Bodies other than JSON get 415 (webob would parse forms and multipart for pecan,
      and a malformed one would fail there rather than with a clear error).
    * A NUL character in the path or query string gets 400: databases reject it.
    """

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        raw = environ.get("PATH_INFO", "") + environ.get("QUERY_STRING", "")
        if "\x00" in raw or "%00" in raw:
            nul = exception.Invalid(reason="the URL must not contain NUL characters")
            return errors.from_exception(nul)(environ, start_response)
        content_type = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
        has_body = environ.get("CONTENT_LENGTH") not in (None, "", "0") or environ.get(
            "HTTP_TRANSFER_ENCODING"
        )
        if has_body and content_type and content_type != "application/json":
            err = exception.UnsupportedMediaType(type=content_type[:64])
            return errors.from_exception(err)(environ, start_response)
        if content_type and content_type != "application/json":
            environ["CONTENT_TYPE"] = "application/json"  # an empty body of another type
        return self.app(environ, start_response)


class JSONBody:
    """Parse the body of every request that has one, strictly, before pecan does.

    pecan parses a JSON body itself (to look for arguments in it) with a parser that
    takes NaN and lets a RecursionError escape as a 500. Here a body that is not strict
    JSON (cyborg.api.validation.parse_json: finite numbers, nesting bounded, no NUL or
    unpaired surrogates) gets a 400 whatever the method, and the parsed document waits
    in the environ for request_state.json_body().
    """

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        body = webob.Request(environ).body  # webob leaves it readable for pecan
        if body:
            try:
                environ[ENV_JSON_BODY] = validation.parse_json(body)
            except exception.Invalid as err:
                return errors.from_exception(err)(environ, start_response)
        return self.app(environ, start_response)
