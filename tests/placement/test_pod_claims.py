"""One inventory, two worlds, against a real Placement: pods' claims and VMs' binds.

The fake driver's host has two whole GPUs. A pod's claim is a Placement consumer of
type POD holding one PGPU of the GPU's provider, so Nova's scheduler and Cyborg's
standalone binds see the GPU used; a GPU a VM holds is refused to pods. Either order
and both at once end with exactly one owner and no allocation left over.
"""

import uuid
from typing import Any

import pytest

from cyborg.common import constants, exception
from cyborg.common import context as cyborg_context
from cyborg.conductor.placement import sweep
from cyborg.conductor.pods import claims, placement_units
from cyborg.drivers import fake
from cyborg.objects import accelerator_request as arq_obj
from cyborg.objects import pod_claim, pod_partition
from tests import binders, races
from tests.placement.test_standalone_bind import GPU, allocations, arqs_of, bind, gpus_of
from tests.placement.test_sync import name

State = constants.ARQState
FIRST, SECOND = fake.GPU_ADDRESSES
ROUNDS = 20
JITTER = 0.25  # up to this long the pod waits in a race: either side sometimes goes first


def ref(namespace: str = "ml", name: str = "trainer") -> pod_claim.PodClaimRef:
    return pod_claim.PodClaimRef(str(uuid.uuid4()), namespace, name)


@pytest.fixture
def pods(client: Any) -> claims.PodClaims:
    return claims.PodClaims(placement_units.PodUnits(client))


@pytest.fixture
def gpu_arqs(db: Any) -> Any:
    """ARQs of the one-GPU profile, made on demand."""
    arqs_of(db, "gpu", [GPU])
    return lambda: arqs_of(db, "gpu")


def take_first_gpu_for_nova(client: Any, host: str) -> str:
    """Nova's scheduler allocated the first GPU to an instance (consumer type INSTANCE)."""
    instance = str(uuid.uuid4())
    client.put_allocations(
        instance, {gpus_of(host)[0]: {"PGPU": 1}}, project_id="nova-p", user_id="nova-u"
    )
    return instance


def test_a_pod_claim_is_a_pod_consumer_in_placement(db, client, pods, host) -> None:  # type: ignore[no-untyped-def]
    claim = ref()
    pods.claim(db.context, hostname=host, claim=claim, pci_addresses=[FIRST, SECOND])
    consumer = client.get_consumer_allocations(claim.uid)
    assert consumer.allocations == {gpu: {"PGPU": 1} for gpu in gpus_of(host)}
    assert consumer.consumer_type == "POD"
    namespace_project = str(uuid.uuid5(placement_units.PROJECTS, "kubernetes-namespace:ml"))
    assert (consumer.project_id, consumer.user_id) == (namespace_project, namespace_project)
    assert placement_units.project_of("ml", "fixed-project") == "fixed-project"
    assert pods.holders(db.context, host) == {
        name(host, "FakeGPU0"): pod_claim.POD,
        name(host, "FakeGPU1"): pod_claim.POD,
    }


def test_a_device_nova_allocated_is_refused_by_placement(db, client, pods, host) -> None:  # type: ignore[no-untyped-def]
    """Nova allocated the GPU and has not bound it yet: Placement's capacity refuses."""
    take_first_gpu_for_nova(client, host)
    claim = ref()
    with pytest.raises(exception.NoFreeAccelerator) as refused:
        pods.claim(db.context, hostname=host, claim=claim, pci_addresses=[FIRST])
    assert f"Placement has no free unit for pod claim {claim.uid}" in str(refused.value)
    assert allocations(client, claim.uid) == {}
    assert pod_claim.get_claim(db.context, claim.uid) == []
    pods.claim(db.context, hostname=host, claim=claim, pci_addresses=[SECOND])


def test_a_vm_first_then_a_pod_is_refused_with_the_vm(
    db, client, claimer, pods, host, gpu_arqs
) -> None:  # type: ignore[no-untyped-def]
    instances = [str(uuid.uuid4()), str(uuid.uuid4())]
    for instance in instances:
        bind(db, claimer, gpu_arqs(), host, instance)  # both GPUs go to VMs
    claim = ref()
    for address in (FIRST, SECOND):
        with pytest.raises(exception.DeviceHeldByInstance) as refused:
            pods.claim(db.context, hostname=host, claim=claim, pci_addresses=[address])
        assert "is held by a VM (instance " in str(refused.value)
    assert allocations(client, claim.uid) == {}
    assert set(pods.holders(db.context, host).values()) == {pod_claim.INSTANCE}


