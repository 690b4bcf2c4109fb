"""What both sides of bench/compare.py run on, and our side.

Shared: a RabbitMQ node of the benchmark's own (tests/functional/private_rabbit.py,
on a free port: upstream's exchange and topic names are fixed, and the machine's
broker on 5672 is the tests'), the real Placement under gunicorn with its database
on the machine's MariaDB (tests/placement_service.py), and a Nova stand-in
(tests/fake_nova.py) that also answers the version discovery upstream's SDK does.

Ours: tests/functional/services.py's deployment on its own MariaDB database,
cyborg-api with two workers, one conductor and one agent whose fake driver holds
what upstream's ``fake_driver`` holds: one FPGA board of 16 accelerators with the
trait CUSTOM_FAKE_DEVICE. Agents report every 60 s on both sides, and our periodic
Placement audit is off (upstream has none; item 3 of issue #20 measures it), and so
is our quota of ARQs per project (upstream counts none: 10,000 would be over ours).
"""

import contextlib
import dataclasses
import json
import os
from collections.abc import Iterator

import requests

from tests import db_backends, fake_nova, http_stub, placement_service
from tests.functional import private_rabbit, services

REPORT_INTERVAL = 60
FPGA_BOARD = [
    {
        "type": "FPGA",
        "address": "0000:5e:00.0",
        "deployables": [{"num_accelerators": 16, "traits": ["CUSTOM_FAKE_DEVICE"]}],
    }
]
_VERSION = {
    "id": "v2.1",
    "status": "CURRENT",
    "version": "2.96",
    "min_version": "2.1",
    "updated": "2013-07-23T11:33:21Z",
}


class _Everyone(set[str]):
    """Nova knows every server the benchmark names (it boots none)."""

    def __contains__(self, item: object) -> bool:
        return True


class Nova(fake_nova.FakeNova):
    def __init__(self) -> None:
        super().__init__()
        self.instances = _Everyone()

    def _http(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        if method == "GET":  # keystoneauth's discovery wants the version's own link
            version = {**_VERSION, "links": [{"rel": "self", "href": f"{self.endpoint}/"}]}
            document = {"version": version} if "v2.1" in path else {"versions": [version]}
            return 200, {"Content-Type": "application/json"}, json.dumps(document).encode()
        return super()._http(method, path, headers, raw)


@dataclasses.dataclass
class Shared:
    rabbit: private_rabbit.PrivateRabbit
    placement: placement_service.PlacementService
    nova: Nova


@contextlib.contextmanager
def shared(directory: str) -> Iterator[Shared]:
    rabbit = private_rabbit.PrivateRabbit(os.path.join(directory, "rabbitmq"))
    rabbit.start()
    placement_db = db_backends.create_database("mysql", directory)
    placement = placement_service.PlacementService(
        os.path.join(directory, "placement"), database_url=placement_db
    )
    try:
        placement.start()
        nova = Nova()
        with http_stub.serving(nova.server):
            yield Shared(rabbit, placement, nova)
    finally:
        placement.stop()
        rabbit.stop()
        db_backends.drop_database(placement_db)


def _ours_conf(base: Shared) -> str:
    return (
        "[api]\napi_workers = 2\n"
        f"[placement]\nauth_type = admin_token\ntoken = {placement_service.ADMIN_TOKEN}\n"
        f"endpoint_override = {base.placement.endpoint}\n"
        "create_compute_node_provider = true\naudit_interval = 0\n"
        f"[nova]\nauth_type = none\nendpoint_override = {base.nova.endpoint}\n"
        "[quota]\naccelerator_requests = -1\n"
    )


@dataclasses.dataclass
class Ours:
    deployment: services.Deployment
    host: str
    database_url: str

    @property
    def api(self) -> str:
        return self.deployment.endpoint.removesuffix("/v2")

    def pids(self) -> dict[str, int]:
        return {f"ours {name}": p.pid for name, p in self.deployment.processes.items()}

    def logs(self) -> tuple[str, ...]:
        api = self.deployment.log_path("api")
        return api, api.removesuffix(".log") + ".out"


def _published(deployment: services.Deployment, host: str) -> bool:
    rows = deployment.query(
        "SELECT COUNT(*) FROM deployables dp JOIN devices d ON d.id = dp.device_id "
        "WHERE d.hostname = :host AND dp.rp_uuid IS NOT NULL",
        host=host,
    )
    return bool(rows[0][0])


@contextlib.contextmanager
def ours(base: Shared, host: str = "ours-compute-1") -> Iterator[Ours]:
    conf = _ours_conf(base)
    with services.deployment(
        "mysql", seeded=False, extra_conf=conf, rabbit_url=base.rabbit.url()
    ) as deployment:
        deployment.start_agent(host, FPGA_BOARD, report_interval=REPORT_INTERVAL)
        deployment.wait_for(lambda: _published(deployment, host), 180, "our agent's device")
        yield Ours(deployment, host, deployment.database_url)


def device_provider(api: str, headers: dict[str, str]) -> str:
    """The provider of the one deployable the agent reported (bind Nova-style to it)."""
    response = requests.get(f"{api}/v2/deployables", headers=headers, timeout=30)
    response.raise_for_status()
    (provider,) = [d["rp_uuid"] for d in response.json()["deployables"] if d["rp_uuid"]]
    return str(provider)
