"""The agent's kubelet device plugins against the kubelet stand-in, over real sockets.

The inventory is the fake driver's inventory file, run through the agent's real
resource tracker: editing the file and discovering again is a hot add or removal, or a
health change, as a driver would report it.
"""

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from oslo_config import cfg

from cyborg import conf as cyborg_conf
from cyborg.agent.resource_tracker import ResourceTracker
from cyborg.cmd import kubernetes_node
from cyborg.drivers.fake import FakeDriver
from cyborg.kubernetes import device_plugins
from cyborg.kubernetes.device_plugin import PluginOptions
from tests.kubernetes.kubelet_standin import DEADLINE, KubeletStandIn

GPU = "cyborg.openstack.org/gpu"
FPGA = "cyborg.openstack.org/fpga"
A, B, C, D = "0000:3b:00.0", "0000:5e:00.0", "0000:86:00.0", "0000:af:00.0"


def _gpu(address: str, numa: int, peers: tuple[str, ...] = (), health: str = "") -> dict[str, Any]:
    attributes = {"numa_node": str(numa)}
    if peers:
        attributes["peer_links"] = json.dumps([{"peer": p, "type": "nvlink"} for p in peers])
    if health:
        attributes["health"] = health
    return {"type": "GPU", "address": address, "deployables": [{"attributes": attributes}]}


def _host(*gpus: dict[str, Any]) -> list[dict[str, Any]]:
    fpga = {"type": "FPGA", "address": "0000:d8:00.0", "deployables": [{"num_accelerators": 2}]}
    return [*gpus, fpga]


FOUR_GPUS = _host(_gpu(A, 0, (B,)), _gpu(B, 0, (A,)), _gpu(C, 1), _gpu(D, 1))


class Node:
    """A host's inventory file, the agent's tracker and device plugins, and a kubelet."""

    def __init__(self, directory: str, cdi: bool = False) -> None:
        self.directory = directory
        self.inventory_file = os.path.join(directory, "inventory.json")
        self.plugin_dir = os.path.join(directory, "dp")  # short: unix socket paths are
        self.sysfs_root = os.path.join(directory, "root")  # limited to 107 bytes
        self.cdi_dir = os.path.join(directory, "cdi")
        self.conf = cfg.ConfigOpts()
        cyborg_conf.register_opts(self.conf)
        self.conf.set_override("inventory_file", self.inventory_file, group="fake_driver")
        self.conf.set_override("sysfs_root", self.sysfs_root, group="agent")
        self.conf.set_override("device_plugin_enabled", True, group="kubernetes")
        self.conf.set_override("device_plugin_dir", self.plugin_dir, group="kubernetes")
        self.conf.set_override("kubelet_watch_interval", 0.1, group="kubernetes")
        self.conf.set_override("device_plugin_cdi", cdi, group="kubernetes")
        self.conf.set_override("cdi_spec_dir", self.cdi_dir, group="kubernetes")
        self.conf([])
        self.tracker = ResourceTracker("node-1", [FakeDriver(self.conf, hostname="node-1")], None)
        self.kubelet = KubeletStandIn(self.plugin_dir)
        self.plugins: device_plugins.DevicePlugins | None = None

    def write(self, devices: list[dict[str, Any]]) -> None:
        with open(self.inventory_file, "w") as handle:
            json.dump(devices, handle)

    def discover(self, devices: list[dict[str, Any]]) -> None:
        self.write(devices)
        assert self.tracker.discover() is not None

    def start_plugins(self) -> device_plugins.DevicePlugins:
        self.tracker.listeners.clear()
        self.plugins = kubernetes_node._device_plugins(self.conf, self.tracker)
        assert self.plugins is not None
        return self.plugins

    def close(self) -> None:
        if self.plugins is not None:
            self.plugins.stop()
        self.kubelet.stop()


@pytest.fixture
def node() -> Iterator[Node]:
    directory = tempfile.mkdtemp(prefix="k8s-", dir="/tmp")
    node = Node(directory)
    node.write(FOUR_GPUS)
    node.kubelet.start()
    node.start_plugins()
    node.tracker.discover()
    try:
        yield node
    finally:
        node.close()
        shutil.rmtree(directory)