def test_a_pod_first_then_a_vm_finds_no_free_gpu(
    db, client, claimer, pods, host, gpu_arqs
) -> None:  # type: ignore[no-untyped-def]
    claim = ref()
    pods.claim(db.context, hostname=host, claim=claim, pci_addresses=[FIRST, SECOND])
    (arq,) = gpu_arqs()
    with pytest.raises(exception.NoFreeAccelerator, match=f"No free accelerator on host {host}"):
        bind(db, claimer, [arq], host, str(uuid.uuid4()))
    assert arq_obj.get_by_uuid(db.context, arq).state == State.BIND_FAILED

    pods.release(db.context, hostname=host, claim_uid=claim.uid)  # frees it for the VM
    assert allocations(client, claim.uid) == {}
    (again,) = gpu_arqs()
    bind(db, claimer, [again], host, str(uuid.uuid4()))
    assert arq_obj.get_by_uuid(db.context, again).state == State.BOUND


def test_an_unbound_vm_frees_its_gpu_for_pods(db, client, claimer, pods, host, gpu_arqs) -> None:  # type: ignore[no-untyped-def]
    arqs = [gpu_arqs()[0], gpu_arqs()[0]]
    for arq in arqs:
        bind(db, claimer, [arq], host, str(uuid.uuid4()))
    with pytest.raises(exception.DeviceHeldByInstance):
        pods.claim(db.context, hostname=host, claim=ref(), pci_addresses=[FIRST])
    binders.binder(claimer=claimer).unbind(db.context, uuids=arqs)
    claim = ref()
    pods.claim(db.context, hostname=host, claim=claim, pci_addresses=[FIRST])
    assert allocations(client, claim.uid) == {gpus_of(host)[0]: {"PGPU": 1}}


def test_a_retry_succeeds_and_puts_back_a_lost_allocation(db, client, pods, host) -> None:  # type: ignore[no-untyped-def]
    claim = ref()
    pods.claim(db.context, hostname=host, claim=claim, pci_addresses=[FIRST])
    pods.claim(db.context, hostname=host, claim=claim, pci_addresses=[FIRST])
    assert allocations(client, claim.uid) == {gpus_of(host)[0]: {"PGPU": 1}}
    client.delete_allocations(claim.uid)  # lost, say by an operator's mistake
    pods.claim(db.context, hostname=host, claim=claim, pci_addresses=[FIRST])
    assert allocations(client, claim.uid) == {gpus_of(host)[0]: {"PGPU": 1}}


def test_release_of_an_unknown_claim_succeeds_and_clears_a_leftover(
    db, client, pods, host
) -> None:  # type: ignore[no-untyped-def]
    pods.release(db.context, hostname=host, claim_uid=str(uuid.uuid4()))
    # A conductor that died between Placement and the database left units behind.
    leftover = ref()
    units = placement_units.PodUnits(client)
    units.place(leftover, host, {gpus_of(host)[0]: {"PGPU": 1}})
    pods.release(db.context, hostname=host, claim_uid=leftover.uid)
    assert allocations(client, leftover.uid) == {}


def test_a_uid_that_is_another_consumer_is_left_alone(db, client, pods, host) -> None:  # type: ignore[no-untyped-def]
    instance = take_first_gpu_for_nova(client, host)
    claim = pod_claim.PodClaimRef(instance, "ml", "trainer")
    with pytest.raises(exception.PodClaimConflict, match="consumer of type INSTANCE"):
        pods.claim(db.context, hostname=host, claim=claim, pci_addresses=[SECOND])
    with pytest.raises(exception.PodClaimConflict):
        pods.release(db.context, hostname=host, claim_uid=instance)
    assert allocations(client, instance) == {gpus_of(host)[0]: {"PGPU": 1}}


def test_a_pod_and_a_vm_racing_for_the_last_gpu_end_with_one_winner(  # type: ignore[no-untyped-def]
    db, client, claimer, pods, host, gpu_arqs
) -> None:
    last = gpus_of(host)[1]
    take_first_gpu_for_nova(client, host)
    won = {"vm": 0, "pod": 0}
    for _ in range(ROUNDS):
        (arq,) = gpu_arqs()
        claim, instance = ref(), str(uuid.uuid4())
        outcomes = races.run_together(
            {
                "vm": lambda arq=arq, instance=instance: binders.binder(claimer=claimer).bind(
                    cyborg_context.get_admin_context(),
                    bindings={arq: {"hostname": host, "instance_uuid": instance}},
                ),
                "pod": lambda claim=claim: pods.claim(
                    cyborg_context.get_admin_context(),
                    hostname=host,
                    claim=claim,
                    pci_addresses=[SECOND],
                ),
            },
            jitter={"pod": JITTER},
        )
        winners = [side for side, err in outcomes.items() if err is None]
        assert len(winners) == 1, (outcomes, won)
        won[winners[0]] += 1
        if winners == ["pod"]:
            assert isinstance(outcomes["vm"], exception.NoFreeAccelerator), outcomes
            assert allocations(client, instance) == {}
            assert allocations(client, claim.uid) == {last: {"PGPU": 1}}
            pods.release(db.context, hostname=host, claim_uid=claim.uid)
        else:
            # Placement refused the pod, or (having lost there) the VM held the handle.
            assert isinstance(
                outcomes["pod"], exception.NoFreeAccelerator | exception.DeviceHeldByInstance
            ), outcomes
            assert allocations(client, claim.uid) == {}
            assert allocations(client, instance) == {last: {"PGPU": 1}}
        binders.binder(claimer=claimer).delete(db.context, uuids=[arq])
        assert client.get_provider_usages(last) == {"PGPU": 0}
        assert pod_claim.holders(db.context, host) == {}


