"""The agent's ResourceSlices against the API-server stand-in, over real HTTP.

The inventory is the fake driver's inventory file, run through the agent's real
resource tracker; the publisher is made as cyborg-agent makes it, from a kubeconfig
naming the stand-in. The stand-in refuses (and records) any object the API servers
of 1.34 to 1.37 would refuse, so every test ends by asserting it refused nothing.
"""

import dataclasses
import json
import os
import pathlib
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from oslo_config import cfg

from cyborg import conf as cyborg_conf
from cyborg.agent.resource_tracker import ResourceTracker
from cyborg.cmd import kubernetes_node
from cyborg.common import mig
from cyborg.drivers import nvidia_mig
from cyborg.drivers.fake import FakeDriver
from cyborg.kubernetes import apiclient, dra_names, kubeconfig, slice_publisher
from tests.kubernetes import schemas
from tests.kubernetes.apiserver_standin import ApiServerStandIn

NODE = "node-1"
GPU = "gpu.cyborg.openstack.org"
FPGA = "fpga.cyborg.openstack.org"
A, B, C = "0000:3b:00.0", "0000:5e:00.0", "0000:86:00.0"
TOKEN = "a-token-nobody-may-log"


def _gpu(address: str, health: str = "", reason: str = "") -> dict[str, Any]:
    attributes = {"numa_node": "0", "memory_mb": "40960", "product_id": "20b0"}
    if health:
        attributes.update(health=health, health_reason=reason)
    deployable = {"name": f"{{host}}_{address}", "attributes": attributes}
    return {"type": "GPU", "address": address, "vendor": "10de", "model": "A100",
            "deployables": [deployable]}  # fmt: skip


def _fpga(functions: int = 2) -> dict[str, Any]:
    return {"type": "FPGA", "address": "0000:d8:00.0",
            "deployables": [{"name": "{host}_fpga", "num_accelerators": functions}]}  # fmt: skip


HOST = [_gpu(A), _gpu(B), _fpga()]


def write_kubeconfig(path: str, server: str, token: str) -> None:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "cyborg",
        "contexts": [{"name": "cyborg", "context": {"cluster": "standin", "user": "agent"}}],
        "clusters": [{"name": "standin", "cluster": {"server": server}}],
        "users": [{"name": "agent", "user": {"token": token}}],
    }
    with open(path, "w") as handle:
        yaml.safe_dump(document, handle)


class Node:
    """A host's inventory file, the agent's tracker and slice publisher, an API server."""

    def __init__(
        self, directory: str, versions: tuple[str, ...] = schemas.VERSIONS, **options: Any
    ) -> None:
        self.api = ApiServerStandIn(token=TOKEN, versions=versions)
        self.api.start()
        self.inventory_file = os.path.join(directory, "inventory.json")
        self.kubeconfig = os.path.join(directory, "kubeconfig")
        write_kubeconfig(self.kubeconfig, self.api.url, TOKEN)
        self.conf = cfg.ConfigOpts()
        cyborg_conf.register_opts(self.conf)
        self.conf.set_override("inventory_file", self.inventory_file, group="fake_driver")
        self.conf.set_override("resource_provider_name", NODE, group="agent")
        self.conf.set_override("node_name", NODE, group="kubernetes")
        self.conf.set_override("resource_slices_enabled", True, group="kubernetes")
        self.conf.set_override("kubeconfig", self.kubeconfig, group="kubernetes")
        for name, value in options.items():
            self.conf.set_override(name, value, group="kubernetes")
        self.conf([])
        self.tracker = ResourceTracker(NODE, [FakeDriver(self.conf, hostname=NODE)], None)
        self.publisher: slice_publisher.SlicePublisher | None = None

    def start(self) -> slice_publisher.SlicePublisher:
        self.tracker.listeners.clear()
        publisher = kubernetes_node._resource_slices(self.conf, self.tracker)
        assert publisher is not None
        # Short backoff: a test waits for the retry after the API server comes back.
        publisher.settings = dataclasses.replace(publisher.settings, retry_max=0.5)
        self.publisher = publisher
        return publisher

    def discover(self, devices: list[dict[str, Any]]) -> None:
        with open(self.inventory_file, "w") as handle:
            json.dump(devices, handle)
        assert self.tracker.discover() is not None

    def pool(self, driver: str = GPU) -> list[dict[str, Any]]:
        return self.api.pool(NODE, driver)

    def devices(self, driver: str = GPU) -> dict[str, dict[str, Any]]:
        return {d["name"]: d for s in self.pool(driver) for d in s["spec"].get("devices", [])}

    def wait_devices(self, what: str, predicate: Any, driver: str = GPU) -> dict[str, Any]:
        """Waits until the pool is whole (every slice at one generation, as many as it
        says) and its devices satisfy ``predicate``."""

        def check() -> dict[str, Any] | None:
            pool = self.pool(driver)
            pools = {json.dumps(s["spec"]["pool"], sort_keys=True) for s in pool}
            whole = len(pools) == 1 and len(pool) == pool[0]["spec"]["pool"]["resourceSliceCount"]
            found = self.devices(driver) if whole else None
            return found if found is not None and predicate(found) else None

        return self.api.wait_for(what, check)

    def generation(self, driver: str = GPU) -> int:
        (generation,) = {s["spec"]["pool"]["generation"] for s in self.pool(driver)}
        return int(generation)

    def close(self) -> None:
        if self.publisher is not None:
            self.publisher.stop(10)
        self.api.stop()


