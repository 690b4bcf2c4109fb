"""One owner per device across VMs and pods, with the real services.

A real cyborg-conductor process on MariaDB, RabbitMQ and the real Placement, and a
cyborg-agent (fake driver: two whole GPUs) that publishes its host. The test is the
kubelet plugin's side, through cyborg.kubernetes.conductor_owner over RPC, and the
VMs' side: Nova's way (an INSTANCE allocation, then a bind naming the provider) and
Cyborg's standalone binds (the conductor claims in Placement itself). Pods' claims
of MIG partitions share one GPU (RPC API 1.7).
"""

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from oslo_config import cfg

import cyborg.conf
from cyborg.clients import placement as placement_client
from cyborg.common import context as cyborg_context
from cyborg.common import exception
from cyborg.conductor import rpcapi
from cyborg.drivers import fake
from cyborg.kubernetes import conductor_owner
from cyborg.kubernetes.devices import PluginDevice
from cyborg.kubernetes.dra.ownership import GpuPartition
from cyborg.kubernetes.ownership_errors import DeviceRefused
from tests import placement_service, races
from tests.functional import services
from tests.placement.conftest import make_conf

HOST = "pods-compute-1"
FIRST, SECOND = fake.GPU_ADDRESSES
GPU_GROUP = [{"resources:PGPU": "1", "trait:CUSTOM_FAKE_GPU": "required"}]
ROUNDS = 20
JITTER = 0.3  # up to this long the pod waits in a race: either side sometimes goes first


class Claim:
    """A ResourceClaim as the kubelet plugin names it."""

    def __init__(self, name: str = "trainer") -> None:
        self.namespace, self.name, self.uid = "ml", name, str(uuid.uuid4())


def device(address: str) -> PluginDevice:
    return PluginDevice(address, "cyborg.openstack.org/gpu", "GPU", "")


def stored_gpus(deployment: services.Deployment) -> dict[str, str]:
    """The host's GPU deployables by name, with their providers' uuids."""
    rows = deployment.query(
        "SELECT dp.name, dp.rp_uuid FROM deployables dp JOIN devices d "
        "ON d.id = dp.device_id WHERE d.hostname = :host AND d.type = 'GPU' "
        "ORDER BY dp.name",
        host=HOST,
    )
    return {str(name): str(rp) for name, rp in rows if rp is not None}


class Cloud:
    def __init__(
        self,
        deployment: services.Deployment,
        placement: placement_client.PlacementClient,
        conf: cfg.ConfigOpts,
    ) -> None:
        self.deployment = deployment
        self.placement = placement
        self.api = rpcapi.ConductorAPI(conf)
        self.owner = conductor_owner.ConductorDeviceOwner(self.api, HOST)
        self.context = cyborg_context.get_admin_context()
        self.gpus = stored_gpus(deployment)  # FakeGPU0 at FIRST

    def providers(self) -> list[str]:
        return list(self.gpus.values())

    def arq(self) -> str:
        (arq,) = self.api.create_arqs(self.context, device_profile_name="gpu", project_id="p")
        return arq

    def bind_standalone(self, arq: str, instance: str) -> None:
        self.api.bind_arqs(
            self.context, bindings={arq: {"hostname": HOST, "instance_uuid": instance}}
        )

    def usage(self, rp_uuid: str) -> int:
        return int(self.placement.get_provider_usages(rp_uuid).get("PGPU", 0))

    def allocations(self, consumer: str) -> dict[str, Any]:
        return self.placement.get_consumer_allocations(consumer).allocations


def _conductor_conf(placement_endpoint: str) -> str:
    return (
        "[placement]\nauth_type = admin_token\n"
        f"token = {placement_service.ADMIN_TOKEN}\n"
        f"endpoint_override = {placement_endpoint}\n"
        "create_compute_node_provider = true\n"
    )


