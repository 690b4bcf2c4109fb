"""Allocate's answer for one container (cyborg.kubernetes.allocation) and CDI specs."""

import json
import os

import pytest

from cyborg.kubernetes import allocation, cdi
from cyborg.kubernetes.devices import PluginDevice

R = "cyborg.openstack.org/nvme"
DEVICES = {
    "0000:3b:00.0": PluginDevice("0000:3b:00.0", R, "SSD", "x", numa_node=1),
    "0000:d8:00.0": PluginDevice("0000:d8:00.0", R, "SSD", "y", numa_node=0),
    "0000:5e:00.0": PluginDevice("0000:5e:00.0", R, "SSD", "z", healthy=False),
}
NODES = {"0000:3b:00.0": ("/dev/nvme0", "/dev/nvme0n1"), "0000:d8:00.0": ("/dev/nvme1",)}


def test_environment_nodes_and_cdi_names() -> None:
    ids = ["0000:d8:00.0", "0000:3b:00.0"]
    got = allocation.container_allocation(ids, DEVICES, NODES, R, True)
    assert got.envs == {
        "PCIDEVICE_CYBORG_OPENSTACK_ORG_NVME": "0000:d8:00.0,0000:3b:00.0",
        "CYBORG_NUMA_NODES": "0,1",
    }
    assert got.device_nodes == ("/dev/nvme1", "/dev/nvme0", "/dev/nvme0n1")
    assert got.cdi_devices == (f"{R}=0000:d8:00.0", f"{R}=0000:3b:00.0")


def test_unknown_and_unhealthy_devices_are_refused() -> None:
    with pytest.raises(allocation.UnknownDevice, match=r"0000:00:00\.0"):
        allocation.container_allocation(["0000:00:00.0"], DEVICES, NODES, R, False)
    with pytest.raises(allocation.UnhealthyDevice, match="unhealthy"):
        allocation.container_allocation(["0000:5e:00.0"], DEVICES, NODES, R, False)


def test_cdi_spec_is_written_atomically(tmp_path: object) -> None:
    directory = str(tmp_path)
    document = cdi.spec(R, list(DEVICES.values()), NODES)
    path = cdi.write(directory, document)
    assert os.path.basename(path) == "cyborg-nvme.json"
    assert os.listdir(directory) == ["cyborg-nvme.json"]  # no temporary file left
    with open(path) as handle:
        written = json.load(handle)
    assert written["cdiVersion"] == cdi.CDI_VERSION and written["kind"] == R
    assert written["devices"][0] == {
        "name": "0000:3b:00.0",
        "containerEdits": {
            "env": ["CYBORG_PCI_0000_3B_00_0=0000:3b:00.0"],
            "deviceNodes": [{"path": "/dev/nvme0"}, {"path": "/dev/nvme0n1"}],
        },
    }