@pytest.fixture
def node() -> Iterator[Node]:
    directory = tempfile.mkdtemp(prefix="k8s-slices-", dir="/tmp")
    node = Node(directory)
    node.start()
    node.discover(HOST)
    try:
        yield node
        assert node.api.refused == []
        assert node.api.unauthorized == 0
    finally:
        node.close()
        shutil.rmtree(directory)


def _name(address: str) -> str:
    return dra_names.device_name(address)


def test_the_inventory_is_published_as_valid_slices_one_pool_per_driver(node: Node) -> None:
    gpus = node.wait_devices("the GPU pool", lambda d: len(d) == 2)
    assert sorted(gpus) == [_name(A), _name(B)]
    fpgas = node.wait_devices("the FPGA pool", lambda d: len(d) == 2, FPGA)
    assert sorted(fpgas) == [_name("0000:d8:00.0"), _name("0000:d8:00.1")]
    (item,) = node.pool()
    assert item["metadata"]["name"] == "node-1-gpu-0"
    assert item["spec"]["nodeName"] == NODE
    assert item["spec"]["pool"] == {"name": NODE, "generation": 0, "resourceSliceCount": 1}
    assert gpus[_name(A)]["capacity"] == {dra_names.MEMORY: {"value": "40Gi"}}
    schemas.validate(item)
    # DeviceClasses select them by driver, claims by attributes.
    selector = f'device.driver == "{GPU}" && device.attributes["{GPU}"].productId == "20b0"'
    assert all(schemas.cel_matches(selector, GPU, d) for d in gpus.values())
    assert not any(
        schemas.cel_matches(f'device.driver == "{GPU}"', FPGA, d) for d in fpgas.values()
    )


def test_hot_add_and_removal_update_the_pool_and_its_generation(node: Node) -> None:
    node.wait_devices("the GPU pool", lambda d: len(d) == 2)
    node.discover([_gpu(A), _gpu(B), _gpu(C), _fpga()])
    node.wait_devices("the hot-added GPU", lambda d: _name(C) in d)
    assert node.generation() == 1
    assert node.generation(FPGA) == 0  # untouched
    node.discover([_gpu(C)])
    assert sorted(node.wait_devices("the removal", lambda d: len(d) == 1)) == [_name(C)]
    assert node.generation() == 2
    node.api.wait_for("the FPGA pool to go", lambda: node.pool(FPGA) == [])


