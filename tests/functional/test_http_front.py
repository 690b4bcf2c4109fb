"""What a real cyborg-api (gunicorn) does with requests no client library sends: bodies
over [api] max_request_body_size, chunked bodies that do not end, clients that send
half a request and stall, requests gunicorn cannot parse; and
cyborg.wsgi.api:application under a gunicorn of its own. Raw sockets on loopback
(tests/raw_http.py)."""

import contextlib
import json
import os
import socket
import subprocess
from collections.abc import Iterator

import pytest

from tests import raw_http, service_process
from tests.functional import services

BODY_LIMIT = 4096
ADMIN = {"X-User-Id": "admin", "X-Project-Id": "admin", "X-Roles": "admin,member,reader"}
# Five times the threads of the API's only worker (cyborg.cmd.api.THREADS).
SLOW_CLIENTS = 40
WORKER = "cyborg.wsgi.gunicorn_worker.ThreadWorker"
APP = "cyborg.wsgi.api:application"
HALF_A_REQUEST = b"GET /v2 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Waiting-For: "


@pytest.fixture(scope="module")
def api() -> Iterator[services.Deployment]:
    """One worker; clients may take an hour to send a request (never, in a test)."""
    with services.deployment(
        conductor=False,
        seeded=False,
        extra_conf=f"[api]\nmax_request_body_size = {BODY_LIMIT}\nrequest_read_timeout = 3600\n",
    ) as deployment:
        yield deployment


@pytest.fixture(scope="module")
def impatient_api() -> Iterator[services.Deployment]:
    """One worker; clients have 2 seconds to send a request's headers, 2 more its body."""
    with services.deployment(
        conductor=False, seeded=False, extra_conf="[api]\nrequest_read_timeout = 2\n"
    ) as deployment:
        yield deployment


@contextlib.contextmanager
def _connections(port: int, count: int, send: bytes) -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = raw_http.connect(port)
            if send:
                sock.sendall(send)
            opened.append(sock)
        yield opened
    finally:
        for sock in opened:
            sock.close()


def _still_open(sock: socket.socket) -> bool:
    """Nothing to read and no EOF: the server keeps the connection, unanswered."""
    sock.setblocking(False)
    try:
        sock.recv(1)  # an answer, or EOF
        return False
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.settimeout(30)


def _version_document(port: int) -> raw_http.Response:
    with raw_http.connect(port) as sock:
        sock.sendall(raw_http.request_head("GET", "/", {"Connection": "close"}))
        return raw_http.read_response(sock, seconds=60)


def _port(api: services.Deployment) -> int:
    return int(api.endpoint.rsplit(":", 1)[1].split("/")[0])


