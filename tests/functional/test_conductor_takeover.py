"""A conductor SIGKILLed mid-bind: the other conductor takes the bind over.

Two real cyborg-conductor processes over RabbitMQ, on PostgreSQL. A 2.4 bind (no
device_rp_uuid) makes its conductor ask Placement for the host's provider; Placement
here is a stand-in that never answers, so the bind is surely in flight when the
test kills that conductor. The survivor must end the bind once the dead conductor's
heartbeat is older than ``conductor_dead_after``: BindFailed, with a reason naming
the conductor that stopped. ``bind_timeout`` is a day, so the old fallback cannot be
what ends it. The test waits on the outcome and asserts no duration.
"""

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from cyborg.conductor.binding import takeover
from tests import http_stub
from tests.functional import services

INSTANCE = "a1a1a1a1-0000-4000-8000-000000000001"
HEADERS = {
    "X-User-Id": "the-user",
    "X-Project-Id": "the-project",
    "X-Roles": "admin,member,reader",
    "X-Service-Roles": "service",
    "OpenStack-API-Version": "accelerator 2.4",
}


class StalledPlacement:
    """Accepts every request and answers none until released."""

    def __init__(self) -> None:
        self.released = threading.Event()
        self.requests: list[str] = []
        self.httpd = http_stub.server(self._answer)
        # The killed conductor's connections are gone by the time it is released.
        self.httpd.handle_error = lambda request, address: None  # type: ignore[method-assign]
        self.endpoint = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def _answer(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        self.requests.append(f"{method} {path}")
        self.released.wait(300)
        return 503, {}, b""


@pytest.fixture
def cloud() -> Iterator[tuple[services.Deployment, StalledPlacement]]:
    placement = StalledPlacement()
    conf = (
        "[DEFAULT]\nperiodic_interval = 1\nrpc_response_timeout = 20\n"
        "[conductor]\nbind_timeout = 86400\nconductor_dead_after = 3\n"
        "host_stale_after = 86400\n"
        f"[placement]\nauth_type = admin_token\ntoken = admin\n"
        f"endpoint_override = {placement.endpoint}\naudit_interval = 0\n"
    )
    with http_stub.serving(placement.httpd):
        try:
            with services.deployment("postgresql", extra_conf=conf) as deployment:
                deployment.start_conductor("conductor-2")
                yield deployment, placement
        finally:
            placement.released.set()


def _api(deployment: services.Deployment, method: str, path: str, **kwargs: Any) -> Any:
    response = requests.request(
        method, deployment.endpoint + path, headers=HEADERS, timeout=30, **kwargs
    )
    assert response.status_code < 400, (method, path, response.status_code, response.text)
    return response.json() if response.content else None


def _binding_conductor(deployment: services.Deployment, arq: str) -> str | None:
    """The host of the conductor run binding ``arq``, once its bind has started."""
    rows = deployment.query(
        "SELECT c.hostname FROM extended_accelerator_requests a "
        "JOIN conductors c ON c.uuid = a.binding_conductor "
        "WHERE a.uuid = :arq AND a.state = 'BindStarted'",
        arq=arq,
    )
    return rows[0][0] if rows else None


def test_the_survivor_fails_the_bind_of_a_killed_conductor(cloud) -> None:  # type: ignore[no-untyped-def]
    deployment, placement = cloud
    profile = {"name": "fpga", "groups": [{"resources:FPGA": "1"}]}
    _api(deployment, "POST", "/device_profiles", json=[profile])
    created = _api(
        deployment, "POST", "/accelerator_requests", json={"device_profile_name": "fpga"}
    )
    arq = created["arqs"][0]["uuid"]
    patch = {
        arq: [
            {"path": "/hostname", "op": "add", "value": "host0"},
            {"path": "/instance_uuid", "op": "add", "value": INSTANCE},
        ]
    }
    # The caller's call times out with its conductor; the API answers what the call
    # row says: accepted, so the bind goes on elsewhere (202), not a 503.
    answers: list[int] = []
    binding = threading.Thread(
        target=lambda: answers.append(
            requests.patch(
                deployment.endpoint + "/accelerator_requests",
                json=patch,
                headers=HEADERS,
                timeout=300,
            ).status_code
        ),
        daemon=True,
    )
    binding.start()

    host = deployment.wait_for(
        lambda: placement.requests and _binding_conductor(deployment, arq),
        60,
        "the bind to start and ask Placement",
    )
    victim = host.rsplit("-", 1)[0]  # Deployment names each conductor's host NAME-xxxxxx
    survivor = "conductor-2" if victim == "conductor" else "conductor"
    deployment.kill(victim)

    state, reason, owner = deployment.wait_for(
        lambda: next(
            iter(
                deployment.query(
                    "SELECT state, bind_failure_reason, binding_conductor "
                    "FROM extended_accelerator_requests "
                    "WHERE uuid = :arq AND state <> 'BindStarted'",
                    arq=arq,
                )
            ),
            None,
        ),
        120,
        "the surviving conductor to end the bind",
    )
    assert (state, owner) == ("BindFailed", None)
    assert reason == takeover.STOPPED.format(host=host)
    assert "Taking over the bind of accelerator request " + arq in deployment.log(survivor)
    assert _api(deployment, "GET", f"/accelerator_requests/{arq}")["state"] == "BindFailed"
    binding.join(timeout=300)
    assert answers == [202]
