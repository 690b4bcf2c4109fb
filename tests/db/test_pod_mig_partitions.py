"""MIG partitions of one GPU held by several pods' claims, in the database.

The conductor's flow (cyborg.conductor.pods.partitions) without Placement, on SQLite,
MariaDB and PostgreSQL: the GPU's handle stays in use while any partition of it is
held, is freed with the last, and the same partition goes to one claim. After every
step the rows must agree (``assert_consistent``). The races run with real row locks
(not on SQLite, the all-in-one's single writer).
"""

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from cyborg.common import constants, exception
from cyborg.common import context as cyborg_context
from cyborg.conductor.binding import device_profiles
from cyborg.conductor.pods import claims, partitions
from cyborg.db import models
from cyborg.objects import accelerator_request as arq_obj
from cyborg.objects import device_holder, pod_claim, pod_partition
from tests import binders, races
from tests.db import seed

State = constants.ARQState
HOST = "host-mig"
GPU = "0000:01:00.0"  # seed.bindable_deployable's one function on bus 1
GPU2 = "0000:02:00.0"
JITTER = 0.03  # up to this long one side waits in a race: either sometimes goes first
ROUNDS = 20


def ref(name: str = "infer") -> pod_claim.PodClaimRef:
    return pod_claim.PodClaimRef(str(uuid.uuid4()), "ml", name)


def part(start: int, profile: str = "1g.10gb", address: str = GPU) -> pod_partition.Partition:
    return pod_partition.Partition(address, profile, start)


@pytest.fixture
def pods() -> claims.PodClaims:
    return claims.PodClaims(None)  # no Placement: the database alone decides


@pytest.fixture
def gpu(db: Any) -> Any:
    """A GPU deployable with one PCI function on HOST, and a profile for VMs."""
    device_profiles.create_device_profile(db.context, name="gpu", groups=[{"resources:PGPU": "1"}])
    return seed.bindable_deployable(db.context, handles=1, host=HOST)


def bind_vm(db: Any, deployable: Any) -> str:
    (arq,) = binders.binder().create(db.context, device_profile_name="gpu", project_id="p")
    binders.binder().bind(
        db.context,
        bindings={
            arq: {
                "hostname": HOST,
                "instance_uuid": str(uuid.uuid4()),
                "device_rp_uuid": deployable.rp_uuid,
            }
        },
    )
    return arq


def held(db: Any, claim: pod_claim.PodClaimRef) -> list[tuple[str, str, int]]:
    return [
        (c.partition.pci_address, c.partition.profile, c.partition.start)
        for c in pod_partition.of_claim(db.context, claim.uid)
    ]


def assert_consistent(db: Any, deployable_id: int) -> bool:
    """The rows agree: the handle is in use iff a shared row holds it (no ARQ here),
    and a shared row exists iff partitions reference it. Whether the GPU is held."""
    with db.engine.connect() as connection:
        in_use = connection.scalar(
            sa.select(models.AttachHandle.in_use).where(
                models.AttachHandle.deployable_id == deployable_id
            )
        )
        shared = connection.execute(
            sa.select(models.PodDeviceClaim.id, sa.func.count(models.PodMigPartition.id))
            .join(models.AttachHandle)
            .outerjoin(models.PodMigPartition)
            .where(
                models.AttachHandle.deployable_id == deployable_id,
                models.PodDeviceClaim.namespace == pod_partition.SHARED_NAMESPACE,
            )
            .group_by(models.PodDeviceClaim.id)
        ).all()
    assert len(shared) <= 1, shared
    assert bool(in_use) == bool(shared), (in_use, shared)
    assert all(count > 0 for _, count in shared), shared
    return bool(in_use)


def test_seven_claims_share_one_gpu_which_is_freed_with_the_last(db, pods, gpu) -> None:  # type: ignore[no-untyped-def]
    sharing = [ref(f"infer-{start}") for start in range(7)]
    for start, claim in enumerate(sharing):
        pods.claim(db.context, hostname=HOST, claim=claim, pci_addresses=[],
                   partitions=[part(start)])  # fmt: skip
        assert held(db, claim) == [(GPU, "1g.10gb", start)]
    assert assert_consistent(db, gpu.id)
    assert pods.holders(db.context, HOST) == {gpu.name: pod_claim.POD}
    holders = device_holder.by_deployable(db.context, [gpu.id])[gpu.id]
    assert [h.claim_uid for h in holders] == [c.uid for c in sharing]  # the claims, not the row
    with pytest.raises(exception.NoFreeAttachHandle):
        bind_vm(db, gpu)  # no VM while one partition is held

    for claim in sharing[:-1]:
        pods.release(db.context, hostname=HOST, claim_uid=claim.uid)
        assert assert_consistent(db, gpu.id)  # still held by the others
    pods.release(db.context, hostname=HOST, claim_uid=sharing[-1].uid)
    assert not assert_consistent(db, gpu.id)
    assert pods.holders(db.context, HOST) == {}
    arq = bind_vm(db, gpu)
    assert arq_obj.get_by_uuid(db.context, arq).state == State.BOUND