def test_a_pod_consumer_no_claim_records_is_swept_after_the_grace(  # type: ignore[no-untyped-def]
    db, client, claimer, pods, host
) -> None:
    """A conductor died between Placement and the database and the kubelet gave up: the
    claim sweep gives the units back; a recorded pod's claim keeps its units."""
    gpu0, gpu1 = gpus_of(host)
    leftover, kept = ref(name="leftover"), ref(name="kept")
    placement_units.PodUnits(client).place(leftover, host, {gpu0: {"PGPU": 1}})
    pods.claim(db.context, hostname=host, claim=kept, pci_addresses=[SECOND])
    now = [1000.0]
    sweeper = sweep.ClaimSweep(claimer, grace=60, clock=lambda: now[0])

    assert sweeper.sweep(db.context) == {}  # seen once: it may be a claim in progress
    now[0] += 61
    assert sweeper.sweep(db.context) == {(leftover.uid, gpu0): {"PGPU": 1}}
    assert allocations(client, leftover.uid) == {}
    assert allocations(client, kept.uid) == {gpu1: {"PGPU": 1}}
    pods.release(db.context, hostname=host, claim_uid=kept.uid)


def _partition(start: int, address: str = FIRST) -> pod_partition.Partition:
    return pod_partition.Partition(address, "1g.10gb", start)


def test_claims_sharing_a_gpu_s_partitions_hold_its_one_unit_until_the_last_goes(  # type: ignore[no-untyped-def]
    db, client, claimer, pods, host, gpu_arqs
) -> None:
    """The GPU's unit is held once, by the GPU's own consumer, while any claim holds a
    partition of it: a VM finds no free GPU there; the sweep leaves it alone."""
    gpu0, _ = gpus_of(host)
    consumer = pod_partition.gpu_consumer(host, FIRST)
    sharing = [ref(name=f"infer-{start}") for start in range(3)]
    for start, claim in enumerate(sharing):
        pods.claim(db.context, hostname=host, claim=claim, pci_addresses=[],
                   partitions=[_partition(start)])  # fmt: skip
        assert allocations(client, claim.uid) == {}  # the claim itself holds no unit
    assert allocations(client, consumer) == {gpu0: {"PGPU": 1}}
    assert client.get_consumer_allocations(consumer).consumer_type == "POD"
    pods.claim(db.context, hostname=host, claim=ref(), pci_addresses=[SECOND])  # the other GPU
    (arq,) = gpu_arqs()
    with pytest.raises(exception.NoFreeAccelerator):
        bind(db, claimer, [arq], host, str(uuid.uuid4()))
    now = [1000.0]
    sweeper = sweep.ClaimSweep(claimer, grace=60, clock=lambda: now[0])
    sweeper.sweep(db.context)
    now[0] += 61
    assert sweeper.sweep(db.context) == {}

    client.delete_allocations(consumer)  # lost, say by an operator's mistake
    pods.claim(db.context, hostname=host, claim=sharing[0], pci_addresses=[],
               partitions=[_partition(0)])  # fmt: skip
    assert allocations(client, consumer) == {gpu0: {"PGPU": 1}}  # a retry puts it back
    for claim in sharing[:-1]:
        pods.release(db.context, hostname=host, claim_uid=claim.uid)
        assert allocations(client, consumer) == {gpu0: {"PGPU": 1}}
    pods.release(db.context, hostname=host, claim_uid=sharing[-1].uid)
    assert allocations(client, consumer) == {}
    (again,) = gpu_arqs()
    bind(db, claimer, [again], host, str(uuid.uuid4()))
    assert arq_obj.get_by_uuid(db.context, again).state == State.BOUND


def test_a_partition_of_a_gpu_nova_allocated_is_refused_and_keeps_nothing(  # type: ignore[no-untyped-def]
    db, client, pods, host
) -> None:
    take_first_gpu_for_nova(client, host)
    claim = ref()
    with pytest.raises(exception.NoFreeAccelerator):
        pods.claim(db.context, hostname=host, claim=claim, pci_addresses=[],
                   partitions=[_partition(0)])  # fmt: skip
    assert allocations(client, pod_partition.gpu_consumer(host, FIRST)) == {}
    assert pod_partition.of_claim(db.context, claim.uid) == []
    assert pods.holders(db.context, host) == {}