def test_a_large_pool_is_split_and_shrinks_back(node: Node) -> None:
    node.discover([_fpga(200)])
    node.wait_devices("200 FPGA functions", lambda d: len(d) == 200, FPGA)
    pool = node.pool(FPGA)
    assert [len(s["spec"]["devices"]) for s in pool] == [128, 72]
    assert {s["spec"]["pool"]["resourceSliceCount"] for s in pool} == {2}
    # Relative: the start-up inventory may or may not have been published first.
    split = node.generation(FPGA)
    node.discover([_fpga(100)])
    node.wait_devices("100 FPGA functions", lambda d: len(d) == 100, FPGA)
    assert [s["metadata"]["name"] for s in node.pool(FPGA)] == ["node-1-fpga-0"]
    assert node.generation(FPGA) == split + 1


def test_health_taints_appear_change_and_clear_without_restart(node: Node) -> None:
    node.wait_devices("the GPU pool", lambda d: len(d) == 2)
    node.discover([_gpu(A, "unhealthy", "XID 48: double-bit ECC error"), _gpu(B), _fpga()])
    found = node.wait_devices("A's taint", lambda d: "taints" in d[_name(A)])
    (taint,) = found[_name(A)]["taints"]
    assert (taint["key"], taint["value"], taint["effect"]) == (
        dra_names.TAINT_UNHEALTHY, "XID_48_double-bit_ECC_error", "NoSchedule")  # fmt: skip
    stamped = taint["timeAdded"]
    # Another device's change: A's unchanged taint keeps the time the server gave it.
    node.discover([_gpu(A, "unhealthy", "XID 48: double-bit ECC error"), _fpga()])
    found = node.wait_devices("B to go", lambda d: _name(B) not in d)
    assert found[_name(A)]["taints"][0]["timeAdded"] == stamped
    node.discover([_gpu(A, "fatal", "XID 79: fallen off the bus"), _fpga()])
    found = node.wait_devices(
        "NoExecute", lambda d: d[_name(A)]["taints"][0]["effect"] == "NoExecute"
    )
    node.discover(HOST)
    found = node.wait_devices("recovery", lambda d: len(d) == 2 and "taints" not in d[_name(A)])


def test_devices_a_vm_holds_are_tainted_until_released(node: Node) -> None:
    node.wait_devices("the GPU pool", lambda d: len(d) == 2)
    assert node.publisher is not None
    node.publisher.set_holders({f"{NODE}_{A}": "instance", f"{NODE}_{B}": "pod"})
    found = node.wait_devices("the VM taint", lambda d: "taints" in d[_name(A)])
    assert [(t["key"], t["effect"]) for t in found[_name(A)]["taints"]] == [
        (dra_names.TAINT_VM_BOUND, "NoSchedule")
    ]
    assert "taints" not in found[_name(B)]
    node.publisher.set_holders({})
    node.wait_devices("the release", lambda d: "taints" not in d[_name(A)])


def test_an_api_server_down_then_up_gets_the_changes_made_meanwhile(node: Node) -> None:
    node.wait_devices("the GPU pool", lambda d: len(d) == 2)
    node.api.stop()
    node.discover([_gpu(A), _fpga()])  # while nobody answers
    node.api.start()  # same port, same storage
    node.wait_devices("the change made while down", lambda d: sorted(d) == [_name(A)])


def test_conflicts_are_retried_from_a_fresh_list(node: Node) -> None:
    node.wait_devices("the GPU pool", lambda d: len(d) == 2)
    node.api.fail_updates = 2
    node.discover([_gpu(A), _gpu(B), _gpu(C), _fpga()])
    node.wait_devices("the update after two conflicts", lambda d: len(d) == 3)
    assert node.api.fail_updates == 0
    puts = [p for m, p in node.api.requests if m == "PUT" and p.endswith("/node-1-gpu-0")]
    assert len(puts) >= 3


def test_slices_others_change_or_delete_are_put_back(node: Node) -> None:
    node.wait_devices("the GPU pool", lambda d: len(d) == 2)
    node.api.wait_for("the agent's watch", lambda: node.api.watching == 1)
    node.api.remove("node-1-gpu-0")
    node.wait_devices("the slice again", lambda d: len(d) == 2)

    def drop_b(item: dict[str, Any]) -> None:
        item["spec"]["devices"] = [d for d in item["spec"]["devices"] if d["name"] != _name(B)]

    node.api.edit("node-1-gpu-0", drop_b)
    node.wait_devices("B again", lambda d: _name(B) in d)