def test_plugins_register_and_list_devices_with_numa_topology(node: Node) -> None:
    gpus = node.kubelet.latest(GPU)
    assert [(d.ID, d.health, [n.ID for n in d.topology.nodes]) for d in gpus] == [
        (A, "Healthy", [0]),
        (B, "Healthy", [0]),
        (C, "Healthy", [1]),
        (D, "Healthy", [1]),
    ]
    fpgas = node.kubelet.latest(FPGA)
    assert [(d.ID, d.health, len(d.topology.nodes)) for d in fpgas] == [
        ("0000:d8:00.0", "Healthy", 0),
        ("0000:d8:00.1", "Healthy", 0),
    ]
    endpoint = node.kubelet.endpoint(GPU)
    node.kubelet.wait_for("the options", lambda: endpoint.options is not None)
    assert endpoint.options.get_preferred_allocation_available
    assert not endpoint.options.pre_start_required
    assert endpoint.registered_options.get_preferred_allocation_available
    assert os.path.basename(endpoint.socket) == "cyborg-gpu.sock"
    assert sorted(node.kubelet.registrations) == [FPGA, GPU]  # once each, no nvme: none here
    assert node.kubelet.refused == []


def test_hot_add_and_removal_reach_list_and_watch(node: Node) -> None:
    node.kubelet.latest(GPU)
    node.discover(_host(_gpu(A, 0), _gpu(B, 0), _gpu(C, 1), _gpu(D, 1), _gpu("0000:d9:00.0", 1)))
    node.kubelet.wait_for_list(GPU, lambda d: "0000:d9:00.0" in d, "the hot-added GPU")
    node.discover(_host(_gpu(A, 0), _gpu(B, 0)))
    listed = node.kubelet.wait_for_list(GPU, lambda d: len(d) == 2, "the removed GPUs to go")
    assert listed == {A: "Healthy", B: "Healthy"}
    # The FPGA board goes too: its plugin stays, with an empty list.
    node.discover([_gpu(A, 0)])
    node.kubelet.wait_for_list(FPGA, lambda d: d == {}, "an empty FPGA list")


def test_an_unchanged_inventory_sends_no_new_list(node: Node) -> None:
    endpoint = node.kubelet.endpoint(GPU)
    node.kubelet.latest(GPU)
    node.discover(FOUR_GPUS)
    node.discover(_host(_gpu(A, 0, (B,)), _gpu(B, 0, (A,)), _gpu(C, 1)))  # a marker change
    node.kubelet.wait_for_list(GPU, lambda d: D not in d, "the marker change")
    assert len(endpoint.lists) == 2  # the first list and the marker, nothing in between


def test_health_changes_reach_list_and_watch_and_allocate_refuses_unhealthy(node: Node) -> None:
    node.kubelet.latest(GPU)
    sick = _gpu(C, 1, health="unhealthy")
    node.discover(_host(_gpu(A, 0, (B,)), _gpu(B, 0, (A,)), sick, _gpu(D, 1)))
    node.kubelet.wait_for_list(GPU, lambda d: d.get(C) == "Unhealthy", "C to turn Unhealthy")
    with pytest.raises(grpc.RpcError) as caught:
        node.kubelet.allocate(GPU, [C])
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert C in caught.value.details()
    node.discover(FOUR_GPUS)
    node.kubelet.wait_for_list(GPU, lambda d: d.get(C) == "Healthy", "C to recover")
    assert node.kubelet.allocate(GPU, [C]).container_responses[0].envs


def test_preferred_allocation_keeps_numa_and_nvlink_peers_together(node: Node) -> None:
    node.kubelet.latest(GPU)
    assert node.kubelet.preferred(GPU, [D, C, B, A], [], 2) == [A, B]  # NVLink pair, node 0
    assert node.kubelet.preferred(GPU, [A, B, C, D], [C], 2) == [C, D]  # C's node
    assert node.kubelet.preferred(GPU, [A, C, D], [], 2) == [C, D]  # node 1 fits both
    assert sorted(node.kubelet.preferred(GPU, [A, B, C, D], [], 3)[:2]) == [A, B]


def test_allocate_returns_environment_and_refuses_unknown_devices(node: Node) -> None:
    node.kubelet.latest(GPU)
    answer = node.kubelet.allocate(GPU, [A, B], [C])
    first, second = answer.container_responses
    assert dict(first.envs) == {
        "PCIDEVICE_CYBORG_OPENSTACK_ORG_GPU": f"{A},{B}",
        "CYBORG_NUMA_NODES": "0",
    }
    assert dict(second.envs)["PCIDEVICE_CYBORG_OPENSTACK_ORG_GPU"] == C
    assert list(first.cdi_devices) == []  # CDI is off by default
    assert list(first.devices) == []  # the fake host has no /dev nodes
    with pytest.raises(grpc.RpcError) as caught:
        node.kubelet.allocate(GPU, ["0000:00:00.0"])
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def _vfio_bound(root: str, address: str, group: int) -> None:
    """A sysfs/dev tree where ``address`` is bound to vfio-pci in IOMMU group ``group``."""
    function = os.path.join(root, "sys/bus/pci/devices", address)
    os.makedirs(function)
    os.symlink("../../../../bus/pci/drivers/vfio-pci", os.path.join(function, "driver"))
    os.symlink(f"../../../../kernel/iommu_groups/{group}", os.path.join(function, "iommu_group"))
    os.makedirs(os.path.join(root, "dev/vfio"), exist_ok=True)
    for name in ("vfio", str(group)):
        open(os.path.join(root, "dev/vfio", name), "w").close()