def test_a_content_length_over_the_limit_is_413_before_the_body_is_sent(
    api: services.Deployment,
) -> None:
    with raw_http.connect(_port(api)) as sock:
        sock.sendall(
            raw_http.request_head(
                "POST",
                "/v2/device_profiles",
                {**ADMIN, "Content-Type": "application/json", "Content-Length": str(2**30)},
            )
        )
        response = raw_http.read_response(sock)  # not one byte of the body was sent
    assert response.status == 413
    assert response.headers["content-type"] == "application/json"
    assert response.fault() == {
        "faultcode": "Client",
        "faultstring": f"The request body is larger than the {BODY_LIMIT} bytes this API accepts.",
        "debuginfo": None,
    }


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(
    api: services.Deployment,
) -> None:
    head = raw_http.request_head(
        "POST",
        "/v2/device_profiles",
        {**ADMIN, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
    )
    with raw_http.connect(_port(api)) as sock:
        sock.sendall(head)
        for _ in range(BODY_LIMIT // 1024):
            sock.sendall(b"400\r\n" + b"x" * 1024 + b"\r\n")
        sock.sendall(b"1\r\nx\r\n")  # one byte past the limit, and the body does not end
        response = raw_http.read_response(sock)
    assert response.status == 413
    assert f"{BODY_LIMIT} bytes" in response.fault()["faultstring"]


def test_a_chunked_body_within_the_limit_is_read_whole(api: services.Deployment) -> None:
    body = json.dumps([1, 2]).encode()
    head = raw_http.request_head(
        "POST",
        "/v2/accelerator_requests",
        {**ADMIN, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
    )
    with raw_http.connect(_port(api)) as sock:
        sock.sendall(head + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")
        response = raw_http.read_response(sock)
    # The handler parsed the whole body: its schema refuses it.
    assert response.status == 400
    assert "[1, 2] is not of type 'object'" in response.fault()["faultstring"]


def test_half_sent_requests_do_not_delay_anyone_else(api: services.Deployment) -> None:
    port = _port(api)
    with _connections(port, SLOW_CLIENTS, HALF_A_REQUEST) as slow:
        for _ in range(3):
            response = _version_document(port)
            assert response.status == 200
            assert response.json()["versions"][0]["id"] == "v2"
        assert all(_still_open(sock) for sock in slow)  # they were waiting all along


def test_clients_that_send_nothing_do_not_delay_anyone_else(api: services.Deployment) -> None:
    port = _port(api)
    with _connections(port, SLOW_CLIENTS, b"") as idle:
        assert _version_document(port).status == 200
        assert all(_still_open(sock) for sock in idle)


def test_half_sent_requests_are_answered_408_and_closed(
    impatient_api: services.Deployment,
) -> None:
    port = _port(impatient_api)
    with _connections(port, SLOW_CLIENTS, HALF_A_REQUEST) as slow:
        for sock in slow:
            response = raw_http.read_response(sock, seconds=120)
            assert response.status == 408
            assert response.fault()["faultstring"] == (
                "The request was not received in time; send it again."
            )
            assert raw_http.closed_by_server(sock, 60)


def test_connections_that_send_nothing_are_closed(impatient_api: services.Deployment) -> None:
    with _connections(_port(impatient_api), SLOW_CLIENTS, b"") as idle:
        assert all(raw_http.closed_by_server(sock, 120) for sock in idle)


def test_a_body_that_stops_arriving_is_408(impatient_api: services.Deployment) -> None:
    head = raw_http.request_head(
        "POST",
        "/v2/device_profiles",
        {**ADMIN, "Content-Type": "application/json", "Content-Length": "100"},
    )
    with raw_http.connect(_port(impatient_api)) as sock:
        sock.sendall(head + b'{"name": ')  # and the other 91 bytes never come
        response = raw_http.read_response(sock, seconds=120)
        assert response.status == 408
        assert response.fault()["faultstring"] == (
            "The request body was not received in time; send it again."
        )
        assert raw_http.closed_by_server(sock, 60)


def test_a_header_block_over_64_kib_is_431(api: services.Deployment) -> None:
    with raw_http.connect(_port(api)) as sock:
        sock.sendall(HALF_A_REQUEST)
        with contextlib.suppress(OSError):  # the server may close before all of it is in
            for _ in range(70):
                sock.sendall(b"X-Filler: " + b"f" * 1000 + b"\r\n")
        response = raw_http.read_response(sock)
    assert response.status == 431
    assert response.fault()["faultstring"] == (
        "The request line and headers must fit in 65536 bytes."
    )


@pytest.mark.parametrize(
    ("request_bytes", "status", "message"),
    [
        (
            b"GET /v2/devices?" + b"q" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            414,
            "URI Too Long: ",
        ),
        (
            b"GET / HTTP/1.1\r\n"
            + b"".join(b"X-Field-%d: x\r\n" % n for n in range(101))
            + b"\r\n",
            431,
            "Request Header Fields Too Large: ",
        ),
        (
            b"GET / HTTP/1.1\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n",
            431,
            "Request Header Fields Too Large: ",
        ),
        (b"NOT HTTP AT ALL\r\n\r\n", 400, "Bad Request: "),
        (b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", 400, "Bad Request: "),
    ],
    ids=["request-line", "header-count", "header-size", "request-line-garbage", "header"],
)
def test_what_gunicorn_cannot_parse_is_answered_in_the_envelope(
    api: services.Deployment, request_bytes: bytes, status: int, message: str
) -> None:
    with raw_http.connect(_port(api)) as sock:
        sock.sendall(request_bytes)
        response = raw_http.read_response(sock)
    assert response.status == status
    assert response.headers["content-type"] == "application/json"
    fault = response.fault()
    assert fault["faultcode"] == "Client"
    assert fault["faultstring"].startswith(message)
    assert len(fault["faultstring"]) < 300
    assert fault["debuginfo"] is None


def test_a_malformed_chunk_is_400_in_the_envelope(api: services.Deployment) -> None:
    head = raw_http.request_head(
        "POST",
        "/v2/device_profiles",
        {**ADMIN, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
    )
    with raw_http.connect(_port(api)) as sock:
        sock.sendall(head + b"zz\r\n{}\r\n0\r\n\r\n")
        response = raw_http.read_response(sock)
    assert response.status == 400
    assert "body was cut off or malformed" in response.fault()["faultstring"]


@pytest.fixture
def wsgi_app(api: services.Deployment) -> Iterator[int]:
    """``cyborg.wsgi.api:application`` under a gunicorn of its own, as
    doc/source/admin/deployment.rst runs it, with the API's no-auth configuration, on a
    port of its own; yields the port."""
    port = services.free_port()
    log_path = api.log_path("gunicorn")
    with open(log_path, "ab") as log:
        command = [os.path.join(services.BIN, "gunicorn"), "--bind", f"127.0.0.1:{port}"]
        process = subprocess.Popen(
            [*command, "--workers", "1", "--threads", "8", "--worker-class", WORKER, APP],
            env={**os.environ, "CYBORG_CONFIG_FILES": api.conf_path},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=services.REPOSITORY,
            start_new_session=True,
        )
    try:
        api.wait_for(
            lambda: (
                process.poll() is not None or service_process.answers(f"http://127.0.0.1:{port}/")
            ),
            60,
            "gunicorn serving cyborg.wsgi.api:application",
        )
        assert process.poll() is None, service_process.tail(log_path)
        yield port
    finally:
        service_process.stop(process)


def _get(port: int, path: str, headers: dict[str, str]) -> raw_http.Response:
    with raw_http.connect(port) as sock:
        sock.sendall(raw_http.request_head("GET", path, {**headers, "Connection": "close"}))
        return raw_http.read_response(sock)


def test_the_wsgi_application_refuses_remote_clients_without_authentication(
    wsgi_app: int,
) -> None:
    assert _get(wsgi_app, "/v2/devices", ADMIN).status == 200
    refused = _get(wsgi_app, "/v2/devices", {**ADMIN, "X-Forwarded-For": "203.0.113.7"})
    assert refused.status == 403
    assert "serves clients on its own host only" in refused.fault()["faultstring"]
