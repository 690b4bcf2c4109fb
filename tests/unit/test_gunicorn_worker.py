"""cyborg.wsgi.gunicorn_worker: what it needs of gunicorn, its read deadline, and how
it tells a header block is complete. The worker itself is tested in a real cyborg-api:
tests/functional/test_http_front.py."""

import json
import socket
import time

import pytest
from gunicorn import util
from gunicorn.http import errors as http_errors
from gunicorn.http import unreader
from gunicorn.workers import gthread

from cyborg.wsgi import gunicorn_worker


@pytest.mark.parametrize(
    "method",
    [
        "enqueue_req",
        "murder_keepalived",
        "handle_request",
        "handle_error",
        "handle",
        "finish_request",
    ],
)
def test_gthread_still_has_what_the_worker_builds_on(method: str) -> None:
    assert callable(getattr(gthread.ThreadWorker, method, None)), (
        f"gunicorn's gthread.ThreadWorker has no {method}: review "
        "cyborg/wsgi/gunicorn_worker.py against this gunicorn"
    )


def test_gunicorn_connections_and_parsers_still_have_what_the_worker_uses() -> None:
    left, right = socket.socketpair()
    try:
        conn = gthread.TConn(None, left, ("127.0.0.1", 1), ("127.0.0.1", 2))
        assert hasattr(conn, "data_ready")
        assert hasattr(conn, "initialized")
        assert conn.parser is None
    finally:
        left.close()
        right.close()
    assert callable(unreader.SocketUnreader.take_buffered)
    assert callable(unreader.SocketUnreader.unread)


def test_the_configured_class_carries_its_timeout() -> None:
    worker = gunicorn_worker.configured(7)
    assert issubclass(worker, gunicorn_worker.ThreadWorker)
    assert worker.request_read_timeout == 7
    assert gunicorn_worker.ThreadWorker.request_read_timeout == 30


def test_a_read_past_the_deadline_times_out_without_waiting() -> None:
    left, right = socket.socketpair()
    try:
        right.sendall(b"data")
        past = gunicorn_worker.ReadDeadline(left, time.monotonic() - 1)
        with pytest.raises(TimeoutError):
            past.recv(10)
        future = gunicorn_worker.ReadDeadline(left, time.monotonic() + 3600)
        assert future.recv(10) == b"data"
        assert left.gettimeout() is None  # the socket's own timeout is left as it was
        assert future.fileno() == left.fileno()  # anything else goes to the socket
    finally:
        left.close()
        right.close()


def test_a_stalled_read_gives_up_at_the_deadline() -> None:
    left, right = socket.socketpair()
    try:
        with pytest.raises(TimeoutError):
            gunicorn_worker.ReadDeadline(left, time.monotonic() + 0.2).recv(10)
    finally:
        left.close()
        right.close()


@pytest.mark.parametrize(
    ("chunks", "complete"),
    [
        ([b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"], True),
        ([b"GET / HTTP/1.1\r\nHost: x\r\n"], False),
        ([b"GET / HTTP/1.1\r\nHost: x\r", b"\n\r\n"], True),
        ([b"GET / HTTP/1.1\r\nHost: x\r\n\r", b"\n"], True),
        ([b"GET / HTTP/1.1\nHost: x\n", b"\n"], True),
        ([b"POST / HTTP/1.1\r\n", b"Content-Length: 2\r\n\r\n{}"], True),
    ],
)
def test_a_header_block_is_complete_at_its_blank_line(chunks: list[bytes], complete: bool) -> None:
    reading = gunicorn_worker._Reading(deadline=0, buffer=bytearray())
    done = False
    for chunk in chunks:
        searched_from = len(reading.buffer)
        reading.buffer += chunk
        done = reading.complete(searched_from)
    assert done == complete


def test_error_answers_are_the_envelope_and_close_the_connection() -> None:
    head, body = gunicorn_worker.HEADER_TIMEOUT.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert b"Connection: close" in head
    assert f"Content-Length: {len(body)}".encode() in head
    assert body.startswith(b'{"error_message": "{\\"faultcode\\": \\"Client\\"')


class _Written:
    def __init__(self) -> None:
        self.data = b""

    def sendall(self, data: bytes) -> None:
        self.data += data

    def gettimeout(self) -> float:
        return 0.0


def _html_answer(status: int, reason: str) -> bytes:
    """What gunicorn writes for an error: util.write_error's HTML page."""
    written = _Written()
    util.write_error(written, status, reason, "<details>")
    return written.data


def _fault(answer: bytes) -> tuple[bytes, dict[str, object]]:
    head, body = answer.split(b"\r\n\r\n", 1)
    return head, json.loads(json.loads(body)["error_message"])


def test_gunicorns_html_error_becomes_the_envelope_with_its_status() -> None:
    err = http_errors.LimitRequestLine(5000, 4094)
    answer = gunicorn_worker.envelope_for(_html_answer(414, "URI Too Long"), err)
    assert answer is not None
    head, fault = _fault(answer)
    assert head.startswith(b"HTTP/1.1 414 URI Too Long\r\n")
    assert b"Content-Type: application/json" in head
    assert fault == {
        "faultcode": "Client",
        "faultstring": f"URI Too Long: {err}",
        "debuginfo": None,
    }


def test_a_long_description_is_shortened() -> None:
    err = http_errors.InvalidRequestLine("x" * 5000)
    answer = gunicorn_worker.envelope_for(_html_answer(400, "Bad Request"), err)
    assert answer is not None
    assert len(str(_fault(answer)[1]["faultstring"])) < 220


def test_a_server_error_says_nothing_of_itself() -> None:
    answer = gunicorn_worker.envelope_for(
        _html_answer(500, "Internal Server Error"), RuntimeError("/etc/secret")
    )
    assert answer is not None
    head, fault = _fault(answer)
    assert head.startswith(b"HTTP/1.1 500 ")
    assert fault["faultcode"] == "Server"
    assert "secret" not in str(fault)


def test_nothing_written_means_nothing_to_answer() -> None:
    assert gunicorn_worker.envelope_for(b"", ValueError()) is None
