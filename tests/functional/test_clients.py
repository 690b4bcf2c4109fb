"""The real clients against real cyborg-api and cyborg-conductor processes.

``openstack accelerator ...`` (python-cyborgclient 3.0.0 on OSC 10.2.1) and
openstacksdk's accelerator proxy, without Keystone: auth type ``none`` with the
API's endpoint, exactly as the README shows.
"""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.functional import services

INSTANCE = "5d4c2c6e-7f0a-4c1e-9a55-0f2d9d3c8b01"


@pytest.fixture(scope="module")
def api() -> Iterator[services.Deployment]:
    with services.deployment() as deployment:
        yield deployment


def osc(api: services.Deployment, *args: str, parse: bool = True) -> Any:
    command = [
        os.path.join(os.path.dirname(sys.executable), "openstack"),
        "--os-auth-type",
        "none",
        "--os-endpoint",
        api.endpoint,
        "accelerator",
        *args,
    ]
    if parse:
        command += ["-f", "json"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stderr[-2000:]}"
    return json.loads(result.stdout) if parse and result.stdout.strip() else result.stdout


def test_device_commands(api: services.Deployment) -> None:
    devices = osc(api, "device", "list")
    assert len(devices) == 4
    assert {d["type"] for d in devices} == {"GPU"}
    long_list = osc(api, "device", "list", "--long")
    assert long_list[0]["status"] == "enabled"  # cyborgclient asks for 2.3
    uuid = devices[0]["uuid"]
    assert osc(api, "device", "show", uuid)["uuid"] == uuid
    osc(api, "device", "disable", uuid, parse=False)
    assert osc(api, "device", "show", uuid)["status"] == "maintaining"
    osc(api, "device", "enable", uuid, parse=False)
    assert osc(api, "device", "show", uuid)["status"] == "enabled"


def test_deployable_and_attribute_commands(api: services.Deployment) -> None:
    deployables = osc(api, "deployable", "list")
    assert len(deployables) == 4
    shown = osc(api, "deployable", "show", deployables[0]["uuid"])
    assert shown["uuid"] == deployables[0]["uuid"]
    assert shown["name"].startswith("host")
    attributes = osc(api, "device", "attribute", "list")
    assert len(attributes) == 12
    created = osc(api, "device", "attribute", "create", "1", "numa_node", "0")
    assert created["key"] == "numa_node"
    assert osc(api, "device", "attribute", "show", created["uuid"])["value"] == "0"
    osc(api, "device", "attribute", "delete", created["uuid"], parse=False)
    assert len(osc(api, "device", "attribute", "list")) == 12


def test_profile_and_arq_lifecycle(api: services.Deployment) -> None:
    groups = json.dumps([{"resources:PGPU": "1"}])
    profile = osc(
        api, "device", "profile", "create", "cli-gpu", groups, "--description", "made by the CLI"
    )
    assert profile["name"] == "cli-gpu"
    assert [p["name"] for p in osc(api, "device", "profile", "list")] == ["cli-gpu"]
    assert osc(api, "device", "profile", "show", "cli-gpu")["uuid"] == profile["uuid"]
    assert osc(api, "device", "profile", "show", profile["uuid"])["name"] == "cli-gpu"

    arq = osc(api, "arq", "create", "cli-gpu")
    assert arq["state"] == "Initial"
    assert [a["uuid"] for a in osc(api, "arq", "list")] == [arq["uuid"]]
    osc(
        api,
        "arq",
        "bind",
        arq["uuid"],
        "host0",
        INSTANCE,
        services.DEVICE_RP,
        "admin",
        parse=False,
    )
    bound = osc(api, "arq", "show", arq["uuid"])
    assert bound["state"] == "Bound"
    assert bound["instance_uuid"] == INSTANCE
    osc(api, "arq", "unbind", arq["uuid"], parse=False)
    assert osc(api, "arq", "show", arq["uuid"])["state"] == "Unbound"
    osc(api, "arq", "delete", arq["uuid"], parse=False)
    assert osc(api, "arq", "list") == []
    osc(api, "device", "profile", "delete", profile["uuid"], parse=False)
    assert osc(api, "device", "profile", "list") == []


def test_openstacksdk_accelerator_proxy(api: services.Deployment) -> None:
    import openstack
    from openstack import exceptions

    conn = openstack.connection.Connection(auth_type="none", auth={"endpoint": api.endpoint})
    accel = conn.accelerator
    devices = list(accel.devices())
    assert len(devices) == 4
    assert accel.get_device(devices[0].id).model == "A100"
    accel.disable_device(devices[1].id)
    accel.enable_device(devices[1].id)
    deployables = list(accel.deployables())
    assert accel.get_deployable(deployables[0].id).name == deployables[0].name
    with pytest.raises(exceptions.ConflictException):
        accel.patch_deployable(
            deployables[0].id,
            [
                {
                    "op": "replace",
                    "path": "/program",
                    "value": [{"image_uuid": "c4f3c2a4-5b7e-4a43-9d6c-5b7c6b0e3f11"}],
                }
            ],
        )

    profile = accel.create_device_profile(name="sdk-gpu", groups=[{"resources:PGPU": "1"}])
    assert accel.get_device_profile(profile.id).name == "sdk-gpu"
    assert [p.name for p in accel.device_profiles()] == ["sdk-gpu"]
    arq = accel.create_accelerator_request(device_profile_name="sdk-gpu")
    assert accel.get_accelerator_request(arq.id).state == "Initial"
    accel.patch_accelerator_request(
        arq.id,
        [
            {"op": "add", "path": "/hostname", "value": "host0"},
            {"op": "add", "path": "/device_rp_uuid", "value": services.DEVICE_RP},
            {"op": "add", "path": "/instance_uuid", "value": INSTANCE},
        ],
    )
    assert accel.get_accelerator_request(arq.id).state == "Bound"
    assert [a.id for a in accel.accelerator_requests()] == [arq.id]
    accel.delete_accelerator_request(arq.id)
    with pytest.raises(exceptions.NotFoundException):
        accel.get_accelerator_request(arq.id)

    attribute = accel.create_attribute(deployable_id=1, key="sdk_key", value="v")
    assert accel.get_attribute(attribute.id).key == "sdk_key"
    assert len(list(accel.attributes())) == 13
    accel.delete_attribute(attribute.id)
    accel.delete_device_profile(profile.id)