def _client_conf(deployment: services.Deployment) -> cfg.ConfigOpts:
    """The test's RPC client: the services' exchange, topic and broker."""
    conf = cfg.ConfigOpts()
    cyborg.conf.parse_args(
        ["test", "--config-file", deployment.conf_path], conf=conf, default_config_files=[]
    )
    return conf


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    with placement_service.running(str(tmp_path_factory.mktemp("placement"))) as placement:
        client = placement_client.from_conf(
            make_conf(tmp_path_factory.mktemp("client"), placement.endpoint)
        )
        with services.deployment(
            "mysql", seeded=False, api=False, extra_conf=_conductor_conf(placement.endpoint)
        ) as deployment:
            deployment.start_agent(HOST)

            def published() -> bool:
                # The conductor writes Placement inside the report's transaction, so
                # the providers can show before the deployables are committed: wait
                # for both, and for the stored providers to be the tree's.
                root = client.find_provider(HOST)
                if root is None:
                    return False
                tree = {rp.uuid for rp in client.get_tree(root.uuid)}
                gpus = stored_gpus(deployment)
                return len(tree) == 4 and len(gpus) == 2 and set(gpus.values()) <= tree

            deployment.wait_for(published, 90, "the agent's GPUs in Placement")
            made = Cloud(deployment, client, _client_conf(deployment))
            made.api.create_device_profile(made.context, name="gpu", groups=GPU_GROUP)
            yield made


@pytest.fixture(autouse=True)
def nothing_left(cloud: Cloud) -> Iterator[None]:
    yield
    assert [cloud.usage(rp) for rp in cloud.providers()] == [0, 0]
    assert cloud.owner.holders() == {}


def test_pods_and_vms_share_the_gpus_one_owner_each(cloud: Cloud) -> None:
    gpu0, gpu1 = cloud.providers()
    pod = Claim()
    cloud.owner.claim(pod, [device(FIRST)])
    cloud.owner.claim(pod, [device(FIRST)])  # the kubelet's retry
    held = cloud.placement.get_consumer_allocations(pod.uid)
    assert (held.allocations, held.consumer_type) == ({gpu0: {"PGPU": 1}}, "POD")

    # Nova schedules an instance onto the other GPU and binds it there.
    instance = str(uuid.uuid4())
    cloud.placement.put_allocations(
        instance, {gpu1: {"PGPU": 1}}, project_id="p", user_id="u", consumer_type="INSTANCE"
    )
    nova_arq = cloud.arq()
    cloud.api.bind_arqs(
        cloud.context,
        bindings={nova_arq: {"hostname": HOST, "instance_uuid": instance, "device_rp_uuid": gpu1}},
    )
    names = sorted(cloud.gpus)
    assert cloud.owner.holders() == {names[0]: "pod", names[1]: "instance"}

    with pytest.raises(DeviceRefused) as refused:
        cloud.owner.claim(Claim("second"), [device(SECOND)])
    assert refused.value.reason.startswith("held by a VM: ")
    assert f"instance {instance}" in refused.value.reason

    # Nothing is left for a standalone VM: Placement says so.
    vm_arq, vm = cloud.arq(), str(uuid.uuid4())
    with pytest.raises(exception.NoFreeAccelerator, match=f"No free accelerator on host {HOST}"):
        cloud.bind_standalone(vm_arq, vm)

    # The pod lets go: the VM gets the GPU, and the pod is refused it.
    cloud.owner.release(pod.uid)
    cloud.owner.release(pod.uid)  # again, and an unknown claim: both fine
    cloud.owner.release(str(uuid.uuid4()))
    with pytest.raises(DeviceRefused, match="claim uid 'not a uid!' is not one of"):
        cloud.owner.release("not a uid!")
    vm_arq = cloud.arq()
    cloud.bind_standalone(vm_arq, vm)
    assert cloud.allocations(vm) == {gpu0: {"PGPU": 1}}
    with pytest.raises(DeviceRefused, match=r"^held by a VM"):
        cloud.owner.claim(Claim("third"), [device(FIRST)])

    # The VMs go; the GPUs are the pods' to take again.
    cloud.api.delete_arqs(cloud.context, uuids=[vm_arq])
    cloud.api.delete_arqs(cloud.context, instance_uuid=instance)
    cloud.placement.delete_allocations(instance)  # Nova's, as Nova deletes it
    last = Claim("last")
    cloud.owner.claim(last, [device(FIRST), device(SECOND)])
    assert cloud.allocations(last.uid) == {gpu0: {"PGPU": 1}, gpu1: {"PGPU": 1}}
    cloud.owner.release(last.uid)