def test_a_change_hidden_by_compaction_is_put_back_too(node: Node) -> None:
    node.wait_devices("the GPU pool", lambda d: len(d) == 2)
    node.api.wait_for("the agent's watch", lambda: node.api.watching == 1)
    with node.api.changed:  # the deletion's event is compacted away before anyone saw it
        node.api.remove("node-1-gpu-0")
        node.api.compact()
    node.wait_devices("the slice again", lambda d: len(d) == 2)
    creates = [m for m, p in node.api.requests if m == "POST"]
    assert len(creates) == 3  # the FPGA's, the GPU's, the GPU's again


def test_stop_deletes_the_slices(node: Node) -> None:
    node.wait_devices("the GPU pool", lambda d: len(d) == 2)
    assert node.publisher is not None
    assert node.publisher.stop(10)
    node.publisher = None
    assert node.api.slices == {}


def test_a_restarted_agent_finds_its_slices_and_writes_nothing_new() -> None:
    directory = tempfile.mkdtemp(prefix="k8s-slices-", dir="/tmp")
    node = Node(directory, resource_slices_on_stop="taint")
    try:
        node.start()
        node.discover(HOST)
        node.wait_devices("the GPU pool", lambda d: len(d) == 2)
        assert node.publisher is not None
        assert node.publisher.stop(10)
        stopped = node.wait_devices(
            "the stop taints", lambda d: all("taints" in x for x in d.values())
        )
        assert {t["key"] for d in stopped.values() for t in d["taints"]} == {
            dra_names.TAINT_AGENT_STOPPED
        }
        assert node.generation() == 1
        second = node.start()
        node.discover(HOST)
        node.wait_devices("the taints to go", lambda d: not any("taints" in x for x in d.values()))
        assert node.generation() == 2
        # A stop that keeps the slices, then a restart that finds them current.
        second.settings = dataclasses.replace(second.settings, on_stop="keep")
        assert second.stop(10)
        publisher = node.start()
        node.discover(HOST)
        node.api.wait_for("a pass", lambda: publisher.passes == 1)
        assert node.generation() == 2
        requests = [r for r in node.api.requests if r[1].endswith("/resourceslices")]
        writes = [m for m, p in node.api.requests if m != "GET"]
        looks = publisher.looks
        node.discover(HOST)  # the same inventory again: no API call at all
        node.api.wait_for("a look", lambda: publisher.looks > looks)
        assert [r for r in node.api.requests if r[1].endswith("/resourceslices")] == requests
        assert [m for m, p in node.api.requests if m != "GET"] == writes
        assert node.api.refused == []
    finally:
        node.close()
        shutil.rmtree(directory)


def test_a_wrong_token_is_a_typed_error_without_the_token() -> None:
    api = ApiServerStandIn(token=TOKEN)
    api.start()
    try:
        client = apiclient.KubernetesClient(kubeconfig.ClusterConfig(api.url, token="wrong"), 5)
        with pytest.raises(apiclient.ApiError) as caught:
            client.list_resource_slices(NODE, GPU)
        assert (caught.value.status, caught.value.reason) == (401, "Unauthorized")
        assert "wrong" not in str(caught.value)
        client.close()
    finally:
        api.stop()
    closed = apiclient.KubernetesClient(kubeconfig.ClusterConfig(api.url, token=TOKEN), 5)
    with pytest.raises(apiclient.Unavailable) as down:
        closed.list_resource_slices(NODE, GPU)
    assert down.value.status == 0 and TOKEN not in str(down.value)


def test_resource_claims_are_read_through_the_claim_source() -> None:
    api = ApiServerStandIn(token=TOKEN)
    api.start()
    claim = {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": {"name": "gpu-claim", "namespace": "ml", "uid": "1234"},
        "spec": {"devices": {"requests": [{"name": "gpu", "exactly": {"deviceClassName": GPU}}]}},
    }
    api.add_claim(claim)
    try:
        client = apiclient.KubernetesClient(kubeconfig.ClusterConfig(api.url, token=TOKEN), 5)
        source = apiclient.ApiClaimSource(client)
        assert source.get("ml", "gpu-claim")["metadata"]["uid"] == "1234"
        with pytest.raises(apiclient.NotFound):
            source.get("ml", "absent")
        client.close()
    finally:
        api.stop()


