"""MIG partitions of one GPU held by several ResourceClaims at once, in the DB.

A claim that holds partitions of a GPU does not hold the GPU's attach handle itself:
the GPU is held, while at least one partition of it is, by one ``pod_device_claims``
row whose uid is the GPU's own (``gpu_consumer``: also the Placement consumer of its
unit) and whose namespace is ``SHARED_NAMESPACE``, no DNS label. Each partition is a
``pod_mig_partitions`` row referencing that row; the unique (GPU, profile, start)
keeps one partition to one claim. So for everything that reads attach handles (binds,
reports, ``pod_claim.holders``, the claim sweep) the GPU is a pod's, as a whole one.

Every change to one GPU's partitions runs in a transaction that starts with
``lock_gpu`` (the handle's row lock; SQLite serializes writers anyway): two claims,
a claim and a release, a claim and an ARQ's bind of the GPU wait for each other, and
the last release frees the handle in the same transaction that deletes the last row.
"""

import dataclasses
import uuid
from collections.abc import Sequence

import sqlalchemy as sa

from cyborg.common import exception
from cyborg.common.context import RequestContext
from cyborg.db import api as db_api
from cyborg.db import models
from cyborg.objects import base, pod_claim

#: Namespace of a GPU's shared row: no DNS label, so no ResourceClaim's.
SHARED_NAMESPACE = "-"
SHARED_NAME = "mig-partitions"
#: The uuid5 namespace of the GPUs' shared uids (``gpu_consumer``).
GPU_CONSUMERS = uuid.UUID("0b6f9c2e-7d41-5a83-b6e5-2c9d8f1a4e70")
_HANDLE = models.AttachHandle
_CLAIM = models.PodDeviceClaim
_PART = models.PodMigPartition


def gpu_consumer(hostname: str, pci_address: str) -> str:
    """The uid of the row, and the Placement consumer, by which partitions hold a GPU."""
    return str(uuid.uuid5(GPU_CONSUMERS, f"{hostname}/{pci_address}"))


def is_shared(claim: pod_claim.PodClaimRef | None) -> bool:
    """Whether a handle's claim is a GPU's shared row (not a ResourceClaim)."""
    return claim is not None and claim.namespace == SHARED_NAMESPACE


@dataclasses.dataclass(frozen=True, order=True)
class Partition:
    """A MIG partition a claim asks for: its GPU, GPU instance profile and start."""

    pci_address: str
    profile: str  # "1g.10gb"
    start: int  # the memory slice its placement starts at


@dataclasses.dataclass(frozen=True)
class HeldPartition:
    claim: pod_claim.PodClaimRef
    profile: str
    start: int


@dataclasses.dataclass(frozen=True)
class LockedGpu:
    """A GPU under its row lock: its handle, its shared row's id while partitions
    hold it, and the partitions held."""

    device: pod_claim.HostDevice
    shared_id: int | None
    held: tuple[HeldPartition, ...]

    def holder_of(self, profile: str, start: int) -> pod_claim.PodClaimRef | None:
        return next((h.claim for h in self.held if (h.profile, h.start) == (profile, start)), None)

    def claims(self) -> list[pod_claim.PodClaimRef]:
        return list(dict.fromkeys(h.claim for h in self.held))


def lock_gpu(context: RequestContext, hostname: str, pci_address: str) -> LockedGpu:
    """Lock the GPU's attach handle and read it; call it first in a writer
    transaction. 404 PodDeviceNotFound when the host has no such device."""
    device = _find(context, hostname, pci_address)
    context.session.execute(
        sa.select(_HANDLE.id).where(_HANDLE.id == device.handle_id).with_for_update()
    )
    device = _find(context, hostname, pci_address)  # as it is now, under the lock
    if not is_shared(device.claim):
        return LockedGpu(device, None, ())
    rows = context.session.execute(
        sa.select(
            _CLAIM.id,
            _PART.claim_uid,
            _PART.namespace,
            _PART.name,
            _PART.profile,
            _PART.start_slice,
        )
        .select_from(_CLAIM)
        .outerjoin(_PART, _PART.gpu_claim_id == _CLAIM.id)
        .where(_CLAIM.attach_handle_id == device.handle_id)
        .order_by(_PART.id)
    ).all()
    held = tuple(
        HeldPartition(
            pod_claim.PodClaimRef(r.claim_uid, r.namespace, r.name), r.profile, int(r.start_slice)
        )
        for r in rows
        if r.claim_uid is not None
    )
    return LockedGpu(device, int(rows[0].id), held)