def test_a_pod_and_a_vm_racing_for_the_last_gpu_have_one_winner(cloud: Cloud) -> None:
    gpu0, gpu1 = cloud.providers()
    nova = str(uuid.uuid4())  # the first GPU is Nova's meanwhile (allocated, not bound)
    cloud.placement.put_allocations(nova, {gpu0: {"PGPU": 1}}, project_id="p", user_id="u")
    won = {"vm": 0, "pod": 0}
    try:
        for _ in range(ROUNDS):
            arq, instance, pod = cloud.arq(), str(uuid.uuid4()), Claim()
            outcomes = races.run_together(
                {
                    "vm": lambda arq=arq, instance=instance: cloud.bind_standalone(arq, instance),
                    "pod": lambda pod=pod: cloud.owner.claim(pod, [device(SECOND)]),
                },
                jitter={"pod": JITTER},
            )
            winners = [side for side, err in outcomes.items() if err is None]
            assert len(winners) == 1, (outcomes, won)
            won[winners[0]] += 1
            if winners == ["pod"]:
                assert isinstance(outcomes["vm"], exception.NoFreeAccelerator), outcomes
                assert cloud.allocations(instance) == {}
            else:
                reason = getattr(outcomes["pod"], "reason", "")
                assert reason.startswith(("no free unit in Placement", "held by a VM")), reason
                assert cloud.allocations(pod.uid) == {}
            cloud.api.delete_arqs(cloud.context, uuids=[arq])
            cloud.owner.release(pod.uid)
            assert cloud.usage(gpu1) == 0, outcomes
    finally:
        cloud.placement.delete_allocations(nova)


def test_admin_access_is_refused_only_for_a_gpu_a_vm_holds(cloud: Cloud) -> None:
    first_name, second_name = sorted(cloud.gpus)  # FakeGPU0 is at FIRST
    first = PluginDevice(FIRST, "cyborg.openstack.org/gpu", "GPU", first_name)
    second = PluginDevice(SECOND, "cyborg.openstack.org/gpu", "GPU", second_name)
    pod, monitor = Claim(), Claim("monitor")
    cloud.owner.claim(pod, [first])
    cloud.owner.check_admin_access(monitor, [first])  # another pod's GPU: fine
    arq, vm = cloud.arq(), str(uuid.uuid4())
    cloud.bind_standalone(arq, vm)  # the only free GPU: the second
    with pytest.raises(DeviceRefused, match=rf"^held by a VM: device {SECOND} "):
        cloud.owner.check_admin_access(monitor, [second])
    assert cloud.allocations(monitor.uid) == {}  # nothing was claimed for it
    cloud.api.delete_arqs(cloud.context, uuids=[arq])
    cloud.owner.release(pod.uid)


def test_pods_share_a_gpu_by_mig_partitions_and_a_vm_gets_the_other(cloud: Cloud) -> None:
    gpu0, gpu1 = cloud.providers()
    gpu = device(FIRST)
    first, second = Claim("infer-0"), Claim("infer-1")
    cloud.owner.claim(first, [], [GpuPartition(gpu, "1g.10gb", 0)])
    cloud.owner.claim(second, [], [GpuPartition(gpu, "1g.10gb", 1)])
    cloud.owner.claim(second, [], [GpuPartition(gpu, "1g.10gb", 1)])  # the kubelet's retry
    with pytest.raises(DeviceRefused, match=r"^held by another pod: MIG partition 1g.10gb at 1"):
        cloud.owner.claim(Claim("same"), [], [GpuPartition(gpu, "1g.10gb", 1)])
    with pytest.raises(DeviceRefused, match=r"^held by another pod: GPU .* is shared by MIG"):
        cloud.owner.claim(Claim("whole"), [gpu])
    assert cloud.usage(gpu0) == 1  # one unit for both claims
    assert cloud.owner.holders() == {sorted(cloud.gpus)[0]: "pod"}

    arq, vm = cloud.arq(), str(uuid.uuid4())
    cloud.bind_standalone(arq, vm)  # Placement leaves the VM the other GPU only
    assert cloud.allocations(vm) == {gpu1: {"PGPU": 1}}
    cloud.api.delete_arqs(cloud.context, uuids=[arq])
    cloud.owner.release(first.uid)
    assert cloud.usage(gpu0) == 1  # the second still holds a partition
    cloud.owner.release(second.uid)
