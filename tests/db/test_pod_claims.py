"""One owner per device, in the database: pods' claims against VMs' binds.

The conductor's flow (cyborg.conductor.pods.claims) without Placement, on SQLite,
MariaDB and PostgreSQL: what the attach handle's compare-and-swap decides alone. The
races run with real row locks (not on SQLite, the all-in-one's single writer).
"""

import json
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from cyborg.common import constants, exception
from cyborg.common import context as cyborg_context
from cyborg.conductor.binding import device_profiles
from cyborg.conductor.pods import claims
from cyborg.db import models
from cyborg.objects import accelerator_request as arq_obj
from cyborg.objects import attach_handle as handle_obj
from cyborg.objects import pod_claim
from tests import binders, races
from tests.db import seed

State = constants.ARQState
HOST = "host-pods"
ADDRESS = "0000:01:00.0"  # seed.bindable_deployable's first function on bus 1
SECOND = "0000:01:00.1"
# Up to this long the pod waits in a race, so that either side sometimes goes first.
JITTER = 0.03
ROUNDS = 20


def ref(name: str = "trainer") -> pod_claim.PodClaimRef:
    return pod_claim.PodClaimRef(str(uuid.uuid4()), "ml", name)


@pytest.fixture
def pods() -> claims.PodClaims:
    return claims.PodClaims(None)  # no Placement: the database alone decides


@pytest.fixture
def gpu(db: Any) -> Any:
    """A GPU deployable with two PCI functions on HOST, and a profile for VMs."""
    device_profiles.create_device_profile(db.context, name="gpu", groups=[{"resources:PGPU": "1"}])
    return seed.bindable_deployable(db.context, handles=2, host=HOST)


def bind_vm(db: Any, deployable: Any, instance: str | None = None) -> str:
    """Bind an ARQ the Nova way (device_rp_uuid given); its uuid."""
    (arq,) = binders.binder().create(db.context, device_profile_name="gpu", project_id="p")
    binders.binder().bind(
        db.context,
        bindings={
            arq: {
                "hostname": HOST,
                "instance_uuid": instance or str(uuid.uuid4()),
                "device_rp_uuid": deployable.rp_uuid,
            }
        },
    )
    return arq


def claimed(db: Any, claim: pod_claim.PodClaimRef) -> list[str]:
    return [h.pci_address for h in pod_claim.get_claim(db.context, claim.uid)]


def test_a_claim_takes_the_devices_and_says_who_holds_them(db, pods, gpu) -> None:  # type: ignore[no-untyped-def]
    claim = ref()
    pods.claim(db.context, hostname=HOST, claim=claim, pci_addresses=[ADDRESS, SECOND])
    assert claimed(db, claim) == [ADDRESS, SECOND]
    assert handle_obj.get_all(db.context, deployable_id=gpu.id, in_use=False) == []
    assert pods.holders(db.context, HOST) == {gpu.name: pod_claim.POD}
    (held, _) = pod_claim.get_claim(db.context, claim.uid)
    assert (held.claim, held.hostname) == (claim, HOST)


def test_a_vm_bound_device_is_refused_with_its_instance(db, pods, gpu) -> None:  # type: ignore[no-untyped-def]
    instance = str(uuid.uuid4())
    bind_vm(db, gpu, instance)  # takes the first function
    claim = ref()
    with pytest.raises(exception.DeviceHeldByInstance) as refused:
        pods.claim(db.context, hostname=HOST, claim=claim, pci_addresses=[ADDRESS])
    assert refused.value.code == 409
    assert f"{ADDRESS} on host {HOST} is held by a VM (instance {instance})" in str(refused.value)
    assert pods.holders(db.context, HOST) == {gpu.name: pod_claim.INSTANCE}
    pods.claim(db.context, hostname=HOST, claim=claim, pci_addresses=[SECOND])  # the free one
    assert pods.holders(db.context, HOST) == {gpu.name: pod_claim.INSTANCE}  # a VM wins


def test_claims_are_all_or_nothing(db, pods, gpu) -> None:  # type: ignore[no-untyped-def]
    first = ref("first")
    pods.claim(db.context, hostname=HOST, claim=first, pci_addresses=[SECOND])
    second = ref("second")
    with pytest.raises(exception.DeviceHeldByPod) as refused:
        pods.claim(db.context, hostname=HOST, claim=second, pci_addresses=[ADDRESS, SECOND])
    assert f"held by pod claim {first.uid} (ResourceClaim ml/first)" in str(refused.value)
    assert claimed(db, second) == []
    free = handle_obj.get_all(db.context, deployable_id=gpu.id, in_use=False)
    assert [pod_claim.address_of(h.attach_info) for h in free] == [ADDRESS]


