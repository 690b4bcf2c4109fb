"""cyborg-api's gunicorn worker: a slow client costs a socket, never a thread.

gunicorn's threaded worker (gthread) hands a connection to one of its threads as soon
as a byte of a request arrives, and the thread then blocks until the request's header
block is complete. A few dozen clients that sent half a request and stopped held every
thread of every worker, and every other request, ``GET /`` included, waited for as long
as they stayed connected.

This worker reads header blocks in the worker's event loop instead, without blocking,
into a buffer per connection, and hands a connection to a thread only once its header
block is complete. A client has ``request_read_timeout`` seconds (cyborg-api: ``[api]
request_read_timeout``) to send its header block, and as long again for its body; a
slower one is answered 408 (if it sent anything) and disconnected. A header block over
MAX_HEADER_BLOCK bytes is answered 431. Idle connections cost no thread either.

gunicorn answers what it cannot parse itself (400, a request line over its limit 414,
too many or too large header fields 431, ...) with an HTML page; this worker answers
the same statuses in upstream Cyborg's JSON error envelope, as the application does.

It builds on gunicorn's gthread worker (gunicorn 27): ``enqueue_req`` is where a
connection with something to read goes to the thread pool, ``murder_keepalived`` runs
on every turn of the event loop, ``handle_request`` serves one parsed request in a
thread, ``handle_error`` writes gunicorn's own error answers. TLS, HTTP/2 and the uwsgi
protocol are left to gthread as they are (cyborg-api serves none of them).
``tests/unit/test_gunicorn_worker.py`` fails when gunicorn no longer has the methods
this worker builds on.
"""

import contextlib
import dataclasses
import functools
import selectors
import time
from typing import Any

from gunicorn import util
from gunicorn.http2 import negotiation
from gunicorn.workers import gthread

from cyborg.api import errors

# The request line and headers together, at most (uwsgi's buffer-size in
# etc/cyborg/deploy/cyborg-api-uwsgi.ini is the same); gunicorn's own limits
# (limit_request_line, limit_request_fields, limit_request_field_size) apply inside it.
MAX_HEADER_BLOCK = 64 * 1024
HEADER_ENDS = (b"\r\n\r\n", b"\n\n")
# What one read of a header block takes from the socket, at most.
READ_SIZE = 16 * 1024


def error_response(status: int, reason: str, message: str) -> bytes:
    """A whole HTTP/1.1 response in upstream's error envelope, closing the connection."""
    body = errors.error_body(status, message)
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


HEADER_TIMEOUT = error_response(
    408, "Request Timeout", "The request was not received in time; send it again."
)
HEADER_TOO_LARGE = error_response(
    431,
    "Request Header Fields Too Large",
    f"The request line and headers must fit in {MAX_HEADER_BLOCK} bytes.",
)


