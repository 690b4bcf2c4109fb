"""cyborg-api and cyborg-conductor on PostgreSQL, reached through a loopback proxy
(tests/tcp_proxy.py) that the test cuts: the database seems to stop, then to come
back, while the machine's shared server keeps running. Requests get 503, and so does
the health check."""

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from tests import tcp_proxy
from tests.functional import services

ADMIN = {"X-User-Id": "admin", "X-Project-Id": "admin", "X-Roles": "admin,member,reader"}


class Proxied:
    """The deployment, and the proxy between its services and their database."""

    def __init__(self) -> None:
        self.proxy: tcp_proxy.TCPProxy | None = None
        self.api: services.Deployment

    def through_proxy(self, url: str) -> str:
        parsed = sa.engine.make_url(url)
        self.proxy = tcp_proxy.TCPProxy(parsed.host or "127.0.0.1", parsed.port or 5432)
        proxied = parsed.set(host="127.0.0.1", port=self.proxy.port)
        return proxied.render_as_string(hide_password=False)


@pytest.fixture
def deployed() -> Iterator[Proxied]:
    proxied = Proxied()
    try:
        with services.deployment(
            "postgresql", services_database=proxied.through_proxy
        ) as deployment:
            proxied.api = deployment
            yield proxied
    finally:
        if proxied.proxy is not None:
            proxied.proxy.close()


def _call(api: services.Deployment, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """``path`` under /v2, or from the root when it starts with ``//``."""
    url = api.endpoint.removesuffix("/v2") + path[1:] if path.startswith("//") else None
    request = urllib.request.Request(
        url or api.endpoint + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={**ADMIN, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _fault(body: Any) -> dict[str, Any]:
    fault: dict[str, Any] = json.loads(body["error_message"])
    return fault


def test_requests_are_503_while_the_database_is_down(deployed: Proxied) -> None:
    api, proxy = deployed.api, deployed.proxy
    assert proxy is not None
    assert _call(api, "GET", "/device_profiles")[0] == 200
    assert _call(api, "GET", "//healthcheck") == (
        200,
        {"status": "OK", "checks": {"database": "OK", "message_broker": "OK"}},
    )

    proxy.cut()
    status, body = _call(api, "GET", "/device_profiles")
    assert status == 503, body
    assert _fault(body) == {
        "faultcode": "Server",
        "faultstring": "The database is unavailable; try again later.",
        "debuginfo": None,
    }
    text = json.dumps(body)
    for internal in ("postgres", "127.0.0.1", str(proxy.port), "SELECT", "psycopg"):
        assert internal not in text

    # A write fails in the conductor, and comes back to the API as a RemoteError.
    status, body = _call(
        api, "POST", "/device_profiles", {"name": "dp", "groups": [{"resources:PGPU": "1"}]}
    )
    assert status == 503, body
    assert _fault(body)["faultstring"] == "The database is unavailable; try again later."

    # The health check probes at most every 5 seconds: wait for it to notice.
    status, body = api.wait_for(
        lambda: (answer := _call(api, "GET", "//healthcheck"))[0] == 503 and answer,
        60,
        "the health check to see the database down",
    )
    assert _fault(body)["faultstring"] == (
        "The API cannot serve requests: the database does not answer."
    )

    proxy.restore()
    api.wait_for(
        lambda: _call(api, "GET", "/device_profiles")[0] == 200, 60, "the API to read again"
    )
    api.wait_for(
        lambda: _call(api, "GET", "//healthcheck")[0] == 200, 60, "the health check to recover"
    )
