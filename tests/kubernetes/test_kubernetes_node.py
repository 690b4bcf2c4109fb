"""The agent's Kubernetes parts wired together (cyborg.cmd.kubernetes_node).

One node with the DRA plugins and the ResourceSlices publisher on (and one with the
device plugins), as the agent starts them: the kubelet DRA stand-in prepares a claim
the API-server stand-in holds, and the device is claimed through the conductor (a
recording stand-in of its RPC API, whose real counterpart
tests/functional/test_pod_ownership.py drives); the conductor's answer on who holds
what reaches the slices as a taint.
"""

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
from oslo_config import cfg

from cyborg import conf as cyborg_conf
from cyborg.agent import programming
from cyborg.agent.resource_tracker import ResourceTracker
from cyborg.cmd import kubernetes_node
from cyborg.common import exception
from cyborg.drivers.fake import FakeDriver
from cyborg.kubernetes import device_plugin_claims, dra_names
from tests.kubernetes.apiserver_standin import ApiServerStandIn
from tests.kubernetes.claims import allocated_claim
from tests.kubernetes.kubelet_dra_standin import KubeletDRAStandIn
from tests.kubernetes.kubelet_standin import KubeletStandIn
from tests.kubernetes.test_resource_slices import TOKEN, write_kubeconfig

GPU = "gpu.cyborg.openstack.org"
NODE = "node-1"
A, B = "0000:3b:00.0", "0000:5e:00.0"
INVENTORY = [
    {"type": "GPU", "address": a, "deployables": [{"name": f"gpu-{n}"}]}
    for n, a in enumerate((A, B))
]


class RecordingConductor:
    """The conductor's pod-claim RPC calls, recorded; ``held_by_vm`` is refused."""

    def __init__(self) -> None:
        self.claims: dict[str, list[str]] = {}
        self.held_by_vm: set[str] = set()  # PCI addresses
        self.holders: dict[str, str] = {}

    def claim_devices_for_pod(
        self, context: Any, *, hostname: str, claim_uid: str, namespace: str, name: str,
        pci_addresses: list[str],
    ) -> None:  # fmt: skip
        assert hostname == NODE
        for address in pci_addresses:
            if address in self.held_by_vm:
                raise exception.DeviceHeldByInstance(address=address, instance="vm-1")
        self.claims[claim_uid] = list(pci_addresses)

    def release_pod_claim(self, context: Any, *, hostname: str, claim_uid: str) -> None:
        self.claims.pop(claim_uid, None)

    def device_holders(self, context: Any, *, hostname: str) -> dict[str, str]:
        return dict(self.holders)


class Node:
    def __init__(self, directory: str) -> None:
        self.api = ApiServerStandIn(token=TOKEN)
        self.api.start()
        kubeconfig = os.path.join(directory, "kubeconfig")
        write_kubeconfig(kubeconfig, self.api.url, TOKEN)
        inventory = os.path.join(directory, "inventory.json")
        with open(inventory, "w") as handle:
            json.dump(INVENTORY, handle)
        registry = os.path.join(directory, "registry")
        self.conf = cfg.ConfigOpts()
        cyborg_conf.register_opts(self.conf)
        for name, value, group in (
            ("inventory_file", inventory, "fake_driver"),
            ("resource_provider_name", NODE, "agent"),
            ("sysfs_root", os.path.join(directory, "root"), "agent"),
            ("dra_enabled", True, "kubernetes"),
            ("resource_slices_enabled", True, "kubernetes"),
            ("kubeconfig", kubeconfig, "kubernetes"),
            ("dra_plugin_dir", os.path.join(directory, "plugins"), "kubernetes"),
            ("plugins_registry_dir", registry, "kubernetes"),
            ("cdi_spec_dir", os.path.join(directory, "cdi"), "kubernetes"),
            ("node_name", NODE, "kubernetes"),
        ):
            self.conf.set_override(name, value, group=group)
        self.conf([])
        self.conductor = RecordingConductor()
        drivers = [FakeDriver(self.conf, hostname=NODE)]
        self.tracker = ResourceTracker(NODE, drivers, None)
        programmer = programming.Programmer(self.conf, drivers, NODE)
        self.kubelet = KubeletDRAStandIn(registry)
        self.kubelet.start()
        self.node = kubernetes_node.start(
            self.conf,
            self.tracker,
            drivers,
            programmer,
            self.conductor,  # type: ignore[arg-type]
        )

    def close(self) -> None:
        self.node.stop(5)
        self.kubelet.stop()
        self.api.stop()


