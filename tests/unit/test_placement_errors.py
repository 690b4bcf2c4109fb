"""Placement failures answer a message for users: never Placement's URL or its errors
(which can be its database driver's), which go to the conductor's log instead."""

import json
import logging
import socket

import pytest
from keystoneauth1 import adapter, session

from cyborg.clients import placement
from cyborg.common import exception
from tests import http_stub

DRIVER_ERROR = (
    "(pymysql.err.OperationalError) (2003, \"Can't connect to MySQL server on "
    "'db.internal.example' ([Errno 111] Connection refused)\")"
)


def _client(endpoint: str) -> placement.PlacementClient:
    return placement.PlacementClient(
        adapter.Adapter(session.Session(), service_type="placement", endpoint_override=endpoint),
        max_attempts=1,
    )


def _database_down(method: str, path: str, headers: dict[str, str], body: bytes):  # type: ignore[no-untyped-def]
    error = {"errors": [{"status": 500, "title": "Internal Server Error", "detail": DRIVER_ERROR}]}
    return 500, {"Content-Type": "application/json"}, json.dumps(error).encode()


def test_a_placement_500_answers_no_internals(caplog: pytest.LogCaptureFixture) -> None:
    httpd = http_stub.server(_database_down)
    endpoint = f"http://127.0.0.1:{httpd.server_address[1]}/placement"
    with (
        http_stub.serving(httpd),
        caplog.at_level(logging.ERROR),
        pytest.raises(exception.PlacementError) as failed,
    ):
        _client(endpoint).get_provider("11111111-0000-4000-8000-000000000001")
    assert failed.value.code == 503
    assert failed.value.message == (
        "The Placement service could not complete a request; try again later."
    )
    assert failed.value.kwargs == {}  # nothing internal travels over RPC either
    assert "db.internal.example" in caplog.text  # the operator still sees why


def test_an_unreachable_placement_answers_no_url() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(exception.PlacementError) as failed:
        _client(f"http://127.0.0.1:{port}/placement").get_provider(
            "11111111-0000-4000-8000-000000000001"
        )
    assert "127.0.0.1" not in failed.value.message
