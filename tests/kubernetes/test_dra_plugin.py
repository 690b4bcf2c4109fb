"""The agent's DRA kubelet plugins against the kubelet DRA stand-in, over real sockets.

The inventory is the fake driver's inventory file, run through the agent's real
resource tracker: editing the file and discovering again is a hot add or removal, or
a health change, as a driver would report it. Claims are real resource.k8s.io/v1
ResourceClaims (tests.kubernetes.claims validates them) read through a fake
ClaimSource.
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
from cyborg.agent.resource_tracker import ResourceTracker
from cyborg.cmd import kubernetes_node
from cyborg.drivers.fake import FakeDriver
from cyborg.kubernetes import dra_names
from cyborg.kubernetes.dra import plugins as dra_plugins
from cyborg.kubernetes.dra.plugin import DRAOptions
from tests.kubernetes.claims import Claims, allocated_claim
from tests.kubernetes.kubelet_dra_standin import KubeletDRAStandIn

GPU = "gpu.cyborg.openstack.org"
FPGA = "fpga.cyborg.openstack.org"
NODE = "node-1"
A, B, C = "0000:3b:00.0", "0000:5e:00.0", "0000:86:00.0"
DEV_A, DEV_B, DEV_C = "pci-0000-3b-00-0", "pci-0000-5e-00-0", "pci-0000-86-00-0"
NEW, DEV_NEW = "0000:d9:00.0", "pci-0000-d9-00-0"


def _gpu(address: str, health: str = "") -> dict[str, Any]:
    attributes = {"numa_node": "0"}
    if health:
        attributes["health"] = health
    return {"type": "GPU", "address": address, "deployables": [{"attributes": attributes}]}


def _host(*gpus: dict[str, Any]) -> list[dict[str, Any]]:
    fpga = {"type": "FPGA", "address": "0000:d8:00.0", "deployables": [{"num_accelerators": 1}]}
    return [*gpus, fpga]


THREE_GPUS = _host(_gpu(A), _gpu(B), _gpu(C))


def _claim(name: str, *addresses: str, uid: str = "", pool: str = NODE) -> dict[str, Any]:
    """A claim in namespace team-a allocated the GPUs at ``addresses``."""
    devices = [dra_names.device_name(a) for a in addresses]
    return allocated_claim("team-a", name, uid or f"uid-{name}", GPU, pool, devices)


def _ref(name: str, uid: str = "") -> tuple[str, str, str]:
    return ("team-a", name, uid or f"uid-{name}")


class Node:
    """A host's inventory file, the agent's tracker and DRA plugins, and a kubelet."""

    def __init__(self, directory: str, services: tuple[str, ...] | None = None) -> None:
        self.inventory_file = os.path.join(directory, "inventory.json")
        self.plugin_dir = os.path.join(directory, "plugins")  # unix socket paths are
        self.registry_dir = os.path.join(directory, "registry")  # limited to 107 bytes
        self.sysfs_root = os.path.join(directory, "root")
        self.cdi_dir = os.path.join(directory, "cdi")
        self.conf = cfg.ConfigOpts()
        cyborg_conf.register_opts(self.conf)
        for name, value, group in (
            ("inventory_file", self.inventory_file, "fake_driver"),
            ("sysfs_root", self.sysfs_root, "agent"),
            ("dra_enabled", True, "kubernetes"),
            ("dra_plugin_dir", self.plugin_dir, "kubernetes"),
            ("plugins_registry_dir", self.registry_dir, "kubernetes"),
            ("cdi_spec_dir", self.cdi_dir, "kubernetes"),
            ("node_name", NODE, "kubernetes"),
        ):
            self.conf.set_override(name, value, group=group)
        self.conf([])
        self.claims = Claims()
        self.tracker = self._tracker()
        self.kubelet = KubeletDRAStandIn(self.registry_dir, *([services] if services else []))
        self.plugins: dra_plugins.DRAPlugins | None = None

    def _tracker(self) -> ResourceTracker:
        return ResourceTracker(NODE, [FakeDriver(self.conf, hostname=NODE)], None)

    def discover(self, devices: list[dict[str, Any]]) -> None:
        with open(self.inventory_file, "w") as handle:
            json.dump(devices, handle)
        assert self.tracker.discover() is not None

    def start_plugins(self, devices: list[dict[str, Any]] = THREE_GPUS) -> None:
        """A fresh agent: a new tracker and plugins, then a first discovery."""
        self.tracker = self._tracker()
        self.plugins = kubernetes_node._dra_plugins(self.conf, self.tracker, self.claims)
        assert self.plugins is not None
        self.discover(devices)

    def stop_plugins(self) -> None:
        assert self.plugins is not None
        self.plugins.stop()
        self.plugins = None

    def cdi_spec(self, uid: str) -> dict[str, Any]:
        with open(os.path.join(self.cdi_dir, f"cyborg-dra-{GPU}-{uid}.json")) as handle:
            spec: dict[str, Any] = json.load(handle)
        return spec

    def close(self) -> None:
        if self.plugins is not None:
            self.plugins.stop()
        self.kubelet.stop()


@pytest.fixture
def node() -> Iterator[Node]:
    directory = tempfile.mkdtemp(prefix="dra-", dir="/tmp")
    node = Node(directory)
    node.kubelet.start()
    node.start_plugins()
    try:
        yield node
    finally:
        node.close()
        shutil.rmtree(directory)


def _devices(answer: Any) -> list[tuple[list[str], str, str, list[str]]]:
    assert answer.error == ""
    return [
        (list(d.request_names), d.pool_name, d.device_name, list(d.cdi_device_ids))
        for d in answer.devices
    ]


def test_plugins_register_with_the_v1_service_and_their_endpoint(node: Node) -> None:
    gpu = node.kubelet.endpoint(GPU)
    fpga = node.kubelet.endpoint(FPGA)
    assert gpu.service == "v1.DRAPlugin"
    assert gpu.endpoint == os.path.join(node.plugin_dir, GPU, "dra.sock")
    assert fpga.endpoint == os.path.join(node.plugin_dir, FPGA, "dra.sock")
    assert sorted(os.listdir(node.registry_dir)) == [f"{FPGA}-reg.sock", f"{GPU}-reg.sock"]
    assert node.kubelet.refused == []
    assert node.plugins is not None
    plugin = node.plugins.plugins[GPU]
    node.kubelet.wait_for("NotifyRegistrationStatus", plugin.registration.registered.is_set)


def test_prepare_returns_cdi_devices_and_retries_get_the_same_answer(node: Node) -> None:
    node.claims.put(_claim("train", A, B))
    first = node.kubelet.prepare(GPU, _ref("train"))
    assert _devices(first["uid-train"]) == [
        (["gpu-0"], NODE, DEV_A, [f"{GPU}/claim=uid-train-{DEV_A}"]),
        (["gpu-1"], NODE, DEV_B, [f"{GPU}/claim=uid-train-{DEV_B}"]),
    ]
    again = node.kubelet.prepare(GPU, _ref("train"))
    assert again == first
    assert node.claims.reads == 1  # the retry is answered from the checkpoint


def test_a_restarted_plugin_answers_the_retry_from_its_checkpoint(node: Node) -> None:
    node.claims.put(_claim("train", A))
    first = node.kubelet.prepare(GPU, _ref("train"))
    old = node.kubelet.endpoint(GPU)
    node.stop_plugins()
    node.kubelet.wait_for("the plugin to deregister", lambda: GPU not in node.kubelet.endpoints)
    assert not os.path.exists(old.endpoint)
    assert os.listdir(node.registry_dir) == []
    node.claims.delete("team-a", "train")  # the answer cannot come from the API any more
    node.start_plugins()
    assert node.kubelet.endpoint(GPU) is not old
    assert node.kubelet.prepare(GPU, _ref("train")) == first
    # What it prepared is still its own: another claim for the device is refused.
    node.claims.put(_claim("other", A))
    refused = node.kubelet.prepare(GPU, _ref("other"))["uid-other"]
    assert "already prepared for claim team-a/train (uid-train)" in refused.error


def test_a_restarted_kubelet_registers_the_running_plugins_again(node: Node) -> None:
    node.claims.put(_claim("train", A))
    first = node.kubelet.prepare(GPU, _ref("train"))
    node.kubelet.stop()
    # A kubelet that starts finds the sockets already in plugins_registry.
    node.kubelet = KubeletDRAStandIn(node.registry_dir)
    node.kubelet.start()
    assert node.kubelet.prepare(GPU, _ref("train")) == first
    node.kubelet.wait_for_health(GPU, lambda h: len(h) == 3, "a health stream again")
    assert sorted(node.kubelet.registrations) == [FPGA, GPU]


def test_unknown_devices_wrong_uid_and_wrong_pool_are_refused_per_claim(node: Node) -> None:
    node.claims.put(_claim("good", C))
    node.claims.put(_claim("ghost", "0000:00:00.0"))
    node.claims.put(_claim("elsewhere", A, pool="node-2"))
    node.claims.put(_claim("recreated", B, uid="uid-new"))
    answers = node.kubelet.prepare(GPU, _ref("good"), _ref("ghost"), _ref("elsewhere"),
                                   _ref("recreated", "uid-old"), _ref("missing"))  # fmt: skip
    assert _devices(answers["uid-good"])[0][2] == DEV_C
    assert "device pci-0000-00-00-0 of gpu.cyborg.openstack.org is not on this node" in (
        answers["uid-ghost"].error
    )
    assert "in pool node-2, not in this node's pool node-1" in answers["uid-elsewhere"].error
    assert "has uid uid-new, not uid-old" in answers["uid-old"].error
    assert "ResourceClaim team-a/missing not found" in answers["uid-missing"].error
    assert all(not answers[u].devices for u in ("uid-ghost", "uid-elsewhere", "uid-old"))


def test_an_api_outage_fails_the_claim_and_a_retry_succeeds(node: Node) -> None:
    node.claims.put(_claim("train", A))
    node.claims.failure = ConnectionError("connection refused")
    failed = node.kubelet.prepare(GPU, _ref("train"))["uid-train"]
    assert "reading ResourceClaim team-a/train failed: connection refused" in failed.error
    node.claims.failure = None
    assert _devices(node.kubelet.prepare(GPU, _ref("train"))["uid-train"])[0][2] == DEV_A


def test_local_owner_refuses_a_second_claim_until_the_first_is_unprepared(node: Node) -> None:
    node.claims.put(_claim("first", A))
    node.claims.put(_claim("second", B, A))
    assert node.kubelet.prepare(GPU, _ref("first"))["uid-first"].error == ""
    refused = node.kubelet.prepare(GPU, _ref("second"))["uid-second"]
    assert refused.error == (
        f"device {A} of {GPU} is already prepared for claim team-a/first (uid-first)"
    )
    assert not os.path.exists(os.path.join(node.cdi_dir, f"cyborg-dra-{GPU}-uid-second.json"))
    assert node.kubelet.unprepare(GPU, _ref("first"))["uid-first"].error == ""
    assert [d[2] for d in _devices(node.kubelet.prepare(GPU, _ref("second"))["uid-second"])] == [
        DEV_B,
        DEV_A,
    ]


def _vfio_bound(root: str, address: str, group: int) -> None:
    """A sysfs/dev tree where ``address`` is bound to vfio-pci in IOMMU group ``group``."""
    function = os.path.join(root, "sys/bus/pci/devices", address)
    os.makedirs(function)
    os.symlink("../../../../bus/pci/drivers/vfio-pci", os.path.join(function, "driver"))
    os.symlink(f"../../../../kernel/iommu_groups/{group}", os.path.join(function, "iommu_group"))
    os.makedirs(os.path.join(root, "dev/vfio"), exist_ok=True)
    for name in ("vfio", str(group)):
        open(os.path.join(root, "dev/vfio", name), "w").close()


def test_the_cdi_spec_names_the_claims_devices_and_goes_with_unprepare(node: Node) -> None:
    _vfio_bound(node.sysfs_root, A, 42)
    node.discover(THREE_GPUS)  # the device nodes are read at discovery
    node.claims.put(_claim("train", A, C))
    answer = node.kubelet.prepare(GPU, _ref("train"))["uid-train"]
    spec = node.cdi_spec("uid-train")
    assert spec["kind"] == f"{GPU}/claim"
    edits = {d["name"]: d["containerEdits"] for d in spec["devices"]}
    assert edits == {
        f"uid-train-{DEV_A}": {
            "env": ["CYBORG_PCI_0000_3B_00_0=0000:3b:00.0"],
            "deviceNodes": [{"path": "/dev/vfio/vfio"}, {"path": "/dev/vfio/42"}],
        },
        f"uid-train-{DEV_C}": {"env": ["CYBORG_PCI_0000_86_00_0=0000:86:00.0"]},
    }
    # Each CDI id the kubelet gets resolves in the spec: <kind>=<device name>.
    for device in answer.devices:
        (cdi_id,) = device.cdi_device_ids
        kind, name = cdi_id.split("=")
        assert kind == spec["kind"] and name in edits
    assert node.kubelet.unprepare(GPU, _ref("train"))["uid-train"].error == ""
    assert os.listdir(node.cdi_dir) == []
    # Unpreparing again, or a claim never prepared, succeeds.
    answers = node.kubelet.unprepare(GPU, _ref("train"), _ref("never"))
    assert {uid: a.error for uid, a in answers.items()} == {"uid-train": "", "uid-never": ""}


def test_health_stream_follows_a_device_turning_unhealthy_and_back(node: Node) -> None:
    healthy = {DEV_A: "Healthy", DEV_B: "Healthy", DEV_C: "Healthy"}
    assert node.kubelet.wait_for_health(GPU, lambda h: h == healthy, "three healthy GPUs")
    endpoint = node.kubelet.endpoint(GPU)
    assert {pool for pool, _, _ in endpoint.health[-1].values()} == {NODE}
    node.claims.put(_claim("train", B))
    node.discover(_host(_gpu(A), _gpu(B, health="unhealthy"), _gpu(C)))
    node.kubelet.wait_for_health(GPU, lambda h: h.get(DEV_B) == "Unhealthy", "B Unhealthy")
    refused = node.kubelet.prepare(GPU, _ref("train"))["uid-train"]
    assert refused.error == f"device {DEV_B} ({B}) of {GPU} is unhealthy"
    node.discover(THREE_GPUS)
    node.kubelet.wait_for_health(GPU, lambda h: h == healthy, "B healthy again")
    assert node.kubelet.prepare(GPU, _ref("train"))["uid-train"].error == ""


def test_an_unchanged_inventory_sends_no_new_health_message(node: Node) -> None:
    endpoint = node.kubelet.endpoint(GPU)
    node.kubelet.wait_for_health(GPU, lambda h: len(h) == 3, "the first message")
    node.discover(THREE_GPUS)
    node.discover(_host(_gpu(A), _gpu(B), _gpu(C, health="unhealthy")))  # a marker change
    node.kubelet.wait_for_health(GPU, lambda h: h.get(DEV_C) == "Unhealthy", "the marker")
    assert len(endpoint.health) == 2


def test_hot_add_and_removal_reach_the_health_stream_and_prepare(node: Node) -> None:
    node.kubelet.wait_for_health(GPU, lambda h: len(h) == 3, "the first message")
    node.claims.put(_claim("new", NEW))
    assert "not on this node" in node.kubelet.prepare(GPU, _ref("new"))["uid-new"].error
    node.discover(_host(_gpu(A), _gpu(B), _gpu(C), _gpu(NEW)))
    node.kubelet.wait_for_health(GPU, lambda h: h.get(DEV_NEW) == "Healthy", "the new GPU")
    assert _devices(node.kubelet.prepare(GPU, _ref("new"))["uid-new"])[0][2] == DEV_NEW
    node.discover(_host(_gpu(A), _gpu(NEW)))
    gone = node.kubelet.wait_for_health(GPU, lambda h: h.get(DEV_C) == "Unknown", "C gone")
    assert gone == {DEV_A: "Healthy", DEV_B: "Unknown", DEV_C: "Unknown", DEV_NEW: "Healthy"}
    node.claims.put(_claim("late", C))
    assert "not on this node" in node.kubelet.prepare(GPU, _ref("late"))["uid-late"].error


def test_a_v1beta1_kubelet_gets_the_same_service() -> None:
    directory = tempfile.mkdtemp(prefix="dra-", dir="/tmp")
    node = Node(directory, services=("v1beta1.DRAPlugin",))
    try:
        node.kubelet.start()
        node.start_plugins()
        assert node.kubelet.endpoint(GPU).service == "v1beta1.DRAPlugin"
        node.claims.put(_claim("train", A))
        answer = node.kubelet.prepare(GPU, _ref("train"))["uid-train"]
        assert _devices(answer) == [(["gpu-0"], NODE, DEV_A, [f"{GPU}/claim=uid-train-{DEV_A}"])]
        assert node.kubelet.unprepare(GPU, _ref("train"))["uid-train"].error == ""
    finally:
        node.close()
        shutil.rmtree(directory)


def test_a_kubelet_that_speaks_no_offered_service_refuses_the_plugin() -> None:
    directory = tempfile.mkdtemp(prefix="dra-", dir="/tmp")
    node = Node(directory, services=("v2.DRAPlugin",))
    try:
        node.kubelet.start()
        node.start_plugins()
        node.kubelet.wait_for("both refusals", lambda: len(node.kubelet.refused) == 2)
        assert node.plugins is not None
        assert not node.plugins.plugins[GPU].registration.registered.is_set()
    finally:
        node.close()
        shutil.rmtree(directory)


def test_a_plugin_whose_socket_was_removed_serves_again_at_the_next_discovery(node: Node) -> None:
    old = node.kubelet.endpoint(GPU)
    os.unlink(os.path.join(node.registry_dir, f"{GPU}-reg.sock"))
    node.kubelet.wait_for("the plugin to deregister", lambda: GPU not in node.kubelet.endpoints)
    node.discover(THREE_GPUS)
    assert node.kubelet.endpoint(GPU) is not old


def test_settings_come_from_the_kubernetes_group(node: Node) -> None:
    assert dra_plugins.Settings.from_conf(node.conf) == dra_plugins.Settings(
        options=DRAOptions(
            pool=NODE,
            plugin_dir=node.plugin_dir,
            registry_dir=node.registry_dir,
            checkpoint_dir=None,
            cdi_spec_dir=node.cdi_dir,
            sysfs_root=node.sysfs_root,
        ),
        resource_domain="cyborg.openstack.org",
        device_types=("GPU", "FPGA", "SSD"),
    )
    assert os.path.exists(os.path.join(node.plugin_dir, GPU, "checkpoint.json")) is False


def test_an_unreadable_checkpoint_keeps_only_its_driver_off() -> None:
    directory = tempfile.mkdtemp(prefix="dra-", dir="/tmp")
    node = Node(directory)
    try:
        broken = os.path.join(node.plugin_dir, FPGA, "checkpoint.json")
        os.makedirs(os.path.dirname(broken))
        with open(broken, "w") as handle:
            handle.write("{not json")
        node.kubelet.start()
        node.start_plugins()
        node.kubelet.endpoint(GPU)
        assert node.plugins is not None and FPGA not in node.plugins.plugins
        os.unlink(broken)  # what the log tells the operator to do
        node.discover(THREE_GPUS)
        assert node.kubelet.endpoint(FPGA).service == "v1.DRAPlugin"
    finally:
        node.close()
        shutil.rmtree(directory)


def _configured(claim: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    claim["status"]["allocation"]["devices"]["config"] = [
        {"source": "FromClaim", "opaque": {"driver": GPU, "parameters": parameters}}
    ]
    return claim


def test_a_bad_gpu_config_fails_its_claim_only_and_a_good_one_reaches_the_cdi_spec(
    node: Node,
) -> None:
    good = {"apiVersion": f"{GPU}/v1alpha1", "kind": "GPUConfig", "env": {"NCCL_DEBUG": "INFO"}}
    node.claims.put(_configured(_claim("good", A), good))
    node.claims.put(_configured(_claim("bad", B), {**good, "kind": "GpuConfig"}))
    answers = node.kubelet.prepare(GPU, _ref("good"), _ref("bad"))
    assert answers["uid-good"].error == ""
    assert answers["uid-bad"].error.startswith(
        f"the opaque configuration of claim team-a/bad (uid-bad) for {GPU} is invalid: "
        f"{GPU} takes apiVersion {GPU}/v1alpha1, kind GPUConfig"
    )
    (device,) = node.cdi_spec("uid-good")["devices"]
    assert device["containerEdits"]["env"] == [f"CYBORG_PCI_0000_3B_00_0={A}", "NCCL_DEBUG=INFO"]


def test_admin_access_reaches_a_device_another_claim_holds(node: Node) -> None:
    node.claims.put(_claim("owner", A))
    monitor = _claim("monitor", A)
    monitor["spec"]["devices"]["requests"][0]["exactly"]["adminAccess"] = True
    monitor["status"]["allocation"]["devices"]["results"][0]["adminAccess"] = True
    node.claims.put(monitor)
    answers = node.kubelet.prepare(GPU, _ref("owner"), _ref("monitor"))
    assert {uid: a.error for uid, a in answers.items()} == {"uid-owner": "", "uid-monitor": ""}
    node.claims.put(_claim("second", A))
    refused = node.kubelet.prepare(GPU, _ref("second"))["uid-second"]
    assert (
        refused.error
        == f"device {A} of {GPU} is already prepared for claim team-a/owner (uid-owner)"
    )
