"""An SPDK export bound without Nova through every real piece: cyborg-api, conductor
and agent processes over RabbitMQ, the real Placement service, and the agent talking
JSON-RPC to a stand-in SPDK on a real unix socket (tests/spdk_rpc.py: recorded
answers, subsystems and controllers that change with the calls).

The agent runs the nvmf_spdk_driver with bdev Malloc0 offered for export: the bind
has it create the subsystem over Malloc0 (agent RPC 1.3), the unbind delete it. Nova
(the recording stand-in of tests/fake_nova.py) cannot attach it: its bind fails, and
Nova hears so.
"""

import pathlib
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests import fake_nova, placement_service
from tests.functional import services
from tests.functional.test_agents_and_conductors import FAST
from tests.spdk_rpc import TargetState, serving_targets

HOST = "spdk-host.example.com"
NQN = "nqn.2016-06.io.spdk:cyborg-Malloc0"
HEADERS = {
    "X-User-Id": "the-user",
    "X-Project-Id": "the-project",
    "X-Roles": "admin,member,reader",
    "X-Service-Roles": "service",
    "OpenStack-API-Version": "accelerator 2.4",
}


@pytest.fixture
def nova() -> Iterator[fake_nova.FakeNova]:
    with fake_nova.running() as stand_in:
        yield stand_in


@pytest.fixture
def cloud(tmp_path: pathlib.Path, nova: fake_nova.FakeNova) -> Iterator[services.Deployment]:
    placement = placement_service.PlacementService(str(tmp_path / "placement"))
    try:
        placement.start()
    except placement_service.PlacementUnavailable as err:
        pytest.fail(str(err), pytrace=False)
    conf = FAST + (
        "[placement]\nauth_type = admin_token\n"
        f"token = {placement_service.ADMIN_TOKEN}\n"
        f"endpoint_override = {placement.endpoint}\n"
        "create_compute_node_provider = true\n"
        f"[nova]\nauth_type = none\nendpoint_override = {nova.endpoint}\n"
    )
    try:
        with services.deployment(seeded=False, extra_conf=conf) as deployment:
            yield deployment
    finally:
        placement.stop()