def _find(context: RequestContext, hostname: str, pci_address: str) -> pod_claim.HostDevice:
    found = pod_claim.find_devices(context, hostname, [pci_address])
    if pci_address not in found:
        raise exception.PodDeviceNotFound(host=hostname, address=pci_address)
    return found[pci_address]


def add(
    context: RequestContext,
    claim: pod_claim.PodClaimRef,
    hostname: str,
    gpu: LockedGpu,
    partitions: Sequence[Partition],
) -> None:
    """Record ``partitions`` of the locked ``gpu`` for ``claim``; the first ones take
    the GPU's handle (DeviceTaken when something else holds it), a partition another
    claim holds is a DuplicateEntry (409)."""
    shared_id = gpu.shared_id
    if shared_id is None:
        taken = context.session.execute(
            sa.update(_HANDLE)
            .where(_HANDLE.id == gpu.device.handle_id, _HANDLE.in_use.is_(False))
            .values(in_use=True)
            .execution_options(synchronize_session=False)
        )
        if base.rowcount(taken) != 1:
            raise exception.DeviceTaken(host=hostname, address=gpu.device.pci_address)
        row = _CLAIM(
            claim_uid=gpu_consumer(hostname, gpu.device.pci_address),
            namespace=SHARED_NAMESPACE,
            name=SHARED_NAME,
            hostname=hostname,
            attach_handle_id=gpu.device.handle_id,
        )
        context.session.add(row)
        with base.duplicates_as("pod claim of this attach handle"):
            context.session.flush()
        shared_id = row.id
    for partition in partitions:
        context.session.add(
            _PART(
                claim_uid=claim.uid,
                namespace=claim.namespace,
                name=claim.name,
                hostname=hostname,
                gpu_claim_id=shared_id,
                profile=partition.profile,
                start_slice=partition.start,
            )
        )
    with base.duplicates_as("MIG partition of this GPU"):
        context.session.flush()


def drop(context: RequestContext, claim_uid: str, gpu: LockedGpu) -> bool:
    """Remove ``claim_uid``'s partitions of the locked ``gpu``; the last ones gone, its
    shared row goes and the handle is freed. Whether the GPU is free now."""
    if gpu.shared_id is None:
        return False
    context.session.execute(
        sa.delete(_PART)
        .where(_PART.gpu_claim_id == gpu.shared_id, _PART.claim_uid == claim_uid)
        .execution_options(synchronize_session=False)
    )
    if any(h.claim.uid != claim_uid for h in gpu.held):
        return False
    context.session.execute(
        sa.delete(_CLAIM)
        .where(_CLAIM.id == gpu.shared_id)
        .execution_options(synchronize_session=False)
    )
    context.session.execute(
        sa.update(_HANDLE)
        .where(_HANDLE.id == gpu.device.handle_id)
        .values(in_use=False)
        .execution_options(synchronize_session=False)
    )
    return True


@dataclasses.dataclass(frozen=True)
class ClaimedPartition:
    claim: pod_claim.PodClaimRef
    hostname: str
    partition: Partition


@db_api.context_manager.reader
def of_claim(context: RequestContext, claim_uid: str) -> list[ClaimedPartition]:
    """The partitions ``claim_uid`` holds, on whichever host, in one query."""
    rows = context.session.execute(
        sa.select(_PART, _HANDLE.attach_info)
        .join(_CLAIM, _CLAIM.id == _PART.gpu_claim_id)
        .join(_HANDLE, _HANDLE.id == _CLAIM.attach_handle_id)
        .where(_PART.claim_uid == claim_uid)
        .order_by(_PART.id)
    )
    return [
        ClaimedPartition(
            claim=pod_claim.PodClaimRef(row.claim_uid, row.namespace, row.name),
            hostname=row.hostname,
            partition=Partition(pod_claim.address_of(info), row.profile, row.start_slice),
        )
        for row, info in rows
    ]
