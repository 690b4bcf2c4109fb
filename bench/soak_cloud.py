"""The soak's deployment (bench/soak.py): every Cyborg service as a real process.

MariaDB and RabbitMQ are the machine's; the real Placement (tests/placement_service.py)
runs under gunicorn; cyborg-api runs under its own gunicorn with two workers; two
cyborg-conductors share the RPC topic; two cyborg-agents (hosts ``soak-nova-1`` and
``-2``, the fake driver's default inventory: an FPGA board of 16 accelerators and two
GPUs each) are where Nova-style binds go; a swarm of reporting hosts
(tests/functional/agent_swarm.py, ``soak-host-NN``, GPUs only) is where standalone
binds go. Nova is the recording stand-in of tests/fake_nova.py.
"""

import contextlib
import dataclasses
import os
from collections.abc import Iterator

import requests

from tests import fake_nova, placement_service
from tests.functional import services

ADMIN = {"X-User-Id": "soak-admin", "X-Project-Id": "admin", "X-Roles": "admin,member,reader"}
NOVA_HOSTS = ("soak-nova-1", "soak-nova-2")


@dataclasses.dataclass
class Cloud:
    deployment: services.Deployment
    placement: placement_service.PlacementService
    nova: fake_nova.FakeNova
    swarm_hosts: list[str]
    boards: dict[str, str]  # Nova-style hosts -> their FPGA board's provider

    def pids(self) -> dict[str, int]:
        """The top process of each service (gunicorn masters included), by name."""
        named = {name: p.pid for name, p in self.deployment.processes.items()}
        if self.placement.pid is not None:
            named["placement"] = self.placement.pid
        return named


def services_conf(placement: str, nova: str, api_workers: int) -> str:
    """What every service's configuration adds: Placement, Nova and the API's workers."""
    return (
        f"[api]\napi_workers = {api_workers}\n"
        "[placement]\nauth_type = admin_token\n"
        f"token = {placement_service.ADMIN_TOKEN}\nendpoint_override = {placement}\n"
        "create_compute_node_provider = true\n"
        f"[nova]\nauth_type = none\nendpoint_override = {nova}\n"
    )


def _published(deployment: services.Deployment, hosts: list[str], devices: int) -> bool:
    """Every deployable of ``hosts`` has its provider in Placement (rp_uuid set)."""
    rows = deployment.query(
        "SELECT d.hostname, COUNT(dp.id) FROM deployables dp JOIN devices d "
        "ON d.id = dp.device_id WHERE dp.rp_uuid IS NOT NULL GROUP BY d.hostname"
    )
    published = dict(rows)
    return all(published.get(host, 0) >= devices for host in hosts)


def _boards(deployment: services.Deployment) -> dict[str, str]:
    response = requests.get(
        f"{deployment.endpoint}/deployables", headers=ADMIN, params={"limit": 1000}, timeout=60
    )
    response.raise_for_status()
    return {
        d["name"].removesuffix("_FakeDevice"): d["rp_uuid"]
        for d in response.json()["deployables"]
        if d["name"].endswith("_FakeDevice")
    }


@contextlib.contextmanager
def running(
    directory: str, swarm_hosts: int = 12, swarm_devices: int = 4, report_interval: int = 3
) -> Iterator[Cloud]:
    """The deployment, once every host's devices are in Placement."""
    placement = placement_service.PlacementService(os.path.join(directory, "placement"))
    placement.start()
    try:
        with fake_nova.running() as nova:
            conf = services_conf(placement.endpoint, nova.endpoint, api_workers=2)
            with services.deployment("mysql", seeded=False, extra_conf=conf) as deployment:
                deployment.start_conductor("conductor-2")
                for host in NOVA_HOSTS:
                    deployment.start_agent(host, report_interval=report_interval)
                hosts = [f"soak-host-{n:02d}" for n in range(swarm_hosts)]
                deployment.start_swarm(
                    "swarm", hosts, swarm_devices, report_interval=report_interval
                )
                deployment.wait_for(
                    lambda: (
                        _published(deployment, list(NOVA_HOSTS), 3)
                        and _published(deployment, hosts, swarm_devices)
                    ),
                    180,
                    "every host's devices in Placement",
                )
                yield Cloud(deployment, placement, nova, hosts, _boards(deployment))
    finally:
        placement.stop()