@pytest.fixture
def spdk_root() -> Iterator[pathlib.Path]:
    # Short, so that <root>/var/tmp/spdk.sock fits in a unix socket address.
    path = pathlib.Path(tempfile.mkdtemp(prefix="cy-spdk-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _agent_conf(root: pathlib.Path) -> str:
    return (
        f"[agent]\nresource_provider_name = {HOST}\nenabled_drivers = nvmf_spdk_driver\n"
        f"sysfs_root = {root}\nreport_interval = 2\nspdk_nvmf_export_bdevs = Malloc0\n"
        "spdk_nvmf_listen_address = trtype:TCP,adrfam:IPv4,traddr:192.0.2.7,trsvcid:4420\n"
    )


def _api(deployment: services.Deployment, method: str, path: str, body: Any = None) -> Any:
    response = requests.request(
        method, f"{deployment.endpoint}{path}", json=body, headers=HEADERS, timeout=60
    )
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


def _start_agent(cloud: services.Deployment, root: pathlib.Path) -> str:
    """The SPDK host's agent, once its export is stored: the export's provider."""
    cloud.start("agent-spdk", "agent", _agent_conf(root))
    ((rp_uuid,),) = cloud.wait_for(
        lambda: cloud.query(
            "SELECT rp_uuid FROM deployables WHERE name = :n", n=f"{HOST}_nvmf_Malloc0"
        ),
        60,
        "the agent's report of the SPDK export",
    )
    return str(rp_uuid)


def test_binding_an_exported_bdev_makes_its_subsystem_and_unbinding_deletes_it(
    cloud: services.Deployment, spdk_root: pathlib.Path
) -> None:
    state = TargetState()
    # The operator's subsystems are not offered here: only the export is free.
    state.subsystems = [s for s in state.subsystems if s["subtype"] == "Discovery"]
    with serving_targets(spdk_root, state):
        _start_agent(cloud, spdk_root)
        _api(cloud, "POST", "/device_profiles", [
            {"name": "nvmf", "groups": [{"resources:CUSTOM_NVME_OF": "1"}]}
        ])  # fmt: skip
        (arq,) = _api(cloud, "POST", "/accelerator_requests", {"device_profile_name": "nvmf"})[
            "arqs"
        ]
        consumer = str(uuid.uuid4())
        _api(cloud, "PATCH", "/accelerator_requests", {
            arq["uuid"]: [
                {"path": "/hostname", "op": "add", "value": HOST},
                {"path": "/instance_uuid", "op": "add", "value": consumer},
            ]
        })  # fmt: skip

        bound = cloud.wait_for(
            lambda: (
                (a := _api(cloud, "GET", f"/accelerator_requests/{arq['uuid']}"))["state"]
                in ("Bound", "BindFailed")
                and a
            ),
            60,
            "the bind",
        )
        assert bound["state"] == "Bound", cloud.log("conductor")[-3000:]
        assert bound["attach_handle_type"] == "NVMF"
        assert bound["attach_handle_info"] == {
            "bdev": "Malloc0",
            "subnqn": NQN,
            "trtype": "TCP",
            "adrfam": "IPv4",
            "traddr": "192.0.2.7",
            "trsvcid": "4420",
        }
        (made,) = [s for s in state.subsystems if s["nqn"] == NQN]
        assert [ns["bdev_name"] for ns in made["namespaces"]] == ["Malloc0"]
        assert "Created NVMe-oF subsystem" in cloud.log("agent-spdk")

        _api(cloud, "PATCH", "/accelerator_requests", {
            arq["uuid"]: [{"path": "/hostname", "op": "remove"}]
        })  # fmt: skip
        # Removed before the unbind answered; the handle is free again.
        assert NQN not in {s["nqn"] for s in state.subsystems}
        assert cloud.query("SELECT in_use FROM attach_handles") in ([(False,)], [(0,)])


def test_novas_bind_of_the_export_fails_and_nova_is_told(
    cloud: services.Deployment, spdk_root: pathlib.Path, nova: fake_nova.FakeNova
) -> None:
    """Nova's libvirt driver would boot the instance without the subsystem: the bind
    fails instead, before any subsystem is made, and Nova gets the failed event."""
    state = TargetState()
    with serving_targets(spdk_root, state):
        export = _start_agent(cloud, spdk_root)
        _api(cloud, "POST", "/device_profiles", [
            {"name": "nova-nvmf", "groups": [{"resources:CUSTOM_NVME_OF": "1"}]}
        ])  # fmt: skip
        instance = str(uuid.uuid4())
        nova.instances.add(instance)
        # What nova-conductor sends (nova/accelerator/cyborg.py): no microversion.
        nova_headers = {k: v for k, v in HEADERS.items() if k != "OpenStack-API-Version"}
        response = requests.post(
            f"{cloud.endpoint}/accelerator_requests",
            json={"device_profile_name": "nova-nvmf"},
            headers=nova_headers,
            timeout=60,
        )
        assert response.status_code == 201, response.text
        (arq,) = response.json()["arqs"]
        response = requests.patch(
            f"{cloud.endpoint}/accelerator_requests",
            json={
                arq["uuid"]: [
                    {"path": "/hostname", "op": "add", "value": HOST},
                    {"path": "/device_rp_uuid", "op": "add", "value": export},
                    {"path": "/instance_uuid", "op": "add", "value": instance},
                ]
            },
            headers=nova_headers,
            timeout=60,
        )
        assert response.status_code == 400, response.text
        assert "Nova cannot attach the NVMF handles" in response.text

        (event,) = nova.wait_for_events(1, seconds=60)
        assert (event["server_uuid"], event["tag"], event["status"]) == (
            instance,
            arq["uuid"],
            "failed",
        )
        failed = _api(cloud, "GET", f"/accelerator_requests/{arq['uuid']}")
        assert failed["state"] == "BindFailed"
        ((reason,),) = cloud.query(
            "SELECT bind_failure_reason FROM extended_accelerator_requests WHERE uuid = :u",
            u=arq["uuid"],
        )
        assert "Nova cannot attach" in reason and "standalone bind" in reason
        assert NQN not in {s["nqn"] for s in state.subsystems}
        assert "Created NVMe-oF subsystem" not in cloud.log("agent-spdk")
        in_use = cloud.query("SELECT in_use FROM attach_handles")
        assert len(in_use) == 3 and not any(row[0] for row in in_use)  # none claimed
