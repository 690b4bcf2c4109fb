"""Which kubelet devices an inventory holds (cyborg.kubernetes.devices)."""

import json

from cyborg.common import inventory
from cyborg.drivers import fake, fake_inventory
from cyborg.kubernetes import devices


def test_the_default_fake_host_gives_two_gpus_and_sixteen_fpga_functions() -> None:
    reports = fake.default_inventory("node")
    found = devices.by_resource(reports, "cyborg.openstack.org", ["GPU", "FPGA", "SSD"])
    assert sorted(found) == ["cyborg.openstack.org/fpga", "cyborg.openstack.org/gpu"]
    gpus = found["cyborg.openstack.org/gpu"]
    assert [(d.id, d.numa_node, d.healthy) for d in gpus] == [
        ("0000:0d:00.0", 0, True),
        ("0000:0e:00.0", 1, True),
    ]
    assert len(found["cyborg.openstack.org/fpga"]) == 16


def test_types_not_served_mdev_handles_and_health_attribute() -> None:
    sick = {
        "health": "UNHEALTHY",
        "numa_node": "-1",
        "peer_links": json.dumps([{"peer": "0000:5E:00.0"}]),
    }
    reports = fake_inventory.parse(
        [
            {"type": "GPU", "address": "0000:3b:00.0", "deployables": [{"attributes": sick}]},
            {"type": "GPU", "address": "0000:5e:00.0",
             "deployables": [{"attach_handles": [{"type": "MDEV", "address": "0000:5e:00.0"}]}]},
            {"type": "SSD", "address": "0000:d8:00.0"},
            {"type": "QAT", "address": "0000:d9:00.0"},
        ],
        "node",
    )  # fmt: skip
    found = devices.by_resource(reports, "example.com", ["gpu", "SSD"])
    assert sorted(found) == ["example.com/gpu", "example.com/nvme"]
    (gpu,) = found["example.com/gpu"]  # the MDEV-only GPU is for VMs
    assert (gpu.healthy, gpu.numa_node, gpu.nvlink_peers) == (False, None, {"0000:5e:00.0"})
    assert found["example.com/nvme"][0].device_type == "SSD"


def test_resource_names_and_addresses() -> None:
    assert devices.resource_name("d.io", "GPU") == "d.io/gpu"
    assert devices.resource_name("d.io", "SSD") == "d.io/nvme"
    handle = inventory.canonical_json(inventory.pci_address_info("0000:AF:01.3"))
    assert devices.pci_address(handle) == "0000:af:01.3"