@pytest.fixture
def node() -> Iterator[Node]:
    directory = tempfile.mkdtemp(prefix="k8s-", dir="/tmp")  # short unix socket paths
    node = Node(directory)
    try:
        yield node
    finally:
        node.close()
        shutil.rmtree(directory)


def _taints(node: Node) -> dict[str, list[str]]:
    (pool,) = node.api.pool(NODE, GPU)
    return {d["name"]: [t["key"] for t in d.get("taints", [])] for d in pool["spec"]["devices"]}


def test_a_claim_read_from_the_api_server_is_claimed_through_the_conductor(node: Node) -> None:
    assert node.tracker.discover() is not None
    node.api.wait_for("the GPU slice", lambda: node.api.pool(NODE, GPU))
    devices = [dra_names.device_name(A)]
    node.api.add_claim(allocated_claim("team-a", "train", "uid-1", GPU, NODE, devices))
    answer = node.kubelet.prepare(GPU, ("team-a", "train", "uid-1"))["uid-1"]
    assert answer.error == ""
    assert node.conductor.claims == {"uid-1": [A]}
    node.kubelet.unprepare(GPU, ("team-a", "train", "uid-1"))
    assert node.conductor.claims == {}


def test_a_device_a_vm_holds_is_refused_and_tainted(node: Node) -> None:
    node.conductor.held_by_vm.add(B)
    node.conductor.holders = {"gpu-1": "instance"}
    assert node.tracker.discover() is not None
    # The holders are asked for after the discovery, in the background.
    node.api.wait_for(
        "the VM-held GPU tainted",
        lambda: node.api.pool(NODE, GPU) and _taints(node)[dra_names.device_name(B)],
    )
    assert _taints(node) == {
        dra_names.device_name(A): [],
        dra_names.device_name(B): [dra_names.TAINT_VM_BOUND],
    }
    devices = [dra_names.device_name(B)]
    node.api.add_claim(allocated_claim("team-a", "late", "uid-2", GPU, NODE, devices))
    answer = node.kubelet.prepare(GPU, ("team-a", "late", "uid-2"))["uid-2"]
    assert "held by a VM" in answer.error
    assert node.conductor.claims == {}


def test_nothing_starts_without_options() -> None:
    conf = cfg.ConfigOpts()
    cyborg_conf.register_opts(conf)
    conf([])
    tracker = ResourceTracker(NODE, [], None)
    programmer = programming.Programmer(conf, [], NODE)
    node = kubernetes_node.start(conf, tracker, [], programmer, RecordingConductor())  # type: ignore[arg-type]
    assert node == kubernetes_node.KubernetesNode()
    assert tracker.listeners == []


def test_the_device_plugin_claims_through_the_conductor_and_lists_vm_held_unhealthy() -> None:
    directory = tempfile.mkdtemp(prefix="k8s-", dir="/tmp")
    inventory = os.path.join(directory, "inventory.json")
    with open(inventory, "w") as handle:
        json.dump(INVENTORY, handle)
    conf = cfg.ConfigOpts()
    cyborg_conf.register_opts(conf)
    plugin_dir = os.path.join(directory, "dp")
    for name, value, group in (
        ("inventory_file", inventory, "fake_driver"),
        ("resource_provider_name", NODE, "agent"),
        ("device_plugin_enabled", True, "kubernetes"),
        ("device_plugin_dir", plugin_dir, "kubernetes"),
        ("kubelet_watch_interval", 0.1, "kubernetes"),
        ("pod_resources_socket", os.path.join(directory, "pr.sock"), "kubernetes"),
    ):
        conf.set_override(name, value, group=group)
    conf([])
    conductor = RecordingConductor()
    conductor.held_by_vm.add(B)
    conductor.holders = {"gpu-1": "instance"}
    drivers = [FakeDriver(conf, hostname=NODE)]
    tracker = ResourceTracker(NODE, drivers, None)
    kubelet = KubeletStandIn(plugin_dir)
    kubelet.start()
    started = kubernetes_node.start(
        conf,
        tracker,
        drivers,
        programming.Programmer(conf, drivers, NODE),
        conductor,  # type: ignore[arg-type]
    )
    try:
        assert tracker.discover() is not None
        resource = "cyborg.openstack.org/gpu"
        kubelet.wait_for_list(
            resource, lambda d: d == {A: "Healthy", B: "Unhealthy"}, "the VM's GPU Unhealthy"
        )
        kubelet.allocate(resource, [A])
        uid = device_plugin_claims.consumer_uid(NODE, resource, A)
        assert conductor.claims == {uid: [A]}
    finally:
        started.stop(5)
        kubelet.stop()
        shutil.rmtree(directory)
