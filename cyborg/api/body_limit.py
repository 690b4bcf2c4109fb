"""Request bodies: refused over ``[api] max_request_body_size``, never read past it.

The first middleware that sees a body (cyborg.api.app stacks it before authentication),
so nothing after it (keystonemiddleware, webob, a handler) can read more of a body than
the limit:

* a ``Content-Length`` over the limit is answered 413 at once, before a byte of the
  body is read;
* any other body (one of a smaller ``Content-Length``, or chunked) reaches the
  application through ``LimitedInput``, which counts what it hands out: the read that
  takes a body past the limit (at most one byte past it) raises RequestBodyTooLarge,
  and the handler that was reading answers 413.

A body that stops arriving (the server's read timeout expired: cyborg-api's ``[api]
request_read_timeout``) is answered 408, one that is cut off or malformed 400.
"""

from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from oslo_log import log

from cyborg.api import errors
from cyborg.common import exception

LOG = log.getLogger(__name__)


class LimitedInput:
    """``wsgi.input`` that hands out at most ``limit`` bytes (``length``, if known).

    It asks the server's stream for at most ``limit + 1`` bytes in all: the extra byte
    tells a body of exactly ``limit`` bytes from a bigger one. With a ``length`` (the
    request's Content-Length, at most ``limit``) it never asks past it, as PEP 3333
    requires, and a stream that ends before it means the client cut the body off.
    """

    def __init__(self, stream: Any, limit: int, length: int | None = None) -> None:
        self._stream = stream
        self._limit = limit
        self._length = length
        self.consumed = 0

    def read(self, size: int | None = -1) -> bytes:
        return self._take(self._stream.read, size)

    def readline(self, size: int | None = -1) -> bytes:
        return self._take(self._stream.readline, size)

    def readlines(self, hint: int = -1) -> list[bytes]:
        return list(iter(self.readline, b""))

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")

    def _take(self, reader: Callable[[int], bytes], size: int | None) -> bytes:
        if self._length is not None:
            allowed = self._length - self.consumed
        else:
            allowed = self._limit + 1 - self.consumed
        wanted = allowed if size is None or size < 0 else min(size, allowed)
        if wanted <= 0:
            return b""
        try:
            data = reader(wanted)
        except TimeoutError as err:
            raise exception.RequestTimeout() from err
        except Exception as err:  # the server's parser or socket: the body is unusable
            LOG.info("Reading a request body failed: %s", type(err).__name__)
            raise exception.RequestBodyIncomplete() from err
        self.consumed += len(data)
        if self.consumed > self._limit:
            raise exception.RequestBodyTooLarge(limit=self._limit)
        if not data and self._length is not None:
            raise exception.RequestBodyIncomplete()
        return data


def content_length(environ: WSGIEnvironment) -> int | None:
    """The request's Content-Length, None when it has none; Invalid when it is not a size."""
    value = environ.get("CONTENT_LENGTH", "")
    if value in (None, ""):
        return None
    try:
        length = int(value)
    except ValueError:
        length = -1
    if length < 0:
        raise exception.Invalid(reason="Content-Length must be a number of bytes")
    return length


class BodyLimit:
    """413 for a body over ``limit`` bytes, reading at most one byte more of it."""

    def __init__(self, app: WSGIApplication, limit: int) -> None:
        self.app = app
        self.limit = limit

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        try:
            length = content_length(environ)
            if length is not None and length > self.limit:
                raise exception.RequestBodyTooLarge(limit=self.limit)
        except exception.CyborgException as err:
            return errors.from_exception(err)(environ, start_response)
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if length or (length is None and chunked):
            environ["wsgi.input"] = LimitedInput(environ["wsgi.input"], self.limit, length)
            # The wrapper cannot seek: webob must copy the body rather than rewind the
            # stream it was told (by whoever built the environ) it could rewind.
            environ.pop("webob.is_body_seekable", None)
        return self.app(environ, start_response)
