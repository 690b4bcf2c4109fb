"""What a real cyborg-api (gunicorn) does with requests no client library sends: bodies
over [api] max_request_body_size, chunked bodies that do not end. Raw sockets on
loopback (tests/raw_http.py)."""

import json
from collections.abc import Iterator

import pytest

from tests import raw_http
from tests.functional import services

BODY_LIMIT = 4096
ADMIN = {"X-User-Id": "admin", "X-Project-Id": "admin", "X-Roles": "admin,member,reader"}


@pytest.fixture(scope="module")
def api() -> Iterator[services.Deployment]:
    with services.deployment(
        conductor=False,
        seeded=False,
        extra_conf=f"[api]\nmax_request_body_size = {BODY_LIMIT}\n",
    ) as deployment:
        yield deployment


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