def test_unknown_and_malformed_devices_are_refused(db, pods, gpu) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(exception.PodDeviceNotFound, match=r"no PCI device 0000:99:00\.0"):
        pods.claim(db.context, hostname=HOST, claim=ref(), pci_addresses=["0000:99:00.0"])
    with pytest.raises(exception.PodDeviceNotFound):  # a device of another host
        pods.claim(db.context, hostname="elsewhere", claim=ref(), pci_addresses=[ADDRESS])
    with pytest.raises(exception.Invalid, match="not a PCI address"):
        pods.claim(db.context, hostname=HOST, claim=ref(), pci_addresses=["gpu0"])
    with pytest.raises(exception.Invalid, match="at least one device"):
        pods.claim(db.context, hostname=HOST, claim=ref(), pci_addresses=[])
    with pytest.raises(exception.Invalid, match="namespace"):
        claims.claim_ref(str(uuid.uuid4()), "Not_A_Label", "x")
    assert handle_obj.get_all(db.context, deployable_id=gpu.id, in_use=True) == []


def test_a_retry_of_the_same_claim_succeeds_and_another_set_is_refused(db, pods, gpu) -> None:  # type: ignore[no-untyped-def]
    claim = ref()
    for _ in range(2):
        pods.claim(db.context, hostname=HOST, claim=claim, pci_addresses=[ADDRESS])
    assert claimed(db, claim) == [ADDRESS]
    with pytest.raises(exception.PodClaimConflict, match="already holds other devices"):
        pods.claim(db.context, hostname=HOST, claim=claim, pci_addresses=[ADDRESS, SECOND])


def test_a_retry_naming_the_pod_records_it(db, pods, gpu) -> None:  # type: ignore[no-untyped-def]
    """A device plugin's claim is made before its pod is known, and named later."""
    first = ref("gpu-0000-01-00-0")
    pods.claim(db.context, hostname=HOST, claim=first, pci_addresses=[ADDRESS])
    named = pod_claim.PodClaimRef(first.uid, "ml", "trainer-0")
    pods.claim(db.context, hostname=HOST, claim=named, pci_addresses=[ADDRESS])
    (held,) = pod_claim.get_claim(db.context, first.uid)
    assert held.claim == named
    assert pod_claim.find_devices(db.context, HOST, [ADDRESS])[ADDRESS].claim == named


def test_release_frees_for_a_vm_and_an_unbind_frees_for_a_pod(db, pods, gpu) -> None:  # type: ignore[no-untyped-def]
    pod = ref()
    pods.claim(db.context, hostname=HOST, claim=pod, pci_addresses=[ADDRESS, SECOND])
    with pytest.raises(exception.NoFreeAttachHandle):
        bind_vm(db, gpu)
    pods.release(db.context, hostname=HOST, claim_uid=pod.uid)
    pods.release(db.context, hostname=HOST, claim_uid=pod.uid)  # again: nothing left
    pods.release(db.context, hostname=HOST, claim_uid=str(uuid.uuid4()))  # unknown
    assert pods.holders(db.context, HOST) == {}

    arq = bind_vm(db, gpu)
    assert arq_obj.get_by_uuid(db.context, arq).state == State.BOUND
    with pytest.raises(exception.DeviceHeldByInstance):
        pods.claim(db.context, hostname=HOST, claim=ref(), pci_addresses=[ADDRESS])
    binders.binder().unbind(db.context, uuids=[arq])
    pods.claim(db.context, hostname=HOST, claim=ref(), pci_addresses=[ADDRESS])


def test_a_release_on_another_host_leaves_the_claim(db, pods, gpu) -> None:  # type: ignore[no-untyped-def]
    claim = ref()
    pods.claim(db.context, hostname=HOST, claim=claim, pci_addresses=[ADDRESS])
    pods.release(db.context, hostname="elsewhere", claim_uid=claim.uid)
    assert claimed(db, claim) == [ADDRESS]


def test_holders_is_one_query(db, pods, gpu) -> None:  # type: ignore[no-untyped-def]
    bind_vm(db, gpu)
    pods.claim(db.context, hostname=HOST, claim=ref(), pci_addresses=[SECOND])
    with db.count_statements() as statements:
        pods.holders(db.context, HOST)
    assert len(statements) == 1