class ReadDeadline:
    """A connection's socket as the request parser reads it: every ``recv`` gives up at
    ``deadline`` (TimeoutError), however the client trickles its bytes in."""

    def __init__(self, sock: Any, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def recv(self, size: int, *flags: int) -> bytes:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request was not received in time")
        prior = self._sock.gettimeout()
        if prior == 0.0:  # non-blocking: the caller handles "nothing yet" itself
            data: bytes = self._sock.recv(size, *flags)
            return data
        self._sock.settimeout(remaining if prior is None else min(prior, remaining))
        try:
            data = self._sock.recv(size, *flags)
            return data
        finally:
            self._sock.settimeout(prior)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _Capture:
    """Stands in for a client's socket while gunicorn writes its HTML error answer."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self.written = bytearray()

    def sendall(self, data: bytes) -> None:
        self.written += data

    def send(self, data: bytes) -> int:
        self.written += data
        return len(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def envelope_for(html_answer: bytes | bytearray, err: BaseException) -> bytes | None:
    """The JSON answer with the status of gunicorn's HTML one (None if it wrote none).

    The message is gunicorn's description of what it could not parse, shortened; a
    server error says nothing about itself.
    """
    status_line = bytes(html_answer).split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        return None
    status, reason = int(parts[1]), parts[2] if len(parts) > 2 else ""
    if status >= 500:
        message = "An unexpected error occurred while reading the request."
    else:
        detail = str(err)
        detail = detail if len(detail) <= 200 else detail[:197] + "..."
        message = f"{reason or 'Bad Request'}: {detail}" if detail else reason
    return error_response(status, reason, message)


@dataclasses.dataclass
class _Reading:
    """A connection whose header block is still arriving."""

    deadline: float
    buffer: bytearray

    def complete(self, searched_from: int = 0) -> bool:
        start = max(0, searched_from - 3)  # an end split across two reads
        return any(self.buffer.find(end, start) >= 0 for end in HEADER_ENDS)


class ThreadWorker(gthread.ThreadWorker):
    """gthread, reading header blocks in the event loop; see the module's docstring."""

    request_read_timeout: float = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Connections whose header block is arriving, oldest (first to expire) first.
        self._reading: dict[Any, _Reading] = {}

    def _reads_headers_itself(self, conn: Any) -> bool:
        return not (
            self.cfg.is_ssl
            or conn.is_http2
            or getattr(self.cfg, "protocol", "http") != "http"
            or negotiation.prior_knowledge_allowed(self.cfg, conn.client)
        )

    def enqueue_req(self, conn: Any) -> None:
        """Wait for a whole header block in the event loop, then give it to a thread."""
        if not self._reads_headers_itself(conn):
            super().enqueue_req(conn)
            return
        # A kept-alive connection may hold read-ahead: the start of its next request.
        buffered = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
        state = _Reading(time.monotonic() + self.request_read_timeout, bytearray(buffered))
        if state.complete():
            self._hand_over(conn, state)
            return
        conn.sock.setblocking(False)
        self._reading[conn] = state
        self.poller.register(
            conn.sock, selectors.EVENT_READ, functools.partial(self._on_readable, conn)
        )

    def _on_readable(self, conn: Any, _fileobj: Any) -> None:
        state = self._reading.get(conn)
        if state is None:
            return
        try:
            data = conn.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away
            self._drop(conn)
            return
        searched_from = len(state.buffer)
        state.buffer += data
        if state.complete(searched_from):
            del self._reading[conn]
            self.poller.unregister(conn.sock)
            self._hand_over(conn, state)
        elif len(state.buffer) > MAX_HEADER_BLOCK:
            self._drop(conn, HEADER_TOO_LARGE)

    def _hand_over(self, conn: Any, state: _Reading) -> None:
        """A thread parses the buffered header block (reading on, if it must, until the
        same deadline) and serves the request."""
        conn.init()  # the parser, for a new connection (no I/O without TLS or HTTP/2)
        conn.parser.unreader.unread(bytes(state.buffer))
        conn.parser.unreader.sock = ReadDeadline(conn.sock, state.deadline)
        conn.data_ready = True  # gthread would otherwise wait for data in the thread
        super().enqueue_req(conn)

    def handle_request(self, req: Any, conn: Any) -> Any:
        """Serve one request in a thread; its body must arrive within the timeout."""
        unreader: Any = getattr(conn.parser, "unreader", None)
        if isinstance(getattr(unreader, "sock", None), ReadDeadline):
            deadline = time.monotonic() + self.request_read_timeout
            unreader.sock = ReadDeadline(conn.sock, deadline)
        return super().handle_request(req, conn)

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        """gunicorn's own error answer (its status, its log lines), in the envelope."""
        capture = _Capture(client)
        super().handle_error(req, capture, addr, exc)
        answer = envelope_for(capture.written, exc)
        if answer is not None:
            with contextlib.suppress(OSError):
                util.write_nonblock(client, answer)

    def murder_keepalived(self, force: bool = False) -> None:
        """Also close connections whose header block did not arrive in time (with 408,
        when they sent part of one), and, once stopping, those that sent nothing."""
        super().murder_keepalived(force)
        now = time.monotonic()
        for conn, state in list(self._reading.items()):
            expired = force or state.deadline <= now
            if not expired and self.alive:
                break  # the rest expire later still
            if expired or not state.buffer:
                self._drop(conn, HEADER_TIMEOUT if state.buffer else None)

    def _drop(self, conn: Any, response: bytes | None = None) -> None:
        self._reading.pop(conn, None)
        with contextlib.suppress(OSError, KeyError, ValueError):
            self.poller.unregister(conn.sock)
        if response is not None:
            with contextlib.suppress(OSError):
                conn.sock.send(response)  # best effort: the socket does not block
        self.nr_conns -= 1
        conn.close()


def configured(request_read_timeout: float) -> type[ThreadWorker]:
    """The worker class with ``request_read_timeout`` (gunicorn takes a class)."""
    return type("ThreadWorker", (ThreadWorker,), {"request_read_timeout": request_read_timeout})
