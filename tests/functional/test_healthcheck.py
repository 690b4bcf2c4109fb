"""GET /healthcheck of a real cyborg-api: healthy on the machine's RabbitMQ, 503 when
its transport_url names a closed loopback port."""

import json
import urllib.error
import urllib.request
from typing import Any

from tests.functional import services


def _healthcheck(api: services.Deployment) -> tuple[int, Any]:
    url = api.endpoint.removesuffix("/v2") + "/healthcheck"
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_healthy_with_its_database_and_rabbitmq() -> None:
    with services.deployment(conductor=False, seeded=False) as api:
        assert _healthcheck(api) == (
            200,
            {"status": "OK", "checks": {"database": "OK", "message_broker": "OK"}},
        )


def test_503_when_no_broker_answers() -> None:
    port = services.free_port()  # nothing listens there
    broken = f"[DEFAULT]\ntransport_url = rabbit://guest:guest@127.0.0.1:{port}/\n"
    with services.deployment(conductor=False, seeded=False, extra_conf=broken) as api:
        status, body = _healthcheck(api)
        assert status == 503
        fault = json.loads(body["error_message"])
        assert fault["faultstring"] == (
            "The API cannot serve requests: no message broker of the RPC transport "
            "accepts a login."
        )
        assert str(port) not in body["error_message"]
        assert "Health check: message_broker is down" in api.log("api")