def race(
    db: Any, pods: claims.PodClaims, deployable: Any
) -> tuple[str, pod_claim.PodClaimRef, races.Outcomes]:
    """A pod's claim and a VM's bind for the one device of ``deployable``."""
    (arq,) = binders.binder().create(db.context, device_profile_name="gpu", project_id="p")
    claim = ref()
    binding = {"hostname": HOST, "instance_uuid": str(uuid.uuid4())}
    outcomes = races.run_together(
        {
            "vm": lambda: binders.binder().bind(
                cyborg_context.get_admin_context(),
                bindings={arq: {**binding, "device_rp_uuid": deployable.rp_uuid}},
            ),
            "pod": lambda: pods.claim(
                cyborg_context.get_admin_context(),
                hostname=HOST,
                claim=claim,
                pci_addresses=[ADDRESS],
            ),
        },
        jitter={"pod": JITTER},
    )
    return arq, claim, outcomes


def test_a_pod_and_a_vm_racing_for_the_last_device_one_wins(db, pods) -> None:  # type: ignore[no-untyped-def]
    """Without Placement, the handle's compare-and-swap alone picks the winner."""
    if db.backend == "sqlite":
        pytest.skip("SQLite is the all-in-one's database: one conductor, one writer")
    device_profiles.create_device_profile(db.context, name="gpu", groups=[{"resources:PGPU": "1"}])
    deployable = seed.bindable_deployable(db.context, handles=1, host=HOST)
    for _ in range(ROUNDS):
        arq, claim, outcomes = race(db, pods, deployable)
        winners = [who for who, err in outcomes.items() if err is None]
        assert len(winners) == 1, outcomes
        if winners == ["vm"]:
            assert isinstance(outcomes["pod"], exception.DeviceHeldByInstance), outcomes
            assert claimed(db, claim) == []
        else:
            assert isinstance(outcomes["vm"], exception.NoFreeAttachHandle), outcomes
            assert arq_obj.get_by_uuid(db.context, arq).state == State.BIND_FAILED
            pods.release(db.context, hostname=HOST, claim_uid=claim.uid)
        binders.binder().delete(db.context, uuids=[arq])
        assert handle_obj.get_all(db.context, deployable_id=deployable.id, in_use=True) == []


def test_the_holders_of_many_deployables_are_one_query(db, pods, gpu) -> None:  # type: ignore[no-untyped-def]
    from cyborg.objects import device_holder

    instance = str(uuid.uuid4())
    bind_vm(db, gpu, instance)
    claim = ref()
    pods.claim(db.context, hostname=HOST, claim=claim, pci_addresses=[SECOND])
    free = seed.bindable_deployable(db.context, handles=1, host=HOST, bus=2)
    with db.count_statements() as statements:
        held = device_holder.by_deployable(db.context, [gpu.id, free.id])
    assert len(statements) == 1
    assert held == {
        gpu.id: [
            device_holder.Holder("instance", instance_uuid=instance),
            device_holder.Holder("pod", claim_uid=claim.uid, namespace="ml", name="trainer"),
        ]
    }


def test_addresses_are_matched_as_the_inventory_spells_them(db, pods, gpu) -> None:  # type: ignore[no-untyped-def]
    claim = ref()
    pods.claim(db.context, hostname=HOST, claim=claim, pci_addresses=[ADDRESS.upper(), ADDRESS])
    assert claimed(db, claim) == [ADDRESS]
    with pytest.raises(exception.Invalid, match="are strings"):
        pods.claim(db.context, hostname=HOST, claim=ref(), pci_addresses=[7])  # type: ignore[list-item]
    with pytest.raises(exception.Invalid, match="claim uid"):
        claims.checked_uid("../../etc")


def test_a_nic_function_naming_its_physical_network_is_found_by_address(db, pods) -> None:  # type: ignore[no-untyped-def]
    nic = seed.bindable_deployable(db.context, handles=1, host=HOST, bus=3)
    with_network = json.dumps(
        {**json.loads(seed.pci(3)), "physical_network": "physnet1"}, sort_keys=True
    )
    with db.engine.begin() as connection:
        connection.execute(
            sa.update(models.AttachHandle)
            .where(models.AttachHandle.deployable_id == nic.id)
            .values(attach_info=with_network)
        )
    claim = ref()
    pods.claim(db.context, hostname=HOST, claim=claim, pci_addresses=["0000:03:00.0"])
    assert claimed(db, claim) == ["0000:03:00.0"]
    with pytest.raises(exception.PodDeviceNotFound):  # function 0 is not function 01
        pods.claim(db.context, hostname=HOST, claim=ref(), pci_addresses=["0000:03:00.1"])
    with pytest.raises(exception.Invalid, match="hex"):
        pods.claim(db.context, hostname=HOST, claim=ref(), pci_addresses=["0000:03:00.%"])