def test_the_slice_defaults() -> None:  # off: tests/kubernetes/test_kubernetes_node.py
    conf = cfg.ConfigOpts()
    cyborg_conf.register_opts(conf)
    conf([])
    settings = slice_publisher.Settings.from_conf(conf)
    assert settings.node_name == dra_names.default_node_name()
    assert settings.on_stop == "delete" and settings.devices.taints


def test_an_agent_process_publishes_and_withdraws_its_slices() -> None:
    from tests.functional import services

    api = ApiServerStandIn(token=TOKEN)
    api.start()
    try:
        with services.deployment(seeded=False, api=False) as deployment:
            path = os.path.join(deployment.directory, "kubeconfig")
            write_kubeconfig(path, api.url, TOKEN)
            extra = (f"[kubernetes]\nresource_slices_enabled = true\nkubeconfig = {path}\n"
                     "node_name = worker-7\n")  # fmt: skip
            name = deployment.start_agent("compute-7", HOST, extra_conf=extra)
            api.wait_for("the agent's GPU slice", lambda: len(api.pool("worker-7", GPU)) == 1)
            deployment.write_inventory("compute-7", [_gpu(A), _gpu(B), _gpu(C), _fpga()])
            api.wait_for(
                "the hot-added GPU",
                lambda: [len(s["spec"]["devices"]) for s in api.pool("worker-7", GPU)] == [3],
            )
            assert deployment.stop(name) == 0
            assert api.slices == {}  # withdrawn before the agent exited
            assert TOKEN not in deployment.log(name)
        assert api.refused == [] and api.unauthorized == 0
    finally:
        api.stop()


def test_a_stop_with_the_api_server_down_gives_up_in_time(node: Node) -> None:
    node.wait_devices("the GPU pool", lambda d: len(d) == 2)
    node.api.stop()
    assert node.publisher is not None
    assert node.publisher.stop(5) is False  # said, not hung: the agent goes on stopping
    node.publisher = None


def test_tls_with_a_client_certificate_from_inline_kubeconfig_data(tmp_path: Any) -> None:
    import base64

    from tests.kubernetes import tls_certs
    from tests.kubernetes.apiserver_standin import TLS

    certs = tls_certs.make(str(tmp_path))
    api = ApiServerStandIn(token=TOKEN, tls=TLS(certs.server_cert, certs.server_key, certs.ca))
    api.start()

    def data(path: str) -> str:
        with open(path, "rb") as handle:
            return base64.b64encode(handle.read()).decode()

    cluster = {"server": api.url, "certificate-authority-data": data(certs.ca)}
    user = {"client-certificate-data": data(certs.client_cert),
            "client-key-data": data(certs.client_key)}  # fmt: skip
    document = {
        "current-context": "c",
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
        "clusters": [{"name": "k", "cluster": cluster}],
        "users": [{"name": "u", "user": user}],
    }
    (tmp_path / "kubeconfig").write_text(yaml.safe_dump(document))
    try:
        client = apiclient.connect(str(tmp_path / "kubeconfig"), 5)
        assert client.list_resource_slices(NODE, GPU).items == []
        assert api.client_cert_users == ["cyborg-agent"]
        client.close()
        # A CA that did not sign the server's certificate: no answer, a clear error.
        (tmp_path / "other").mkdir()
        other = tls_certs.make(str(tmp_path / "other"))
        untrusting = apiclient.KubernetesClient(
            kubeconfig.ClusterConfig(api.url, ca_file=other.ca, token=TOKEN), 5
        )
        with pytest.raises(apiclient.Unavailable, match="SSLError") as caught:
            untrusting.list_resource_slices(NODE, GPU)
        assert TOKEN not in str(caught.value)
        untrusting.close()
        # insecure-skip-tls-verify wins over any CA, as kubectl has it.
        insecure = apiclient.KubernetesClient(
            kubeconfig.ClusterConfig(api.url, ca_file=other.ca, verify=False, token=TOKEN), 5
        )
        with pytest.warns(Warning, match="Unverified HTTPS"):
            assert insecure.list_resource_slices(NODE, GPU).items == []
        insecure.close()
    finally:
        api.stop()