def test_allocate_with_cdi_and_device_nodes() -> None:
    directory = tempfile.mkdtemp(prefix="k8s-", dir="/tmp")
    node = Node(directory, cdi=True)
    try:
        _vfio_bound(node.sysfs_root, A, 42)
        node.write(FOUR_GPUS)
        node.kubelet.start()
        node.start_plugins()
        node.tracker.discover()
        node.kubelet.latest(GPU)
        answer = node.kubelet.allocate(GPU, [A, C]).container_responses[0]
        assert [(d.host_path, d.container_path, d.permissions) for d in answer.devices] == [
            ("/dev/vfio/vfio", "/dev/vfio/vfio", "rw"),
            ("/dev/vfio/42", "/dev/vfio/42", "rw"),
        ]
        assert [d.name for d in answer.cdi_devices] == [f"{GPU}={A}", f"{GPU}={C}"]
        with open(os.path.join(node.cdi_dir, "cyborg-gpu.json")) as handle:
            spec = json.load(handle)
        assert spec["kind"] == GPU
        by_name = {d["name"]: d["containerEdits"] for d in spec["devices"]}
        assert sorted(by_name) == [A, B, C, D]
        assert by_name[A]["deviceNodes"] == [{"path": "/dev/vfio/vfio"}, {"path": "/dev/vfio/42"}]
        assert by_name[C] == {"env": ["CYBORG_PCI_0000_86_00_0=0000:86:00.0"]}
    finally:
        node.close()
        shutil.rmtree(directory)


def test_plugins_register_again_when_kubelet_sock_is_recreated(node: Node) -> None:
    node.kubelet.latest(GPU)
    first = node.kubelet.endpoint(GPU)
    node.kubelet.restart()  # removes the plugins' sockets too, as the kubelet does
    node.kubelet.wait_for(
        "both plugins to register again", lambda: len(node.kubelet.registrations) == 4
    )
    again = node.kubelet.endpoint(GPU)
    assert again is not first
    assert {d.ID for d in node.kubelet.latest(GPU)} == {A, B, C, D}
    assert os.path.exists(again.socket)
    # And the new stream still follows the inventory.
    node.discover(_host(_gpu(A, 0)))
    node.kubelet.wait_for_list(GPU, lambda d: d == {A: "Healthy"}, "the list after restart")


def test_plugins_wait_for_a_kubelet_that_starts_later(node: Node) -> None:
    node.kubelet.latest(GPU)
    node.kubelet.stop()
    node.kubelet = KubeletStandIn(node.plugin_dir)  # a fresh kubelet, nothing registered
    node.kubelet.start()
    assert {d.ID for d in node.kubelet.latest(GPU)} == {A, B, C, D}


def test_a_restarted_agent_registers_and_serves_again(node: Node) -> None:
    endpoint = node.kubelet.endpoint(GPU)
    node.kubelet.latest(GPU)
    assert node.plugins is not None
    node.plugins.stop()
    node.kubelet.wait_for("the stream to end", endpoint.stream_ended.is_set)
    assert not os.path.exists(endpoint.socket)
    node.tracker = ResourceTracker("node-1", [FakeDriver(node.conf, hostname="node-1")], None)
    node.start_plugins()
    node.discover(_host(_gpu(A, 0), _gpu(B, 0)))
    node.kubelet.wait_for_list(GPU, lambda d: set(d) == {A, B}, "the new agent's list")
    assert node.kubelet.endpoint(GPU) is not endpoint


def test_settings_come_from_the_kubernetes_group(node: Node) -> None:
    settings = device_plugins.Settings.from_conf(node.conf)
    assert settings == device_plugins.Settings(
        options=PluginOptions(
            plugin_dir=node.plugin_dir,
            sysfs_root=node.sysfs_root,
            cdi=False,
            cdi_spec_dir=node.cdi_dir,
        ),
        resource_domain="cyborg.openstack.org",
        device_types=("GPU", "FPGA", "SSD"),
        watch_interval=0.1,
    )
    assert DEADLINE >= 30