def test_the_same_partition_or_a_held_gpu_is_refused(db, pods, gpu) -> None:  # type: ignore[no-untyped-def]
    first = ref("first")
    pods.claim(db.context, hostname=HOST, claim=first, pci_addresses=[], partitions=[part(3)])
    second = ref("second")
    with pytest.raises(exception.MigPartitionHeldByPod) as refused:
        pods.claim(db.context, hostname=HOST, claim=second, pci_addresses=[],
                   partitions=[part(2), part(3)])  # fmt: skip
    assert refused.value.code == 409
    assert f"1g.10gb at 3 of GPU {GPU} on host {HOST} is held by pod claim {first.uid}" in str(
        refused.value
    )
    assert held(db, second) == []  # all or none: 1g at 2 was not kept either
    with pytest.raises(exception.GpuHeldByMigPartitions):
        pods.claim(db.context, hostname=HOST, claim=second, pci_addresses=[GPU])
    assert pod_claim.get_claim(db.context, second.uid) == []

    pods.release(db.context, hostname=HOST, claim_uid=first.uid)
    whole = ref("whole")
    pods.claim(db.context, hostname=HOST, claim=whole, pci_addresses=[GPU])
    with pytest.raises(exception.DeviceHeldByPod, match="ResourceClaim ml/whole"):
        pods.claim(db.context, hostname=HOST, claim=second, pci_addresses=[], partitions=[part(0)])
    with pytest.raises(exception.PodClaimConflict, match=r"holds GPU .* whole"):
        pods.claim(db.context, hostname=HOST, claim=whole, pci_addresses=[], partitions=[part(0)])
    pods.release(db.context, hostname=HOST, claim_uid=whole.uid)

    bind_vm(db, gpu)
    with pytest.raises(exception.DeviceHeldByInstance):
        pods.claim(db.context, hostname=HOST, claim=second, pci_addresses=[], partitions=[part(0)])
    assert held(db, second) == []


def test_a_retry_succeeds_and_other_partitions_are_a_conflict(db, pods, gpu) -> None:  # type: ignore[no-untyped-def]
    claim = ref()
    for _ in range(2):
        pods.claim(db.context, hostname=HOST, claim=claim, pci_addresses=[],
                   partitions=[part(4, "3g.40gb"), part(0)])  # fmt: skip
    assert held(db, claim) == [(GPU, "1g.10gb", 0), (GPU, "3g.40gb", 4)]
    with pytest.raises(exception.PodClaimConflict, match="already holds other MIG partitions"):
        pods.claim(db.context, hostname=HOST, claim=claim, pci_addresses=[], partitions=[part(0)])
    pods.release(db.context, hostname=HOST, claim_uid=claim.uid)
    pods.release(db.context, hostname=HOST, claim_uid=claim.uid)  # again: nothing left
    assert not assert_consistent(db, gpu.id)


def test_a_claim_refused_on_its_second_gpu_or_whole_device_keeps_nothing(db, pods, gpu) -> None:  # type: ignore[no-untyped-def]
    other = seed.bindable_deployable(db.context, handles=1, host=HOST, bus=2)
    spare = seed.bindable_deployable(db.context, handles=1, host=HOST, bus=3)
    holder = ref("holder")
    pods.claim(db.context, hostname=HOST, claim=holder, pci_addresses=[],
               partitions=[part(1, address=GPU2)])  # fmt: skip
    pods.claim(db.context, hostname=HOST, claim=ref(), pci_addresses=["0000:03:00.0"])
    claim = ref()
    with pytest.raises(exception.MigPartitionHeldByPod):
        pods.claim(db.context, hostname=HOST, claim=claim, pci_addresses=[],
                   partitions=[part(0), part(1, address=GPU2)])  # fmt: skip
    with pytest.raises(exception.DeviceHeldByPod):  # its whole device is another's
        pods.claim(db.context, hostname=HOST, claim=claim, pci_addresses=["0000:03:00.0"],
                   partitions=[part(0)])  # fmt: skip
    assert held(db, claim) == []
    assert not assert_consistent(db, gpu.id)  # what it took of GPU 1 went back
    assert assert_consistent(db, other.id)  # the holder's partition stays
    assert [h.pci_address for h in pod_claim.get_claim(db.context, claim.uid)] == []
    assert spare.id != other.id


def test_partitions_that_no_gpu_could_have_are_refused(db, pods, gpu) -> None:  # type: ignore[no-untyped-def]
    for bad, words in [
        ({"pci_address": "gpu0", "profile": "1g.10gb", "start": 0}, "no PCI address"),
        ({"pci_address": GPU, "profile": "1g.10gb+me", "start": 0}, "not as 1g.10gb"),
        ({"pci_address": GPU, "profile": "1g.10gb", "start": 8}, "not 0 to 7"),
        ({"pci_address": GPU, "profile": "1g.10gb", "start": True}, "not 0 to 7"),
        ("1g.10gb:0", "is a mapping"),
    ]:
        with pytest.raises(exception.Invalid, match=words):
            partitions.partitions_from([bad])  # type: ignore[list-item]
    same = {"pci_address": GPU.upper(), "profile": "1g.10gb", "start": 0}
    assert partitions.partitions_from([same, {**same, "pci_address": GPU}]) == [part(0)]
    with pytest.raises(exception.PodDeviceNotFound):
        pods.claim(db.context, hostname=HOST, claim=ref(), pci_addresses=[],
                   partitions=[part(0, address="0000:09:00.0")])  # fmt: skip


