"""One owner per device for the device plugins, with the real services.

The conductor, RabbitMQ, Placement and the agent of test_pod_ownership; here the
agent's device plugins (in this process) serve the kubelet stand-in, which calls
Allocate and lists what it allocated in its PodResources. Allocate claims the device
in Placement (consumer type POD); a pod gone from PodResources is released after
the grace of observations; a VM and an Allocate racing for the last GPU have one
winner.
"""

import os
import tempfile
import uuid
from collections.abc import Iterator

import grpc
import pytest

from cyborg.drivers import fake
from cyborg.kubernetes import device_plugin_claims, device_plugins
from cyborg.kubernetes.device_plugin import PluginOptions
from tests import races
from tests.functional.test_pod_ownership import (  # noqa: F401 - the fixtures
    FIRST,
    HOST,
    JITTER,
    SECOND,
    Cloud,
    cloud,
    nothing_left,
)
from tests.kubernetes.kubelet_standin import KubeletStandIn

GPU = "cyborg.openstack.org/gpu"
TRAINER = ("ml", "trainer-0")
AGENT_POD = ("kube-system", "cyborg-agent-x7k2p")
RELEASE_AFTER = 2
RACE_ROUNDS = 10


def uid(address: str) -> str:
    return device_plugin_claims.consumer_uid(HOST, GPU, address)


class Node:
    """The device plugins of HOST, its kubelet, and their PodResources."""

    def __init__(self, services: Cloud, directory: str) -> None:
        self.cloud = services
        self.directory = directory
        self.kubelet = KubeletStandIn(os.path.join(directory, "dp"))
        self.socket = os.path.join(directory, "pr", "kubelet.sock")
        self.kubelet.serve_pod_resources(self.socket)
        self.kubelet.pod_resources.run_pod(AGENT_POD)  # a kubelet lists its pods
        self.kubelet.start()
        self.plugins = self.start_plugins()

    def start_plugins(self) -> device_plugins.DevicePlugins:
        settings = device_plugins.Settings(
            options=PluginOptions(plugin_dir=self.kubelet.plugin_dir),
            device_types=("GPU",),
            watch_interval=0.1,
            pod_resources_socket=self.socket,
            pod_resources_interval=3600.0,  # the test observes, one read at a time
            release_after=RELEASE_AFTER,
        )
        claims = device_plugin_claims.PluginClaims(self.cloud.owner, HOST, RELEASE_AFTER)
        plugins = device_plugins.DevicePlugins(settings, claims)
        plugins.update(fake.default_inventory(HOST))
        plugins.start()
        self.kubelet.latest(GPU)
        return plugins

    def restart_plugins(self) -> None:
        """An agent restart: what it claimed is only in the conductor now."""
        self.plugins.stop()
        registered = len(self.kubelet.registrations)
        self.plugins = self.start_plugins()
        self.kubelet.wait_for(
            "the new plugin", lambda: len(self.kubelet.registrations) > registered
        )

    def observe(self, times: int = 1) -> None:
        for _ in range(times):
            assert self.plugins.reconcile()

    def recorded_pod(self, address: str) -> list[tuple[str, str]]:
        rows = self.cloud.deployment.query(
            "SELECT namespace, name FROM pod_device_claims WHERE claim_uid = :uid",
            uid=uid(address),
        )
        return [(str(ns), str(name)) for ns, name in rows]

    def stop(self) -> None:
        self.plugins.stop()
        self.kubelet.stop()
        self.kubelet.stop_pod_resources()


@pytest.fixture
def node(cloud: Cloud) -> Iterator[Node]:  # noqa: F811 - the imported fixture
    with tempfile.TemporaryDirectory(prefix="dpo-") as directory:  # short socket paths
        made = Node(cloud, directory)
        try:
            yield made
        finally:
            made.stop()


def test_allocate_claims_and_a_gone_pod_is_released(cloud: Cloud, node: Node) -> None:  # noqa: F811
    gpu0, gpu1 = cloud.providers()
    node.kubelet.allocate(GPU, [FIRST], pod=TRAINER)
    held = cloud.placement.get_consumer_allocations(uid(FIRST))
    assert (held.allocations, held.consumer_type) == ({gpu0: {"PGPU": 1}}, "POD")
    unseen = (device_plugin_claims.UNSEEN_NAMESPACE, "gpu-0000-0d-00-0")
    assert node.recorded_pod(FIRST) == [unseen]
    node.kubelet.allocate(GPU, [FIRST])  # the app container reuses the init container's

    node.observe()  # PodResources lists it: the claim names the pod
    assert node.recorded_pod(FIRST) == [TRAINER]

    # A VM takes the other GPU: the kubelet sees it Unhealthy, and Allocate refuses it.
    arq, vm = cloud.arq(), str(uuid.uuid4())
    cloud.bind_standalone(arq, vm)
    assert cloud.allocations(vm) == {gpu1: {"PGPU": 1}}
    node.plugins.set_holders(cloud.owner.holders())
    node.kubelet.wait_for_list(
        GPU, lambda d: d == {FIRST: "Healthy", SECOND: "Unhealthy"}, "the VM's GPU Unhealthy"
    )
    with pytest.raises(grpc.RpcError) as refused:
        node.kubelet.allocate(GPU, [SECOND], pod=("ml", "other"))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert refused.value.details().startswith(f"device {SECOND}: held by a VM")
    assert cloud.allocations(uid(SECOND)) == {}

    # The pod ends: released after RELEASE_AFTER reads that do not list it, not before.
    node.kubelet.end_pod(TRAINER)
    node.observe(RELEASE_AFTER - 1)
    assert cloud.allocations(uid(FIRST)) == {gpu0: {"PGPU": 1}}
    node.observe()
    assert cloud.allocations(uid(FIRST)) == {}
    assert node.recorded_pod(FIRST) == []

    # All or none: the free GPU is given back when the VM's is refused.
    with pytest.raises(grpc.RpcError, match="held by a VM"):
        node.kubelet.allocate(GPU, [FIRST], [SECOND], pod=("ml", "both"))
    assert cloud.allocations(uid(FIRST)) == {}

    # The VM goes: its GPU is Healthy again for the kubelet.
    cloud.api.delete_arqs(cloud.context, uuids=[arq])
    node.plugins.set_holders(cloud.owner.holders())
    node.kubelet.wait_for_list(
        GPU, lambda d: set(d.values()) == {"Healthy"}, "both GPUs Healthy again"
    )