def test_an_agent_with_an_unusable_kubeconfig_stops_at_start_saying_why(tmp_path: Any) -> None:
    import subprocess
    import sys

    config = tmp_path / "agent.conf"
    config.write_text(
        "[agent]\nenabled_drivers = fake_driver\nresource_provider_name = n1\n"
        f"[kubernetes]\nresource_slices_enabled = true\nkubeconfig = {tmp_path}/absent\n"
    )
    command = [sys.executable, "-m", "cyborg.cmd.agent", "--config-file", str(config)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert f"cannot read kubeconfig {tmp_path}/absent" in done.stderr


def test_closing_the_client_ends_a_watch_blocked_on_its_stream(tmp_path: Any) -> None:
    """A stopping agent closes its client while the watch thread waits on the stream:
    the close must break that read, not wait for the watch's read timeout (minutes)."""
    import threading

    api = ApiServerStandIn(token=TOKEN)
    api.start()
    try:
        path = os.path.join(str(tmp_path), "kubeconfig")
        write_kubeconfig(path, api.url, TOKEN)
        client = apiclient.connect(path, 10.0)
        ended: list[BaseException] = []

        def watch() -> None:
            try:
                for _ in client.watch_resource_slices(NODE, GPU, "0", timeout_seconds=600):
                    pass
            except BaseException as err:  # what the iterator raises once closed
                ended.append(err)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        # Open on both ends: served, and the client reading its stream.
        api.wait_for("the watch", lambda: api.watching == 1 and client._streams)
        closer = threading.Thread(target=client.close, daemon=True)
        closer.start()
        closer.join(60)  # generous: the watch alone would hold it for 610 s
        assert not closer.is_alive(), "close() waited on the watch's stream"
        watcher.join(60)
        assert not watcher.is_alive()
    finally:
        api.stop()


def _mig_gpu(address: str) -> dict[str, Any]:
    """A GPU in MIG mode with no instances: the geometry of a recorded H100."""
    outputs = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "nvidia-mig"
    layout = nvidia_mig.parse(
        (outputs / "h100-lgip.txt").read_text(), (outputs / "h100-lgipp.txt").read_text()
    )[0]
    device = _gpu(address)
    device["deployables"][0]["attributes"][mig.ATTR_MIG_PROFILES] = mig.encode(layout)
    return device


def test_mig_partitions_are_published_for_1_35_and_later_and_withdrawn() -> None:
    directory = tempfile.mkdtemp(prefix="k8s-slices-", dir="/tmp")
    node = Node(directory, versions=("1.35.0", "1.36.0", "1.37.0"), mig_partitions=True)
    try:
        node.start()
        node.discover([_mig_gpu(A), _gpu(B)])
        gpus = node.wait_devices("the partitions", lambda d: len(d) == 2 + 18)
        assert gpus[f"{_name(A)}-mig-7g-80gb-0"]["consumesCounters"][0]["counterSet"] == _name(A)
        assert "consumesCounters" not in gpus[_name(B)]
        counter_slices = [s for s in node.pool() if "sharedCounters" in s["spec"]]
        assert [c["name"] for s in counter_slices for c in s["spec"]["sharedCounters"]] == [
            _name(A)
        ]
        # Its instances made by hand (no geometry any more): whole again, counters gone.
        node.discover([_gpu(A), _gpu(B)])
        node.wait_devices("the GPU whole again", lambda d: sorted(d) == [_name(A), _name(B)])
        assert not [s for s in node.pool() if "sharedCounters" in s["spec"]]
        assert node.generation() == 1
        assert node.api.refused == []
    finally:
        node.close()
        shutil.rmtree(directory)