def _skip_sqlite(db: Any) -> None:
    if db.backend == "sqlite":
        pytest.skip("SQLite is the all-in-one's database: one conductor, one writer")


def claim_side(pods: claims.PodClaims, claim: pod_claim.PodClaimRef, *parts: Any) -> Any:
    return lambda: pods.claim(cyborg_context.get_admin_context(), hostname=HOST, claim=claim,
                              pci_addresses=[], partitions=list(parts))  # fmt: skip


def test_two_claims_of_different_partitions_racing_both_win(db, pods, gpu) -> None:  # type: ignore[no-untyped-def]
    _skip_sqlite(db)
    for _ in range(ROUNDS):
        a, b = ref("a"), ref("b")
        outcomes = races.run_together(
            {"a": claim_side(pods, a, part(0)), "b": claim_side(pods, b, part(1))},
            jitter={"b": JITTER},
        )
        assert outcomes == {"a": None, "b": None}, outcomes
        assert assert_consistent(db, gpu.id)
        for claim in (a, b):
            pods.release(db.context, hostname=HOST, claim_uid=claim.uid)
        assert not assert_consistent(db, gpu.id)


def test_two_claims_of_the_same_partition_racing_one_wins(db, pods, gpu) -> None:  # type: ignore[no-untyped-def]
    _skip_sqlite(db)
    for _ in range(ROUNDS):
        a, b = ref("a"), ref("b")
        outcomes = races.run_together(
            {"a": claim_side(pods, a, part(5)), "b": claim_side(pods, b, part(5))},
            jitter={"b": JITTER},
        )
        winners = [side for side, err in outcomes.items() if err is None]
        assert len(winners) == 1, outcomes
        loser = "b" if winners == ["a"] else "a"
        assert isinstance(outcomes[loser], exception.MigPartitionHeldByPod), outcomes
        assert assert_consistent(db, gpu.id)
        for claim in (a, b):
            pods.release(db.context, hostname=HOST, claim_uid=claim.uid)
        assert not assert_consistent(db, gpu.id)


def test_a_claim_racing_the_last_release_ends_with_the_claim_held(db, pods, gpu) -> None:  # type: ignore[no-untyped-def]
    """Whichever goes first, the new claim's partition is held and so is the GPU."""
    _skip_sqlite(db)
    for _ in range(ROUNDS):
        leaving, coming = ref("leaving"), ref("coming")
        pods.claim(
            db.context, hostname=HOST, claim=leaving, pci_addresses=[], partitions=[part(0)]
        )
        outcomes = races.run_together(
            {
                "release": lambda uid=leaving.uid: pods.release(
                    cyborg_context.get_admin_context(), hostname=HOST, claim_uid=uid
                ),
                "claim": claim_side(pods, coming, part(6)),
            },
            jitter={"claim": JITTER},
        )
        assert outcomes == {"release": None, "claim": None}, outcomes
        assert held(db, leaving) == [] and held(db, coming) == [(GPU, "1g.10gb", 6)]
        assert assert_consistent(db, gpu.id)
        pods.release(db.context, hostname=HOST, claim_uid=coming.uid)
        assert not assert_consistent(db, gpu.id)


def test_a_partition_claim_and_a_vm_racing_for_the_gpu_one_wins(db, pods, gpu) -> None:  # type: ignore[no-untyped-def]
    _skip_sqlite(db)
    won = {"vm": 0, "pod": 0}
    for _ in range(ROUNDS):
        (arq,) = binders.binder().create(db.context, device_profile_name="gpu", project_id="p")
        claim = ref()
        binding = {"hostname": HOST, "instance_uuid": str(uuid.uuid4()),
                   "device_rp_uuid": gpu.rp_uuid}  # fmt: skip
        outcomes = races.run_together(
            {
                "vm": lambda arq=arq, binding=binding: binders.binder().bind(
                    cyborg_context.get_admin_context(), bindings={arq: binding}
                ),
                "pod": claim_side(pods, claim, part(2)),
            },
            jitter={"pod": JITTER},
        )
        winners = [side for side, err in outcomes.items() if err is None]
        assert len(winners) == 1, outcomes
        won[winners[0]] += 1
        if winners == ["vm"]:
            assert isinstance(outcomes["pod"], exception.DeviceHeldByInstance), outcomes
            assert held(db, claim) == []
        else:
            assert isinstance(outcomes["vm"], exception.NoFreeAttachHandle), outcomes
            assert assert_consistent(db, gpu.id)
            pods.release(db.context, hostname=HOST, claim_uid=claim.uid)
        binders.binder().delete(db.context, uuids=[arq])
        assert not assert_consistent(db, gpu.id)