def test_an_allocate_not_listed_yet_keeps_its_claim(cloud: Cloud, node: Node) -> None:  # noqa: F811
    gpu0, _ = cloud.providers()
    node.kubelet.allocate(GPU, [FIRST])  # not in PodResources yet
    node.observe(RELEASE_AFTER - 1)
    node.kubelet.allocate(GPU, [FIRST], pod=TRAINER)  # a retry starts the count again
    node.kubelet.pod_resources.end(TRAINER)
    node.observe(RELEASE_AFTER - 1)
    assert cloud.allocations(uid(FIRST)) == {gpu0: {"PGPU": 1}}
    node.observe()
    assert cloud.allocations(uid(FIRST)) == {}


def test_a_kubelet_that_lists_no_pod_releases_nothing(cloud: Cloud, node: Node) -> None:  # noqa: F811
    gpu0, _ = cloud.providers()
    node.kubelet.allocate(GPU, [FIRST], pod=TRAINER)
    node.kubelet.end_pod(TRAINER)
    node.kubelet.end_pod(AGENT_POD)  # as a kubelet that restarted and has no pods yet
    assert not node.plugins.reconcile()
    assert not node.plugins.reconcile()
    assert cloud.allocations(uid(FIRST)) == {gpu0: {"PGPU": 1}}
    node.kubelet.pod_resources.run_pod(AGENT_POD)
    node.observe(RELEASE_AFTER)
    assert cloud.allocations(uid(FIRST)) == {}


def test_a_restarted_agent_keeps_and_releases_what_it_claimed(cloud: Cloud, node: Node) -> None:  # noqa: F811
    gpu0, gpu1 = cloud.providers()
    node.kubelet.allocate(GPU, [FIRST], pod=TRAINER)
    node.kubelet.allocate(GPU, [SECOND], pod=("ml", "short"))
    node.kubelet.end_pod(("ml", "short"))  # gone while the agent is down
    node.restart_plugins()

    node.kubelet.allocate(GPU, [FIRST])  # the same consumer: a retry, not a conflict
    node.observe(RELEASE_AFTER)
    assert cloud.allocations(uid(FIRST)) == {gpu0: {"PGPU": 1}}
    assert node.recorded_pod(FIRST) == [TRAINER]
    assert cloud.allocations(uid(SECOND)) == {}  # the earlier run's, released
    assert cloud.usage(gpu1) == 0

    node.kubelet.end_pod(TRAINER)
    node.observe(RELEASE_AFTER)
    assert cloud.allocations(uid(FIRST)) == {}


def test_a_vm_and_an_allocate_racing_for_the_last_gpu_have_one_winner(
    cloud: Cloud,  # noqa: F811
    node: Node,
) -> None:
    gpu0, gpu1 = cloud.providers()
    nova = str(uuid.uuid4())  # the first GPU is Nova's meanwhile (allocated, not bound)
    cloud.placement.put_allocations(nova, {gpu0: {"PGPU": 1}}, project_id="p", user_id="u")
    won = {"vm": 0, "pod": 0}
    try:
        for round_ in range(RACE_ROUNDS):
            arq, instance, pod = cloud.arq(), str(uuid.uuid4()), ("ml", f"racer-{round_}")
            outcomes = races.run_together(
                {
                    "vm": lambda arq=arq, instance=instance: cloud.bind_standalone(arq, instance),
                    "pod": lambda pod=pod: node.kubelet.allocate(GPU, [SECOND], pod=pod),
                },
                jitter={"pod": JITTER},
            )
            winners = [side for side, err in outcomes.items() if err is None]
            assert len(winners) == 1, (outcomes, won)
            won[winners[0]] += 1
            if winners == ["pod"]:
                assert cloud.allocations(instance) == {}
                assert cloud.allocations(uid(SECOND)) == {gpu1: {"PGPU": 1}}
            else:
                err = outcomes["pod"]
                assert isinstance(err, grpc.RpcError), outcomes
                assert err.code() == grpc.StatusCode.FAILED_PRECONDITION, err
                assert cloud.allocations(uid(SECOND)) == {}
            cloud.api.delete_arqs(cloud.context, uuids=[arq])
            node.kubelet.end_pod(pod)
            node.observe(RELEASE_AFTER)
            assert cloud.usage(gpu1) == 0, outcomes
    finally:
        cloud.placement.delete_allocations(nova)
